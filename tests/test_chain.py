"""The Makefile chain on the default site, run in a scratch copy of the project.

One `make all` from scratch (its log checked), then the promises of the chain: a second
`make all` does nothing; a change of one setting or one notebook reruns exactly the stages
that read it (make's dry run); `make verify` reruns everything in another copy and finds
every table, executed notebook and SVG identical; an interactive run told to publish never
reaches the report unnoticed; a stage that fails after a good run leaves nothing of itself
or of the stages after it, and says where it failed; an export that fails validation stops
the chain with nothing of the earlier run left.
"""

import json
import os
import re
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policestress.provenance import config_digest
from policestress.stages import CHAIN, STAGES
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
def first_run(tmp_path_factory):
    root = copy_project(ROOT, tmp_path_factory.mktemp("chain"))
    proc = make(root, "all")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return root, proc


@pytest.fixture(scope="module")
def scratch(first_run):
    return first_run[0]


def ran(output: str) -> set[str]:
    """Stages a make run (or dry run) ran."""
    return {
        stage
        for stage in STAGES
        if f"policestress.stages run {stage} " in output or f"[{stage}] start" in output
    }


def test_the_log_is_for_people(first_run):
    root, proc = first_run
    log = proc.stdout + proc.stderr
    for stage in CHAIN:
        assert re.search(rf"^\[{stage}\] start  \d\d:\d\d:\d\d", log, re.M), stage
        assert re.search(rf"^\[{stage}\] end    \d\d:\d\d:\d\d  done in [\d.]+ s", log, re.M)
    assert "without encryption" not in log and "KeyboardInterrupt" not in log
    closing = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"chain done for {SITE}: reports/{SITE}/report.html \([\d.]+ s\)", closing
    ), closing
    # no line of the log comes from a stage without saying which
    stray = [line for line in proc.stdout.splitlines() if not line.startswith("[")]
    assert stray == [closing], stray


def test_make_all_publishes_every_stage(scratch):
    for stage in map(STAGES.get, CHAIN):
        assert (scratch / "reports" / SITE / stage.notebook).exists(), stage.name
        for table in EXPECTED_TABLES[stage.name]:
            assert (scratch / "tables" / SITE / table).stat().st_size > 0, table
    record = json.loads((scratch / "reports" / SITE / "provenance.json").read_text())
    assert set(record["stages"]) == set(CHAIN)  # on-request stages (power) only when asked
    assert record["config_sha256"].startswith(config_digest(SITE, scratch)[:64])
    for stems in EXPECTED_FIGURES.values():
        for stem in stems:
            for suffix in (".png", ".svg"):
                assert (scratch / "figures" / SITE / f"{stem}{suffix}").stat().st_size > 0, stem
    assert (scratch / "data" / "processed" / SITE / "analysis.csv").exists()
    report = (scratch / "reports" / SITE / "report.html").read_text(encoding="utf-8")
    assert "SIMULATED" in report
    # the CFA section says what the EFA found (the report reads both stages' outputs)
    cfa_section = report[report.index('id="stage-cfa"') : report.index('id="stage-invariance"')]
    used = int(pd.read_csv(scratch / "tables" / SITE / "efa_adequacy.csv")["n_factors_used"][0])
    assert f"探索性因子分析：提取 {used} 个因子" in cfa_section
    _assert_publication_tables(scratch, SITE)
    staging = scratch / "build" / SITE
    assert not staging.exists() or not [p for p in staging.iterdir() if p.is_dir()]


