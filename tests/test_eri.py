"""Tests of policestress.eri: Siegrist scoring by hand, classification, prevalence, ORs.

Expected values are worked out by hand in the comments (or by R through tests/rcheck.py),
never copied from the package's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from statsmodels.stats.proportion import proportion_confint

from policestress import eri

# --------------------------------------------------------------------------------------------
# codebooks (GUIDE section 6): long version, long without ERI5, short version
# --------------------------------------------------------------------------------------------
REWARD_SUBSCALE = {
    7: "esteem", 8: "esteem", 9: "esteem", 10: "esteem", 15: "esteem",
    11: "promotion", 14: "promotion", 16: "promotion", 17: "promotion",
    12: "job_security", 13: "job_security",
}  # fmt: skip
REWARD_REVERSED = {10, 11, 12, 13}


def long_items(drop: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = [(f"ERI{k}", "effort", "", False) for k in range(1, 7)]
    rows += [(f"ERI{k}", "reward", REWARD_SUBSCALE[k], k in REWARD_REVERSED) for k in range(7, 18)]
    rows += [(f"OC{k}", "overcommitment", "", k == 3) for k in range(1, 7)]
    table = pd.DataFrame(rows, columns=["item_id", "construct", "subscale", "reverse"])
    table["min"], table["max"] = 1, 4
    return table[~table["item_id"].isin(drop)].reset_index(drop=True)


def short_items() -> pd.DataFrame:
    rows = [(f"E{k}", "effort", "", False) for k in range(1, 4)]
    rows += [(f"R{k}", "reward", "", k in (3, 4, 5)) for k in range(1, 8)]
    rows += [(f"OC{k}", "overcommitment", "", k == 3) for k in range(1, 7)]
    table = pd.DataFrame(rows, columns=["item_id", "construct", "subscale", "reverse"])
    table["min"], table["max"] = 1, 4
    return table


# One respondent of the long version, raw answers.
LONG_ANSWERS = {
    "ERI1": 3, "ERI2": 2, "ERI3": 4, "ERI4": 3, "ERI5": 1, "ERI6": 2,  # effort sum 15
    # reward raw 3 3 2 1 4 2 1 3 2 2 1; recoded (10,11,12,13 -> 5 - x): 3 3 2 4 1 3 4 3 2 2 1
    "ERI7": 3, "ERI8": 3, "ERI9": 2, "ERI10": 1, "ERI11": 4, "ERI12": 2, "ERI13": 1,
    "ERI14": 3, "ERI15": 2, "ERI16": 2, "ERI17": 1,
    # OC raw 3 3 1 2 3 2; OC3 reversed -> 4; sum 17
    "OC1": 3, "OC2": 3, "OC3": 1, "OC4": 2, "OC5": 3, "OC6": 2,
}  # fmt: skip


def long_frame(**changes) -> pd.DataFrame:
    return pd.DataFrame([{**LONG_ANSWERS, **changes}])


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------
def test_long_version_by_hand():
    s = eri.score_eri(long_frame(), long_items(), oc_cutoff=16)
    row = s.iloc[0]
    assert row["eri_effort"] == 15
    assert row["eri_reward"] == 28  # 3+3+2+4+1+3+4+3+2+2+1
    assert row["eri_esteem"] == 14  # ERI7 3, 8 3, 9 2, 10R 4, 15 2
    assert row["eri_promotion"] == 7  # ERI11R 1, 14 3, 16 2, 17 1
    assert row["eri_job_security"] == 7  # ERI12R 3, 13R 4
    assert row["eri_oc"] == 17
    # ER = 15 / (28 * 6/11) = 165 / 168
    assert row["eri_ratio"] == pytest.approx(165 / 168, abs=1e-12)
    assert row["eri_imbalance"] == 0
    assert row["eri_high_oc"] == 1  # 17 > 16
    assert row["eri_high_risk"] == 0
    assert s.attrs["eri"]["version"] == "long"
    assert s.attrs["eri"]["c"] == pytest.approx(6 / 11)
    assert list(s.columns) == [
        "eri_effort", "eri_reward", "eri_esteem", "eri_promotion", "eri_job_security",
        "eri_oc", "eri_ratio", "eri_imbalance", "eri_high_oc", "eri_high_risk",
    ]  # fmt: skip


def test_long_without_eri5_correction_factor_follows_items():
    # Same answers; ERI5 (answered 1) dropped: effort 14, c = 5/11, ER = 14*11/(28*5) = 1.1.
    items = long_items(drop=("ERI5",))
    s = eri.score_eri(long_frame(), items)
    assert eri.correction_factor(items) == pytest.approx(5 / 11)
    assert eri.eri_version(items) == "long without ERI5"
    assert s.loc[0, "eri_effort"] == 14
    assert s.loc[0, "eri_ratio"] == pytest.approx(1.1, abs=1e-12)
    assert s.loc[0, "eri_imbalance"] == 1  # balanced under the long version, imbalanced here


def test_short_version_by_hand_and_no_subscale_columns():
    answers = pd.DataFrame(
        [
            # effort 4 4 3 = 11; reward raw 3 2 1 4 2 3 2 with R3-R5 reversed -> 3 2 4 1 3 3 2 = 18
            {"E1": 4, "E2": 4, "E3": 3, "R1": 3, "R2": 2, "R3": 1, "R4": 4, "R5": 2, "R6": 3,
             "R7": 2, "OC1": 1, "OC2": 1, "OC3": 4, "OC4": 1, "OC5": 1, "OC6": 1},
        ]
    )  # fmt: skip
    s = eri.score_eri(answers, short_items(), oc_cutoff=10)
    assert eri.eri_version(short_items()) == "short"
    assert s.loc[0, "eri_reward"] == 18
    # ER = 11 / (18 * 3/7) = 77 / 54
    assert s.loc[0, "eri_ratio"] == pytest.approx(77 / 54, abs=1e-12)
    assert s.loc[0, "eri_imbalance"] == 1
    assert s.loc[0, "eri_oc"] == 6  # OC3 answered 4 is reversed to 1
    assert s.loc[0, "eri_high_oc"] == 0
    for column in ("eri_esteem", "eri_promotion", "eri_job_security"):
        assert column not in s.columns


def test_reverse_keyed_items_use_codebook_range():
    # A reversed item on 0..6 recodes as 6 - x, on 1..4 as 5 - x.
    items = pd.DataFrame(
        {
            "item_id": ["E1", "R1", "R2"],
            "construct": ["effort", "reward", "reward"],
            "subscale": "",
            "min": [1, 1, 1],
            "max": [4, 4, 7],
            "reverse": [False, True, True],
        }
    )
    s = eri.score_eri(pd.DataFrame({"E1": [2], "R1": [1], "R2": [2]}), items)
    assert s.loc[0, "eri_reward"] == 4 + 6  # 5-1, 8-2
    # Already recoded input (analysis.csv) gives the same scores with reverse_coded=True.
    recoded = pd.DataFrame({"E1": [2], "R1": [4], "R2": [6]})
    again = eri.score_eri(recoded, items, reverse_coded=True)
    pd.testing.assert_frame_equal(s, again)


def test_missing_rule_complete_and_prorate():
    one = long_frame(ERI2=np.nan)  # effort answered: 3 4 3 1 2 = 13 of 5 items
    two = long_frame(ERI2=np.nan, ERI3=np.nan)  # 3 3 1 2 = 9 of 4 items
    data = pd.concat([long_frame(), one, two], ignore_index=True)
    items = long_items()
    complete = eri.score_eri(data, items, missing_rule="complete")
    assert complete["eri_effort"].tolist()[0] == 15
    assert complete["eri_effort"].isna().tolist() == [False, True, True]
    assert complete["eri_ratio"].isna().tolist() == [False, True, True]
    assert complete["eri_imbalance"].isna().tolist() == [False, True, True]

    pro1 = eri.score_eri(data, items, missing_rule="prorate", max_missing=1)
    assert pro1.loc[1, "eri_effort"] == pytest.approx(13 * 6 / 5)
    assert pd.isna(pro1.loc[2, "eri_effort"])
    assert pro1.loc[1, "eri_ratio"] == pytest.approx((13 * 6 / 5) / (28 * 6 / 11))
    pro2 = eri.score_eri(data, items, missing_rule="prorate", max_missing=2)
    assert pro2.loc[2, "eri_effort"] == pytest.approx(9 * 6 / 4)
    # Reward unaffected: 28 for everyone.
    assert pro2["eri_reward"].tolist() == [28, 28, 28]


def test_prorate_applies_per_subscale():
    # ERI12 (job security, 2 items) missing: reward 11 items with 1 missing -> (28-3)*11/10;
    # job security 1 of 2 answered -> ERI13R 4 * 2/1 = 8.
    s = eri.score_eri(long_frame(ERI12=np.nan), long_items(), max_missing=1)
    assert s.loc[0, "eri_reward"] == pytest.approx(25 * 11 / 10)
    assert s.loc[0, "eri_job_security"] == pytest.approx(8)
    assert s.loc[0, "eri_esteem"] == 14


def test_describe_missing_rule_sentences():
    assert "every item" in eri.describe_missing_rule("complete")
    text = eri.describe_missing_rule("prorate", 2)
    assert "at most 2 items" in text and text.endswith(".")
    with pytest.raises(ValueError):
        eri.describe_missing_rule("mean")


def _oc_items():
    return pd.DataFrame(
        {
            "item_id": ["E1", "R1", "O1"],
            "construct": ["effort", "reward", "overcommitment"],
            "subscale": "",
            "min": 1,
            "max": 30,
            "reverse": False,
        }
    )


def test_tertile_split_strictly_above_type7_quantile():
    # OC = 1..9: type-7 2/3 quantile = x(1 + 8*2/3) = x(6.333) = 6 + 1/3; high OC = 7, 8, 9.
    data = pd.DataFrame({"E1": 5, "R1": 5, "O1": range(1, 10)})
    s = eri.score_eri(data, _oc_items())
    assert s.attrs["eri"]["oc_threshold"] == pytest.approx(6 + 1 / 3)
    assert s["eri_high_oc"].tolist() == [0] * 6 + [1] * 3
    # Ties at the top: OC = 1 2 2 3 3 3 4 4 4 4 -> quantile x(7) = 4; nobody is strictly above.
    tied = pd.DataFrame({"E1": 5, "R1": 5, "O1": [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]})
    assert eri.score_eri(tied, _oc_items())["eri_high_oc"].sum() == 0
    # Numeric cut-off.
    assert eri.score_eri(data, _oc_items(), oc_cutoff=8)["eri_high_oc"].tolist() == [0] * 8 + [1]


@requires_r
@pytest.mark.r
def test_tertile_matches_r_quantile():
    rng = np.random.default_rng(8)
    data = pd.DataFrame({"E1": 5, "R1": 5, "O1": rng.integers(6, 25, 157).astype(float)})
    data.loc[[4, 40], "O1"] = np.nan
    s = eri.score_eri(data, _oc_items())
    r = run_r(
        "x <- data[['d']]$O1; q <- unname(quantile(x, 2/3, na.rm = TRUE, type = 7));"
        "result <- list(q = q, high = sum(x > q, na.rm = TRUE))",
        {"d": data},
    )
    assert s.attrs["eri"]["oc_threshold"] == pytest.approx(r["q"], abs=1e-12)
    assert s["eri_high_oc"].sum() == r["high"]


def test_high_risk_and_missing_propagation():
    items = _oc_items()
    # ER = E / (R * 1): rows -> (2.0, high OC), (0.5, high OC), (missing ER), (2.0, missing OC)
    data = pd.DataFrame({"E1": [10, 5, np.nan, 10], "R1": [5, 10, 5, 5], "O1": [20, 20, 3, np.nan]})
    s = eri.score_eri(data, items, oc_cutoff=10)
    assert s["eri_imbalance"].tolist()[:2] == [1, 0] and pd.isna(s.loc[2, "eri_imbalance"])
    assert s.loc[0, "eri_high_risk"] == 1
    assert s.loc[1, "eri_high_risk"] == 0
    assert pd.isna(s.loc[2, "eri_high_risk"]) and pd.isna(s.loc[3, "eri_high_risk"])
    assert str(s["eri_imbalance"].dtype) == "Int64"


def test_exact_balance_after_prorating_is_not_imbalance():
    # Reward with ERI7 missing: answered sum 25 of 10 items -> 27.5; effort 15.
    # ER = 15 / (27.5 * 6/11) = 1 exactly, which the direct floating-point formula puts at
    # 1.0000000000000002; exact balance is not ER > 1.
    s = eri.score_eri(long_frame(ERI7=np.nan), long_items())
    assert s.loc[0, "eri_reward"] == pytest.approx(27.5)
    assert s.loc[0, "eri_ratio"] == 1.0
    assert s.loc[0, "eri_imbalance"] == 0


def test_ratio_cutoff_is_strict():
    items = _oc_items()
    data = pd.DataFrame({"E1": [5, 6], "R1": [5, 5], "O1": [1, 1]})  # ER 1.0 and 1.2
    assert eri.score_eri(data, items)["eri_imbalance"].tolist() == [0, 1]
    assert eri.score_eri(data, items, ratio_cutoff=1.25)["eri_imbalance"].tolist() == [0, 0]


def test_index_kept_and_errors():
    data = long_frame()
    data.index = ["r42"]
    assert eri.score_eri(data, long_items()).index.tolist() == ["r42"]
    with pytest.raises(KeyError, match="ERI17"):
        eri.score_eri(data.drop(columns="ERI17"), long_items())
    with pytest.raises(ValueError, match="ERI3"):
        eri.score_eri(long_frame(ERI3=5), long_items())
    with pytest.raises(ValueError, match="missing_rule"):
        eri.score_eri(data, long_items(), missing_rule="mean")


def test_summary_table():
    data = pd.concat([long_frame(), long_frame(ERI1=1, ERI2=1)], ignore_index=True)  # effort 15, 12
    s = eri.score_eri(data, long_items())
    table = eri.eri_summary(s, long_items(), missing_rule="prorate", max_missing=1).set_index(
        "scale"
    )
    assert table.loc["effort", "n_items"] == 6
    assert table.loc["effort", "mean"] == pytest.approx(13.5)
    assert table.loc["effort", "sd"] == pytest.approx(math.sqrt(4.5))  # (1.5^2 * 2) / 1
    ratios = [165 / 168, 12 / (28 * 6 / 11)]
    assert table.loc["log_ratio", "mean"] == pytest.approx(np.mean(np.log(ratios)))
    assert pd.isna(table.loc["ratio", "n_items"])
    assert set(table.index) >= {"effort", "reward", "overcommitment", "ratio", "log_ratio"}
    assert table["missing_rule"].str.contains("pro-rated").all()


# --------------------------------------------------------------------------------------------
# prevalence
# --------------------------------------------------------------------------------------------
def _wilson_by_formula(k, n, z=1.959963984540054):
    # Wilson (1927): (p + z^2/2n +/- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (12, 40), (40, 40), (97, 413)])
def test_wilson_ci_reference_formula(k, n):
    low, high = eri.wilson_ci(k, n)
    ref = _wilson_by_formula(k, n)
    assert low == pytest.approx(ref[0], abs=1e-12)
    assert high == pytest.approx(ref[1], abs=1e-12)


def _prevalence_data(n=300, seed=3):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "eri_imbalance": rng.binomial(1, 0.35, n).astype(float),
            "gender": rng.choice([1, 2], n, p=[0.8, 0.2]),
            "rank": rng.choice([1, 2, 3], n, p=[0.6, 0.39, 0.01]),
        }
    )
    data.loc[rng.choice(n, 9, replace=False), "eri_imbalance"] = np.nan
    data.loc[rng.choice(n, 4, replace=False), "gender"] = np.nan
    return data


@requires_r
@pytest.mark.r
def test_prevalence_ci_matches_r_prop_test():
    data = _prevalence_data()
    table = eri.prevalence(data, ["gender"], min_cell=None)
    code = """
    d <- data[["d"]]
    ci <- function(x) { x <- x[!is.na(x)]; p <- prop.test(sum(x), length(x), correct = FALSE)
                        c(length(x), sum(x), p$conf.int) }
    result <- list(overall = ci(d$eri_imbalance),
                   g1 = ci(d$eri_imbalance[!is.na(d$gender) & d$gender == 1]),
                   g2 = ci(d$eri_imbalance[!is.na(d$gender) & d$gender == 2]))
    """
    r = run_r(code, {"d": data})
    for key, (var, group) in {"overall": ("overall", "all"), "g1": ("gender", "1"),
                              "g2": ("gender", "2")}.items():  # fmt: skip
        row = table[(table["group_var"] == var) & (table["group"] == group)].iloc[0]
        assert row["n"] == r[key][0] and row["n_imbalance"] == r[key][1]
        assert row["ci_low"] == pytest.approx(r[key][2], abs=1e-10)
        assert row["ci_high"] == pytest.approx(r[key][3], abs=1e-10)


def test_prevalence_recomputed_independently():
    # Independent recomputation (as in the notebook): groupby counts + statsmodels' Wilson.
    data = _prevalence_data()
    table = eri.prevalence(data, ["gender", "rank"], min_cell=None)
    known = data.dropna(subset=["eri_imbalance"])
    for var in ("gender", "rank"):
        counts = known.groupby(var)["eri_imbalance"].agg(["size", "sum"])
        for code, (n, k) in counts.iterrows():
            row = table[(table["group_var"] == var) & (table["group"] == str(int(code)))].iloc[0]
            low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
            assert (row["n"], row["n_imbalance"]) == (n, k)
            assert row["prevalence"] == pytest.approx(k / n)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    # Missing gender forms its own row, so cells add up to the overall n.
    g = table[table["group_var"] == "gender"]
    assert g["n"].sum() == table.loc[0, "n"] == known.shape[0]
    assert "(missing)" in g["group"].tolist()


def test_prevalence_suppression_with_complement():
    data = pd.DataFrame(
        {
            "eri_imbalance": [1, 0] * 10 + [1, 1, 1, 0, 0, 0, 0, 0] + [1, 1, 1],
            "g": [1] * 20 + [2] * 8 + [3] * 3,  # n 20, 8, 3: 3 < 5 -> hidden; 8 hidden too
        }
    )
    table = eri.prevalence(data, ["g"], min_cell=5, labels={"g": {1: "a", 2: "b", 3: "c"}})
    cells = table[table["group_var"] == "g"].set_index("group")
    # n: 3 is small, 8 the complementary cell; n_imbalance 10, 3, 3: both small ones hidden
    # (6 together); the numbers without imbalance 10, 5, 0: none small
    assert cells["suppressed"].tolist() == [False, True, True]
    assert cells.loc["3", "prevalence"] != cells.loc["3", "prevalence"]  # NaN
    assert pd.isna(cells.loc["2", "n_imbalance"]) and pd.isna(cells.loc["2", "n"])
    assert cells.loc["1", "n_imbalance"] == 10
    assert cells["group_label"].tolist() == ["a", "b", "c"]
    assert table.loc[0, "n"] == 31 and not table.loc[0, "suppressed"]


def test_the_scores_of_analysis_csv_are_score_eri_of_the_recoded_items(site, default_site_analysis):
    """What stage 05 reads: the ERI columns of the analysis data equal score_eri applied
    again to the (already recoded) items with the site's eri settings."""
    data = default_site_analysis
    settings = {
        "missing_rule": site.get("eri.missing_rule"),
        "max_missing": site.get("eri.max_missing"),
        "ratio_cutoff": site.get("eri.ratio_cutoff"),
        "oc_cutoff": site.get("eri.oc_cutoff"),
    }
    again = eri.score_eri(data, site.codebook.items("eri"), reverse_coded=True, **settings)
    for column in again.columns:
        stored = data[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        rescored = again[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        assert np.allclose(stored, rescored, equal_nan=True, rtol=1e-12), column


def test_prevalence_with_text_codes_and_float_codes():
    data = pd.DataFrame({"eri_imbalance": [1, 0, 1, 1], "unit": ["a", "a", "b", "b"]})
    data["code"] = [1.0, 1.0, 2.0, 2.0]  # integer codes read back from CSV as floats
    table = eri.prevalence(data, ["unit", "code"], min_cell=None, labels={"code": {2: "two"}})
    assert table["group"].tolist() == ["all", "a", "b", "1", "2"]
    assert table["group_label"].tolist() == ["all", "a", "b", "1", "two"]
    assert table["n_imbalance"].tolist() == [3, 1, 2, 1, 2]


# --------------------------------------------------------------------------------------------
# associations
# --------------------------------------------------------------------------------------------
def test_high_stress_cutoffs():
    score = pd.Series([2.0, 3.75, 4.0, 4.5, np.nan, 3.0], name="score_perceived_stress")
    flag, threshold, text = eri.high_stress(score)
    assert flag.tolist()[:4] == [0, 0, 1, 1] and pd.isna(flag.iloc[4])
    assert threshold == 4.0 and ">= 4" in text
    # tertile of 2, 3, 3.75, 4, 4.5: x(1 + 4*2/3) = x(3.667) = 3.75 + 0.667*0.25 = 3.9167
    flag, threshold, _ = eri.high_stress(score, "tertile")
    assert threshold == pytest.approx(3.75 + 0.25 * 2 / 3)
    assert flag.tolist()[:4] == [0, 0, 1, 1]


def _logit_data(n=500, seed=11):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "eri_imbalance": rng.binomial(1, 0.4, n),
            "eri_high_oc": rng.binomial(1, 0.3, n),
            "gender": rng.choice([1, 2], n, p=[0.75, 0.25]),
            "age_band": rng.choice([1, 2, 3, 4], n),
        }
    )
    latent = (
        -0.8 + 0.9 * d["eri_imbalance"] + 0.6 * d["eri_high_oc"] + 0.3 * (d["gender"] == 2)
        + 0.2 * d["age_band"] + rng.logistic(size=n)
    )  # fmt: skip
    d["score_perceived_stress"] = np.clip(3.5 + 0.35 * latent, 1, 5).round(2)
    d = d.astype(float)
    d.loc[rng.choice(n, 12, replace=False), "score_perceived_stress"] = np.nan
    d.loc[rng.choice(n, 6, replace=False), "age_band"] = np.nan
    return d


