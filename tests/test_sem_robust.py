"""Robust ML in moment space (policestress.sem.robust) against lavaan 0.6.

Each lavaan fit's own implied moments, Delta, h1 moments and information matrix
(``lavTech(fit, "implied" | "delta" | "h1" | "information")``) are fed to our functions,
which must reproduce lavaan's Gamma, scaling factors, scaled and robust CFI/TLI/RMSEA,
sandwich standard errors (MLM: robust.sem, MLR: robust.huber.white) and the Satorra-Bentler
(2001) scaled difference test. Data: Holzinger-Swineford three-factor model, single group
and by school, complete and with 10% of the cells deleted at random (seeded, the same data
sent to R). Equality constraints (``group.equal = "loadings"``) enter as lavaan's
``con.jac``: our parameter vector is the reduced one, ``theta = K alpha`` with ``K`` a basis
of the null space of the constraint Jacobian, so Delta becomes ``Delta K``.
"""

from __future__ import annotations

import numpy as np
import pytest
import semopy.examples
from rcheck import requires_r, run_r
from scipy.linalg import null_space
from test_sem_missing import HS_MODEL, ITEMS, group_arrays, hs_with_missing

from policestress.sem import missing as ms
from policestress.sem import robust as rb

FIT_MEASURES = [
    "chisq",
    "df",
    "ntotal",
    "chisq.scaled",
    "chisq.scaling.factor",
    "baseline.chisq",
    "baseline.df",
    "baseline.chisq.scaled",
    "baseline.chisq.scaling.factor",
    "cfi.scaled",
    "tli.scaled",
    "rmsea.scaled",
    "rmsea.ci.lower.scaled",
    "rmsea.ci.upper.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.robust",
    "rmsea.ci.lower.robust",
    "rmsea.ci.upper.robust",
    "rmsea.pvalue.robust",
]

R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
model <- ' visual =~ x1 + x2 + x3
           textual =~ x4 + x5 + x6
           speed =~ x7 + x8 + x9 '
FM <- c(@FIT_MEASURES@)
pack <- function(fit) {
  G <- lavInspect(fit, "ngroups")
  imp <- lavTech(fit, "implied"); h1 <- lavTech(fit, "h1"); delta <- lavTech(fit, "delta")
  wlsv <- lavTech(fit, "wls.v")
  base <- lavaan:::lav_object_independence(fit)
  bimp <- lavTech(base, "implied")
  groups <- lapply(seq_len(G), function(g) list(
    mu = as.numeric(imp[[g]]$mean), sigma = imp[[g]]$cov,
    h1_mu = as.numeric(h1[[g]]$mean), h1_sigma = h1[[g]]$cov,
    base_mu = as.numeric(bimp[[g]]$mean), base_sigma = bimp[[g]]$cov,
    delta = unname(delta[[g]]), wlsv = unname(wlsv[[g]]),
    nobs = lavInspect(fit, "nobs")[g]))
  out <- list(groups = groups, information = unname(lavTech(fit, "information")),
              se = sqrt(diag(vcov(fit))), fm = as.list(fitMeasures(fit, FM)),
              meanstructure = lavInspect(fit, "meanstructure"),
              trace_ugamma = fit@test[[2]]$trace.UGamma,
              con_jac = unname(fit@Model@con.jac), npar = fit@Model@nx.free)
  if (fit@Options$test[1] == "satorra.bentler")
    out$gamma <- unname(lapply(lavTech(fit, "gamma"), unname))
  out
}
dc <- data[["hs"]]; dm <- data[["hs_missing"]]
mlm1 <- cfa(model, data = dc, estimator = "MLM")
mlr1 <- cfa(model, data = dc, estimator = "MLR")
mlm2 <- cfa(model, data = dc, estimator = "MLM", group = "school")
mlr2 <- cfa(model, data = dc, estimator = "MLR", group = "school")
mlm2m <- cfa(model, data = dc, estimator = "MLM", group = "school", group.equal = "loadings")
mlr2m <- cfa(model, data = dc, estimator = "MLR", group = "school", group.equal = "loadings")
fml1 <- cfa(model, data = dm, estimator = "MLR", missing = "ml")
fml2 <- cfa(model, data = dm, estimator = "MLR", missing = "ml", group = "school")
fml2m <- cfa(model, data = dm, estimator = "MLR", missing = "ml", group = "school",
             group.equal = "loadings")
