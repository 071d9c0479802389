"""Group comparisons: Welch t / Welch ANOVA / Games-Howell / effect sizes vs R; corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r

from policestress.groups import (
    adjust_pvalues,
    games_howell,
    group_comparisons,
    group_means,
    group_tables,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    n = 300
    post = rng.choice([1, 2, 3, 4], size=n, p=[0.4, 0.3, 0.25, 0.05])
    gender = rng.choice([1, 2], size=n, p=[0.8, 0.2])
    shift = rng.choice([1, 2, 3], size=n, p=[0.5, 0.49, 0.01])  # group 3: 3 or so respondents
    d = pd.DataFrame({"post": post, "gender": gender, "shift": shift})
    d["score_a"] = 3 + 0.3 * (post == 2) - 0.2 * (post == 3) + rng.normal(scale=0.5 + 0.2 * post)
    d["score_b"] = 3 + 0.25 * (gender == 2) + rng.normal(scale=0.7, size=n)
    d.loc[rng.choice(n, 10, replace=False), "score_a"] = np.nan
    d.loc[rng.choice(n, 6, replace=False), "post"] = np.nan
    return d


SCORES = ["score_a", "score_b"]
GROUPINGS = ["post", "gender", "shift"]

R_GROUPS = """
d <- data[["d"]]
scores <- c("score_a", "score_b"); groupings <- c("post", "gender", "shift")
omnibus <- list(); posthoc <- list()
for (g in groupings) for (s in scores) {
  x <- d[!is.na(d[[s]]) & !is.na(d[[g]]), c(s, g)]
  sizes <- table(x[[g]]); x <- x[x[[g]] %in% names(sizes)[sizes >= 5], ]
  y <- x[[s]]; grp <- factor(x[[g]]); k <- nlevels(grp)
  fit <- anova(lm(y ~ grp)); ssb <- fit[1, 2]; ssw <- fit[2, 2]; msw <- fit[2, 3]
  row <- list(score = s, grouping = g, n = length(y), eta_sq = ssb / (ssb + ssw),
              omega_sq = (ssb - (k - 1) * msw) / (ssb + ssw + msw))
  if (k == 2) {
    t <- t.test(y[grp == levels(grp)[1]], y[grp == levels(grp)[2]], var.equal = FALSE)
    a <- y[grp == levels(grp)[1]]; b <- y[grp == levels(grp)[2]]
    na <- length(a); nb <- length(b)
    sp <- sqrt(((na - 1) * var(a) + (nb - 1) * var(b)) / (na + nb - 2))
    row <- c(row, list(statistic = unname(t$statistic), df2 = unname(t$parameter), p = t$p.value,
                       g = (mean(a) - mean(b)) / sp * (1 - 3 / (4 * (na + nb) - 9))))
  } else {
    o <- oneway.test(y ~ grp, var.equal = FALSE)
    row <- c(row, list(statistic = unname(o$statistic), df1 = unname(o$parameter[1]),
                       df2 = unname(o$parameter[2]), p = o$p.value))
    # Games-Howell from its definition: Welch t per pair, studentized range with Welch df.
    lv <- levels(grp); m <- tapply(y, grp, mean); v <- tapply(y, grp, var); nn <- tapply(y, grp, length)
    for (i in 1:(k - 1)) for (j in (i + 1):k) {
      se2 <- v[i] / nn[i] + v[j] / nn[j]
      df <- se2^2 / ((v[i] / nn[i])^2 / (nn[i] - 1) + (v[j] / nn[j])^2 / (nn[j] - 1))
      tval <- (m[i] - m[j]) / sqrt(se2)
      sp <- sqrt(((nn[i] - 1) * v[i] + (nn[j] - 1) * v[j]) / (nn[i] + nn[j] - 2))
      posthoc[[length(posthoc) + 1]] <- list(score = s, grouping = g, a = lv[i], b = lv[j],
        t = unname(tval), df = unname(df),
        p = unname(ptukey(abs(tval) * sqrt(2), k, df, lower.tail = FALSE)),
        g = unname((m[i] - m[j]) / sp * (1 - 3 / (4 * (nn[i] + nn[j]) - 9))))
    }
  }
  omnibus[[length(omnibus) + 1]] <- row
}
p <- sapply(omnibus, function(r) r$p)
result <- list(omnibus = omnibus, posthoc = posthoc,
               holm = p.adjust(p, "holm"), bh = p.adjust(p, "BH"))