@requires_r
@pytest.mark.r
def test_logistic_matches_r_glm():
    d = _logit_data()
    table = eri.eri_logistic(d, cutoff=4.0, covariates=["gender", "age_band"])
    code = """
    d <- data[["d"]]
    d$y <- as.integer(d$score_perceived_stress >= 4)
    d <- d[complete.cases(d), ]
    # R's default deviance tolerance (1e-8) leaves ~1e-7 in the estimates: tighten it.
    ctl <- glm.control(epsilon = 1e-14, maxit = 100)
    m0 <- glm(y ~ eri_imbalance + eri_high_oc, family = binomial, data = d, control = ctl)
    m1 <- glm(y ~ eri_imbalance + eri_high_oc + factor(gender) + factor(age_band),
              family = binomial, data = d, control = ctl)
    out <- function(m) { s <- summary(m)$coefficients; ci <- confint.default(m)
      list(b = unname(s[-1, 1]), se = unname(s[-1, 2]), p = unname(s[-1, 4]),
           lo = unname(exp(ci[-1, 1])), hi = unname(exp(ci[-1, 2])), n = nobs(m),
           events = sum(d$y)) }
    result <- list(m0 = out(m0), m1 = out(m1))
    """
    r = run_r(code, {"d": d})
    for model, key in (("unadjusted", "m0"), ("adjusted", "m1")):
        part = table[table["model"] == model]
        assert part["log_odds"].to_numpy() == pytest.approx(r[key]["b"], rel=1e-8, abs=1e-12)
        assert part["se"].to_numpy() == pytest.approx(r[key]["se"], rel=1e-8, abs=1e-12)
        assert part["p"].to_numpy() == pytest.approx(r[key]["p"], rel=1e-8, abs=1e-12)
        assert part["ci_low"].to_numpy() == pytest.approx(r[key]["lo"], rel=1e-8, abs=1e-12)
        assert part["ci_high"].to_numpy() == pytest.approx(r[key]["hi"], rel=1e-8, abs=1e-12)
        assert (part["n"] == r[key]["n"]).all() and (part["n_events"] == r[key]["events"]).all()
    adjusted = table[table["model"] == "adjusted"]
    assert adjusted["term"].tolist() == [
        "eri_imbalance", "eri_high_oc", "gender[2]", "age_band[2]", "age_band[3]", "age_band[4]",
    ]  # fmt: skip


