"""The assembled report: built from the stage manifests, self-contained, with CJK glyphs."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import warnings
import zipfile
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from PIL import Image

from policestress import report
from policestress.config import CODEBOOK_COLUMNS, load_site
from policestress.fonts import cjk_font_file, use_cjk_font
from policestress.paths import PUBLISH_ENV, STAGING_ENV
from policestress.plots import save_figure
from policestress.plots.synthesis import plot_importance
from policestress.provenance import sha256

SITE = "fake-site"


class _Collector(HTMLParser):
    """Collects data-file attributes, <img> sources, links and text of an HTML page."""

    def __init__(self):
        super().__init__()
        self.data_files: list[str] = []
        self.img_src: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "data-file" in attrs:
            self.data_files.append(attrs["data-file"])
        if tag == "img":
            self.img_src.append(attrs["src"])
        if "href" in attrs:
            self.hrefs.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _figure(color: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, color=color))
    ax.set_axis_off()
    return fig


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A fake project with two stages' outputs and their manifests, plus one stale file."""
    monkeypatch.delenv(STAGING_ENV, raising=False)
    monkeypatch.setenv(PUBLISH_ENV, "1")  # write where the chain publishes, not to scratch/
    root = tmp_path / "proj"
    site_dir = root / "config" / "sites" / SITE
    (site_dir / "codebook").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n", encoding="utf-8")
    # a simulated site has its population model (load_site checks that it exists)
    (site_dir / "population_model.yml").write_text("# not drawn from here\n", encoding="utf-8")
    (site_dir / "site.yml").write_text(
        "simulated: true\nlanguage: en\nseed: 7\n"
        f"raw_file: data/raw/{SITE}/export.csv\ncodebook: [codebook/items.csv]\n",
        encoding="utf-8",
    )
    items = pd.DataFrame(
        [
            {
                "item_id": "W1",
                "instrument": "stress_sources",
                "construct": "workload",
                "domain": "occupational",
                "type": "likert",
                "min": "1",
                "max": "5",
                "reverse": "0",
                "header": "W1",
                "label_zh": "工作量1",
                "label_en": "Workload 1",
            }
        ]
    ).reindex(columns=CODEBOOK_COLUMNS, fill_value="")
    items.to_csv(site_dir / "codebook" / "items.csv", index=False)
    pd.DataFrame(
        {
            "name": ["workload"],
            "level": ["construct"],
            "domain": ["occupational"],
            "label_zh": ["工作量"],
            "label_en": ["Workload"],
        }
    ).to_csv(site_dir / "constructs.csv", index=False)
    raw = root / "data" / "raw" / SITE
    raw.mkdir(parents=True)
    (raw / "export.csv").write_text("W1\n3\n4\n", encoding="utf-8")
    processed = root / "data" / "processed" / SITE
    processed.mkdir(parents=True)
    (processed / "analysis.csv").write_text("respondent_id,W1\nr1,3\nr2,4\n", encoding="utf-8")

    tables = root / "tables" / SITE
    figures = root / "figures" / SITE
    tables.mkdir(parents=True)
    pd.DataFrame(
        {
            "scale": ["workload"],
            "label": ["Workload"],
            "level": ["construct"],
            "n_items": [3],
            "n": [2],
            "alpha": [0.8123456],
            "alpha_ci_low": [0.78],
            "alpha_ci_high": [0.84],
            "omega": [0.82],
            "threshold": [0.7],
        }
    ).to_csv(tables / "reliability.csv", index=False)
    pd.DataFrame({"x": np.arange(100), "y": np.linspace(0, 1, 100)}).to_csv(
        tables / "long_table.csv", index=False
    )
    pd.DataFrame({"what": ["<script>alert(1)</script>"]}).to_csv(
        tables / "mystery_table.csv", index=False
    )
    (tables / "cfa_one_factor.lavaan").write_text("f =~ W1\n", encoding="utf-8")
    pd.DataFrame({"a": [1]}).to_csv(tables / "stale_table.csv", index=False)  # no manifest
    save_figure(_figure("#00c800"), figures, "first_figure", simulated=False)
    save_figure(_figure("#0000ff"), figures, "synthesis_importance_domains", simulated=False)
    (figures / "first_figure.svg").unlink()  # a figure may exist as PNG only ...
    save_figure(_figure("#ff00ff"), figures, "svg_only", simulated=False)
    (figures / "svg_only.png").unlink()  # ... or as SVG only

    manifests = {
        "descriptives": [
            f"tables/{SITE}/reliability.csv",
            f"figures/{SITE}/first_figure.png",
            f"figures/{SITE}/svg_only.svg",
        ],
        "synthesis": [
            f"tables/{SITE}/long_table.csv",
            f"tables/{SITE}/mystery_table.csv",
            f"tables/{SITE}/cfa_one_factor.lavaan",
            f"figures/{SITE}/synthesis_importance_domains.png",
            f"figures/{SITE}/synthesis_importance_domains.svg",
            f"data/processed/{SITE}/analysis.csv",
        ],
    }
    folder = root / "reports" / SITE / ".manifest"
    folder.mkdir(parents=True)
    for stage, files in manifests.items():
        (folder / f"{stage}.json").write_text(json.dumps(files), encoding="utf-8")
    return root


