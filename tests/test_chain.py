"""The Makefile chain on the default site, run in a scratch copy of the project.

One `make all` from scratch, then the promises of the foundation: a second `make all` does
nothing, touching a stage's notebook reruns it and what follows (not what precedes), a stage
that raises leaves nothing of itself behind and makes `make` fail with the error visible,
and an export that fails validation stops the chain before anything is written.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policestress.stages import STAGES
from policestress.verify import copy_project, run_make

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
SITE = "y-subbureau-sim"
# Tables each stage must publish for the default site (docs/design.md).
EXPECTED_TABLES = {
    "validate": ["exclusion_flow.csv", "validation_problems.csv"],
    "descriptives": [
        "sample_profile.csv",
        "item_statistics.csv",
        "reliability.csv",
        "score_descriptives.csv",
        "score_correlations.csv",
        "group_comparisons.csv",
        "posthoc.csv",
    ],
    "efa": [
        "efa_adequacy.csv",
        "efa_msa.csv",
        "efa_parallel.csv",
        "efa_loadings.csv",
        "efa_structure.csv",
        "efa_variance.csv",
        "efa_factor_correlations.csv",
        "efa_item_flags.csv",
        "spss_total_variance.csv",
        "spss_rotated_components.csv",
    ],
    "cfa": [
        "cfa_fit.csv",
        "cfa_estimates.csv",
        "cfa_validity.csv",
        "cfa_fornell_larcker.csv",
        "cfa_htmt.csv",
        "cfa_modindices.csv",
        "cfa_heywood.csv",
        "cfa_second_order.lavaan",
    ],
    "invariance": ["invariance.csv", "invariance_latent_means.csv"],
    "eri": ["eri_summary.csv", "eri_prevalence.csv", "eri_reliability.csv", "eri_odds_ratios.csv"],
    "synthesis": ["synthesis_regression.csv", "synthesis_importance.csv", "synthesis_ranking.csv"],
    "report": [],
}
# Figures each stage must publish for the default site (PNG and SVG of each).
EXPECTED_FIGURES = {
    "descriptives": [
        "likert_occupational",
        "score_distributions",
        "correlation_heatmap_constructs",
        "group_means_post_type_domains",
    ],
    "efa": ["efa_scree", "efa_loadings", "efa_factor_correlations"],
    "cfa": [
        "cfa_path_second_order_structure",
        "cfa_path_second_order_occupational",
        "cfa_fit_comparison",
    ],
    "invariance": ["invariance_latent_means"],
    "eri": ["eri_ratio_distribution", "eri_effort_reward", "eri_prevalence", "eri_odds_ratios"],
    "synthesis": ["synthesis_importance_domains", "synthesis_coefficients_constructs"],
}


def make(scratch: Path, *args: str) -> subprocess.CompletedProcess:
    return run_make(scratch, *args)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = copy_project(ROOT, tmp_path_factory.mktemp("chain"))
    proc = make(root, "all")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return root


def ran(output: str) -> set[str]:
    return {stage for stage in STAGES if f"policestress.stages run {stage} " in output}


def test_make_all_publishes_every_stage(scratch):
    for stage, notebook in STAGES.items():
        assert (scratch / "reports" / SITE / notebook).exists(), stage
        for table in EXPECTED_TABLES[stage]:
            assert (scratch / "tables" / SITE / table).stat().st_size > 0, table
    for stems in EXPECTED_FIGURES.values():
        for stem in stems:
            for suffix in (".png", ".svg"):
                assert (scratch / "figures" / SITE / f"{stem}{suffix}").stat().st_size > 0, stem
    assert (scratch / "data" / "processed" / SITE / "analysis.csv").exists()
    report = (scratch / "reports" / SITE / "report.html").read_text(encoding="utf-8")
    assert "SIMULATED" in report
    _assert_publication_tables(scratch, SITE)
    staging = scratch / "build" / SITE
    assert not staging.exists() or not [p for p in staging.iterdir() if p.is_dir()]


def _assert_publication_tables(scratch: Path, site_name: str) -> None:
    """The thesis tables of a chain run: one .docx and .tex per publication table, the
    combined files, nothing a reader should not see (tests/test_thesis_tables.py checks the
    layouts, the Word XML and the xelatex compilation on small tables)."""
    from policestress import publication as pub
    from policestress.config import load_site

    site = load_site(site_name, scratch)
    thesis = scratch / "tables" / site_name / "thesis"
    tidy = pub.read_tables(scratch / "tables" / site_name)
    tables = pub.publication_tables(tidy, site.codebook, site.language, simulated=site.simulated)
    keys = {t.key for t in tables}
    for key in ("sample-profile", "reliability", "efa-loadings", "cfa-fit", "cfa-fit-full"):
        assert key in keys, key
    for table in tables:
        for suffix in (".docx", ".tex"):
            assert (thesis / f"{table.key}{suffix}").stat().st_size > 0, table.key
        assert pub.table_problems(table, site.codebook.table["item_id"]) == []
    for name in (pub.COMBINED_DOCX, pub.LATEX_DRIVER):
        assert (thesis / name).stat().st_size > 0, name


def test_eri_tables_agree_with_a_recomputation_from_analysis_csv(scratch):
    import statsmodels.formula.api as smf
    from statsmodels.stats.proportion import proportion_confint

    from policestress.config import load_site

    site = load_site(SITE, scratch)
    data = pd.read_csv(scratch / "data" / "processed" / SITE / "analysis.csv")
    prevalence = pd.read_csv(scratch / "tables" / SITE / "eri_prevalence.csv", dtype={"group": str})
    rows = prevalence.set_index(["group_var", "group"])
    known = data.dropna(subset=["eri_imbalance"])
    overall = rows.loc[("overall", "all")]
    assert overall["n"] == len(known) and overall["n_imbalance"] == known["eri_imbalance"].sum()
    for variable in site.grouping:
        for code, group in known.groupby(variable):
            row = rows.loc[(variable, str(int(code)))]
            if row["suppressed"]:
                continue
            low, high = proportion_confint(
                group["eri_imbalance"].sum(), len(group), method="wilson"
            )
            assert row["n"] == len(group)
            assert row["prevalence"] == pytest.approx(group["eri_imbalance"].mean(), abs=1e-9)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-9)

    odds = pd.read_csv(scratch / "tables" / SITE / "eri_odds_ratios.csv")
    covariates = site.get("eri.covariates")
    outcome = "score_perceived_stress"
    frame = data.dropna(subset=[outcome, "eri_imbalance", "eri_high_oc", *covariates])
    frame = frame.assign(
        high_stress=(frame[outcome] >= site.get("eri.stress_cutoff")).astype(float)
    )
    formula = "high_stress ~ eri_imbalance + eri_high_oc + " + " + ".join(
        f"C({c})" for c in covariates
    )
    fit = smf.logit(formula, frame).fit(disp=0)
    adjusted = odds[odds["model"] == "adjusted"].set_index("term")
    for term in ("eri_imbalance", "eri_high_oc"):
        assert adjusted.loc[term, "odds_ratio"] == pytest.approx(np.exp(fit.params[term]), rel=1e-6)
        assert adjusted.loc[term, "n"] == fit.nobs


def test_second_make_all_does_nothing(scratch):
    proc = make(scratch, "all")
    assert proc.returncode == 0
    assert "Nothing to be done for 'all'" in proc.stdout
    assert ran(proc.stdout) == set()


def test_touching_a_stage_reruns_it_and_what_follows(scratch):
    notebook = scratch / "notebooks" / STAGES["efa"]
    before = notebook.stat()
    os.utime(notebook)
    try:
        proc = make(scratch, "-n", "all")
    finally:
        os.utime(notebook, ns=(before.st_atime_ns, before.st_mtime_ns))
    # cfa reads the EFA tables; the report gathers everything; nothing else reads them
    assert ran(proc.stdout) == {"efa", "cfa", "report"}


def test_published_tables_hold_aggregates_only(scratch):
    from policestress.config import load_site

    site = load_site(SITE, scratch)
    items = set(site.codebook.item_ids())
    for table in (scratch / "tables" / SITE).glob("*.csv"):
        columns = set(pd.read_csv(table, nrows=0).columns)
        assert "respondent_id" not in columns, table.name
        assert len(columns & items) < 3, f"{table.name} looks like respondent-level item data"


def test_second_site_runs_the_whole_chain(scratch):
    proc = make(scratch, "all", "SITE=w-subbureau-sim")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    tables = scratch / "tables" / "w-subbureau-sim"
    for stage_tables in EXPECTED_TABLES.values():
        for table in stage_tables:
            assert (tables / table).stat().st_size > 0, table
    # the ERI short version: 3 effort, 7 reward, 6 overcommitment items
    eri = pd.read_csv(tables / "eri_summary.csv").set_index("scale")
    assert eri.loc[["effort", "reward", "overcommitment"], "n_items"].tolist() == [3, 7, 6]
    fit = pd.read_csv(tables / "cfa_fit.csv")
    assert {"second_order", "eri"} <= set(fit["model"])
    _assert_publication_tables(scratch, "w-subbureau-sim")


def test_a_site_without_eri_items_runs_the_chain_without_eri_outputs(scratch):
    import shutil

    import yaml

    source = scratch / "config" / "sites" / "w-subbureau-sim"
    target = scratch / "config" / "sites" / "noeri-sim"
    shutil.copytree(source, target)
    settings = yaml.safe_load((target / "site.yml").read_text(encoding="utf-8"))
    settings["codebook"] = [c for c in settings["codebook"] if "eri" not in c]
    eri_headers = pd.read_csv(source / "codebook" / "eri_short.csv")["header"].tolist()
    settings["ignore_columns"] = eri_headers  # the export still holds the ERI answers
    (target / "site.yml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    proc = make(scratch, "all", "SITE=noeri-sim")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    tables = scratch / "tables" / "noeri-sim"
    assert (
        not list(tables.glob("eri_*.csv")) and not (tables / "synthesis_eri_increment.csv").exists()
    )
    assert not list((scratch / "figures" / "noeri-sim").glob("eri_*"))
    executed = (scratch / "reports" / "noeri-sim" / STAGES["eri"]).read_text(encoding="utf-8")
    assert "has no 'eri' instrument" in executed
    assert (scratch / "reports" / "noeri-sim" / "report.html").exists()
    assert "eri" not in set(pd.read_csv(tables / "cfa_fit.csv")["model"])


def test_verify_names_a_cell_altered_by_hand(scratch):
    table = scratch / "tables" / SITE / "reliability.csv"
    original = table.read_text(encoding="utf-8")
    frame = pd.read_csv(table)
    frame.loc[0, "alpha"] = 0.99
    frame.to_csv(table, index=False)
    try:
        proc = make(scratch, "verify")
    finally:
        table.write_text(original, encoding="utf-8")
    assert proc.returncode != 0
    lines = [line.strip() for line in proc.stderr.splitlines() if line.startswith("  ")]
    # the altered cell is the only difference: every other table reran byte for byte
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("reliability.csv: row 2, column 'alpha': recorded '0.99'")


def test_failing_stage_leaves_nothing_behind(scratch):
    import nbformat

    path = scratch / "notebooks" / STAGES["descriptives"]
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")')
    )
    nbformat.write(nb, path)
    published = [scratch / "tables" / SITE / t for t in EXPECTED_TABLES["descriptives"]]
    proc = make(scratch, "descriptives")
    assert proc.returncode != 0
    assert "deliberate failure for the test" in proc.stdout + proc.stderr
    assert not (scratch / "reports" / SITE / STAGES["descriptives"]).exists()
    assert not any(p.exists() for p in published)
    assert not (scratch / "build" / SITE / "descriptives").exists()


def test_invalid_export_stops_the_chain(scratch):
    from policestress.config import load_site

    site = load_site(SITE, scratch)
    broken = pd.read_excel(site.raw_file, dtype=str)
    column = site.codebook.table.set_index("item_id").loc["OCC_WL2", "header"]
    broken.loc[2, column] = "9"
    broken.to_excel(site.raw_file, index=False)
    proc = make(scratch, "validate")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "valid_range" in output and "OCC_WL2" in output and "rows 4" in output
    assert not (scratch / "data" / "processed" / SITE / "analysis.csv").exists()
    assert not (scratch / "reports" / SITE / STAGES["validate"]).exists()


def test_default_site_figures_are_chinese_and_thesis_sized(scratch):
    """Every figure the zh default site publishes: no English in its SVG text, 15-16 cm wide."""
    from PIL import Image
    from test_plots import english_words

    from policestress.config import load_site
    from policestress.plots import svg_texts

    item_ids = set(load_site(SITE, root=scratch).codebook.item_ids())
    svgs = sorted((scratch / "figures" / SITE).glob("*.svg"))
    assert len(svgs) >= 30
    for svg in svgs:
        assert english_words(svg_texts(svg), item_ids) == [], svg.name
        with Image.open(svg.with_suffix(".png")) as image:
            assert image.width / 300 * 2.54 <= 16.0, svg.name


def test_default_site_report_is_small_with_downloads_and_pdf(scratch):
    import zipfile

    from policestress.report import DOWNLOADS_NAME, PDF_NAME

    folder = scratch / "reports" / SITE
    html = folder / "report.html"
    assert html.stat().st_size < 5_000_000
    with zipfile.ZipFile(folder / DOWNLOADS_NAME) as archive:
        names = set(archive.namelist())
    assert "figures/efa_loadings.png" in names and "figures/efa_loadings.svg" in names
    assert "thesis/cfa_fit.docx" in names and "tables/cfa_fit.csv" in names
    # printed by headless Chromium (.ci/run installs it; without it the report stage fails)
    assert (folder / PDF_NAME).read_bytes()[:5] == b"%PDF-"


def test_default_site_report_tables_hold_no_python_values_or_ids(scratch):
    """The tables a reader sees in the report: no True/False, braces, internal ids, p = 0.000."""
    import re
    from html.parser import HTMLParser

    from policestress.config import load_site

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.depth, self.cells = 0, []

        def handle_starttag(self, tag, attrs):
            if tag == "table" and ("class", "pub") in attrs:
                self.depth += 1

        def handle_endtag(self, tag):
            if tag == "table" and self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.depth and data.strip():
                self.cells.append(data.strip())

    parser = Cells()
    parser.feed((scratch / "reports" / SITE / "report.html").read_text(encoding="utf-8"))
    assert len(parser.cells) > 500
    item_ids = set(load_site(SITE, root=scratch).codebook.item_ids())
    bad = [
        c
        for c in parser.cells
        if re.search(r"\b(True|False|None|nan)\b", c)
        or "{" in c
        or re.fullmatch(r"0\.0+", c)
        or [w for w in re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", c) if w not in item_ids]
    ]
    assert bad == []
