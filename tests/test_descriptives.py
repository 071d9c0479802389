"""Descriptives: moments vs psych::describe, correlations vs cor.test, small-cell suppression."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from scipy import stats

from policestress.descriptives import (
    correlation_display,
    describe,
    item_statistics,
    kurtosis,
    sample_profile,
    score_correlations,
    score_descriptives,
    significance_stars,
    skewness,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 250
    f = rng.normal(size=n)
    items = {f"i{k}": np.clip(np.round(3 + 0.8 * f + rng.normal(size=n)), 1, 5) for k in range(4)}
    d = pd.DataFrame(items)
    d = d.mask(rng.random(d.shape) < 0.04)
    d["score_x"] = d[[f"i{k}" for k in range(4)]].mean(axis=1)
    d["score_y"] = rng.gamma(2.0, size=n) + 0.3 * f
    d["score_z"] = rng.normal(size=n) - 0.2 * f
    d.loc[rng.choice(n, 7, replace=False), "score_z"] = np.nan
    return d


# ------------------------------------------------------------------ moments vs R


@requires_r
@pytest.mark.r
def test_describe_matches_psych_describe_for_every_type(data):
    cols = ["i0", "i1", "score_y", "score_z"]
    ref = run_r(
        """
suppressPackageStartupMessages(library(psych))
d <- data[["d"]]
# psych's data-frame branch of kurtosi(type = 1) divides by the row count including NAs
# (a psych quirk); its vector branch drops NAs first, so describe each column on its own.
result <- lapply(1:3, function(t) {
  r <- do.call(rbind, lapply(d, function(x) psych::describe(x[!is.na(x)], type = t)))
  list(n = r$n, mean = r$mean, sd = r$sd, median = r$median, min = r$min, max = r$max,
       se = r$se, skew = r$skew, kurtosis = r$kurtosis)
})
""",
        {"d": data[cols]},
    )
    for skew_type in (1, 2, 3):
        ours = describe(data, cols, skew_type=skew_type)
        r = ref[skew_type - 1]
        np.testing.assert_array_equal(ours["n"], r["n"])
        for ours_col, r_col in [("mean", "mean"), ("sd", "sd"), ("median", "median"),
                                ("min", "min"), ("max", "max"), ("se", "se"),
                                ("skewness", "skew"), ("kurtosis", "kurtosis")]:  # fmt: skip
            np.testing.assert_allclose(ours[ours_col], r[r_col], atol=1e-10, err_msg=ours_col)


def test_type_2_is_scipy_unbiased_and_type_1_biased(data):
    x = data["score_y"].dropna()
    assert skewness(x, 2) == pytest.approx(stats.skew(x, bias=False), abs=1e-12)
    assert kurtosis(x, 2) == pytest.approx(stats.kurtosis(x, bias=False), abs=1e-12)
    assert skewness(x, 1) == pytest.approx(stats.skew(x, bias=True), abs=1e-12)
    assert kurtosis(x, 1) == pytest.approx(stats.kurtosis(x, bias=True), abs=1e-12)


def test_moments_reject_unknown_type():
    with pytest.raises(ValueError):
        skewness([1, 2, 3, 5], 4)
    with pytest.raises(ValueError):
        kurtosis([1, 2, 3, 5, 8], 0)


def test_moments_of_constant_or_tiny_samples_are_missing():
    assert np.isnan(skewness([2, 2, 2, 2]))
    assert np.isnan(kurtosis([1, 2, 3]))


def test_mean_ci_matches_t_test(data):
    x = data["score_z"].dropna()
    row = describe(data, ["score_z"]).iloc[0]
    low, high = stats.ttest_1samp(x, 0).confidence_interval(0.95)
    assert row["mean_ci_low"] == pytest.approx(low, abs=1e-12)
    assert row["mean_ci_high"] == pytest.approx(high, abs=1e-12)
    assert row["missing"] == 7


# ------------------------------------------------------------------ items


def test_item_statistics_floor_ceiling_and_item_scale_columns(data):
    items = [f"i{k}" for k in range(4)]
    table = item_statistics(data, {"x": items}, bounds={i: (1, 5) for i in items}, skew_type=3)
    assert table["item"].tolist() == items
    for row in table.itertuples():
        valid = data[row.item].dropna()
        assert row.floor_pct == pytest.approx(100 * (valid == 1).mean())
        assert row.ceiling_pct == pytest.approx(100 * (valid == 5).mean())
        assert row.n + row.missing == len(data)
    assert (table["skew_type"] == 3).all()
    assert table["r_drop"].between(0, 1).all()
    assert table["alpha_if_deleted"].notna().all()


@requires_r
@pytest.mark.r
def test_item_statistics_item_scale_columns_match_psych_alpha(data):
    items = [f"i{k}" for k in range(4)]
    ref = run_r(
        """