fiml_ml <- cfa(model, data = dm, estimator = "ML", missing = "ml")
lrt <- function(m0, m1) {
  tab <- lavTestLRT(m1, m0, method = "satorra.bentler.2001")
  list(chisq = tab[["Chisq diff"]][2], df = tab[["Df diff"]][2], p = tab[["Pr(>Chisq)"]][2])
}
h1 <- lavTech(fml1, "h1")[[1]]
result <- list(
  mlm1 = pack(mlm1), mlr1 = pack(mlr1), mlm2 = pack(mlm2), mlr2 = pack(mlr2),
  mlm2m = pack(mlm2m), mlr2m = pack(mlr2m),
  fml1 = pack(fml1), fml2 = pack(fml2), fml2m = pack(fml2m),
  fiml_ml = list(fm = as.list(fitMeasures(fiml_ml, c("chisq", "df", "ntotal", "cfi.robust",
                 "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust"))),
                 groups = pack(fml1)$groups),
  lrt_mlm = lrt(mlm2m, mlm2), lrt_mlr = lrt(mlr2m, mlr2), lrt_fiml = lrt(fml2m, fml2),
  omega_sw = lavaan:::lav_mvnorm_missing_h1_omega_sw(Y = fml1@Data@X[[1]], Mp = fml1@Data@Mp[[1]],
             Mu = h1$mean, Sigma = h1$cov, information = "observed")
)
""".replace("@FIT_MEASURES@", ", ".join(f'"{m}"' for m in FIT_MEASURES))


@pytest.fixture(scope="module")
def lav():
    hs = semopy.examples.holzinger39.get_data()[["school", *ITEMS]].reset_index(drop=True)
    miss = hs_with_missing()
    res = run_r(R_CODE, {"hs": hs, "hs_missing": miss})
    return res, hs, miss


CASES = {
    "mlm1": ("hs", None),
    "mlr1": ("hs", None),
    "mlm2": ("hs", "school"),
    "mlr2": ("hs", "school"),
    "mlm2m": ("hs", "school"),
    "mlr2m": ("hs", "school"),
    "fml1": ("miss", None),
    "fml2": ("miss", "school"),
    "fml2m": ("miss", "school"),
}


class Case:
    """One lavaan fit, unpacked; ``k`` maps our reduced parameters to lavaan's."""

    def __init__(self, lav, name):
        res, hs, miss = lav
        self.r = res[name]
        frame, by = CASES[name]
        self.xs = group_arrays(hs if frame == "hs" else miss, by)
        self.pats = [ms.missing_patterns(x) for x in self.xs]
        self.groups = self.r["groups"]
        self.nobs = [g["nobs"] for g in self.groups]
        self.meanstructure = bool(self.r["meanstructure"])
        npar = self.r["npar"]
        con = np.array(self.r["con_jac"], dtype=float).reshape(-1, npar)
        self.k = null_space(con) if con.shape[0] else np.eye(npar)
        self.deltas = [np.array(g["delta"]) @ self.k for g in self.groups]
        self.information = self.k.T @ np.array(self.r["information"]) @ self.k
        self.fm = self.r["fm"]

    def implied(self, g, pats):
        grp = self.groups[g]
        sigma = np.array(grp["sigma"])
        if self.meanstructure:
            return np.array(grp["mu"]), sigma
        return pats.means[0], sigma  # no mean structure: complete data, the sample mean

    def base_implied(self, g, pats):
        grp = self.groups[g]
        sigma = np.array(grp["base_sigma"])
        if self.meanstructure:
            return np.array(grp["base_mu"]), sigma
        return pats.means[0], sigma

    def h1(self, g):
        grp = self.groups[g]
        return np.array(grp["h1_mu"]), np.array(grp["h1_sigma"])

    def b0_groups(self):
        out = []
        for g, (pats, d) in enumerate(zip(self.pats, self.deltas, strict=True)):
            mu, sigma = self.implied(g, pats)
            b1 = ms.first_order_information(pats, mu, sigma, meanstructure=self.meanstructure)
            out.append(d.T @ b1 @ d)
        return out

    def vcov(self, alpha_vcov):
        return self.k @ alpha_vcov @ self.k.T


