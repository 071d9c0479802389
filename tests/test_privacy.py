"""Real raw data stays out of git; published tables hold aggregates only."""

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policestress.privacy import (
    COUNT_TABLES,
    NOT_CELLS,
    group_table_problems,
    suppress_small_cells,
    suppressed_codes,
    suppression_problems,
)

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


# ------------------------------------------------------------ the one suppression rule


def _recoverable(table, total):
    """Can any suppressed count be derived from the total and the published cells?"""
    for _, g in table.groupby("variable"):
        hidden = g["suppressed"]
        if hidden.sum() == 1:
            return True
        if hidden.any() and total - g.loc[~hidden, "n"].sum() < 5:
            # The suppressed cells together hold fewer than the threshold.
            return True
    return False


def test_suppression_primary_and_complementary():
    table = pd.DataFrame(
        {"variable": ["rank"] * 4, "n": [3, 60, 30, 7], "percent": [3.0, 60.0, 30.0, 7.0]}
    )
    out = suppress_small_cells(table, 5)
    # 3 is primary; 7 (smallest other non-zero cell) is complementary.
    assert out["suppressed"].tolist() == [True, False, False, True]
    assert out["n"].isna().tolist() == [True, False, False, True]
    assert out["percent"].isna().tolist() == [True, False, False, True]
    assert not _recoverable(out, 100)
    assert out["n"].dtype == "Int64"


def test_suppression_adds_cells_until_hidden_sum_reaches_threshold():
    table = pd.DataFrame({"variable": ["v"] * 4, "n": [1, 2, 40, 57], "percent": [1.0, 2, 40, 57]})
    out = suppress_small_cells(table, 5)
    # Two primary cells hold only 3 (< 5): a third (40) has to go.
    assert out["suppressed"].tolist() == [True, True, True, False]
    assert not _recoverable(out, 100)


def test_suppression_leaves_zero_cells_and_clean_variables_alone():
    table = pd.DataFrame(
        {"variable": ["a", "a", "a", "b", "b"], "n": [0, 2, 98, 50, 50],
         "percent": [0.0, 2, 98, 50, 50]}
    )  # fmt: skip
    out = suppress_small_cells(table, 5)
    assert out["suppressed"].tolist() == [False, True, True, False, False]
    assert out.loc[0, "n"] == 0


def test_suppression_threshold_one_suppresses_nothing_and_bad_threshold_raises():
    table = pd.DataFrame({"variable": ["v"] * 2, "n": [1, 9], "percent": [10.0, 90.0]})
    assert not suppress_small_cells(table, 1)["suppressed"].any()
    with pytest.raises(ValueError):
        suppress_small_cells(table, 0)


def test_suppression_of_a_generated_profile_is_never_recoverable():
    rng = np.random.default_rng(8)
    for _ in range(200):
        k = int(rng.integers(2, 7))
        n = rng.multinomial(80, rng.dirichlet(np.full(k, 0.5)))
        table = pd.DataFrame({"variable": "v", "n": n, "percent": 100 * n / 80})
        out = suppress_small_cells(table, 5)
        small = (table["n"] > 0) & (table["n"] < 5)
        assert out.loc[small, "suppressed"].all()
        assert not _recoverable(out, 80) or out["suppressed"].all()


def test_the_check_finds_a_published_small_cell_and_a_lone_suppressed_cell():
    table = pd.DataFrame({"variable": ["g"] * 3, "n": [3, 40, 57], "percent": [3.0, 40, 57]})
    raw = table.assign(suppressed=False)
    assert suppression_problems(raw, 5) == ["variable g: n = 3 published (< 5)"]
    lone = suppress_small_cells(table, 5)
    lone.loc[1, ["n", "suppressed"]] = [40, False]  # the complementary cell undone
    assert "exactly one suppressed cell" in " ".join(suppression_problems(lone, 5))
    assert suppression_problems(suppress_small_cells(table, 5), 5) == []


def test_eri_prevalence_follows_the_one_rule():
    from policestress import eri

    data = pd.DataFrame(
        {
            "eri_imbalance": [1, 0, 1, 0, 1, 0, 1, 0, 1, 0] + [1] * 28 + [0] * 2 + [1] * 20,
            "g": [1] * 10 + [2] * 30 + [3] * 20,
        }
    )
    table = eri.prevalence(data, ["g"], min_cell=5)
    spec = COUNT_TABLES["eri_prevalence.csv"]
    assert suppression_problems(table, 5, spec) == []
    cells = table[table["group_var"] == "g"].set_index("group")
    # group 2: 28 with imbalance, 2 without (n - n_imbalance < 5): suppressed, and group 1
    # (the smallest other) with it, so that the overall row gives neither back
    assert cells["suppressed"].tolist() == [True, True, False]
    assert cells.loc[["1", "2"], ["n", "n_imbalance", "prevalence"]].isna().all().all()
    assert not table.iloc[0]["suppressed"] and table.iloc[0]["n"] == 60