def _manifest_files(root: Path) -> set[str]:
    folder = root / "reports" / SITE / ".manifest"
    return {f for m in folder.glob("*.json") for f in json.loads(m.read_text(encoding="utf-8"))}


def test_report_has_every_manifest_file_and_no_orphan(project):
    cfg = load_site(SITE, root=project)
    html = report.build_report(cfg)
    assert html == project / "reports" / SITE / "report.html"
    page = _parse(html)
    # Every published file is in the report exactly once; nothing else is.
    assert sorted(page.data_files) == sorted(_manifest_files(project))
    text = " ".join(page.text)
    assert f"tables/{SITE}/stale_table.csv" in text  # named in the unlisted warning only
    # The publication table of the reliability CSV, numbered, with APA numbers and labels.
    assert "Table 1" in text and "Table 2" not in text
    assert ".81 [.78, .84]" in text and "Workload" in text
    # Figures numbered; the tidy CSVs listed with their captions (generic when unknown).
    assert "Figure 3" in text and "Figure 4" not in text
    assert "Reliability of the scales" in text and "Table: mystery_table" in text
    # The stage's interpretation, from the numbers.
    assert "Cronbach's α of the 1 constructs ranges from .81 to .81" in text


def test_cfa_section_says_what_the_efa_found(project):
    """The cfa stage does not read the efa stage's outputs (it need not wait for it): the
    report, which reads both, sets the EFA's factors and flagged items beside the CFA."""
    cfg = load_site(SITE, root=project)
    chosen = cfg.get("cfa.chosen_model")
    tables = project / "tables" / SITE
    pd.DataFrame({"n_factors_used": [3], "n_factors_parallel": [2]}).to_csv(
        tables / "efa_adequacy.csv", index=False
    )
    pd.DataFrame(
        {"item": ["W1", "W2"], "flagged": [True, False], "reasons": ["communality < 0.3", ""]}
    ).to_csv(tables / "efa_item_flags.csv", index=False)
    fit = {"chi2": 10.0, "df": 5, "p": 0.07, "cfi": 0.99, "tli": 0.98, "rmsea": 0.03}
    fit |= {"rmsea_ci_low": 0.0, "rmsea_ci_high": 0.06, "srmr": 0.03, "bic": 100.0}
    pd.DataFrame([{"model": chosen, **fit}]).to_csv(tables / "cfa_fit.csv", index=False)
    pd.DataFrame(
        {"model": [chosen], "lhs": ["workload"], "op": ["=~"], "rhs": ["W1"], "std_all": [0.414]}
    ).to_csv(tables / "cfa_estimates.csv", index=False)
    folder = project / "reports" / SITE / ".manifest"
    for stage, stems in (
        ("efa", ["efa_adequacy", "efa_item_flags"]),
        ("cfa", ["cfa_fit", "cfa_estimates"]),
    ):
        files = [f"tables/{SITE}/{stem}.csv" for stem in stems]
        (folder / f"{stage}.json").write_text(json.dumps(files), encoding="utf-8")

    def text(language: str) -> str:
        published = report.collect_outputs(cfg.paths)
        rows = published[published["stage"] == "cfa"]
        return report.stage_interpretation("cfa", cfg, rows, language, published)

    assert text("en").endswith(
        ". EFA: 3 factors used (parallel analysis suggested 2); the codebook has 1 constructs. "
        "1 items flagged by the EFA: W1 (communality < 0.3; standardized loading in the chosen "
        "model: .41 on workload)."
    )
    assert "。探索性因子分析：提取 3 个因子（平行分析建议 2 个）；代码本有 1 个构念。" in text("zh")
    # without the EFA's outputs the CFA's text stands alone
    (folder / "efa.json").unlink()
    assert "EFA" not in text("en") and text("en").startswith("Second-order")