def test_logistic_odds_ratio_of_a_2x2_table():
    # With one binary exposure the OR is the cross-product ratio: (a d) / (b c).
    # exposed: 30 high / 20 not; unexposed: 15 high / 35 not -> OR = 30*35 / (20*15) = 3.5,
    # se(log OR) = sqrt(1/30 + 1/20 + 1/15 + 1/35) (Woolf).
    exposure = [1] * 50 + [0] * 50
    stress = [4.5] * 30 + [2.0] * 20 + [4.5] * 15 + [2.0] * 35
    d = pd.DataFrame({"eri_imbalance": exposure, "score_perceived_stress": stress})
    t = eri.eri_logistic(d, exposures=["eri_imbalance"])
    assert t.loc[0, "odds_ratio"] == pytest.approx(3.5, rel=1e-8)
    assert t.loc[0, "se"] == pytest.approx(math.sqrt(1 / 30 + 1 / 20 + 1 / 15 + 1 / 35), rel=1e-6)


@requires_r
@pytest.mark.r
def test_domain_associations_match_r_cor_test():
    rng = np.random.default_rng(5)
    n = 200
    d = pd.DataFrame(
        {
            "eri_ratio": np.exp(rng.normal(0, 0.3, n)),
            "eri_oc": rng.integers(6, 25, n).astype(float),
        }
    )
    d["score_occupational"] = 3 + 0.8 * np.log(d["eri_ratio"]) + rng.normal(0, 0.5, n)
    d["score_family"] = 2.5 + 0.05 * d["eri_oc"] + rng.normal(0, 0.5, n)
    d.loc[[3, 7], "score_family"] = np.nan
    table = eri.domain_associations(d, ["occupational", "family"])
    code = """
    d <- data[["d"]]
    one <- function(x, y) { t <- cor.test(x, y); c(t$estimate, t$conf.int, t$p.value) }
    result <- list(one(log(d$eri_ratio), d$score_occupational), one(log(d$eri_ratio), d$score_family),
                   one(d$eri_oc, d$score_occupational), one(d$eri_oc, d$score_family))
    """
    r = run_r(code, {"d": d})
    got = table[["r", "ci_low", "ci_high", "p"]].to_numpy()
    assert got == pytest.approx(np.array(r), abs=1e-10)
    assert table["n"].tolist() == [200, 198, 200, 198]
    assert table["measure"].tolist()[:2] == ["log_eri_ratio", "log_eri_ratio"]