def _mlm_pieces(case):
    weights = [
        ms.fiml_information(pats, *case.implied(g, pats), "expected", case.meanstructure)
        for g, pats in enumerate(case.pats)
    ]
    gammas = [rb.gamma_adf(x, meanstructure=case.meanstructure) for x in case.xs]
    return weights, gammas


def _mlm_test(case):
    weights, gammas = _mlm_pieces(case)
    fm = case.fm
    return rb.satorra_bentler(fm["chisq"], int(fm["df"]), case.deltas, weights, gammas, case.nobs)


def _mlm_baseline(case):
    weights, deltas = [], []
    for g, pats in enumerate(case.pats):
        weights.append(
            ms.fiml_information(pats, *case.base_implied(g, pats), "expected", case.meanstructure)
        )
        deltas.append(rb.baseline_delta(pats.p, case.meanstructure))
    deltas = _block_columns(deltas)
    gammas = [rb.gamma_adf(x, meanstructure=case.meanstructure) for x in case.xs]
    fm = case.fm
    return rb.satorra_bentler(
        fm["baseline.chisq"], int(fm["baseline.df"]), deltas, weights, gammas, case.nobs
    )


def _block_columns(deltas):
    """Per-group Deltas of separate parameters -> each group's rows in the joint columns."""
    q = sum(d.shape[1] for d in deltas)
    out, c = [], 0
    for d in deltas:
        full = np.zeros((d.shape[0], q))
        full[:, c : c + d.shape[1]] = d
        out.append(full)
        c += d.shape[1]
    return out


def _h1_pieces(case):
    a1, b1 = [], []
    for g, pats in enumerate(case.pats):
        mu, sigma = case.h1(g) if not pats.complete else (pats.means[0], pats.covs[0])
        a1.append(ms.fiml_information(pats, mu, sigma, "observed", case.meanstructure))
        b1.append(ms.first_order_information(pats, mu, sigma, case.meanstructure))
    return a1, b1


def _mlr_test(case):
    a1, b1 = _h1_pieces(case)
    fm = case.fm
    return rb.yuan_bentler_mplus(
        fm["chisq"], int(fm["df"]), a1, b1, case.b0_groups(), case.information, case.nobs
    )


def _mlr_baseline(case):
    # the independence model is linear in its parameters: its observed information in the
    # parameters is exactly Delta' A1 Delta (no second-derivative term)
    a1, b1 = _h1_pieces(case)
    deltas, b0, infos = [], [], []
    for g, pats in enumerate(case.pats):
        mu, sigma = case.base_implied(g, pats)
        deltas.append(rb.baseline_delta(pats.p, case.meanstructure))
        infos.append(ms.fiml_information(pats, mu, sigma, "observed", case.meanstructure))
        b1s = ms.first_order_information(pats, mu, sigma, case.meanstructure)
        b0.append(b1s)
    deltas = _block_columns(deltas)
    e = rb.information_theta(deltas, infos, case.nobs)
    b0 = [d.T @ b @ d for d, b in zip(deltas, b0, strict=True)]
    fm = case.fm
    return rb.yuan_bentler_mplus(
        fm["baseline.chisq"], int(fm["baseline.df"]), a1, b1, b0, e, case.nobs
    )