def test_eri_prevalence_hides_what_the_sample_profile_hid():
    from policestress import eri

    data = pd.DataFrame({"eri_imbalance": [1, 0] * 45, "g": [1] * 20 + [2] * 30 + [3] * 40})
    assert not eri.prevalence(data, ["g"], min_cell=5)["suppressed"].any()
    # the profile hid group 1 (as the complement of a cell): here it goes, with the smallest
    # other group as its complement, so the overall row gives neither back
    table = eri.prevalence(data, ["g"], min_cell=5, suppressed={"g": {"1"}})
    cells = table[table["group_var"] == "g"].set_index("group")
    assert cells["suppressed"].tolist() == [True, True, False]
    assert suppression_problems(table, 5, COUNT_TABLES["eri_prevalence.csv"]) == []


def test_group_comparisons_leave_out_the_groups_under_min_cell():
    from policestress.groups import group_comparisons, group_means

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"g": [1] * 60 + [2] * 3 + [3] * 7 + [4] * 50})
    data["score"] = rng.normal(3, 1, len(data))
    means = group_means(data, ["score"], ["g"], min_group_size=5)
    assert sorted(means["code"].astype(int)) == [1, 3, 4]
    assert suppression_problems(means, 5, COUNT_TABLES["group_means.csv"]) == []
    note = group_comparisons(data, ["score"], ["g"], min_group_size=5)["note"].iloc[0]
    assert note == "excluded 1 group(s) with n < 5: 2"


def test_group_tables_follow_the_sample_profiles_suppression(tmp_path):
    """One group under min_cell (n = 3): the sample profile hides it and the next smallest
    (n = 7) as its complement; the group tables (as the descriptives stage writes them) hide
    both, so neither the 7 nor, through the total, the 3 can be read from group_means."""
    from policestress.descriptives import sample_profile
    from policestress.groups import games_howell, group_comparisons, group_means

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"g": [1] * 60 + [2] * 3 + [3] * 7 + [4] * 50})
    data["score"] = rng.normal(3, 1, len(data))
    profile = suppress_small_cells(sample_profile(data, ["g"]), 5)
    hidden = suppressed_codes(profile)
    assert hidden == {"g": {"2", "3"}}
    rule = {"min_group_size": 5, "complementary": True, "suppressed": hidden}
    means = group_means(data, ["score"], ["g"], **rule)
    assert sorted(means["code"].astype(int)) == [1, 4]
    comparison = group_comparisons(data, ["score"], ["g"], **rule).iloc[0]
    assert (comparison["k_groups"], comparison["n"]) == (2, 110)
    assert comparison["note"] == "excluded 2 group(s) with n < 5 or suppressed with them: 2, 3"
    assert set(games_howell(data, ["score"], ["g"], **rule)[["code_a", "code_b"]].stack()) <= {
        1,
        4,
    }
    # complementary suppression within the group table alone (no profile): 3 hides 7 too
    alone = group_means(data, ["score"], ["g"], min_group_size=5, complementary=True)
    assert sorted(alone["code"].astype(int)) == [1, 4]
    # the published folder passes the one check; primary suppression only does not
    profile.to_csv(tmp_path / "sample_profile.csv", index=False)
    means.to_csv(tmp_path / "group_means.csv", index=False)
    assert check_published_tables(tmp_path, 5) == []
    group_means(data, ["score"], ["g"], min_group_size=5).to_csv(
        tmp_path / "group_means.csv", index=False
    )
    problems = check_published_tables(tmp_path, 5)
    assert problems == [
        "group_means.csv: score score, grouping g: group 3 hidden in the sample profile, "
        "published here (n = 7)",
        "group_means.csv: score score, grouping g: exactly one group left out (2)",
    ]


def check_published_tables(folder: Path, min_cell: int) -> list[str]:
    """Every problem of the published tables in ``folder`` with the one rule: tables with
    counts must be in COUNT_TABLES (and pass) or in NOT_CELLS (counts that are no cells)."""
    problems = []
    for path in sorted(folder.glob("*.csv")):
        table = pd.read_csv(path, dtype={"group": str, "code": str})
        counted = [c for c in table.columns if c == "n" or c.startswith("n_") or c == "count"]
        if path.name in COUNT_TABLES:
            spec = COUNT_TABLES[path.name]
            problems += [f"{path.name}: {p}" for p in suppression_problems(table, min_cell, spec)]
        elif counted and path.name not in NOT_CELLS:
            problems.append(f"{path.name}: counts {counted}, neither checked nor exempt")
    # across tables: a cell the sample profile hid is neither published nor derivable in the
    # group tables
    profile, means = folder / "sample_profile.csv", folder / "group_means.csv"
    if profile.exists() and means.exists():
        problems += [
            f"group_means.csv: {p}"
            for p in group_table_problems(pd.read_csv(profile), pd.read_csv(means))
        ]
    return problems
