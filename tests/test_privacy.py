"""Real raw data stays out of git; published tables hold aggregates only."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


def test_a_real_sites_raw_export_is_ignored_by_git():
    for name in (
        "data/raw/x-county/survey.xlsx",
        "data/raw/x-county/export.sav",
        "data/raw/new.csv",
    ):
        assert ignored(name), name


def test_the_simulated_sites_raw_exports_are_tracked():
    tracked = subprocess.run(
        ["git", "ls-files", "data/raw"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "data/raw/y-subbureau-sim/survey_export.xlsx" in tracked
    assert "data/raw/w-subbureau-sim/survey_export.sav" in tracked


def test_processed_data_and_outputs_are_ignored():
    for name in ("data/processed/x-county/analysis.csv", "tables/x/t.csv", "reports/x/report.html"):
        assert ignored(name), name