def _max_rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


@requires_r
@pytest.mark.r
def test_gamma_is_lavaans_nacov_with_divisor_n(lav):
    for name in ("mlm1", "mlm2"):
        case = Case(lav, name)
        for x, lav_gamma in zip(case.xs, case.r["gamma"], strict=True):
            mine = rb.gamma_adf(x, meanstructure=case.meanstructure)
            assert np.max(np.abs(mine - np.array(lav_gamma))) < 1e-10, name


@requires_r
@pytest.mark.r
def test_fiml_gamma_is_lavaans_omega_sandwich(lav):
    res, _hs, miss = lav
    pats = ms.missing_patterns(group_arrays(miss, None)[0])
    h1 = Case(lav, "fml1").h1(0)
    mine = rb.gamma_fiml(pats, *h1)
    omega = np.array(res["omega_sw"])
    assert np.max(np.abs(mine - omega)) < 1e-8 * np.max(np.abs(omega))


@requires_r
@pytest.mark.r
def test_h1_weight_matrix_is_lavaans_wls_v(lav):
    for name in ("mlm1", "mlm2"):
        case = Case(lav, name)
        weights, _ = _mlm_pieces(case)
        for w, g in zip(weights, case.groups, strict=True):
            assert np.max(np.abs(w - np.array(g["wlsv"]))) < 1e-10, name


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", ["mlm1", "mlm2", "mlm2m"])
def test_satorra_bentler_scaling_and_scaled_indices_match_lavaan(lav, name):
    case = Case(lav, name)
    fm = case.fm
    model = _mlm_test(case)
    base = _mlm_baseline(case)
    assert abs(model.scaling_factor - fm["chisq.scaling.factor"]) < 1e-8
    assert abs(model.trace_ugamma - case.r["trace_ugamma"]) < 1e-6
    assert abs(model.chisq_scaled - fm["chisq.scaled"]) < 1e-6
    assert abs(base.scaling_factor - fm["baseline.chisq.scaling.factor"]) < 1e-8
    n_groups = len(case.nobs)
    idx = rb.scaled_fit_indices(model, base, int(fm["ntotal"]), n_groups)
    idx |= rb.robust_fit_indices(
        model.chisq, model.df, model.scaling_factor, base.chisq, base.df,
        base.scaling_factor, int(fm["ntotal"]), n_groups,
    )  # fmt: skip
    for key, value in idx.items():
        assert abs(value - fm[key]) < 1e-6, (key, value, fm[key])


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", ["mlm1", "mlm2", "mlm2m"])
def test_robust_sem_standard_errors_match_lavaan(lav, name):
    case = Case(lav, name)
    weights, gammas = _mlm_pieces(case)
    vc = case.vcov(rb.vcov_robust_sem(case.deltas, weights, gammas, case.nobs))
    assert np.max(np.abs(np.sqrt(np.diag(vc)) - np.array(case.r["se"]))) < 1e-8


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", ["mlr1", "mlr2", "mlr2m", "fml1", "fml2", "fml2m"])
def test_yuan_bentler_scaling_matches_lavaan(lav, name):
    case = Case(lav, name)
    fm = case.fm
    model = _mlr_test(case)
    base = _mlr_baseline(case)
    assert abs(model.scaling_factor - fm["chisq.scaling.factor"]) < 1e-8
    assert abs(model.chisq_scaled - fm["chisq.scaled"]) < 1e-6
    assert abs(base.scaling_factor - fm["baseline.chisq.scaling.factor"]) < 1e-6
    idx = rb.scaled_fit_indices(model, base, int(fm["ntotal"]), len(case.nobs))
    for key, value in idx.items():
        assert abs(value - fm[key]) < 1e-6, (key, value, fm[key])
    if name.startswith("mlr"):  # complete data: robust indices from the scaling factors
        idx = rb.robust_fit_indices(
            model.chisq, model.df, model.scaling_factor, base.chisq, base.df,
            base.scaling_factor, int(fm["ntotal"]), len(case.nobs),
        )  # fmt: skip
        for key, value in idx.items():
            assert abs(value - fm[key]) < 1e-6, (key, value, fm[key])


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", ["mlr1", "mlr2", "mlr2m", "fml1", "fml2", "fml2m"])
def test_huber_white_standard_errors_match_lavaan(lav, name):
    case = Case(lav, name)
    vc = case.vcov(rb.vcov_huber_white(case.information, case.b0_groups(), case.nobs))
    assert np.max(np.abs(np.sqrt(np.diag(vc)) - np.array(case.r["se"]))) < 1e-8


