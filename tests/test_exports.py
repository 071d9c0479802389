"""Real exports as they come (issue 15): missing-value codes, no id column, numeric variables,
identifier columns, codebook checks at load, delimiters, encodings, broken files, title rows,
duplicated headers. Each test builds a small SIMULATED site in a temporary project root."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from policestress.cleaning import apply_exclusions, data_dictionary, score
from policestress.config import CODEBOOK_COLUMNS, ConfigError, load_site
from policestress.validate import validate_export

ROOT = Path(__file__).resolve().parents[1]
SITE = "tiny-sim"
N = 60
LIKERT = {
    "work": ["W1", "W2", "W3"],
    "family": ["F1", "F2", "F3"],
}


def codebook_rows(numeric_age=True, with_id=True):
    rows = []
    if with_id:
        rows.append(dict(item_id="rid", instrument="metadata", type="id", header="编号"))
    rows.append(
        dict(
            item_id="gender",
            instrument="demographics",
            type="categorical",
            min=1,
            max=2,
            header="性别",
            values_zh="1=男;2=女",
            values_en="1=male;2=female",
        )
    )
    if numeric_age:
        rows.append(
            dict(
                item_id="age",
                instrument="demographics",
                type="numeric",
                min=18,
                max=65,
                header="年龄（岁）",
                label_en="Age",
                bins="30;40",
            )
        )
    for construct, items in LIKERT.items():
        for n, item in enumerate(items, start=1):
            rows.append(
                dict(
                    item_id=item,
                    instrument="stress_sources",
                    construct=construct,
                    domain="job" if construct == "work" else "home",
                    type="likert",
                    min=1,
                    max=6,
                    header=f"{item}.题目{n}",
                    values_zh="1=完全不符合;6=完全符合",
                )
            )
    return rows


def simulated_export(rows, seed=7) -> pd.DataFrame:
    """Answers drawn at random (SIMULATED): one correlated factor per construct."""
    rng = np.random.default_rng(seed)
    out = {}
    for row in rows:
        if row["type"] == "id":
            out[row["header"]] = [str(i) for i in range(101, 101 + N)]
        elif row["type"] == "categorical":
            out[row["header"]] = rng.integers(1, 3, N).astype(str)
        elif row["type"] == "numeric":
            out[row["header"]] = rng.integers(22, 60, N).astype(str)
    factors = {}
    for row in rows:
        if row["type"] == "likert":
            factor = factors.setdefault(row["construct"], rng.normal(size=N))
            latent = factor + rng.normal(scale=0.8, size=N)
            out[row["header"]] = np.clip(np.round(3.5 + 1.2 * latent), 1, 6).astype(int).astype(str)
    return pd.DataFrame(out)


def make_site(root: Path, rows=None, export=None, name="export.csv", writer=None, **settings):
    """A site under ``root`` (a temporary project root); returns its loaded configuration."""
    rows = codebook_rows() if rows is None else rows
    config = root / "config" / "sites" / SITE
    (config / "codebook").mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows).reindex(columns=CODEBOOK_COLUMNS + ["missing", "bins"])
    table.fillna("").to_csv(config / "codebook" / "items.csv", index=False)
    constructs = [dict(name="job", level="domain"), dict(name="home", level="domain")]
    constructs += [
        dict(name=c, level="construct", domain="job" if c == "work" else "home") for c in LIKERT
    ]
    frame = pd.DataFrame(constructs).reindex(
        columns=["name", "level", "domain", "label_zh", "label_en"]
    )
    frame.fillna("").to_csv(config / "constructs.csv", index=False)
    # a simulated site has its population model (load_site checks that it exists); these
    # tests draw their exports themselves
    (config / "population_model.yml").write_text("# exports drawn by the test\n", "utf-8")
    raw = root / "data" / "raw" / SITE
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / name
    export = simulated_export(rows) if export is None else export
    if writer is None:
        export.to_csv(path, index=False, encoding="utf-8")
    else:
        writer(export, path)
    site = {
        "site": SITE,
        "simulated": True,
        "raw_file": f"data/raw/{SITE}/{name}",
        "codebook": ["codebook/items.csv"],
        "validation": {"min_respondents": 20},
        "exclusions": {"duplicates": True},
        **settings,
    }
    (config / "site.yml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return load_site(SITE, root)


def errors(report, rule):
    return [p for p in report.errors if p.rule == rule]


def described(report, rule) -> str:
    return "\n".join(p.describe(report.file) for p in report.problems if p.rule == rule)


def cli(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLICESTRESS_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "policestress.validate", "--site", SITE],
        capture_output=True,
        text=True,
        env=env,
    )


def test_the_small_site_passes(tmp_path):
    report = validate_export(make_site(tmp_path))
    assert report.errors == [], report.text()


# ------------------------------------------------------------------- 1. missing values


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_na_and_minus_99_codes_are_read_as_missing_and_counted(tmp_path, suffix):
    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[[0, 3, 5], "W1.题目1"] = "NA"
    export.loc[[2], "W1.题目1"] = "-99"
    export.loc[[4, 8], "年龄（岁）"] = "-99"
    writer = (lambda f, p: f.to_excel(p, index=False)) if suffix == ".xlsx" else None
    site = make_site(
        tmp_path, rows, export, f"export{suffix}", writer, missing_values=["NA", "", -99]
    )
    report = validate_export(site)
    assert report.errors == [], report.text()
    assert report.data.loc[[0, 2, 3, 5], "W1"].isna().all()
    assert report.data.loc[[4, 8], "age"].isna().all()
    counts = report.missing_codes.set_index(["item_id", "code"])["n"]
    assert counts[("W1", "NA")] == 3 and counts[("W1", "-99")] == 1
    assert counts[("age", "-99")] == 2
    kept, _, _ = apply_exclusions(report.data, site)
    dictionary = data_dictionary(score(kept, site), site, report.missing_codes)
    entry = dictionary.set_index("column").loc["W1", "missing_codes"]
    assert entry == "NA: 3 (site.yml missing_values); -99: 1 (site.yml missing_values)"


def test_na_without_the_setting_is_an_error_that_names_the_setting(tmp_path):
    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[[0, 3], "W1.题目1"] = "NA"
    report = validate_export(make_site(tmp_path, rows, export))
    text = described(report, "numeric")
    assert "W1.题目1" in text and "rows 2, 5" in text and "missing_values" in text


def test_per_item_missing_codes_from_the_codebook(tmp_path):
    rows = codebook_rows()
    rows[1]["missing"] = "9;不详"
    export = simulated_export(rows)
    export.loc[[1, 2], "性别"] = "9"
    export.loc[[7], "性别"] = "不详"
    export.loc[[3], "W2.题目2"] = "9"  # not a code of W2: still out of range
    report = validate_export(make_site(tmp_path, rows, export))
    assert [p.column for p in report.errors] == ["'W2.题目2' (W2)"]
    assert report.data.loc[[1, 2, 7], "gender"].isna().all()
    codes = report.missing_codes.set_index("code")
    assert codes.loc["9", "n"] == 2 and codes.loc["不详", "n"] == 1
    assert set(codes["source"]) == {"codebook missing"}


def test_a_missing_code_inside_the_valid_range_is_refused(tmp_path):
    rows = codebook_rows()
    rows[1]["missing"] = "2"
    with pytest.raises(ConfigError, match=r"items.csv, row 3 \(item 'gender'\).*valid range 1-2"):
        make_site(tmp_path, rows)
    site = make_site(tmp_path / "b", missing_values=[3])
    text = described(validate_export(site), "missing_values")
    assert "missing_values code 3" in text and "W1" in text


def test_spss_user_missing_values(tmp_path):
    import pyreadstat

    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[[0, 1], "W3.题目3"] = "99"
    export.loc[[2], "年龄（岁）"] = "-1"
    names = {h: f"v{i}" for i, h in enumerate(export.columns)}

    def write_sav(frame, path):
        numeric = frame.apply(pd.to_numeric).rename(columns=names)
        pyreadstat.write_sav(
            numeric,
            str(path),
            column_labels={v: h for h, v in names.items()},
            missing_ranges={names["W3.题目3"]: [99], names["年龄（岁）"]: [{"lo": -9, "hi": -1}]},
        )

    site = make_site(tmp_path, rows, export, name="export.sav", writer=write_sav)
    report = validate_export(site)
    assert report.errors == [], report.text()
    assert report.data.loc[[0, 1], "W3"].isna().all() and np.isnan(report.data.loc[2, "age"])
    table = report.missing_codes.set_index("item_id")
    assert table.loc["W3", ["code", "source", "n"]].tolist() == ["99", "SPSS user-missing", 2]
    assert table.loc["age", "code"] == "-9 to -1"


# ------------------------------------------------------------------- 2. id: generate


def test_an_export_without_ids_needs_id_generate(tmp_path):
    rows = codebook_rows(with_id=False)
    report = validate_export(make_site(tmp_path, rows))
    assert "id: generate" in described(report, "respondent_id")


def test_id_generate_numbers_the_rows_in_file_order_and_says_so(tmp_path):
    rows = codebook_rows(with_id=False)
    site = make_site(tmp_path, rows, id="generate")
    report = validate_export(site)
    assert report.errors == [], report.text()
    kept, flow, _ = apply_exclusions(report.data, site)
    analysis = score(kept, site)
    assert analysis["respondent_id"].tolist() == [str(i) for i in range(1, N + 1)]
    assert f"rows numbered 1-{N} in file order" in flow.loc[0, "description"]
    kind = data_dictionary(analysis, site).set_index("column").loc["respondent_id", "kind"]
    assert "generated" in kind and "id: generate" in kind


def test_id_generate_and_an_id_row_conflict(tmp_path):
    with pytest.raises(ConfigError, match="id: generate.*row 2.*'rid'"):
        make_site(tmp_path, id="generate")


# ------------------------------------------------------------------- 3. numeric variables


def test_numeric_age_is_validated_in_range(tmp_path):
    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[4, "年龄（岁）"] = "150"
    export.loc[6, "年龄（岁）"] = "三十"
    report = validate_export(make_site(tmp_path, rows, export))
    assert "rows 6" in described(report, "valid_range") and "18-65" in described(
        report, "valid_range"
    )
    assert "'三十'" in described(report, "numeric")


def test_numeric_age_with_bins_groups_profiles_and_adjusts(tmp_path):
    from policestress import descriptives, groups
    from policestress.eri import eri_logistic

    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[0, "年龄（岁）"] = "29.5"
    site = make_site(tmp_path, rows, export, grouping=["age", "gender"])
    report = validate_export(site)
    assert report.errors == [], report.text()
    kept, _, _ = apply_exclusions(report.data, site)
    analysis = score(kept, site)
    age = pd.to_numeric(export["年龄（岁）"])
    assert analysis["age"].tolist() == age.tolist()
    expected = np.where(age < 30, 1, np.where(age < 40, 2, 3))
    assert analysis["age_band"].tolist() == expected.tolist()
    assert site.grouping == ["age_band", "gender"]
    assert site.codebook.value_labels("age_band") == {1: "< 30", 2: "30 to < 40", 3: ">= 40"}
    assert site.codebook.label("age_band") == "Age"
    comparisons = groups.group_comparisons(
        analysis, ["score_work"], site.grouping, min_group_size=2
    )
    assert comparisons.loc[0, "grouping"] == "age_band" and comparisons.loc[0, "k_groups"] == 3
    profile = descriptives.numeric_profile(analysis, site.codebook.numeric())
    assert profile.loc[0, "mean"] == pytest.approx(age.mean())
    assert profile.loc[0, "sd"] == pytest.approx(age.std(ddof=1))
    assert profile.loc[0, ["median", "min", "max"]].tolist() == [age.median(), age.min(), age.max()]
    # a covariate in years: one odds ratio per year, not one per distinct age
    frame = analysis.assign(
        stress=np.where(analysis["score_work"] > analysis["score_work"].median(), 5.0, 1.0),
        eri_imbalance=(analysis["score_family"] > 3.5).astype(int),
        eri_high_oc=(analysis["F1"] > 3).astype(int),
    )
    odds = eri_logistic(frame, "stress", 4.0, covariates=["age"], categorical=[])
    assert odds[odds["model"] == "adjusted"]["term"].tolist().count("age") == 1
    dictionary = data_dictionary(analysis, site).set_index("column")
    assert "cut points 30; 40" in dictionary.loc["age_band", "kind"]
    assert dictionary.loc["age", "kind"] == "number (valid range 18-65)"


def test_a_numeric_grouping_variable_without_bins_is_refused(tmp_path):
    rows = codebook_rows()
    rows[2]["bins"] = ""
    site = make_site(tmp_path, rows, grouping=["age"])
    with pytest.raises(ConfigError, match="'age' is numeric.*bins"):
        _ = site.grouping


# ------------------------------------------------------------------- 4. identifiers

IPV4 = "113.200.17.42(陕西-西安)"
IPV6 = "2409:8a70:12::1f"


@pytest.mark.parametrize("header", ["来自IP", "IP地址", "ip"])
def test_ip_headers_are_identifiers(tmp_path, header):
    rows = codebook_rows()
    export = simulated_export(rows).assign(**{header: IPV4})
    text = described(validate_export(make_site(tmp_path, rows, export)), "no_identifiers")
    assert header in text and "ignore_columns" in text


@pytest.mark.parametrize("value", [IPV4, IPV6])
def test_ip_values_are_identifiers(tmp_path, value):
    rows = codebook_rows()
    export = simulated_export(rows).assign(备用=value)
    text = described(validate_export(make_site(tmp_path, rows, export)), "no_identifiers")
    assert "IP address" in text and "备用" in text and "ignore_columns" in text


def test_times_and_scores_are_not_ip_addresses(tmp_path):
    rows = codebook_rows()
    rows.append(dict(item_id="submit", instrument="metadata", type="meta", header="提交时间"))
    export = simulated_export(rows).assign(提交时间="2026-03-01 12:30:05")
    report = validate_export(make_site(tmp_path, rows, export))
    assert report.errors == [], report.text()


def test_an_ignored_ip_column_is_dropped_before_every_check_and_reaches_no_output(tmp_path):
    """The in-process pipeline of stages 00 and 01 writes its outputs; none holds the column."""
    from policestress import descriptives
    from policestress.tables import write_csv

    rows = codebook_rows()
    export = simulated_export(rows)
    export.insert(1, "来自IP", [f"113.200.{i}.7(陕西-西安)" for i in range(N)])
    site = make_site(tmp_path, rows, export, ignore_columns=["来自IP"])
    report = validate_export(site)
    assert report.problems == [] or report.errors == [], report.text()
    assert not any(p.rule == "codebook_columns_present" for p in report.problems)
    assert report.dropped_columns == ["来自IP"]
    kept, flow, _ = apply_exclusions(report.data, site)
    analysis = score(kept, site)
    out = tmp_path / "outputs"
    out.mkdir()
    write_csv(report.table(), out / "validation_problems.csv")
    write_csv(flow, out / "exclusion_flow.csv")
    write_csv(analysis, out / "analysis.csv")
    write_csv(data_dictionary(analysis, site, report.missing_codes), out / "data_dictionary.csv")
    profile = descriptives.sample_profile(analysis, site.codebook.categorical())
    write_csv(profile, out / "sample_profile.csv")
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "来自IP" not in text and "113.200." not in text and "陕西" not in text, path


def test_an_ignored_column_that_the_codebook_also_lists_is_an_error(tmp_path):
    site = make_site(tmp_path, ignore_columns=["性别"])
    text = described(validate_export(site), "ignore_columns")
    assert "性别" in text and "gender" in text


# ------------------------------------------------------------------- 6. codebook checks


def test_min_greater_than_max_is_a_config_error(tmp_path):
    rows = codebook_rows()
    rows[4]["min"], rows[4]["max"] = 6, 1
    with pytest.raises(ConfigError, match=r"items.csv, row 6 \(item 'W2'\): min \(6\) > max \(1\)"):
        make_site(tmp_path, rows)


def test_a_codebook_error_stops_the_validate_command_with_its_message(tmp_path):
    rows = codebook_rows()
    make_site(tmp_path, rows)
    rows[4]["min"], rows[4]["max"] = 6, 1
    table = pd.DataFrame(rows).reindex(columns=CODEBOOK_COLUMNS + ["missing", "bins"])
    table.fillna("").to_csv(tmp_path / "config/sites" / SITE / "codebook/items.csv", index=False)
    proc = cli(tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "items.csv, row 6 (item 'W2'): min (6) > max (1)" in proc.stderr


@pytest.mark.parametrize("column", ["item_id", "header"])
def test_duplicate_item_ids_and_headers(tmp_path, column):
    rows = codebook_rows()
    rows[5][column] = rows[4][column]
    with pytest.raises(
        ConfigError, match=rf"{'item id' if column == 'item_id' else 'header'} .*row 6.*row 7"
    ):
        make_site(tmp_path, rows)


def test_a_one_item_construct_is_kept_but_left_out_of_factor_models(tmp_path):
    from policestress.invariance import default_model
    from policestress.stagework.cfa import site_models

    rows = codebook_rows()
    rows.append(
        dict(
            item_id="S1",
            instrument="stress_sources",
            construct="sleep",
            domain="home",
            type="likert",
            min=1,
            max=6,
            header="S1.睡眠",
        )
    )
    export = simulated_export(rows)
    site = make_site(tmp_path, rows, export)
    report = validate_export(site)
    assert report.errors == []
    assert "construct 'sleep' has one item (S1)" in described(report, "codebook_structure")
    assert site.codebook.scales("stress_sources")["sleep"] == ["S1"]
    assert "sleep" not in site.codebook.factor_scales("stress_sources")
    kept, _, _ = apply_exclusions(report.data, site)
    assert "score_sleep" in score(kept, site)
    for name, syntax in site_models(site).items():
        if name != "one_factor":
            assert "sleep" not in syntax and "S1" not in syntax, name
    assert "sleep" not in default_model(site.codebook)


def test_a_one_construct_domain_gets_no_second_order_factor(tmp_path):
    from policestress.cfa import fit_cfa
    from policestress.stagework.cfa import site_models

    rows = codebook_rows()
    for extra, construct in (("H", "health"), ("M", "money")):
        for k in (1, 2, 3):
            rows.append(
                dict(
                    item_id=f"{extra}{k}",
                    instrument="stress_sources",
                    construct=construct,
                    domain="home",
                    type="likert",
                    min=1,
                    max=6,
                    header=f"{extra}{k}.题",
                )
            )
    export = simulated_export(rows)
    site = make_site(tmp_path, rows, export)
    assert site.codebook.domains("stress_sources")["job"] == ["work"]
    assert site.codebook.factor_domains("stress_sources") == {"home": ["family", "health", "money"]}
    report = validate_export(site)
    assert "domain 'job' has one construct (work): no second-order factor" in described(
        report, "codebook_structure"
    )
    second = site_models(site)["second_order"]
    assert "job =~" not in second and "home =~ family + health + money" in second
    kept, _, _ = apply_exclusions(report.data, site)
    result = fit_cfa(score(kept, site), second, "second_order")
    assert result.converged


def test_an_item_nobody_answered_is_an_error_naming_the_column(tmp_path):
    rows = codebook_rows()
    export = simulated_export(rows)
    export["F2.题目2"] = ""
    export.loc[[0, 1], "F2.题目2"] = "NA"
    report = validate_export(make_site(tmp_path, rows, export, missing_values=["NA"]))
    assert "'F2.题目2' (F2)" in described(report, "answered")


# ------------------------------------------------------------------- 9. exports as they come


@pytest.mark.parametrize(
    ("sep", "encoding"),
    [(";", "utf-8"), ("\t", "utf-8"), (",", "utf-8-sig"), (";", "gbk"), ("\t", "gb18030")],
)
def test_delimiters_and_encodings(tmp_path, sep, encoding):
    rows = codebook_rows()
    if encoding == "gb18030":  # a character GBK lacks: only GB18030 reads this header
        rows[1]["header"] = "性别䶮"
    export = simulated_export(rows)
    export["W1.题目1"] = export["W1.题目1"].where(export.index != 3, "")

    def writer(frame, path):
        frame.to_csv(path, index=False, sep=sep, encoding=encoding)

    site = make_site(tmp_path, rows, export, writer=writer)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            site.raw_file.read_bytes().decode("gbk")
    report = validate_export(site)
    assert report.errors == [], report.text()
    assert report.data.shape[0] == N and np.isnan(report.data.loc[3, "W1"])
    assert report.data["W2"].tolist() == pd.to_numeric(export["W2.题目2"]).tolist()


@pytest.mark.parametrize("suffix", [".xlsx", ".sav", ".csv"])
def test_a_truncated_export_is_a_readable_error_naming_the_file(tmp_path, suffix):
    import pyreadstat

    rows = codebook_rows()
    export = simulated_export(rows)

    def writer(frame, path):
        if suffix == ".xlsx":
            frame.to_excel(path, index=False)
        elif suffix == ".sav":
            pyreadstat.write_sav(
                frame.apply(pd.to_numeric).set_axis(
                    [f"v{i}" for i in range(frame.shape[1])], axis=1
                ),
                str(path),
            )
        else:
            frame.to_csv(path, index=False)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.6)])

    site = make_site(tmp_path, rows, export, name=f"export{suffix}", writer=writer)
    report = validate_export(site)
    (problem,) = report.errors
    assert problem.rule == "readable" and f"export{suffix}" in problem.describe(report.file)
    assert "truncated" in problem.message
    proc = cli(tmp_path)
    assert proc.returncode == 1 and "[readable]" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_title_row_above_the_header(tmp_path, suffix):
    rows = codebook_rows()
    export = simulated_export(rows)
    export.loc[4, "W1.题目1"] = "9"

    def writer(frame, path):
        titled = pd.concat([pd.DataFrame([frame.columns], columns=frame.columns), frame])
        titled.columns = ["某分局民警职业压力调查"] + [""] * (frame.shape[1] - 1)
        if suffix == ".xlsx":
            titled.to_excel(path, index=False)
        else:
            titled.to_csv(path, index=False)

    site = make_site(tmp_path, rows, export, name=f"export{suffix}", writer=writer, header_row=2)
    report = validate_export(site)
    assert [p.rule for p in report.errors] == ["valid_range"]
    assert "rows 7" in report.errors[0].describe(report.file)  # title 1, header 2, answers from 3
    assert report.data.shape[0] == N


def test_two_columns_with_the_same_header(tmp_path):
    rows = codebook_rows()
    export = simulated_export(rows)
    export.insert(3, "W2.题目2 ", export["W2.题目2"])  # the same header once normalized
    site = make_site(tmp_path, rows, export)
    report = validate_export(site)
    text = described(report, "unique_headers")
    assert "W2.题目2" in text and "2 columns have this header" in text
    assert not any(p.rule == "known_columns" for p in report.problems)


def test_a_shared_spss_variable_label_falls_back_to_the_variable_names(tmp_path):
    import pyreadstat

    path = tmp_path / "twice.sav"
    frame = pd.DataFrame({"q1": [1.0, 2.0], "q2": [3.0, 4.0]})
    pyreadstat.write_sav(frame, str(path), column_labels={"q1": "同一问题", "q2": "同一问题"})
    from policestress.survey_io import read_export

    assert read_export(path).columns.tolist() == ["q1", "q2"]