def test_report_lists_tables_and_figures_with_working_anchors(project):
    cfg = load_site(SITE, root=project)
    source = report.build_report(cfg).read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', source))
    for section in ("list-of-tables", "list-of-figures"):
        block = source.split(f'<section id="{section}">')[1].split("</section>")[0]
        anchors = re.findall(r'href="#([^"]+)"', block)
        assert anchors, section
        assert set(anchors) <= ids, section
    figures = source.split('<section id="list-of-figures">')[1].split("</section>")[0]
    assert re.findall(r"Figure (\d+)", figures) == ["1", "2", "3"]


def test_downloads_work_when_the_report_is_moved(project, tmp_path):
    cfg = load_site(SITE, root=project)
    html = report.build_report(cfg)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for name in (report.REPORT_NAME, report.DOWNLOADS_NAME):
        shutil.copy(html.parent / name, moved / name)
    page = _parse(moved / report.REPORT_NAME)
    links = [h for h in page.hrefs if not h.startswith("#")]
    assert links
    for href in links:
        if href.startswith("data:"):
            continue  # the CSVs travel inside the page
        assert (moved / href).is_file(), href  # the zip, beside the report
    csv = next(h for h in links if h.startswith("data:text/csv;base64,"))
    assert base64.b64decode(csv.split(",", 1)[1]).startswith(b"scale,label")
    with zipfile.ZipFile(moved / report.DOWNLOADS_NAME) as archive:
        names = archive.namelist()
        assert "figures/synthesis_importance_domains.png" in names
        assert "figures/svg_only.svg" in names and "tables/reliability.csv" in names
        dates = {info.date_time for info in archive.infolist()}
    assert dates == {report.FIXED_ZIP_DATE}  # same bytes on rerun
    first = (html.parent / report.DOWNLOADS_NAME).read_bytes()
    report.build_report(cfg)
    assert (html.parent / report.DOWNLOADS_NAME).read_bytes() == first


def test_report_is_self_contained(project):
    cfg = load_site(SITE, root=project)
    html = report.build_report(cfg)
    source = html.read_text(encoding="utf-8")
    page = _parse(html)
    assert len(page.img_src) == 2 and all(
        s.startswith("data:image/png;base64,") for s in page.img_src
    )
    # Each figure embedded once, at screen resolution (not the 300-dpi file).
    for src in page.img_src:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.width <= report.SCREEN_WIDTH_PX and image.mode == "P"
    assert "<svg" in source  # the SVG-only figure is inlined
    assert "link" not in page.tags and "script" not in page.tags
    assert not any(h.startswith(("http:", "https:", "//")) for h in page.hrefs)
    assert 'src="http' not in source and "url(http" not in source and "@import" not in source
    # The stylesheet is inlined unescaped (quoted font names intact).
    assert '"Noto Sans CJK SC"' in source and "&#34;" not in source.split("</style>")[0]
    # A CSV's cells reach the page only inside its base64 data: link, never as markup.
    assert "<script>alert(1)" not in source


def test_report_provenance_and_banner(project):
    cfg = load_site(SITE, root=project)
    source = report.build_report(cfg).read_text(encoding="utf-8")
    assert 'id="simulated-banner"' in source and "SIMULATED DATA" in source
    assert sha256(project / "data" / "raw" / SITE / "export.csv") in source
    assert f"<td>pandas</td><td><code>{metadata.version('pandas')}</code>" in source
    assert "not a git checkout" in source
    # Nothing time-dependent: a rebuild gives identical bytes.
    assert report.build_report(cfg).read_text(encoding="utf-8") == source


def test_report_without_banner_when_real_and_in_chinese(project):
    site_yml = project / "config" / "sites" / SITE / "site.yml"
    site_yml.write_text(
        site_yml.read_text(encoding="utf-8").replace("simulated: true", "simulated: false"),
        encoding="utf-8",
    )
    cfg = load_site(SITE, root=project)
    source = report.build_report(cfg, language="zh").read_text(encoding="utf-8")
    assert "simulated-banner" not in source
    assert "各量表信度" in source and "表：mystery_table" in source
    assert "工作量" in source and "表 1" in source


def test_report_written_to_staging_under_the_runner(project, tmp_path, monkeypatch):
    monkeypatch.setenv(STAGING_ENV, str(tmp_path / "staging"))
    cfg = load_site(SITE, root=project)
    path = report.build_report(cfg)
    assert path == tmp_path / "staging" / "reports" / "report.html"


