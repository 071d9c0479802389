"""Every validation rule, each with a small broken export: message content and exit status."""

import subprocess
import sys

import pandas as pd
import pytest

from policestress.survey_io import read_export
from policestress.validate import ValidationError, validate_export

SITE = "y-subbureau-sim"


@pytest.fixture(scope="module")
def export(site):
    """The simulated export as the strings a platform writes."""
    return read_export(site.raw_file)


def write(frame: pd.DataFrame, tmp_path, name="broken.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def run_cli(path):
    return subprocess.run(
        [sys.executable, "-m", "policestress.validate", "--site", SITE, "--file", str(path)],
        capture_output=True,
        text=True,
    )


def header(site, item):
    return site.codebook.table.set_index("item_id").loc[item, "header"]


def assert_error(site, path, rule, *fragments):
    report = validate_export(site, path)
    hits = [p for p in report.errors if p.rule == rule]
    assert hits, f"no {rule} error in:\n{report.text()}"
    text = "\n".join(p.describe(path) for p in hits)
    assert path.name in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    with pytest.raises(ValidationError, match=rule):
        report.raise_for_errors()
    proc = run_cli(path)
    assert proc.returncode == 1
    assert f"[{rule}]" in proc.stderr
    return text


def test_clean_export_passes(site):
    report = validate_export(site)
    assert report.errors == []
    assert [p.rule for p in report.warnings] == ["duplicate_submissions"]


def test_empty_file(site, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert_error(site, path, "readable", "empty")


def test_header_only(site, export, tmp_path):
    assert_error(site, write(export.iloc[:0], tmp_path), "not_empty")


def test_missing_column(site, export, tmp_path):
    column = header(site, "OCC_CI2")
    assert_error(
        site, write(export.drop(columns=[column]), tmp_path), "codebook_columns_present", column
    )


def test_unknown_column(site, export, tmp_path):
    broken = export.assign(**{"备注": "x"})
    assert_error(site, write(broken, tmp_path), "known_columns", "备注", "ignore_columns")


def test_value_out_of_range(site, export, tmp_path):
    column = header(site, "ORG_PA2")
    broken = export.copy()
    broken.loc[[3, 10], column] = "7"
    text = assert_error(
        site, write(broken, tmp_path), "valid_range", column, "ORG_PA2", "rows 5, 12", "1-5", "7"
    )
    assert "+" not in text.split("rows")[1].split(":")[0]


def test_value_not_numeric(site, export, tmp_path):
    column = header(site, "SOC_OS1")
    broken = export.copy()
    broken.loc[0, column] = "很大"
    assert_error(site, write(broken, tmp_path), "numeric", column, "rows 2", "'很大'")


def test_text_value_labels_are_decoded(site, export, tmp_path):
    column = header(site, "gender")
    labelled = export.copy()
    labelled[column] = labelled[column].map({"1": "男", "2": "女"})
    report = validate_export(site, write(labelled, tmp_path))
    assert report.errors == []
    assert report.data["gender"].tolist() == pd.to_numeric(export[column]).tolist()


def test_duplicate_respondent_ids(site, export, tmp_path):
    broken = export.copy()
    broken.loc[5, "序号"] = broken.loc[4, "序号"]
    assert_error(site, write(broken, tmp_path), "unique_ids", "序号", "rows 6, 7")


def test_item_without_variance(site, export, tmp_path):
    column = header(site, "PER_HE1")
    broken = export.copy()
    broken[column] = "3"
    assert_error(site, write(broken, tmp_path), "item_variance", column, "no variance")


def test_too_few_respondents(site, export, tmp_path):
    assert_error(
        site, write(export.head(50), tmp_path), "enough_respondents", "50 respondents", "200"
    )


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("手机号码", "13912345678", "personal identifier"),
        ("备用", "610102199001011234", "ID-card number"),
    ],
)
def test_personal_identifiers(site, export, tmp_path, column, value, kind):
    broken = export.assign(**{column: value})
    assert_error(site, write(broken, tmp_path), "no_identifiers", column, kind)


def test_duplicate_submissions_are_a_warning(site, export, tmp_path):
    report = validate_export(site, write(export, tmp_path))
    (warning,) = report.warnings
    assert warning.rule == "duplicate_submissions"
    assert len(warning.rows) == 4


def test_cli_passes_on_the_site_export():
    proc = subprocess.run(
        [sys.executable, "-m", "policestress.validate", "--site", SITE],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no errors" in proc.stdout
