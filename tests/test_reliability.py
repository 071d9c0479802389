"""Reliability: alpha, Feldt CI, omega total, item-scale statistics, cross-checked with R."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from rcheck import requires_r, run_r

from policestress import cfa
from policestress.reliability import (
    alpha_feldt_ci,
    cronbach_alpha,
    item_reliability,
    omega_total,
    reliability_table,
)


def likert_scales(n=320, seed=11, missing=0.03):
    """Two 5-point scales (5 and 4 items, unequal loadings) and a 2-item scale, with NaN."""
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    cols = {}
    for i, lam in enumerate([0.9, 0.8, 0.6, 0.5, 0.3]):
        cols[f"a{i + 1}"] = 3 + lam * f[:, 0] + rng.normal(scale=0.7, size=n)
    for i, lam in enumerate([0.7, 0.7, 0.5, 0.4]):
        cols[f"b{i + 1}"] = 3 + lam * f[:, 1] + rng.normal(scale=0.8, size=n)
    cols["c1"] = 3 + 0.6 * f[:, 1] + rng.normal(size=n)
    cols["c2"] = 3 + 0.6 * f[:, 1] + rng.normal(size=n)
    data = pd.DataFrame(cols).round().clip(1, 5)
    return data.mask(rng.random(data.shape) < missing)


def data_with_cov(cov, n=500, seed=0):
    """Data whose sample covariance matrix (divisor N - 1) is exactly ``cov``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, cov.shape[0]))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x = z @ np.linalg.cholesky(cov).T
    return pd.DataFrame(x, columns=[f"x{i + 1}" for i in range(cov.shape[0])])


SCALES = {"a": [f"a{i}" for i in range(1, 6)], "b": [f"b{i}" for i in range(1, 5)]}

R_RELIABILITY = """
suppressPackageStartupMessages({library(psych); library(lavaan); library(semTools)})
d <- data[["d"]]
scales <- list(a = paste0("a", 1:5), b = paste0("b", 1:4))
result <- lapply(scales, function(items) {
  x <- na.omit(d[, items])
  a <- psych::alpha(x, warnings = FALSE)
  # A tighter optimizer tolerance than lavaan's default (rel.tol 1e-10), whose estimates sit
  # up to ~1e-5 from the optimum in omega; ours are at the optimum (gradient < 1e-6).
  fit <- lavaan::cfa(paste("f =~", paste(items, collapse = " + ")), data = d, std.lv = TRUE,
                     control = list(rel.tol = 1e-13))
  list(n = nrow(x), alpha = a$total$raw_alpha,
       low = unname(unlist(a$feldt$lower.ci)), high = unname(unlist(a$feldt$upper.ci)),
       r_drop = a$item.stats$r.drop, alpha_drop = a$alpha.drop$raw_alpha,
       omega = unname(semTools::compRelSEM(fit)), lavaan_n = lavInspect(fit, "nobs"),
       loadings = unname(lavInspect(fit, "est")$lambda[, 1]))
})
"""


@pytest.fixture(scope="module")
def data():
    return likert_scales()


@pytest.fixture(scope="module")
def r_reference(data):
    return run_r(R_RELIABILITY, {"d": data})


@requires_r
@pytest.mark.r
def test_alpha_and_feldt_ci_match_psych_alpha(data, r_reference):
    table = reliability_table(data, SCALES).set_index("scale")
    for scale in SCALES:
        ref = r_reference[scale]
        assert table.loc[scale, "n"] == ref["n"]
        assert table.loc[scale, "alpha"] == pytest.approx(ref["alpha"], abs=1e-10)
        assert table.loc[scale, "alpha_ci_low"] == pytest.approx(ref["low"], abs=1e-10)
        assert table.loc[scale, "alpha_ci_high"] == pytest.approx(ref["high"], abs=1e-10)


@requires_r
@pytest.mark.r
def test_omega_matches_semtools_comprelsem_one_factor(data, r_reference):
    table = reliability_table(data, SCALES).set_index("scale")
    for scale, items in SCALES.items():
        ref = r_reference[scale]
        # lavaan drops incomplete rows by default: the same listwise rule.
        assert ref["lavaan_n"] == table.loc[scale, "n"]
        assert table.loc[scale, "omega"] == pytest.approx(ref["omega"], abs=1e-6)
        # lavaan's ML loadings use the N divisor; ours the N - 1 one: rescale to compare.
        n = ref["lavaan_n"]
        loadings = omega_total(data[items])["loadings"].to_numpy() * np.sqrt((n - 1) / n)
        np.testing.assert_allclose(loadings, ref["loadings"], atol=1e-5)


@requires_r
@pytest.mark.r
def test_r_drop_and_alpha_if_deleted_match_psych_alpha(data, r_reference):
    for scale, items in SCALES.items():
        ours = item_reliability(data[items])
        ref = r_reference[scale]
        np.testing.assert_allclose(ours["r_drop"], ref["r_drop"], atol=1e-10)
        np.testing.assert_allclose(ours["alpha_if_deleted"], ref["alpha_drop"], atol=1e-10)


def test_alpha_matches_pingouin_on_complete_data(data):
    complete = data[SCALES["a"]].dropna()
    alpha, interval = pg.cronbach_alpha(complete)
    ours = cronbach_alpha(complete).iloc[0]
    assert ours["alpha"] == pytest.approx(alpha, abs=1e-12)
    # pingouin rounds its CI to three decimals.
    assert ours["alpha_ci_low"] == pytest.approx(interval[0], abs=5e-4)
    assert ours["alpha_ci_high"] == pytest.approx(interval[1], abs=5e-4)


