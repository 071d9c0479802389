"""A stage whose site lacks what it analyses skips, saying why in its notebook and the report."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from policestress import report
from policestress.config import load_site
from policestress.stages import STAGES, run_stage, skip_reason

ROOT = Path(__file__).resolve().parents[1]
SITE = "w-subbureau-sim"


def write_notebook(root: Path, stage: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(f'site = "{SITE}"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "policestress",
        "display_name": "policestress",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = root / "notebooks" / STAGES[stage].notebook
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def root(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "config" / "sites" / SITE, tmp_path / "config" / "sites" / SITE)
    shutil.copytree(ROOT / "data" / "raw" / SITE, tmp_path / "data" / "raw" / SITE)  # provenance
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("POLICESTRESS_ROOT", str(tmp_path))
    return tmp_path


def test_a_skipped_stage_succeeds_and_states_why(root):
    write_notebook(
        root,
        "validate",
        "from pathlib import Path\n"
        "from policestress.paths import SitePaths\n"
        "from policestress.stages import skip_stage\n"
        "from policestress.tables import write_csv\n"
        "import pandas as pd\n"
        "write_csv(pd.DataFrame({'a': [1]}), SitePaths(site).table('eri_partial.csv'))\n"
        "skip_stage('the site has nothing to score')\n"
        "raise AssertionError('never reached')",
    )
    published = run_stage("validate", SITE, root=root)
    paths = load_site(SITE, root).paths
    executed = published[-1]
    assert executed == paths.final_dir("reports") / STAGES["validate"].notebook
    notebook = executed.read_text(encoding="utf-8")
    assert "**Stage skipped.** the site has nothing to score" in notebook
    assert "Traceback" not in notebook and "papermill-error-cell-tag" not in notebook
    assert "never reached" in notebook  # the cell is there, not run
    assert skip_reason(paths, "validate") == "the site has nothing to score"
    # what it published before skipping is kept and listed
    manifest = json.loads((paths.final_dir("reports") / ".manifest" / "validate.json").read_text())
    assert manifest == [f"tables/{SITE}/eri_partial.csv"]
    sections = report.build_sections(load_site(SITE, root), report.collect_outputs(paths), "en")
    section = next(s for s in sections if s["stage"] == "validate")
    assert section["skipped"] == "the site has nothing to score"
    assert all(not s["skipped"] for s in sections if s["stage"] != "validate")

    # run again without the skip: the marker goes
    write_notebook(root, "validate", "x = 1")
    run_stage("validate", SITE, root=root)
    assert skip_reason(paths, "validate") == ""


def test_a_failing_stage_is_not_a_skip(root):
    import papermill as pm

    write_notebook(root, "validate", "raise ValueError('real failure')")
    with pytest.raises(pm.PapermillExecutionError, match="real failure"):
        run_stage("validate", SITE, root=root)
    paths = load_site(SITE, root).paths
    assert skip_reason(paths, "validate") == ""
    assert not (paths.final_dir("reports") / STAGES["validate"].notebook).exists()
