"""make verify's comparison, provenance records and the new-site scaffold."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from policestress.config import ITEM_TYPES, ConfigError, load_site
from policestress.provenance import (
    check_outputs,
    config_digest,
    forget_stage,
    record_stage,
    sha256,
)
from policestress.scaffold import propose_codebook, scaffold_site
from policestress.survey_io import normalize_header
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


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "config" / "sites").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    return root


W_SITE = "w-subbureau-sim"


def test_scaffold_on_the_w_sav_proposes_the_w_codebook(tmp_path):
    w = load_site(W_SITE)
    root = _project(tmp_path)
    site_dir = scaffold_site("w-again", w.raw_file, root)
    proposed = pd.read_csv(site_dir / "codebook" / "survey.csv", dtype=str, keep_default_na=False)
    expected = w.codebook.table.astype({"min": str, "max": str}).replace("<NA>", "")
    expected["header"] = expected["header"].map(normalize_header)  # as the chain matches them
    columns = ["item_id", "type", "min", "max", "header"]
    # SPSS variable names as item ids, the variable labels as headers, types and ranges
    assert proposed[columns].values.tolist() == expected[columns].values.tolist()
    rating = proposed["type"] == "likert"
    assert (proposed.loc[rating, "instrument"] == "TODO").all()
    assert (proposed.loc[~rating, "instrument"] != "TODO").all()
    # value labels copied (the W export is labelled in English), labels without the code
    assert proposed.set_index("item_id").loc["sex", "values_en"] == "1=male;2=female"
    assert proposed.set_index("item_id").loc["JD1", "values_en"].startswith("1=never;2=rarely")
    assert proposed.set_index("item_id").loc["JD1", "label_zh"] == "需要在很短时间内完成大量任务"
    text = (site_dir / "site.yml").read_text(encoding="utf-8")
    n_items, n_questions = (
        int(rating.sum()),
        int(proposed["type"].isin(["likert", "categorical"]).sum()),
    )
    assert n_items == 38 and n_questions == 43
    settings = yaml.safe_load(text)
    assert settings["validation"]["min_respondents"] == 5 * n_items
    assert settings["exclusions"]["min_duration_seconds"] == 2 * n_questions
    assert "# fewer is an error: 5 per rating item (38 items)" in text  # comments kept
    assert "2 s per question (43 questions)" in text
    assert settings["grouping"] == ["sex", "age_group", "unit", "tenure", "partner"]


def test_a_scaffold_with_todos_left_fails_validation_naming_each(tmp_path):
    w = load_site(W_SITE)
    root = _project(tmp_path)
    site_dir = scaffold_site("w-again", w.raw_file, root)
    with pytest.raises(ConfigError) as error:
        load_site("w-again", root)
    message = str(error.value)
    survey = site_dir / "codebook" / "survey.csv"
    assert f"{site_dir / 'site.yml'}: key 'title_en' is" in message
    assert (
        f"{site_dir / 'site.yml'}: key 'exclusions.straightlining.instrument' is 'TODO'" in message
    )
    assert f"{survey}: row 11, column 'instrument' is TODO" in message  # JD1, the first item
    assert f"{survey}: row 11, column 'construct' is TODO" in message
    assert f"{site_dir / 'constructs.csv'}: row 2, column 'name' is TODO" in message
    # 3 in site.yml, instrument, construct and domain of 38 items, 4 cells of constructs.csv
    assert message.startswith(f"{3 + 38 * 3 + 4} TODOs of the scaffold are left")

    # the student checks and fills in what only they know: the site then validates
    proposed = pd.read_csv(survey, dtype=str, keep_default_na=False)
    truth = w.codebook.table.set_index("item_id")
    for column in ("instrument", "construct", "domain", "reverse"):
        proposed[column] = (
            proposed["item_id"]
            .map(truth[column].astype(str))
            .where(proposed[column].isin(["TODO"]) | (column == "reverse"), proposed[column])
        )
    proposed["reverse"] = proposed["reverse"].map({"True": "1", "False": "0"})
    proposed.to_csv(survey, index=False)
    (site_dir / "constructs.csv").write_text(
        (w.paths.config_dir / "constructs.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    text = (site_dir / "site.yml").read_text(encoding="utf-8")
    text = text.replace('"TODO: the site\'s title in English"', "W again")
    text = text.replace('"TODO: 站点中文标题"', "W again").replace(
        "instrument: TODO", "instrument: stress_sources"
    )
    text = text.replace("min_respondents: 190", "min_respondents: 120")
    (site_dir / "site.yml").write_text(text, encoding="utf-8")
    new = load_site("w-again", root)
    report = validate_export(new)
    assert not report.errors, [str(p) for p in report.errors]


def test_scaffold_drops_identifiers_and_proposes_an_id_when_there_is_none(tmp_path):
    export = tmp_path / "survey.csv"
    rows = [
        "提交时间,姓名,手机,来自IP,Q1_性别,Q2_岗位,S1 工作压力大,S2 经常加班,年龄",
        *(
            f"2024-01-0{i % 9 + 1},张{i},1380000{i:04d},10.0.{i}.1,{i % 2 + 1},{i % 4 + 1},"
            f"{i % 6 + 1},{(i * 7) % 6 + 1},{20 + i}"
            for i in range(30)
        ),
    ]
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    root = _project(tmp_path)
    site_dir = scaffold_site("x-county", export, root)
    settings = yaml.safe_load((site_dir / "site.yml").read_text(encoding="utf-8"))
    proposed = pd.read_csv(site_dir / "codebook" / "survey.csv", dtype=str, keep_default_na=False)
    kept = proposed.set_index("header")
    assert {"姓名", "手机"} <= set(settings["ignore_columns"])
    assert not {"姓名", "手机"} & set(proposed["header"])  # identifiers never reach the codebook
    assert settings["id"] == "generate"
    # a 6-point scale is a rating scale, a 4-category demographic is categorical
    assert kept.loc["S1 工作压力大", "type"] == "likert" and kept.loc["S1 工作压力大", "max"] == "6"
    assert kept.loc["S1 工作压力大", "item_id"] == "S1"
    assert kept.loc["Q2_岗位", "type"] == "categorical" and kept.loc["Q2_岗位", "max"] == "4"
    assert kept.loc["提交时间", "type"] == "meta"
    assert settings["validation"]["min_respondents"] == 100  # 5 x 2 items, at least 100
    # age in years: a number where the codebook has the type, else left as metadata
    numeric = "numeric" in ITEM_TYPES
    assert kept.loc["年龄", "type"] == ("numeric" if numeric else "meta")
    questions = 4 + numeric
    assert settings["exclusions"]["min_duration_seconds"] == 2 * questions  # 2 s per question


def test_scaffold_recognises_rating_scales_from_value_labels():
    from policestress.scaffold import Variable

    scale = {1: "从不", 2: "很少", 3: "有时", 4: "经常", 5: "总是"}
    two_point = {0: "not at all true", 1: "very true"}
    variables = [
        Variable("Q1 压力", pd.Series(["1", "2", "2"]), "P1", scale),  # answers 1-2, labels 1-5
        Variable("Q2 agree", pd.Series(["0", "1", "1"]), "P2", two_point),
        Variable("学历", pd.Series(["1", "2", "3"]), "edu", {1: "高中", 2: "本科", 3: "研究生"}),
        Variable("eleven", pd.Series([str(i) for i in range(11)]), "P11", {}),
    ]
    proposed = propose_codebook(variables).set_index("item_id")
    assert proposed.loc["P1", ["type", "min", "max"]].tolist() == ["likert", "1", "5"]
    assert proposed.loc["P1", "values_zh"] == "1=从不;2=很少;3=有时;4=经常;5=总是"
    assert proposed.loc["P2", ["type", "min", "max"]].tolist() == ["likert", "0", "1"]
    assert proposed.loc["edu", "type"] == "categorical"
    assert proposed.loc["P11", ["type", "min", "max"]].tolist() == ["likert", "0", "10"]


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