def test_feldt_ci_brackets_alpha_and_narrows_with_n():
    low_small, high_small = alpha_feldt_ci(0.8, 50, 6)
    low_big, high_big = alpha_feldt_ci(0.8, 5000, 6)
    assert low_small < low_big < 0.8 < high_big < high_small


def test_one_factor_model_recovers_population_loadings():
    lam = np.array([0.9, 0.7, 0.5, 0.3])
    x = data_with_cov(np.outer(lam, lam) + np.diag(1 - lam**2))
    result = omega_total(x)
    np.testing.assert_allclose(result["loadings"], lam, atol=1e-6)
    assert result["loadings"].index.tolist() == ["x1", "x2", "x3", "x4"]
    assert result["note"] == ""
    assert result["omega"] == pytest.approx(lam.sum() ** 2 / (lam.sum() ** 2 + 4 - lam @ lam))


def test_omega_equals_alpha_for_parallel_items():
    # Equal loadings and residual variances (parallel items): omega and alpha coincide
    # in the population.
    lam = np.full(5, 0.6)
    x = data_with_cov(np.outer(lam, lam) + np.diag(np.full(5, 0.64)))
    omega = omega_total(x)["omega"]
    alpha = cronbach_alpha(x)["alpha"].iloc[0]
    assert omega == pytest.approx(alpha, abs=1e-8)


def test_two_item_and_single_item_scales_have_notes(data):
    table = reliability_table(data, {"c": ["c1", "c2"], "single": ["c1"]}).set_index("scale")
    assert np.isfinite(table.loc["c", "alpha"])
    assert np.isnan(table.loc["c", "omega"])
    assert ">= 3 items" in table.loc["c", "note"]
    assert np.isnan(table.loc["single", "alpha"])
    assert "single-item" in table.loc["single", "note"]


def test_threshold_flags(data):
    table = reliability_table(data, SCALES, threshold=0.99)
    assert table["alpha_below_threshold"].all()
    assert table["omega_below_threshold"].all()
    assert (table["threshold"] == 0.99).all()
    table = reliability_table(data, SCALES, threshold=0.0)
    assert not table["alpha_below_threshold"].any()


def test_missing_item_raises(data):
    with pytest.raises(KeyError, match="nope"):
        reliability_table(data, {"a": ["a1", "nope"]})


def test_listwise_rule_counts_complete_cases(data):
    table = reliability_table(data, SCALES).set_index("scale")
    assert table.loc["a", "n"] == data[SCALES["a"]].dropna().shape[0]
    assert table.loc["a", "n"] < len(data)


def test_three_item_model_matches_closed_form_solution():
    # A one-factor model of three items is just identified: lambda_1^2 = s12 * s13 / s23.
    s = np.array([[1.5, 0.9, 0.8], [0.9, 1.4, 0.7], [0.8, 0.7, 1.2]])
    result = omega_total(data_with_cov(s))
    expected = np.sqrt(
        [s[0, 1] * s[0, 2] / s[1, 2], s[0, 1] * s[1, 2] / s[0, 2], s[0, 2] * s[1, 2] / s[0, 1]]
    )
    np.testing.assert_allclose(result["loadings"], expected, atol=1e-6)
    assert result["omega"] == pytest.approx(expected.sum() ** 2 / s.sum(), abs=1e-10)
    assert result["note"] == ""


def test_heywood_case_is_reported():
    # Item 1 correlates with items 2 and 3 more than they allow: lambda_1^2 > var(item 1).
    s = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.5], [0.8, 0.5, 1.0]])
    result = omega_total(data_with_cov(s))
    assert result["loadings"].iloc[0] ** 2 == pytest.approx(0.8 * 0.8 / 0.5, abs=1e-6)
    assert "Heywood" in result["note"]
    rng = np.random.default_rng(4)
    x = pd.DataFrame(
        rng.multivariate_normal(np.zeros(3), s * 1.0001, size=20000), columns=list("xyz")
    )
    assert "Heywood" in omega_total(x)["note"]


def test_degenerate_scales_leave_omega_missing_with_a_note(data, monkeypatch):
    x = pd.DataFrame({"a": [1.0, 2, 3, np.nan], "b": [2.0, 1, 3, 4], "c": [1.0, 3, 2, 5]})
    result = omega_total(x)
    assert np.isnan(result["omega"])
    assert "complete cases" in result["note"]
    constant = data[SCALES["a"]].assign(a5=3.0)
    result = omega_total(constant)
    assert np.isnan(result["omega"])
    assert "not positive definite" in result["note"]

    def fail(*args, **kwargs):
        raise cfa.ConvergenceError("no convergence")

    monkeypatch.setattr(cfa, "fit_cfa", fail)
    table = reliability_table(data, SCALES)
    assert table["omega"].isna().all()
    assert (table["note"] == "one-factor model did not converge").all()


def test_flags_are_missing_where_the_coefficient_is(data):
    table = reliability_table(data, {"c": ["c1", "c2"]})
    assert table["omega_below_threshold"].isna().all()
    assert table["alpha_below_threshold"].notna().all()
