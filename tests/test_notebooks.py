"""Stage notebooks: committed without outputs, parameterised, checked parameters, declared once
in policestress.stages and wired into the Makefile from there; interactive runs and `make lab`."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from policestress.paths import PUBLISH_ENV, STAGING_ENV, SitePaths
from policestress.report import SECTION_TITLES
from policestress.stages import (
    CHAIN,
    COMMON_SETTINGS,
    STAGES,
    ParameterError,
    check_parameters,
    make_fragment,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_stage_has_its_notebook():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(s.notebook for s in STAGES.values())


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


def test_an_unknown_parameter_fails_naming_it_and_the_valid_ones():
    for command in (
        [sys.executable, "-m", "policestress.stages", "run"],
        [sys.executable, "-m", "policestress.cli", "run"],
    ):
        proc = subprocess.run(
            [*command, "efa", "--site", "y-subbureau-sim", "-p", "n_factor=4"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "unknown parameter 'n_factor' (did you mean 'n_factors'?)" in proc.stderr
        assert "Valid parameters: site, n_factors, extraction, rotation" in proc.stderr
    with pytest.raises(ParameterError, match="'language'.*Valid parameters: site, min_cell"):
        check_parameters("descriptives", {"language": "en"})
    check_parameters("efa", {"site": "x", "n_factors": 4, "rotation": "varimax"})


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_reads_only_the_settings_it_declares(stage):
    """The site.yml keys each stage reads (cfg.get, cfg.settings, setting(cfg, ...)) in its
    notebook and its module of policestress.stagework are declared in STAGES, so its settings
    stamp changes whenever they do."""
    nb = json.loads((ROOT / "notebooks" / STAGES[stage].notebook).read_text(encoding="utf-8"))
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    work = ROOT / "src" / "policestress" / "stagework" / f"{stage}.py"
    source += "\n" + work.read_text(encoding="utf-8")
    read_through_helper = re.findall(r"setting\(\s*cfg,\s*f?\"([a-z_]+)[.\"]", source)
    read = set(re.findall(r"cfg\.get\(\s*f?[\"']([a-z_]+)", source))
    read |= set(re.findall(r"cfg\.settings(?:\.get\(|\[)\s*[\"']([a-z_]+)", source))
    read |= {"grouping"} if "cfg.grouping" in source else set()
    read |= set(read_through_helper)
    # efa's stage looks its settings up through chosen(name, "efa.x", kind)
    read |= set(re.findall(r"chosen\(\"\w+\", f?\"([a-z_]+)\.", source))
    # validate's settings are read inside policestress.validate and policestress.cleaning
    assert read or stage == "validate", stage
    assert read <= set(COMMON_SETTINGS) | set(STAGES[stage].settings), read


def test_the_makefile_takes_the_stages_from_stages_py():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "include build/stages.mk" in makefile
    assert not re.search(r"\d\d_\w+\.ipynb", makefile), "a notebook named in the Makefile"
    subprocess.run(["make", "-s", "help"], cwd=ROOT, check=True, capture_output=True)
    fragment = (ROOT / "build" / "stages.mk").read_text(encoding="utf-8")
    assert fragment == make_fragment(ROOT)
    for stage in STAGES.values():
        rule = re.search(rf"^\$\(REPORTS\)/{stage.notebook}: (.*?)\n\t", fragment, re.M | re.S)
        prerequisites = rule.group(1).split()
        assert f"$(STAMPS)/{stage.name}.settings" in prerequisites
        for need in stage.needs:
            assert f"$(REPORTS)/{STAGES[need].notebook}" in prerequisites
        assert "src/policestress/stages.py" in prerequisites
    efa_rule = re.search(r"^\$\(REPORTS\)/02_efa.ipynb: (.*?)\n\t", fragment, re.M | re.S)
    assert "src/policestress/efa.py" in efa_rule.group(1)
    assert "src/policestress/cfa.py" not in efa_rule.group(1)
    # on-request stages (power) are not in the chain; the report waits for those a site asks
    assert f"CHAIN_STAGES := {' '.join(CHAIN)}\n" in fragment
    report_rule = re.search(r"^\$\(REPORTS\)/07_report.ipynb: (.*?)\n\t", fragment, re.M | re.S)
    assert "$(ON_REQUEST_IN_ALL)" in report_rule.group(1)
    assert set(SECTION_TITLES) == set(STAGES) - {"report"}


def test_an_interactive_run_writes_to_scratch(tmp_path, monkeypatch):
    monkeypatch.delenv(STAGING_ENV, raising=False)
    monkeypatch.delenv(PUBLISH_ENV, raising=False)
    paths = SitePaths("y-subbureau-sim", tmp_path)
    assert paths.table("t.csv").parent == tmp_path / "scratch" / "y-subbureau-sim" / "tables"
    monkeypatch.setenv(PUBLISH_ENV, "1")  # told otherwise
    assert paths.table("t.csv").parent == tmp_path / "tables" / "y-subbureau-sim"
    assert "scratch/" in (ROOT / ".gitignore").read_text().splitlines()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_starts_as_root_at_the_project_root():
    port = _free_port()
    proc = subprocess.Popen(
        ["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_PORT={port}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        info = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as r:
                    info = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert info and "version" in info, proc.stdout.read() if proc.poll() is not None else ""
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    # as root, jupyter refuses to start without --allow-root: the server answering proves it
    assert f"Serving notebooks from local directory: {ROOT}" in out, out[-2000:]


def test_every_top_level_key_of_the_schema_is_declared_by_a_stage():
    """An undeclared key would count for every stage (safe, but every change reruns all)."""
    from policestress.settings import all_keys
    from policestress.stages import SIMULATE_SETTINGS

    declared = set(COMMON_SETTINGS) | set(SIMULATE_SETTINGS)
    declared |= {key for stage in STAGES.values() for key in stage.settings}
    assert {k.split(".")[0] for k in all_keys()} == declared