def _fiml_corrected(case, version):
    implied = [case.implied(g, p) for g, p in enumerate(case.pats)]
    base = [case.base_implied(g, p) for g, p in enumerate(case.pats)]
    h1 = [case.h1(g) for g in range(len(case.pats))]
    return rb.fiml_corrected(
        case.pats, h1, implied, case.deltas, int(case.fm["df"]), base, version=version
    )


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", ["fml1", "fml2", "fml2m"])
def test_fiml_robust_indices_match_lavaan(lav, name):
    case = Case(lav, name)
    fm = case.fm
    fc = _fiml_corrected(case, "V3")
    idx = rb.robust_fit_indices(
        fc.xx3, fc.df3, fc.c_hat3, fc.xx3_null, fc.df3_null, fc.c_hat3_null,
        int(fm["ntotal"]), len(case.nobs),
    )  # fmt: skip
    for key, value in idx.items():
        assert abs(value - fm[key]) < 1e-6, (key, value, fm[key])


@requires_r
@pytest.mark.r
def test_fiml_robust_indices_for_plain_ml_match_lavaan(lav):
    case = Case(lav, "fml1")
    fm = lav[0]["fiml_ml"]["fm"]
    fc = _fiml_corrected(case, "V6")
    idx = rb.robust_fit_indices(
        fc.xx3, fc.df3, fc.c_hat3, fc.xx3_null, fc.df3_null, fc.c_hat3_null,
        int(fm["ntotal"]), 1,
    )  # fmt: skip
    for key in ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust",
                "rmsea.ci.upper.robust"):  # fmt: skip
        assert abs(idx[key] - fm[key]) < 1e-6, (key, idx[key], fm[key])


@requires_r
@pytest.mark.r
@pytest.mark.parametrize(
    ("key", "restricted", "free", "kind"),
    [
        ("lrt_mlm", "mlm2m", "mlm2", "mlm"),
        ("lrt_mlr", "mlr2m", "mlr2", "mlr"),
        ("lrt_fiml", "fml2m", "fml2", "mlr"),
    ],
)
def test_satorra_bentler_2001_difference_test_matches_lavtestlrt(lav, key, restricted, free, kind):
    tests = []
    for name in (restricted, free):
        case = Case(lav, name)
        tests.append(_mlm_test(case) if kind == "mlm" else _mlr_test(case))
    t0, t1 = tests
    out = rb.scaled_difference_test(
        t0.chisq, t0.df, t0.scaling_factor, t1.chisq, t1.df, t1.scaling_factor
    )
    ref = lav[0][key]
    assert out["df.diff"] == ref["df"]
    assert abs(out["chisq.diff"] - ref["chisq"]) < 1e-6
    assert abs(out["pvalue"] - ref["p"]) < 1e-6


def test_difference_test_refuses_models_that_are_not_nested_by_df():
    with pytest.raises(ValueError, match="more degrees of freedom"):
        rb.scaled_difference_test(10.0, 5, 1.0, 12.0, 5, 1.0)
    assert np.isnan(rb.scaled_difference_test(10.0, 6, 0.5, 9.0, 5, 2.0)["scaling.factor"])