suppressPackageStartupMessages(library(psych))
a <- psych::alpha(na.omit(data[["d"]]), warnings = FALSE)
result <- list(r_drop = a$item.stats$r.drop, alpha_drop = a$alpha.drop$raw_alpha)
""",
        {"d": data[items]},
    )
    table = item_statistics(data, {"x": items})
    np.testing.assert_allclose(table["r_drop"], ref["r_drop"], atol=1e-10)
    np.testing.assert_allclose(table["alpha_if_deleted"], ref["alpha_drop"], atol=1e-10)


def test_item_statistics_observed_bounds_when_none_given():
    d = pd.DataFrame({"a": [2.0, 3, 4, 4], "b": [2.0, 2, 3, 4]})
    table = item_statistics(d, {"s": ["a", "b"]})
    assert table.loc[0, "floor_pct"] == 25 and table.loc[0, "ceiling_pct"] == 50
    assert np.isnan(table.loc[0, "alpha_if_deleted"])  # two-item scale


def test_score_descriptives_labels(data):
    table = score_descriptives(data, ["score_x", "score_y"], {"score_x": "X"})
    assert table["label"].tolist() == ["X", "score_y"]


# ------------------------------------------------------------------ correlations


@requires_r
@pytest.mark.r
def test_correlations_match_cor_test(data):
    cols = ["score_x", "score_y", "score_z"]
    ref = run_r(
        """