"""


@pytest.fixture(scope="module")
def r_reference(data):
    return run_r(R_GROUPS, {"d": data})


@requires_r
@pytest.mark.r
def test_welch_tests_and_effect_sizes_match_r(data, r_reference):
    ours = group_comparisons(data, SCORES, GROUPINGS)
    assert len(ours) == len(r_reference["omnibus"])
    for row, ref in zip(ours.itertuples(), r_reference["omnibus"], strict=True):
        assert (row.score, row.grouping, row.n) == (ref["score"], ref["grouping"], ref["n"])
        assert row.statistic == pytest.approx(ref["statistic"], rel=1e-9)
        assert row.df2 == pytest.approx(ref["df2"], rel=1e-9)
        assert row.p == pytest.approx(ref["p"], rel=1e-7)
        assert row.eta_sq == pytest.approx(ref["eta_sq"], abs=1e-12)
        assert row.omega_sq == pytest.approx(ref["omega_sq"], abs=1e-12)
        if row.test == "welch_t":
            assert row.hedges_g == pytest.approx(ref["g"], abs=1e-10)
        else:
            assert row.df1 == ref["df1"]
    np.testing.assert_allclose(ours["p_adj"], r_reference["holm"], rtol=1e-7)


@requires_r
@pytest.mark.r
def test_bh_correction_matches_p_adjust(data, r_reference):
    ours = group_comparisons(data, SCORES, GROUPINGS, correction="bh")
    np.testing.assert_allclose(ours["p_adj"], r_reference["bh"], rtol=1e-7)
    assert (ours["correction"] == "bh").all()


@requires_r
@pytest.mark.r
def test_games_howell_matches_definition_in_r(data, r_reference):
    ours = games_howell(data, SCORES, GROUPINGS)
    ref = r_reference["posthoc"]
    assert len(ours) == len(ref)
    for row, r in zip(ours.itertuples(), ref, strict=True):
        assert (str(row.code_a), str(row.code_b)) == (r["a"], r["b"])
        assert row.t == pytest.approx(r["t"], rel=1e-9)
        assert row.df == pytest.approx(r["df"], rel=1e-9)
        # R's ptukey algorithm (policestress.studentized_range): R's p to rounding
        assert row.p == pytest.approx(r["p"], rel=1e-9, abs=1e-14)
        assert row.hedges_g == pytest.approx(r["g"], rel=1e-9)


def test_group_tables_are_the_three_functions_at_once(data):
    rule = {"min_group_size": 5, "complementary": True, "suppressed": {"post": {4}}}
    comparisons, posthoc, means = group_tables(data, SCORES, GROUPINGS, correction="bh", **rule)
    pd.testing.assert_frame_equal(
        comparisons, group_comparisons(data, SCORES, GROUPINGS, correction="bh", **rule)
    )
    pd.testing.assert_frame_equal(posthoc, games_howell(data, SCORES, GROUPINGS, **rule))
    pd.testing.assert_frame_equal(means, group_means(data, SCORES, GROUPINGS, **rule))
    assert 4 not in set(means.loc[means["grouping"] == "post", "code"])


def test_small_groups_are_excluded_with_a_note(data):
    table = group_comparisons(data, SCORES, GROUPINGS, value_labels={"shift": {3: "night"}})
    shift = table[table["grouping"] == "shift"].iloc[0]
    assert shift["test"] == "welch_t"
    assert shift["k_groups"] == 2
    assert "night" in shift["note"] and "n < 5" in shift["note"]
    post = table[(table["grouping"] == "post") & (table["score"] == "score_a")].iloc[0]
    assert post["n"] == data[["post", "score_a"]].dropna().shape[0]
    means = group_means(data, ["score_a"], ["shift"])
    assert 3 not in means["code"].tolist()


def test_fewer_than_two_groups_gives_no_test():
    d = pd.DataFrame({"g": [1] * 10 + [2] * 2, "y": np.arange(12.0)})
    row = group_comparisons(d, ["y"], ["g"]).iloc[0]
    assert row["test"] is None and np.isnan(row["p"]) and np.isnan(row["p_adj"])
    assert "fewer than two groups" in row["note"]


def test_family_by_grouping_corrects_within_each_grouping(data):
    table = group_comparisons(data, SCORES, GROUPINGS, family="grouping")
    for _, g in table.groupby("grouping"):
        np.testing.assert_allclose(g["p_adj"], adjust_pvalues(g["p"].to_numpy(), "holm"))


def test_adjust_pvalues_holm_and_bh_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1, then cumulative max.
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    # BH: p * m / rank, then cumulative min from the top.
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    out = adjust_pvalues([0.01, np.nan, 0.02], "holm")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02)


def test_group_means_ci_contains_mean(data):
    means = group_means(data, SCORES, ["post"], value_labels={"post": {1: "patrol"}})
    assert (means["ci_low"] < means["mean"]).all() and (means["mean"] < means["ci_high"]).all()
    assert means.loc[means["code"] == 1, "group"].iloc[0] == "patrol"
    assert means["n"].min() >= 5


def test_text_group_codes_work():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat(["x", "y", "z"], 20), "y": rng.normal(size=60)})
    assert group_comparisons(d, ["y"], ["g"]).loc[0, "groups"] == "x; y; z"
    assert len(games_howell(d, ["y"], ["g"])) == 3


def test_correction_none_leaves_the_p_values_as_they_are():
    """site.yml groups.correction allows none (the schema's choices)."""
    from policestress.groups import adjust_pvalues

    assert adjust_pvalues([0.01, np.nan, 0.03], "none").tolist()[::2] == [0.01, 0.03]