def test_gamma_fiml_of_complete_data_with_expected_information_is_gamma_adf():
    rng = np.random.default_rng(4)
    x = rng.standard_t(6, size=(250, 3))
    pats = ms.missing_patterns(x)
    h1 = ms.em_saturated(pats)
    assert np.allclose(rb.gamma_fiml(pats, h1.mu, h1.sigma, "expected"), rb.gamma_adf(x))


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_estimator_recipes_reproduce_lavaan(lav, name):
    """mlm()/mlr() with RobustGroup and the closed-form baseline (baseline_groups)."""
    case = Case(lav, name)
    fm = case.fm
    groups = [
        rb.RobustGroup(
            pats,
            np.array(g["mu"]) if case.meanstructure else None,
            np.array(g["sigma"]),
            d,
        )
        for pats, g, d in zip(case.pats, case.groups, case.deltas, strict=True)
    ]
    base = rb.baseline_groups(case.pats, case.meanstructure)
    chisq, df = fm["chisq"], int(fm["df"])
    chisq_b, df_b = fm["baseline.chisq"], int(fm["baseline.df"])
    if name.startswith("mlm"):
        res = rb.mlm(groups, chisq, df)
        res_b = rb.mlm(base, chisq_b, df_b)
    else:
        res = rb.mlr(groups, case.information, chisq, df)
        res_b = rb.mlr(base, rb.baseline_information(base), chisq_b, df_b)
    assert abs(res.test.scaling_factor - fm["chisq.scaling.factor"]) < 1e-8
    assert abs(res_b.test.scaling_factor - fm["baseline.chisq.scaling.factor"]) < 1e-6
    se = np.sqrt(np.diag(case.vcov(res.vcov)))
    assert np.max(np.abs(se - np.array(case.r["se"]))) < 1e-8
    n, n_groups = int(fm["ntotal"]), len(case.nobs)
    idx = rb.scaled_fit_indices(res.test, res_b.test, n, n_groups)
    if name.startswith("fml"):
        fc = rb.fiml_corrected(
            case.pats,
            [gr.unrestricted() for gr in groups],
            [gr.implied() for gr in groups],
            case.deltas,
            df,
            [gr.implied() for gr in base],
        )
        args = (fc.xx3, fc.df3, fc.c_hat3, fc.xx3_null, fc.df3_null, fc.c_hat3_null)
    else:
        args = (chisq, df, res.test.scaling_factor, chisq_b, df_b, res_b.test.scaling_factor)
    idx |= rb.robust_fit_indices(*args, n, n_groups)
    for key, value in idx.items():
        assert abs(value - fm[key]) < 1e-6, (key, value, fm[key])


def test_fiml_corrected_reuses_data_terms_only_for_the_same_data():
    """The data-only terms of fiml_corrected are shared by the models fitted to the same
    rows and items (the CFA stage's four models): a model's robust indices are the same
    whether computed first, after another model of the same data, or after other data."""
    from policestress import sem

    one_factor = "g =~ " + " + ".join(ITEMS)
    data, other = hs_with_missing(), hs_with_missing(seed=7)
    keys = ["cfi.robust", "tli.robust", "rmsea.robust"]

    def robust(model, frame):
        return sem.cfa(model, frame, missing="ml").fit_measures()[keys].to_numpy()

    rb._H1_CACHE.clear()
    alone = robust(HS_MODEL, data)
    rb._H1_CACHE.clear()
    robust(one_factor, data)  # the same data: its terms are what HS_MODEL's fit reuses
    assert len(rb._H1_CACHE) == 1
    assert np.array_equal(robust(HS_MODEL, data), alone)
    assert len(rb._H1_CACHE) == 1  # reused, not added
    elsewhere = robust(HS_MODEL, other)
    assert len(rb._H1_CACHE) == 2 and not np.allclose(elsewhere, alone)
    assert np.array_equal(robust(HS_MODEL, data), alone)
