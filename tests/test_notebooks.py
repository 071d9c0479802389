"""Stage notebooks: committed without outputs, parameterised, and wired into the Makefile."""

import json
import subprocess
from pathlib import Path

import pytest

from policestress.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_stage_has_its_notebook():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(STAGES.values())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} holds outputs: clear them before committing"
            assert cell["execution_count"] is None
    assert nb["metadata"]["kernelspec"]["name"] == "policestress"
    assert nb["metadata"]["kernelspec"]["language"] == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_with_the_default_site(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    assert 'site = "y-subbureau-sim"' in "".join(tagged[0]["source"])


def test_make_help_lists_every_stage():
    out = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for stage in [*STAGES, "all", "test", "lab", "clean", "lint"]:
        assert f"  {stage} " in out, stage