def _assert_publication_tables(scratch: Path, site_name: str) -> None:
    """The thesis tables of a chain run: one .docx and .tex per publication table, the
    combined files, nothing a reader should not see; every .docx A4 with a SEQ caption and
    three-line rules; tables.tex (every table) compiles with xelatex, every glyph present and
    nothing past the margin (tests/test_thesis_tables.py checks the layouts on small tables)."""
    import shutil
    import subprocess
    import tempfile

    import docx
    from docx.oxml.ns import qn
    from docx.shared import Cm
    from test_thesis_tables import _assert_three_line

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
    for table in tables:
        document = docx.Document(thesis / f"{table.key}.docx")
        section = document.sections[0]
        short, long = sorted((section.page_width, section.page_height))
        assert abs(short - Cm(21.0)) < Cm(0.01) and abs(long - Cm(29.7)) < Cm(0.01), table.key
        fields = [e.text for e in document.element.body.iter(qn("w:instrText"))]
        assert len(fields) == 1 and fields[0].strip().startswith("SEQ "), table.key
        assert [p.style.name for p in document.paragraphs][0] == "Caption", table.key
        _assert_three_line(document.tables[0], len(table.header_rows))
    xelatex = shutil.which("xelatex")
    if xelatex is None:  # tests/test_thesis_tables.py says so in its skip reason
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(shutil.copytree(thesis, Path(folder) / "thesis"))
        proc = subprocess.run(
            [xelatex, "-interaction=nonstopmode", "-halt-on-error", pub.LATEX_DRIVER],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = (copy / "tables.log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "Missing character" not in log and "Overfull \\hbox" not in log


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
    assert odds["converged"].all()
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
    assert ran(proc.stdout) == set() and "[simulate]" not in proc.stdout
    assert proc.stdout.startswith(f"chain done for {SITE}")


def test_a_change_of_efa_n_factors_reruns_exactly_what_reads_it(scratch):
    site_file = scratch / "config" / "sites" / SITE / "site.yml"
    original = site_file.read_bytes()
    site_file.write_text(original.decode("utf-8") + "\nefa:\n  n_factors: 4\n", encoding="utf-8")
    try:
        proc = make(scratch, "-n", "all")
    finally:
        site_file.write_bytes(original)
        make(scratch, "-n", "all")  # the stamps go back to the original settings
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the report reads everything (its CFA section says what the EFA found); descriptives,
    # cfa, eri, invariance and synthesis do not read efa's settings or outputs, validate and
    # the export neither
    assert ran(proc.stdout) == {"efa", "report"}, proc.stdout
    assert "policestress.simulate" not in proc.stdout
    assert ran(make(scratch, "-n", "all").stdout) == set()


def test_a_change_of_the_population_model_redraws_the_export_and_reruns_all(scratch):
    model = scratch / "config" / "sites" / SITE / "population_model.yml"
    original = model.read_bytes()
    model.write_bytes(original + b"\n# a changed population model\n")
    try:
        proc = make(scratch, "-n", "all")
    finally:
        model.write_bytes(original)
    assert "policestress.simulate --site" in proc.stdout
    assert ran(proc.stdout) == set(CHAIN)


def test_touching_a_stage_reruns_it_and_what_follows(scratch):
    notebook = scratch / "notebooks" / STAGES["efa"].notebook
    before = notebook.stat()
    os.utime(notebook)
    try:
        proc = make(scratch, "-n", "all")
    finally:
        os.utime(notebook, ns=(before.st_atime_ns, before.st_mtime_ns))
    # the report gathers everything; nothing else reads the EFA's outputs
    assert ran(proc.stdout) == {"efa", "report"}


def test_published_tables_hold_aggregates_only(scratch):
    from policestress.config import load_site

    site = load_site(SITE, scratch)
    items = set(site.codebook.item_ids())
    for table in (scratch / "tables" / SITE).glob("*.csv"):
        columns = set(pd.read_csv(table, nrows=0).columns)
        assert "respondent_id" not in columns, table.name
        assert len(columns & items) < 3, f"{table.name} looks like respondent-level item data"


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
    assert "thesis/cfa-fit.docx" in names and "thesis/thesis_tables.docx" in names
    assert "tables/cfa_fit.csv" in names
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
        or re.fullmatch(r"0\.000", c)  # a p printed as zero (p is .xxx or < .001)
        or [w for w in re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", c) if w not in item_ids]
    ]
    assert bad == []


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
    # the W site lists no claims of its own: none are tested (the thesis's belong to Y)
    assert not (tables / "synthesis_claims.csv").exists()
    assert not (tables / "synthesis_findings.csv").exists()


def test_a_site_without_eri_items_and_outcome_runs_the_chain_to_a_report(scratch):
    import shutil

    import yaml

    source = scratch / "config" / "sites" / "w-subbureau-sim"
    target = scratch / "config" / "sites" / "noeri-sim"
    shutil.copytree(source, target)
    settings = yaml.safe_load((target / "site.yml").read_text(encoding="utf-8"))
    dropped = [c for c in settings["codebook"] if "eri" in c or "outcome" in c]
    settings["codebook"] = [c for c in settings["codebook"] if c not in dropped]
    # the export still holds the ERI and outcome answers
    settings["ignore_columns"] = [
        h for c in dropped for h in pd.read_csv(source / c)["header"].tolist()
    ]
    # no group of the site is this large: invariance has nothing to compare
    settings["invariance"]["min_group_size"] = 10_000
    (target / "site.yml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    proc = make(scratch, "all", "SITE=noeri-sim")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    tables = scratch / "tables" / "noeri-sim"
    assert not list(tables.glob("eri_*.csv")) and not list(tables.glob("synthesis_*.csv"))
    assert not list(tables.glob("invariance*.csv"))
    assert not list((scratch / "figures" / "noeri-sim").glob("eri_*"))
    reports = scratch / "reports" / "noeri-sim"
    reasons = {
        "eri": "has no 'eri' instrument",
        "synthesis": "has no `outcome` instrument and `synthesis.outcome`",
        "invariance": "has two groups of at least 10000",
    }
    html = (reports / "report.html").read_text(encoding="utf-8")
    text = unescape(html)
    for stage, reason in reasons.items():
        executed = (reports / STAGES[stage].notebook).read_text(encoding="utf-8")
        assert reason in executed, stage
        assert "Stage skipped." in executed and "Traceback" not in executed, stage
        assert "An Exception was encountered" not in executed, stage
        assert f"[{stage}] skipped: " in proc.stdout, stage
        section = text[text.index(f'id="stage-{stage}"') :]
        section = section[: section.index("</section>")]
        assert "This stage was skipped:" in section and reason in section, stage
    assert "eri" not in set(pd.read_csv(tables / "cfa_fit.csv")["model"])
    # the stages that ran are in the report
    assert "noeri-sim/cfa_fit.csv" in html
    assert pd.read_csv(tables / "efa_adequacy.csv")["rotation_converged"].all()


def test_every_published_table_with_counts_passes_the_one_suppression_check(scratch):
    """The tables of every site the chain ran above (the default, the W site, the site
    without ERI items): each table with counts passes policestress.privacy's one check."""
    from test_privacy import check_published_tables

    from policestress.config import load_site

    sites = sorted(p.name for p in (scratch / "tables").iterdir() if p.is_dir())
    assert SITE in sites  # and the W site and the site without ERI when their tests ran
    for name in sites:
        min_cell = load_site(name, scratch).get("privacy.min_cell")
        assert check_published_tables(scratch / "tables" / name, min_cell) == [], name


def test_every_table_a_stage_publishes_is_named_in_the_design(scratch):
    """docs/design.md's stage table against the chain's outputs (tests/test_docs.py checks
    that every name there is written by its stage)."""
    from test_docs import design_outputs

    patterns = [
        re.sub(r"<[^>]+>|\\\*", ".+", re.escape(name))
        for names in design_outputs().values()
        for name in names
    ]
    for path in sorted((scratch / "tables" / SITE).glob("*.*")):
        assert any(re.fullmatch(p, path.name) for p in patterns), path.name


def test_verify_reruns_to_identical_tables_notebooks_and_svgs(scratch):
    proc = make(scratch, "verify")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(
        r"verify passed for \S+: all \d+ tables, 8 executed notebooks and \d+ SVG figures "
        r"identical to the rerun, byte for byte",
        proc.stdout,
    ), proc.stdout[-2000:]


def test_an_interactive_run_never_reaches_the_report_unnoticed(scratch):
    import papermill as pm

    tables = scratch / "tables" / SITE
    published = {p.name: p.read_bytes() for p in tables.glob("efa_*.csv")}
    env = {"POLICESTRESS_ROOT": str(scratch), "POLICESTRESS_PUBLISH": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    (scratch / "scratch").mkdir(exist_ok=True)
    try:
        # as in JupyterLab, told to publish: other settings, not saved in site.yml
        pm.execute_notebook(
            str(scratch / "notebooks" / STAGES["efa"].notebook),
            str(scratch / "scratch" / "interactive.ipynb"),
            parameters={"site": SITE, "n_factors": 4, "rotation": "varimax"},
            kernel_name="policestress",
            cwd=str(scratch),
            progress_bar=False,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    changed = sorted(n for n, b in published.items() if (tables / n).read_bytes() != b)
    assert "efa_loadings.csv" in changed
    # make sees nothing to do (no input of the chain changed) ...
    assert ran(make(scratch, "-n", "all").stdout) == set()
    # ... but make verify refuses, naming a changed file, before any rerun
    proc = make(scratch, "verify")
    assert proc.returncode != 0
    assert "verify REFUSED" in proc.stderr and f"tables/{SITE}/efa_loadings.csv" in proc.stderr
    # and so does the report stage: it will not be built from those files
    proc = subprocess.run(
        [str(scratch / ".venv/bin/python"), "-m", "policestress.stages", "run", "report"]
        + ["--site", SITE],
        cwd=scratch,
        capture_output=True,
        text=True,
        env={**os.environ, "POLICESTRESS_ROOT": str(scratch)},
    )
    assert proc.returncode == 1
    assert f"tables/{SITE}/efa_loadings.csv: differs from what stage 'efa' published" in (
        proc.stderr
    )
    assert not (scratch / "reports" / SITE / "report.html").exists()
    # the chain's own run puts everything right again
    proc = make(scratch, "-W", f"notebooks/{STAGES['efa'].notebook}", "all")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ran(proc.stdout) == {"efa", "report"}
    assert all((tables / n).read_bytes() == b for n, b in published.items())


def test_failing_stage_leaves_nothing_of_itself_or_downstream(scratch):
    import nbformat

    path = scratch / "notebooks" / STAGES["efa"].notebook
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")')
    )
    nbformat.write(nb, path)
    lab_number = sum(c.cell_type == "code" for c in nb.cells)  # as JupyterLab numbers it
    record = json.loads((scratch / "reports" / SITE / "provenance.json").read_text())
    downstream_files = [scratch / p for s in ("efa", "report") for p in record["stages"][s]]
    untouched = [scratch / p for s in ("descriptives", "cfa") for p in record["stages"][s]]
    proc = make(scratch, "all")
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"[efa] FAILED in cell [{lab_number}] of notebooks/02_efa.ipynb" in log
    assert "[efa] RuntimeError: deliberate failure for the test" in log  # the traceback
    assert f"[efa] Check: the file or setting the error names; config/sites/{SITE}/site.yml" in log
    assert downstream_files and not any(p.exists() for p in downstream_files)
    for stage in ("efa", "report"):
        assert not (scratch / "reports" / SITE / STAGES[stage].notebook).exists(), stage
    assert not (scratch / "reports" / SITE / "report.html").exists()
    assert not (scratch / "build" / SITE / "efa").exists()
    assert all(p.exists() for p in untouched)  # descriptives and cfa do not read efa
    record = json.loads((scratch / "reports" / SITE / "provenance.json").read_text())
    assert not {"efa", "report"} & set(record["stages"])


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
    # nothing of the earlier good run is left to describe data no longer on disk
    assert not list((scratch / "tables" / SITE).rglob("*.*"))
    assert not list((scratch / "figures" / SITE).rglob("*.*"))
    reports = scratch / "reports" / SITE
    assert [p.name for p in reports.iterdir() if p.is_file()] == ["provenance.json"]
    assert json.loads((reports / "provenance.json").read_text())["stages"] == {}
