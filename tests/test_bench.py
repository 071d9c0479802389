"""The benchmark script runs end to end (one run, no large site) and writes its result files;
its large site is drawn as asked. Each runs the chain, so only once here."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from policestress.config import load_site
from policestress.verify import copy_project

ROOT = Path(__file__).resolve().parents[1]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.chain
def test_bench_runs_and_writes_its_results(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--runs",
            "1",
            "--skip-large",
            "--power-replications",
            "8",
            "--fiml-runs",
            "1",
            "--fiml-model",
            "eri",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = tmp_path.glob("*.json")
    record = json.loads(result.read_text())
    stages = [row["stage"] for row in record["default_cold"]]
    assert stages[0] == "validate" and stages[-1] == "TOTAL"
    assert all(row["wall_s"] > 0 for row in record["default_cold"])
    assert "large" not in record
    assert record["default_noop_s"]["median"] < record["default_cold"][-1]["wall_s"]
    assert record["default_chain_s"]["median"] > record["default_noop_s"]["median"]
    assert 0 < record["efa_change_s"]["median"] < record["default_chain_s"]["median"] * 2
    assert "No-op `make all`" in (tmp_path / "latest.md").read_text()
    assert record["power"]["replications"] == 8 and record["power"]["serial_fits_per_cpu_s"] > 0
    fiml = record["fiml"]
    assert fiml["model"] == "eri" and fiml["n"] == 400 and fiml["ours_cpu_s"]["median"] > 0
    if shutil.which("Rscript"):  # same data, same model: lavaan's chi-square
        assert fiml["lavaan_cpu_s"]["median"] > 0
        assert fiml["ours_chisq"] == pytest.approx(fiml["lavaan_chisq"], rel=1e-6)
    assert "FIML fit of the default site's eri model" in (tmp_path / "latest.md").read_text()


def test_the_large_site_is_the_default_instrument_with_n_simulated_respondents(tmp_path):
    bench = _bench_module()
    project = copy_project(ROOT, tmp_path)
    name = bench.make_large_site(project, 2000)
    site = load_site(name, root=project)
    assert site.simulated and name.endswith("-sim")
    export = pd.read_csv(project / "data" / "raw" / name / "survey_export.csv")
    model = yaml.safe_load(
        (project / "config" / "sites" / name / "population_model.yml").read_text("utf-8")
    )
    # n respondents, plus the duplicate submissions the population model plants
    assert len(export) == 2000 + model["response_quality"]["duplicates"]
    default = load_site(bench.DEFAULT_SITE, root=project)
    assert site.codebook.table.equals(default.codebook.table)


def test_a_copy_keeps_the_settings_stamps_and_no_outputs(tmp_path):
    """As after `make clean`: the stamps (with their times) stay, outputs and staging go, so
    the copy redraws the simulated export only when the project itself would."""
    root = tmp_path / "project"
    stamp = root / "build" / ".stamps" / "site" / "validate.settings"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("{}\n", encoding="utf-8")
    os.utime(stamp, ns=(10**18, 10**18))
    (root / "build" / "site" / "validate").mkdir(parents=True)  # a stage's staging folder
    (root / "tables" / "site").mkdir(parents=True)
    (root / "tables" / "site" / "t.csv").write_text("a\n", encoding="utf-8")
    (root / "src").mkdir()
    (root / "src" / "m.py").write_text("", encoding="utf-8")
    (root / ".venv").mkdir()
    copy = copy_project(root, tmp_path / "copy")
    copied = copy / "build" / ".stamps" / "site" / "validate.settings"
    assert copied.read_text(encoding="utf-8") == "{}\n"
    assert copied.stat().st_mtime_ns == 10**18
    assert not (copy / "build" / "site").exists() and not (copy / "tables").exists()
    assert (copy / "src" / "m.py").is_file()
