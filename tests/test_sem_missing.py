"""FIML in moment space (policestress.sem.missing) against lavaan 0.6.

lavaan's own implied moments (``lavTech(fit, "implied")``) are fed to our functions and the
results compared with what lavaan computes from the same moments: the casewise
log-likelihood (``logl``), the EM estimate of the unrestricted model (``h1``,
``unrestricted.logl``), and lavaan's internal gradient, information (observed, expected,
first-order) and casewise-score functions (``lav_mvnorm_missing_*``). Data: Holzinger-
Swineford (301 cases, x1-x9), single group and by school, complete and with 10% of the cells
deleted at random (seeded; the same matrix is sent to R).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import semopy.examples
from rcheck import requires_r, run_r

from policestress.sem import missing as ms

ITEMS = [f"x{i}" for i in range(1, 10)]
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
MISSING_SEED = 20261201


def hs_with_missing(fraction: float = 0.10, seed: int = MISSING_SEED) -> pd.DataFrame:
    """Holzinger-Swineford with ``fraction`` of the x1-x9 cells set to NaN at random (seeded)."""
    hs = semopy.examples.holzinger39.get_data()[["school", *ITEMS]].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    values = hs[ITEMS].to_numpy(dtype=float)
    cells = rng.choice(values.size, size=round(fraction * values.size), replace=False)
    values.flat[cells] = np.nan
    out = hs.copy()
    out[ITEMS] = values
    return out


def group_arrays(frame: pd.DataFrame, by: str | None) -> list[np.ndarray]:
    """The item matrix per group, groups in order of first appearance (lavaan's order)."""
    if by is None:
        return [frame[ITEMS].to_numpy(dtype=float)]
    return [frame.loc[frame[by] == g, ITEMS].to_numpy(dtype=float) for g in frame[by].unique()]


# ---------------------------------------------------------------------------------------------
# R-free checks: derivatives against finite differences, complete data against closed forms


def _toy(seed=3, n=80, p=5, frac=0.2):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    sigma = a @ a.T / p + np.eye(p)
    mu = rng.normal(size=p)
    x = rng.multivariate_normal(mu, sigma, size=n)
    x[rng.random((n, p)) < frac] = np.nan
    return ms.missing_patterns(x), mu, sigma


def _num_jac(fun, m, h=1e-6):
    cols = []
    for i in range(m.size):
        e = np.zeros(m.size)
        e[i] = h
        cols.append((np.asarray(fun(m + e)) - np.asarray(fun(m - e))) / (2 * h))
    return np.array(cols).T


def test_gradient_and_observed_information_are_the_derivatives_of_the_loglik():
    pats, mu, sigma = _toy()
    p = pats.p
    m0 = ms.moments_to_vector(mu, sigma)

    def ll(m):
        return ms.fiml_loglik(pats, m[:p], ms.unvech(m[p:]))

    def grad(m):
        return ms.fiml_gradient(pats, m[:p], ms.unvech(m[p:]))

    g = grad(m0)
    assert np.max(np.abs(g - _num_jac(ll, m0).ravel())) < 1e-6
    hess = _num_jac(grad, m0)
    info = ms.fiml_information(pats, mu, sigma, "observed")
    assert np.max(np.abs(-hess / pats.n - info)) < 1e-8
    assert np.max(np.abs(ms.casewise_scores(pats, mu, sigma).sum(axis=0) - g)) < 1e-10
    assert abs(ms.casewise_loglik(pats, mu, sigma).sum() - ll(m0)) < 1e-10
    # casewise results come back in the rows' original order
    x = np.full((pats.n, p), np.nan)
    x[pats.order] = pats.data
    for i in (0, 7, pats.n - 1):
        o = ~np.isnan(x[i])
        one = ms.missing_patterns(x[i : i + 1])
        assert abs(ms.casewise_loglik(pats, mu, sigma)[i] - ms.fiml_loglik(one, mu, sigma)) < 1e-12
        assert o.any()


def test_expected_information_matches_the_duplication_matrix_formula():
    pats, mu, sigma = _toy(seed=5)
    p = pats.p
    rows, cols = ms.vech_indices(p)
    dup = np.zeros((p * p, rows.size))
    for v, (i, j) in enumerate(zip(rows, cols, strict=True)):
        dup[i + j * p, v] = dup[j + i * p, v] = 1.0
    i11 = np.zeros((p, p))
    i22 = np.zeros((rows.size, rows.size))
    for obs, f in zip(pats.observed, pats.freq, strict=True):
        k = np.zeros((p, p))
        k[np.ix_(obs, obs)] = np.linalg.inv(sigma[np.ix_(obs, obs)])
        i11 += f * k
        i22 += f * 0.5 * dup.T @ np.kron(k, k) @ dup
    info = ms.fiml_information(pats, mu, sigma, "expected")
    assert np.max(np.abs(info[:p, :p] - i11 / pats.n)) < 1e-12
    assert np.max(np.abs(info[p:, p:] - i22 / pats.n)) < 1e-12
    assert np.all(info[p:, :p] == 0)


def test_complete_data_is_the_one_pattern_case_and_from_moments_agrees():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(50, 3)) @ np.array([[1.0, 0.3, 0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]])
    pats = ms.missing_patterns(x)
    assert pats.n_patterns == 1 and pats.complete
    mean, cov = x.mean(axis=0), np.cov(x.T, bias=True)
    mom = ms.MissingPatterns.from_moments(mean, cov, 50)
    mu, sigma = np.zeros(3), np.eye(3) * 1.5
    # closed-form complete-data ML log-likelihood
    lam = np.linalg.inv(sigma)
    closed = (
        -0.5
        * 50
        * (
            3 * ms.LOG_2PI
            + np.linalg.slogdet(sigma)[1]
            + np.trace(lam @ (cov + np.outer(mean - mu, mean - mu)))
        )
    )
    for pt in (pats, mom):
        assert abs(ms.fiml_loglik(pt, mu, sigma) - closed) < 1e-9
    assert np.allclose(ms.fiml_gradient(pats, mu, sigma), ms.fiml_gradient(mom, mu, sigma))
    for kind in ("observed", "expected"):
        assert np.allclose(
            ms.fiml_information(pats, mu, sigma, kind), ms.fiml_information(mom, mu, sigma, kind)
        )
    h1 = ms.em_saturated(pats)
    assert h1.iterations == 0 and np.allclose(h1.sigma, cov) and np.allclose(h1.mu, mean)
    for casewise in (ms.casewise_scores, ms.casewise_loglik):
        with pytest.raises(ValueError, match="moments only"):
            casewise(mom, mu, sigma)


