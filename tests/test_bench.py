"""The benchmark script runs end to end (tiny settings) and writes its result files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.chain
def test_bench_runs_and_writes_its_results(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--runs",
            "1",
            "--large-n",
            "3000",
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
    assert record["large_n"] == 3000 and record["large"][-1]["peak_mib"] > 0
    assert record["default_noop_s"]["median"] < record["default_cold"][-1]["wall_s"]
    assert record["default_chain_s"]["median"] > record["default_noop_s"]["median"]
    assert 0 < record["efa_change_s"]["median"] < record["default_chain_s"]["median"] * 2
    assert "No-op `make all`" in (tmp_path / "latest.md").read_text()
