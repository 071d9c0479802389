"""make verify's comparison, provenance records and the new-site scaffold."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from policestress.config import load_site
from policestress.provenance import (
    check_outputs,
    config_digest,
    forget_stage,
    record_stage,
    sha256,
)
from policestress.scaffold import propose_codebook, scaffold_site
from policestress.survey_io import read_export
from policestress.tables import write_csv
from policestress.validate import validate_export
from policestress.verify import compare_tables

SITE = "y-subbureau-sim"


@pytest.fixture
def two_runs(tmp_path):
    table = pd.DataFrame(
        {"scale": ["workload", "health"], "alpha": [0.81234, 0.7654], "n": [398, 400]}
    )
    recorded, rerun = tmp_path / "recorded", tmp_path / "rerun"
    write_csv(table, recorded / "reliability.csv")
    write_csv(table, rerun / "reliability.csv")
    return recorded, rerun


def test_identical_tables_have_no_differences(two_runs):
    assert compare_tables(*two_runs) == []


def test_a_table_altered_by_hand_is_reported_by_file_and_cell(two_runs):
    recorded, rerun = two_runs
    text = (recorded / "reliability.csv").read_text().replace("0.7654", "0.7700")
    (recorded / "reliability.csv").write_text(text)
    (difference,) = compare_tables(recorded, rerun)
    assert difference == "reliability.csv: row 3, column 'alpha': recorded '0.7700', rerun '0.7654'"


def test_missing_and_extra_tables_are_reported(two_runs):
    recorded, rerun = two_runs
    write_csv(pd.DataFrame({"a": [1]}), rerun / "new.csv")
    (recorded / "reliability.csv").rename(recorded / "old.csv")
    found = compare_tables(recorded, rerun)
    assert "new.csv: produced by the rerun but not recorded" in found
    assert "old.csv: recorded but not produced by the rerun" in found


def test_provenance_records_checksums_versions_and_data(tmp_path):
    root = Path(__file__).resolve().parents[1]
    # record into a scratch project so the real reports/ folder is untouched
    scratch = tmp_path / "project"
    (scratch / "config" / "sites").mkdir(parents=True)
    subprocess.run(
        ["cp", "-r", str(root / "config" / "sites" / SITE), str(scratch / "config" / "sites")],
        check=True,
    )
    (scratch / "data" / "raw" / SITE).mkdir(parents=True)
    site = load_site(SITE, root)
    subprocess.run(["cp", str(site.raw_file), str(scratch / "data" / "raw" / SITE)], check=True)
    (scratch / "pyproject.toml").write_text("")
    output = scratch / "tables" / SITE / "t.csv"
    output.parent.mkdir(parents=True)
    output.write_text("a\n1\n")
    record_path = record_stage(SITE, "descriptives", [output], scratch, "abc")
    published = sha256(output)
    record = json.loads(record_path.read_text())
    assert record["stage_settings"]["descriptives"] == "abc"
    assert record["config_sha256"] == config_digest(SITE, scratch)  # not a git checkout:
    assert record["config_sha256"].endswith("+dirty")
    assert check_outputs(SITE, scratch, ["descriptives"]) == []
    output.write_text("a\n2\n")
    (problem,) = check_outputs(SITE, scratch, ["descriptives", "efa"])[:1]
    assert problem.startswith(f"tables/{SITE}/t.csv: differs from what stage 'descriptives'")
    assert "stage 'efa' has no published outputs" in check_outputs(SITE, scratch, ["efa"])[0]
    assert record["raw_sha256"] == sha256(site.raw_file)
    assert record["seed"] == site.seed and record["simulated"] is True
    assert record["versions"]["semopy"] == "2.3.11"
    assert record["stages"]["descriptives"] == {f"tables/{SITE}/t.csv": published}
    forget_stage(SITE, "descriptives", scratch)
    assert "descriptives" not in json.loads(record_path.read_text())["stages"]


def test_scaffold_writes_a_codebook_that_maps_every_export_column(tmp_path):
    site = load_site(SITE)
    root = tmp_path / "project"
    (root / "config" / "sites").mkdir(parents=True)
    subprocess.run(
        ["cp", "-r", str(site.paths.config_dir), str(root / "config" / "sites")], check=True
    )
    (root / "pyproject.toml").write_text("")
    site_dir = scaffold_site("x-county", site.raw_file, root)
    codebook = pd.read_csv(site_dir / "codebook" / "survey.csv", dtype=str, keep_default_na=False)
    export = read_export(site.raw_file)
    assert codebook["header"].tolist() == list(export.columns)
    assert codebook.loc[0, "type"] == "id" and "duration" in codebook["item_id"].tolist()
    new = load_site("x-county", root)
    assert new.simulated is False
    report = validate_export(new)
    assert not [p for p in report.errors if p.rule in ("codebook_columns_present", "known_columns")]
    with pytest.raises(FileExistsError):
        scaffold_site("x-county", site.raw_file, root)


def test_scaffold_proposes_likert_items_from_their_answers():
    export = pd.DataFrame(
        {"序号": ["1", "2", "3"], "Q 压力": ["1", "5", "3"], "性别": ["1", "2", "1"]}
    )
    proposed = propose_codebook(export).set_index("header")
    assert proposed.loc["Q 压力", "type"] == "likert" and proposed.loc["Q 压力", "max"] == "5"
    assert proposed.loc["性别", "type"] == "categorical"


def test_new_site_target_needs_name_and_export():
    proc = subprocess.run(["make", "-s", "new-site"], capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: make new-site" in proc.stdout
    assert sys.executable


def test_config_digest_says_dirty_when_the_site_folder_is_untracked_or_modified(tmp_path):
    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "config" / "sites" / SITE
    folder.parent.mkdir(parents=True)
    subprocess.run(
        ["cp", "-r", str(root / "config" / "sites" / SITE), str(folder.parent)], check=True
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    untracked = config_digest(SITE, tmp_path)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "site"], check=True)
    clean = config_digest(SITE, tmp_path)
    assert untracked == clean + "+dirty" and "+" not in clean
    with open(folder / "site.yml", "a", encoding="utf-8") as handle:
        handle.write("\nefa:\n  n_factors: 4\n")
    modified = config_digest(SITE, tmp_path)
    assert modified.endswith("+dirty") and modified[:64] != clean