def test_em_reaches_the_maximum_and_baseline_is_the_independence_maximum():
    pats, _mu, _sigma = _toy(seed=8, n=150)
    h1 = ms.em_saturated(pats, tol=1e-12, max_iter=5000)
    assert h1.converged
    assert np.max(np.abs(ms.fiml_gradient(pats, h1.mu, h1.sigma))) < 1e-7
    base = ms.baseline_fiml(pats)
    g = ms.fiml_gradient(pats, base.mu, base.sigma)
    rows, cols = ms.vech_indices(pats.p)
    assert np.max(np.abs(g[: pats.p])) < 1e-9
    assert np.max(np.abs(g[pats.p :][rows == cols])) < 1e-9
    assert base.loglik < h1.loglik


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="every row"):
        ms.missing_patterns(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="infinite"):
        ms.missing_patterns(np.array([[1.0, np.inf]]))
    pats = ms.missing_patterns(np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 0.5]]))
    with pytest.raises(ValueError, match="2 elements"):
        ms.fiml_loglik(pats, np.zeros(3), np.eye(2))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        ms.fiml_loglik(pats, np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="kind"):
        ms.fiml_information(pats, np.zeros(2), np.eye(2), "hessian")


def test_loglik_and_gradient_are_fast_on_a_default_site_sized_problem():
    # 400 cases x 45 items with 2% item nonresponse (simulated data), the default site's size
    rng = np.random.default_rng(1)
    p, n = 45, 400
    a = rng.normal(size=(p, p))
    sigma = a @ a.T / p + np.eye(p)
    x = rng.multivariate_normal(np.zeros(p), sigma, size=n)
    x[rng.random((n, p)) < 0.02] = np.nan
    pats = ms.missing_patterns(x)
    start = time.perf_counter()
    for _ in range(10):
        ms.fiml_loglik_gradient(pats, np.zeros(p), sigma)
    per_call = (time.perf_counter() - start) / 10
    # lavaan's R loop over ~150 patterns takes tens of ms; generous bound for a shared machine
    assert per_call < 0.25, f"loglik + gradient took {per_call:.3f} s"