def test_chinese_figure_has_no_missing_glyphs():
    with matplotlib.rc_context():
        name = use_cjk_font()
        assert name == "Noto Sans SC"
        ranking = pd.DataFrame(
            {
                "label": ["突发事件风险", "工作-家庭平衡与家庭安全"],
                "weight": [0.1, 0.05],
                "ci_low": [0.08, 0.02],
                "ci_high": [0.12, 0.07],
                "rank": [1, 2],
                "rank_ci_low": [1, 1],
                "rank_ci_high": [1, 2],
                "method": ["dominance"] * 2,
            }
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = plot_importance(ranking, language="zh")
            fig.savefig(Path("/dev/null"), format="png")
            fig.savefig(Path("/dev/null"), format="svg")
            plt.close(fig)
        missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
        assert missing == []


def test_without_the_cjk_font_glyphs_are_missing():
    """The check above is meaningful: DejaVu Sans alone reports the missing glyphs."""
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig, ax = plt.subplots()
            ax.set_title("突发事件风险")
            fig.savefig(Path("/dev/null"), format="png")
            plt.close(fig)
    assert any("missing from font" in str(w.message) for w in caught)


def test_cjk_font_comes_from_the_pinned_package():
    pytest.importorskip("pylopdf_fonts_zh_cn", reason="pip install pylopdf-fonts-zh-cn")
    path = cjk_font_file()
    assert path.name == "NotoSansSC-Regular.otf" and "site-packages" in str(path)


def test_screenshot_in_headless_chromium_shows_banner_and_first_figure(project, tmp_path):
    """Documented visual check: the banner (red) and the first figure (green) are on screen."""
    if report.chromium_binary() is None:
        pytest.skip("Chromium not installed: apt-get install chromium (Debian) for this check")
    cfg = load_site(SITE, root=project)
    html = report.build_report(cfg)
    png = report.screenshot(html, tmp_path / "shot.png", width=1200, height=1600)
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    banner = np.all(np.abs(image - [179, 0, 0]) < 8, axis=2)  # #b30000
    green = np.all(np.abs(image - [0, 200, 0]) < 8, axis=2)  # the first figure's patch
    assert banner[:150].mean() > 0.3  # the top of the page is the red banner
    assert green.sum() > 10_000  # the first figure is rendered, not a broken image


def test_contents_stay_in_view_when_scrolled(project, tmp_path):
    """Headless Chromium scrolls the page far down: the contents column is still at the top."""
    if report.chromium_binary() is None:
        pytest.skip("Chromium not installed: apt-get install chromium (Debian) for this check")
    cfg = load_site(SITE, root=project)
    source = report.build_report(cfg).read_text(encoding="utf-8")
    probe = (
        '<div style="height:6000px"></div><script>window.scrollTo(0, 4000);'
        "const navBox = document.querySelector('nav.toc').getBoundingClientRect().top;"
        "document.body.dataset.scroll = Math.round(window.scrollY);"
        "document.body.dataset.navTop = Math.round(navBox);</script></body>"
    )
    page = tmp_path / "probe.html"
    page.write_text(source.replace("</body>", probe), encoding="utf-8")
    dom = subprocess.run(
        [report.chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
         "--window-size=1280,900", "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    scroll = int(re.search(r'data-scroll="(\d+)"', dom).group(1))
    nav_top = int(re.search(r'data-nav-top="(-?\d+)"', dom).group(1))
    assert scroll >= 4000 and 0 <= nav_top < 50


def test_pdf_is_printed_by_headless_chromium(project, tmp_path):
    if report.chromium_binary() is None:
        pytest.skip("Chromium not installed: apt-get install chromium (Debian) for this check")
    cfg = load_site(SITE, root=project)
    html = report.build_report(cfg)
    pdf = report.print_pdf(html, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"/Type /Page" in data
    assert b"(D:19800101000000" in data or b"CreationDate" not in data  # no time of printing


def test_screen_copies_are_cached_by_content_and_unused_ones_removed(project, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    cfg = load_site(SITE, root=project)
    published = report.collect_outputs(cfg.paths)
    cache = cfg.paths.cache_dir("screen")
    cache.mkdir(parents=True)
    (cache / "stale.png").write_bytes(b"a copy of a figure no longer published")

    def copies() -> dict[str, bytes]:
        with ThreadPoolExecutor(2) as pool:
            futures = report.start_screen_copies(project, published, pool, cache)
            return {path: future.result() for path, future in futures.items()}

    first = copies()
    figure = f"figures/{SITE}/first_figure.png"
    assert first[figure] == report.screen_png(project / figure)  # what the cache holds
    assert len(list(cache.iterdir())) == len(first)  # one per figure, the stale one gone
    converted = []
    monkeypatch.setattr(report, "screen_png", lambda p: converted.append(p) or b"")
    assert copies() == first and not converted  # nothing converted again
    # a figure drawn anew is converted again, whatever its file name
    save_figure(_figure("#ff0000"), project / "figures" / SITE, "first_figure", simulated=False)
    again = copies()
    assert again[figure] == b"" and len(converted) == 1  # b"": the fake conversion's output
