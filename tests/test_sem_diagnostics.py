"""Diagnostics instead of crashes (issue 14, Deliver 5): every improper or unfittable model
gives a warning naming what is wrong and a fit row, never an exception."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from semopy.examples import holzinger39

from policestress import cfa, sem
from policestress.sem.tables import fit_row

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return holzinger39.get_data()


def exact_sample(cov: np.ndarray, n: int, names: list[str], seed: int = 1) -> pd.DataFrame:
    """Simulated data whose sample covariance (divisor N) is exactly ``cov``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, cov.shape[0]))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return pd.DataFrame(z @ np.linalg.cholesky(cov).T, columns=names)


def test_heywood_with_a_residual_covariance_is_reported_not_a_crash():
    # a1 correlates .85 with a2 and a3, which correlate .45: a1's residual variance < 0
    corr = np.eye(6)
    corr[0, 1] = corr[0, 2] = 0.85
    corr[1, 2] = 0.45
    corr[3, 4] = corr[3, 5] = corr[4, 5] = 0.5
    corr[np.ix_([0, 1, 2], [3, 4, 5])] = 0.2
    corr = np.triu(corr) + np.triu(corr, 1).T
    data = exact_sample(corr, 300, ["a1", "a2", "a3", "b1", "b2", "b3"])
    model = "fa =~ a1 + a2 + a3\nfb =~ b1 + b2 + b3\na1 ~~ b1"
    fit = sem.cfa(model, data)
    assert fit.converged
    assert any("negative variance of observed variable 'a1'" in w for w in fit.warnings)
    est = cfa.parameter_estimates(fit)  # crashed with math.sqrt of a negative number before
    assert est.loc[(est["lhs"] == "a1") & (est["rhs"] == "a1"), "est"].iloc[0] < 0
    row = fit_row(fit)
    assert row["converged"] and "Heywood" in row["reason"]
    assert not cfa.heywood_cases(est, fit).empty


def test_negative_latent_variance_standardizes_without_a_numpy_warning():
    # a2's loading fixed at -1 while a1 and a2 correlate positively: var(f) < 0
    corr = np.array([[1.0, 0.5, 0.4], [0.5, 1.0, 0.4], [0.4, 0.4, 1.0]])
    data = exact_sample(corr, 200, ["a1", "a2", "a3"])
    fit = sem.cfa("f =~ a1 + -1*a2 + a3", data)
    assert any("negative variance of latent variable 'f'" in w for w in fit.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Heywood case belongs in fit.warnings only
        std = fit.standardized_solution()
    assert std["est.std"].isna().any()  # no standard deviation of f: NaN, as lavaan


def test_latent_correlation_above_one_names_the_pair():
    # one common factor, plus extra covariance between the blocks: corr(f1, f2) > 1
    lam = np.full(6, 0.7)
    cov = np.outer(lam, lam) + np.diag(1 - lam**2)
    cov[np.ix_(range(3), range(3, 6))] += 0.08
    cov[np.ix_(range(3, 6), range(3))] += 0.08
    data = exact_sample(cov, 400, [f"y{i}" for i in range(1, 7)])
    fit = sem.cfa("f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6", data)
    message = [w for w in fit.warnings if "not positive definite" in w]
    assert message and "'f2' and 'f1'" in message[0] and "r = 1.1" in message[0]
    assert fit_row(fit)["converged"]


def test_singular_sample_covariance_names_the_collinear_items(hs):
    data = hs.assign(x3_copy=hs["x3"])
    fits = cfa.fit_models(
        data, {"three": HS, "dup": HS.replace("x2 + x3", "x2 + x3 + x3_copy")}, progress=False
    )
    table = cfa.fit_table(fits)
    dup = table.set_index("model").loc["dup"]
    assert not dup["converged"]
    assert "not positive definite" in dup["reason"] and "x3, x3_copy are collinear" in dup["reason"]
    assert bool(table.set_index("model").loc["three", "converged"])  # the others are reported
    assert cfa.parameter_estimates(fits["dup"]).empty


def test_second_order_factor_over_one_construct_is_not_fitted(hs):
    model = HS + "\ng1 =~ visual\ng2 =~ textual + speed"
    fit = sem.cfa(model, hs)
    assert not fit.fitted
    assert any("'g1' is measured by one latent variable ('visual')" in w for w in fit.warnings)
    row = fit_row(fit)
    assert not row["converged"] and "not fitted" in row["reason"]
    with pytest.raises(cfa.ConvergenceError, match="one latent variable"):
        cfa.fit_cfa(hs, model, "so")


def test_nonconvergence_names_the_model_and_the_largest_gradient(hs):
    fit = sem.cfa(HS, hs, name="three", max_iter=1)
    assert not fit.converged
    message = fit.warnings[0]
    assert "model 'three' did not converge" in message and "largest gradient" in message
    assert not fit_row(fit)["converged"]


def test_unidentified_model_is_stated(hs):
    # a single-indicator factor with a free residual variance: not identified
    fit = sem.cfa("f =~ x1 + x2 + x3\ng =~ x4\nx4 ~~ x4", hs)
    assert not fit.converged
    assert any("information matrix singular" in w for w in fit.warnings)
    assert not fit_row(fit)["converged"]


@requires_r
@pytest.mark.r
def test_latent_covariance_warning_is_lavaans():
    lam = np.full(6, 0.7)
    cov = np.outer(lam, lam) + np.diag(1 - lam**2)
    cov[np.ix_(range(3), range(3, 6))] += 0.08
    cov[np.ix_(range(3, 6), range(3))] += 0.08
    data = exact_sample(cov, 400, [f"y{i}" for i in range(1, 7)])
    r = run_r(
        """
        suppressPackageStartupMessages(library(lavaan))
        w <- character(0)
        f <- withCallingHandlers(cfa('f1 =~ y1 + y2 + y3\\nf2 =~ y4 + y5 + y6', data[['d']]),
                                 warning = function(e) {w <<- c(w, conditionMessage(e));
                                                        invokeRestart("muffleWarning")})
        result <- list(w = paste(w, collapse = " | "),
                       r = lavInspect(f, "cor.lv")[1, 2])
        """,
        {"d": data},
    )
    assert "not positive definite" in r["w"]
    fit = sem.cfa("f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6", data)
    phi = fit.latent_cov
    assert phi[0, 1] / np.sqrt(phi[0, 0] * phi[1, 1]) == pytest.approx(r["r"], abs=1e-4)
