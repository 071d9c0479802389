"""Site-specific text: claims belong to the site's configuration; counts come from the codebook."""

import json
import re
from pathlib import Path

import pytest

from policestress.config import load_site
from policestress.thesis_tables import caption

ROOT = Path(__file__).resolve().parents[1]
# "four domains", "fifteen sub-dimensions", "4 constructs", "四个领域", "四项研究结论"...
NUMBER_WORDS = (
    r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|\d+)"
)
# (a rule such as "at least three constructs" states a threshold, not the site's count)
HARD_CODED_EN = re.compile(
    rf"(?<!at least )(?<!only )(?<!fewer than )\b{NUMBER_WORDS}\s+(?:stress-source\s+|correlated\s+)?(?:domains|sub-dimensions|constructs)\b",
    re.I,
)
HARD_CODED_ZH = re.compile(r"[一二三四五六七八九十]+[个项](?:压力源)?(?:领域|子维度|维度|构念)")


def test_captions_count_domains_and_constructs_from_the_codebook():
    y, w = load_site("y-subbureau-sim"), load_site("w-subbureau-sim")
    assert "of the 4 stress-source domains" in caption(
        "synthesis_importance_domains", "figure", "en", y.codebook
    )
    assert "of the 3 stress-source domains" in caption(
        "synthesis_importance_domains", "figure", "en", w.codebook
    )
    assert caption("synthesis_importance_constructs", "figure", "zh", w.codebook).startswith(
        "6个压力源子维度"
    )
    assert caption("synthesis_importance_domains", "figure", "zh").startswith("各压力源领域")
    assert "findings of the thesis abstract" not in caption(
        "synthesis_claims", "table", "en", w.codebook
    )


def test_captions_and_notebook_narrative_hold_no_hard_coded_counts():
    texts = {"captions.csv": (ROOT / "src/policestress/templates/captions.csv").read_text("utf-8")}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts[path.name] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    for name, text in texts.items():
        assert not HARD_CODED_EN.findall(text), (name, HARD_CODED_EN.findall(text))
        assert not HARD_CODED_ZH.findall(text), (name, HARD_CODED_ZH.findall(text))


def test_the_claims_to_test_belong_to_the_site():
    y, w = load_site("y-subbureau-sim"), load_site("w-subbureau-sim")
    findings = y.get("synthesis.findings")
    assert [f["finding"] for f in findings] == [1, 2, 3, 4]
    assert findings[0]["sources"][:2] == ["occupational", "critical_incident"]
    book = y.codebook
    ranked = set(book.scales("stress_sources")) | set(book.domains("stress_sources"))
    assert {s for f in findings for s in f["sources"]} <= ranked
    assert w.get("synthesis.findings") == []  # a site without claims gets none
    import policestress.synthesis as syn

    assert not hasattr(syn, "ABSTRACT_FINDINGS")  # no thesis claims hidden in the package


@pytest.mark.parametrize("stem", ["synthesis_claims", "synthesis_findings"])
def test_claim_captions_do_not_speak_of_the_thesis(stem):
    for language in ("en", "zh"):
        text = caption(stem, "table", language)
        assert "four" not in text and "四" not in text


def test_stage_narrative_is_in_the_sites_language_with_counts_from_the_codebook():
    from policestress.stages import STAGES
    from policestress.stagework.narrative import INTRODUCTIONS, banner, introduction

    cjk = re.compile(r"[\u4e00-\u9fff]")
    y, w = load_site("y-subbureau-sim"), load_site("w-subbureau-sim")
    assert (y.language, w.language) == ("zh", "en")
    assert set(STAGES) - {"power"} <= set(INTRODUCTIONS)
    for stage in INTRODUCTIONS:
        assert cjk.search(introduction(y, stage, n=400, outcome="score_x")), stage
        assert not cjk.search(introduction(w, stage, n=174, outcome="score_x")), stage
    for site, text in ((y, "{d} 个压力源领域、{c} 个子维度（构念）、{i} 个条目"),
                       (w, "{d} stress-source domains with {c} sub-dimensions (constructs) and {i} items")):  # fmt: skip
        book = site.codebook
        counted = text.format(
            d=len(book.domains("stress_sources")),
            c=len(book.scales("stress_sources")),
            i=len(book.item_ids("stress_sources")),
        )
        assert counted in introduction(site, "descriptives", n=1), site.name
    assert banner(y).startswith("> **模拟数据。**") and banner(w).startswith(
        "> **SIMULATED DATA.**"
    )