d <- data[["d"]]
pairs <- combn(names(d), 2)
result <- lapply(seq_len(ncol(pairs)), function(j) {
  t <- cor.test(d[[pairs[1, j]]], d[[pairs[2, j]]])
  list(r = unname(t$estimate), p = t$p.value, low = t$conf.int[1], high = t$conf.int[2],
       n = unname(t$parameter) + 2)
})
""",
        {"d": data[cols]},
    )
    ours = score_correlations(data, cols)
    assert list(zip(ours["var1"], ours["var2"], strict=True)) == list(
        itertools.combinations(cols, 2)
    )
    for row, r in zip(ours.itertuples(), ref, strict=True):
        assert row.n == r["n"]
        assert row.r == pytest.approx(r["r"], abs=1e-12)
        assert row.p == pytest.approx(r["p"], rel=1e-8)
        assert row.ci_low == pytest.approx(r["low"], abs=1e-10)
        assert row.ci_high == pytest.approx(r["high"], abs=1e-10)


def test_correlation_display_is_lower_triangular_with_stars():
    long = pd.DataFrame(
        {"var1": ["a", "a", "b"], "var2": ["b", "c", "c"], "r": [0.5, -0.1234, 0.02],
         "p": [0.0001, 0.03, 0.6]}
    )  # fmt: skip
    shown = correlation_display(long, labels={"a": "A"})
    assert shown.index.tolist() == ["A", "b", "c"]
    assert shown.loc["b", "A"] == "0.50***"
    assert shown.loc["c", "A"] == "-0.12*"
    assert shown.loc["c", "b"] == "0.02"
    assert shown.loc["A", "b"] == ""
    assert shown.loc["b", "b"] == "1"


def test_significance_stars_boundaries():
    assert significance_stars(0.001) == "**"
    assert significance_stars(0.01) == "*"
    assert significance_stars(0.05) == ""
    assert significance_stars(np.nan) == ""


def test_spearman_option(data):
    ours = score_correlations(data, ["score_y", "score_z"], method="spearman").iloc[0]
    pair = data[["score_y", "score_z"]].dropna()
    assert ours["r"] == pytest.approx(stats.spearmanr(pair).statistic)
    with pytest.raises(ValueError):
        score_correlations(data, ["score_y", "score_z"], method="kendall")


# ------------------------------------------------------------------ sample profile, suppression


def test_sample_profile_counts_labels_and_missing():
    d = pd.DataFrame({"gender": [1, 1, 2, 1, np.nan, 1], "post": [1, 3, 3, 3, 3, 9]})
    labels = {"gender": {1: "male", 2: "female"}, "post": {1: "patrol", 2: "case", 3: "office"}}
    prof = sample_profile(d, ["gender", "post"], labels, {"gender": "Gender"})
    g = prof[prof["variable"] == "gender"]
    assert g["category"].tolist() == ["male", "female", "Missing"]
    assert g["n"].tolist() == [4, 1, 1]
    assert g["variable_label"].iloc[0] == "Gender"
    p = prof[prof["variable"] == "post"]
    # Labelled categories with no respondents are listed; unlabelled codes are kept.
    assert p["category"].tolist() == ["patrol", "case", "office", "9"]
    assert p["n"].tolist() == [1, 0, 4, 1]
    assert prof.groupby("variable")["percent"].sum().round(10).eq(100).all()


# ------------------------------------------------------------------ figures


def test_likert_bars_are_centred_on_the_neutral_category():
    import matplotlib.pyplot as plt

    from policestress.plots.descriptives import likert_diverging, likert_percentages

    d = pd.DataFrame({"a": [1, 2, 3, 3, 4, 5, 5, 5], "b": [1, 1, 2, 3, 4, 4, 5, np.nan]})
    pct = likert_percentages(d, ["a", "b"], [1, 2, 3, 4, 5])
    assert pct.loc["b"].sum() == pytest.approx(100)
    assert pct.loc["a", 5] == pytest.approx(37.5)

    def spans(fig):
        """Each category's bars (one collection a category): (left, right) per item."""
        return [
            [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in cells.get_paths()]
            for cells in fig.axes[0].collections
        ]

    fig = likert_diverging(d, {"s": ["a", "b"]}, {i: f"c{i}" for i in range(1, 6)})
    categories = spans(fig)
    # Five categories x two items; the neutral (third) category's bars straddle zero evenly.
    assert len(categories) == 5 and all(len(c) == 2 for c in categories)
    for left, right in categories[2]:
        assert (left + right) / 2 == pytest.approx(0)
    # each bar as wide as its category's share, starting where the one before ends
    assert categories[4][0][1] - categories[4][0][0] == pytest.approx(pct.loc["a", 5])
    assert categories[3][0][0] == pytest.approx(categories[2][0][1])
    plt.close(fig)

    fig = likert_diverging(d.clip(upper=4), {"s": ["a"]}, {i: f"c{i}" for i in range(1, 5)})
    # Even number of categories: the bars meet at zero between codes 2 and 3.
    assert spans(fig)[2][0][0] == pytest.approx(0)
    plt.close(fig)


def test_other_figures_draw(data):
    import matplotlib.pyplot as plt

    from policestress.groups import group_comparisons, group_means
    from policestress.plots.descriptives import (
        correlation_heatmap,
        group_differences,
        score_distributions,
    )

    cols = ["score_x", "score_y", "score_z"]
    fig = score_distributions(data, cols, {"score_x": "X"}, ncols=2, value_range=None)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["X", "score_y", "score_z"]
    plt.close(fig)
    fig = correlation_heatmap(score_correlations(data, cols), cols)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["score_y", "score_z"]
    plt.close(fig)
    d = data.assign(g=np.arange(len(data)) % 3 + 1)
    means = group_means(d, cols, ["g"])
    fig = group_differences(means, "g", cols, comparisons=group_comparisons(d, cols, ["g"]))
    assert len(fig.axes[0].get_legend().get_texts()) == 3
    plt.close(fig)