# ---------------------------------------------------------------------------------------------
# lavaan cross-checks

R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
model <- ' visual =~ x1 + x2 + x3
           textual =~ x4 + x5 + x6
           speed =~ x7 + x8 + x9 '
pack <- function(fit) {
  imp <- lavTech(fit, "implied"); h1 <- lavTech(fit, "h1")
  G <- lavInspect(fit, "ngroups")
  groups <- lapply(seq_len(G), function(g) {
    Mu <- as.numeric(imp[[g]]$mean); Sigma <- imp[[g]]$cov
    Y <- fit@Data@X[[g]]; Mp <- fit@Data@Mp[[g]]; Yp <- fit@SampleStats@missing[[g]]
    out <- list(mu = Mu, sigma = Sigma, h1_mu = as.numeric(h1[[g]]$mean), h1_sigma = h1[[g]]$cov,
                nobs = lavInspect(fit, "nobs")[g])
    if (!is.null(Mp)) {
      out$dmu <- lavaan:::lav_mvnorm_missing_dlogl_dmu_samplestats(Yp = Yp, Mu = Mu, Sigma = Sigma)
      out$dvech <- lavaan:::lav_mvnorm_missing_dlogl_dvechSigma_samplestats(Yp = Yp, Mu = Mu, Sigma = Sigma)
      out$info_obs <- lavaan:::lav_mvnorm_missing_information_observed_samplestats(Yp = Yp, Mu = Mu, Sigma = Sigma)
      out$info_exp <- lavaan:::lav_mvnorm_missing_information_expected(Y = Y, Mp = Mp, Mu = Mu, Sigma = Sigma)
      out$info_fo <- lavaan:::lav_mvnorm_missing_information_firstorder(Y = Y, Mp = Mp, Mu = Mu, Sigma = Sigma)
      out$scores <- lavaan:::lav_mvnorm_missing_scores_mu_vech_sigma(Y = Y, Mp = Mp, Mu = Mu, Sigma = Sigma)
    } else {
      ss <- fit@SampleStats
      out$info_obs <- lavaan:::lav_mvnorm_information_observed_samplestats(
        sample.mean = ss@mean[[g]], sample.cov = ss@cov[[g]], Mu = Mu, Sigma = Sigma, meanstructure = TRUE)
      out$info_exp <- lavaan:::lav_mvnorm_information_expected(Sigma = Sigma, meanstructure = TRUE)
      out$info_fo <- lavaan:::lav_mvnorm_information_firstorder(Y = Y, Mu = Mu, Sigma = Sigma, meanstructure = TRUE)
    }
    out
  })
  fm <- fitMeasures(fit, c("logl", "unrestricted.logl", "baseline.chisq", "baseline.df", "ntotal"))
  list(groups = groups, fm = as.list(fm))
}
dm <- data[["hs_missing"]]; dc <- data[["hs"]]
t0 <- proc.time()[["elapsed"]]
fit_ml1 <- cfa(model, data = dm, missing = "ml")
t_fiml <- proc.time()[["elapsed"]] - t0
result <- list(
  miss_single = pack(fit_ml1),
  miss_school = pack(cfa(model, data = dm, missing = "ml", group = "school")),
  complete_single = pack(cfa(model, data = dc, meanstructure = TRUE)),
  lavaan_fiml_seconds = t_fiml
)
"""


@pytest.fixture(scope="module")
def lav():
    miss = hs_with_missing()
    hs = semopy.examples.holzinger39.get_data()[["school", *ITEMS]]
    return run_r(R_CODE, {"hs_missing": miss, "hs": hs}), miss, hs


def _cases(lav):
    res, miss, hs = lav
    yield "miss_single", res["miss_single"], group_arrays(miss, None)
    yield "miss_school", res["miss_school"], group_arrays(miss, "school")
    yield "complete_single", res["complete_single"], group_arrays(hs, None)


@requires_r
@pytest.mark.r
def test_loglik_and_em_h1_match_lavaan(lav):
    for name, res, xs in _cases(lav):
        logl = unres = 0.0
        for x, g in zip(xs, res["groups"], strict=True):
            pats = ms.missing_patterns(x)
            assert pats.n == g["nobs"], name
            logl += ms.fiml_loglik(pats, np.array(g["mu"]), np.array(g["sigma"]))
            h1 = ms.em_saturated(pats)
            assert h1.converged, name
            assert np.max(np.abs(h1.mu - np.array(g["h1_mu"]))) < 1e-8, name
            assert np.max(np.abs(h1.sigma - np.array(g["h1_sigma"]))) < 1e-8, name
            unres += h1.loglik
        assert abs(logl - res["fm"]["logl"]) < 1e-6, name
        assert abs(unres - res["fm"]["unrestricted.logl"]) < 1e-6, name


@requires_r
@pytest.mark.r
def test_baseline_loglik_matches_lavaan_baseline_chisq(lav):
    for name, res, xs in _cases(lav):
        chisq = 0.0
        for x in xs:
            pats = ms.missing_patterns(x)
            chisq += 2 * (ms.em_saturated(pats).loglik - ms.baseline_fiml(pats).loglik)
        assert abs(chisq - res["fm"]["baseline.chisq"]) < 1e-5, name


@requires_r
@pytest.mark.r
def test_gradient_information_and_scores_match_lavaan_internals(lav):
    for name, res, xs in _cases(lav):
        for x, g in zip(xs, res["groups"], strict=True):
            pats = ms.missing_patterns(x)
            mu, sigma = np.array(g["mu"]), np.array(g["sigma"])
            p = pats.p
            if "dmu" in g:
                grad = ms.fiml_gradient(pats, mu, sigma)
                assert np.max(np.abs(grad[:p] - np.array(g["dmu"]))) < 1e-9, name
                assert np.max(np.abs(grad[p:] - np.array(g["dvech"]))) < 1e-9, name
                sc = ms.casewise_scores(pats, mu, sigma)
                # lavaan leaves NA where a case's variable is missing (its score there is 0)
                lav_sc = np.array(g["scores"], dtype=float)
                assert np.max(np.abs(sc - np.nan_to_num(lav_sc))) < 1e-10, name
            for kind, key in (("observed", "info_obs"), ("expected", "info_exp")):
                info = ms.fiml_information(pats, mu, sigma, kind)
                assert np.max(np.abs(info - np.array(g[key]))) < 1e-10, (name, kind)
            fo = ms.first_order_information(pats, mu, sigma)
            assert np.max(np.abs(fo - np.array(g["info_fo"]))) < 1e-10, name


@requires_r
@pytest.mark.r
def test_em_and_loglik_time_against_lavaan(lav):
    res, miss, _hs = lav
    x = group_arrays(miss, None)[0]
    start = time.perf_counter()
    pats = ms.missing_patterns(x)
    h1 = ms.em_saturated(pats)
    em_seconds = time.perf_counter() - start
    g = res["miss_single"]["groups"][0]
    start = time.perf_counter()
    for _ in range(100):
        ms.fiml_loglik_gradient(pats, np.array(g["mu"]), np.array(g["sigma"]))
    per_eval = (time.perf_counter() - start) / 100
    # a whole lavaan FIML fit (EM, optimisation, SEs) on these data vs our EM + 100 evaluations
    assert em_seconds + 100 * per_eval < 3 * max(res["lavaan_fiml_seconds"], 0.5), (
        em_seconds,
        per_eval,
        res["lavaan_fiml_seconds"],
    )
    assert h1.iterations > 1
