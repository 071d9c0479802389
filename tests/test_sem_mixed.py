"""WLSMV / ULSMV with continuous and ordered indicators together (``ordered=`` naming only
some items) against lavaan 0.6: the sample statistics (thresholds, means, variances,
polychoric / polyserial / Pearson correlations) and their NACOV, estimates, robust SEs,
the scaled-shifted test and fit measures, complete and pairwise-missing data.

Simulated data with known thresholds; one R script serves every test of the module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r

from policestress import sem
from policestress.polychoric import mixed_correlations

MODEL = "f1 =~ x1 + c2 + x3; f2 =~ c4 + x5 + c6 + x7"
ORDERED = ["x1", "x3", "x5", "x7"]
CONTINUOUS = ["c2", "c4", "c6"]
CUTS = {"x1": [-1.0, 0.0, 1.0], "x3": [-0.5, 0.7], "x5": [-1.2, -0.2, 0.6, 1.4], "x7": [0.3]}
LOADINGS = {"x1": 0.7, "c2": 0.6, "x3": 0.8, "c4": 0.7, "x5": 0.6, "c6": 0.5, "x7": 0.7}
# the continuous items' scales: mean and standard deviation (not standardized, as answers in
# minutes or scores are not)
SCALES = {"c2": (3.0, 1.5), "c4": (-1.0, 0.4), "c6": (50.0, 10.0)}
MEASURES = [
    "chisq", "df", "pvalue", "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor",
    "baseline.chisq", "baseline.df", "baseline.chisq.scaled",
    "cfi", "tli", "cfi.scaled", "tli.scaled", "rmsea", "rmsea.scaled", "srmr",
]  # fmt: skip
TOL = 1e-5
# relative too: the continuous items' (co)variances are in their units (c6's residual variance
# is about 65 and lavaan's optimiser stops ~3e-7 of it away from the optimum)
RTOL = 1e-6
# lavaan stops its polyserial and pairwise-Pearson optimiser (nlminb) up to ~1e-7 from the
# root of the score, where this module solves it to ~1e-14: the statistics can differ by
# that much, the NACOV (entries up to ~200 here) by ~1e-6 relative
STAT_TOL = 1e-6


def simulated_mixed(n=600, seed=2018):
    """Two correlated factors; four ordinal items (2 to 5 categories) with known
    thresholds, three continuous ones on their own scales."""
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    cols = {}
    for x, lam in LOADINGS.items():
        factor = 0 if x in ("x1", "c2", "x3") else 1
        y = lam * f[:, factor] + np.sqrt(1 - lam**2) * rng.normal(size=n)
        if x in CUTS:
            cols[x] = np.digitize(y, CUTS[x]) + 1.0
        else:
            mean, sd = SCALES[x]
            cols[x] = mean + sd * y
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def data():
    return simulated_mixed()


@pytest.fixture(scope="module")
def data_missing(data):
    rng = np.random.default_rng(11)
    return data.assign(**{x: data[x].mask(rng.random(len(data)) < 0.04) for x in data})


R_CODE = """
suppressPackageStartupMessages(library(lavaan))
d <- data[["d"]]; dm <- data[["dm"]]
out <- function(fit) {
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  mi <- modindices(fit)
  list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, est = ss$est.std),
       fm = as.list(fitMeasures(fit, MEASURES)),
       obs = unname(lavInspect(fit, "wls.obs")), obs_names = names(lavInspect(fit, "wls.obs")),
       gamma = unname(unclass(lavInspect(fit, "gamma"))),
       mi = list(lhs = mi$lhs, op = mi$op, rhs = mi$rhs, mi = mi$mi, epc = mi$epc,
                 sepc = mi$sepc.all))
}
fits <- list(
  wlsmv = cfa(MODEL, d, ordered = ORDERED, estimator = "WLSMV"),
  ulsmv = cfa(MODEL, d, ordered = ORDERED, estimator = "ULSMV"),
  stdlv = cfa(MODEL, d, ordered = ORDERED, estimator = "WLSMV", std.lv = TRUE),
  pairwise = cfa(MODEL, dm, ordered = ORDERED, estimator = "WLSMV", missing = "pairwise"),
  one_ordinal = cfa("f =~ x1 + c2 + c4 + c6", d, ordered = "x1", estimator = "WLSMV")
)
result <- lapply(fits, out)
"""

FITS = {
    "wlsmv": dict(estimator="WLSMV"),
    "ulsmv": dict(estimator="ULSMV"),
    "stdlv": dict(estimator="WLSMV", std_lv=True),
    "pairwise": dict(estimator="WLSMV", missing="pairwise"),
    "one_ordinal": dict(estimator="WLSMV"),
}


def _model(key):
    return "f =~ x1 + c2 + c4 + c6" if key == "one_ordinal" else MODEL


def _ordered(key):
    return ["x1"] if key == "one_ordinal" else ORDERED


@pytest.fixture(scope="module")
def r_ref(data, data_missing):
    measures = ", ".join(f'"{m}"' for m in MEASURES)
    ordered = ", ".join(f'"{x}"' for x in ORDERED)
    code = f"MEASURES <- c({measures})\nORDERED <- c({ordered})\nMODEL <- '{MODEL}'\n" + R_CODE
    return run_r(code, {"d": data, "dm": data_missing})


@pytest.fixture(scope="module")
def fits(data, data_missing):
    out = {}
    for key, kw in FITS.items():
        frame = data_missing if key == "pairwise" else data
        out[key] = sem.cfa(_model(key), frame, ordered=_ordered(key), **kw)
    return out


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", list(FITS))
def test_sample_statistics_and_nacov_match_lavaan(key, fits, r_ref):
    """Thresholds, minus means, variances, polychoric / polyserial correlations and
    covariances (lavaan's wls.obs, in its order and with its names) and the NACOV."""
    fit, ref = fits[key], r_ref[key]
    st = fit.group_stats[0]
    frame = fit.data[0]
    res = mixed_correlations(
        pd.DataFrame(frame, columns=fit.observed), ordered=_ordered(key), missing=fit.missing
    )
    assert res.labels == ref["obs_names"]
    np.testing.assert_allclose(st.obs, ref["obs"], rtol=0, atol=STAT_TOL)
    gamma = np.array(ref["gamma"])
    assert gamma.shape == st.gamma.shape
    np.testing.assert_allclose(st.gamma, gamma, rtol=STAT_TOL, atol=STAT_TOL)
    kinds = set(res.pairs["kind"])
    assert "polyserial" in kinds and "pearson" in kinds


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", list(FITS))
def test_estimates_ses_and_fit_measures_match_lavaan(key, fits, r_ref):
    fit, ref = fits[key], r_ref[key]
    assert fit.converged, fit.warnings
    lav = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "est", "se")})
    lav["rhs"] = lav["rhs"].fillna("")
    ours = fit.parameter_estimates()
    merged = lav.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(merged) == len(lav) == len(ours), "the same parameter rows as lavaan"
    np.testing.assert_allclose(merged["est"], merged["est_r"], rtol=RTOL, atol=TOL)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=RTOL, atol=TOL)
    # thresholds of the ordered items, intercepts and residual variances of the continuous
    th = ours[ours["op"] == "|"]
    assert set(th["lhs"]) == set(_ordered(key))
    cont = [x for x in fit.observed if x not in _ordered(key)]
    for op in ("~1", "~~"):
        rows = ours[(ours["op"] == op) & ours["lhs"].isin(cont) & (ours["lhs"] == ours["rhs"])
                    if op == "~~" else (ours["op"] == op) & ours["lhs"].isin(cont)]  # fmt: skip
        assert len(rows) == len(cont) and (rows["se"] > 0).all(), op
    std = pd.DataFrame(ref["std"]).rename(columns={"est": "std_r"})
    std["rhs"] = std["rhs"].fillna("")
    both = std.merge(ours.assign(std=fit._std_values(fit.theta)), on=["lhs", "op", "rhs"])
    assert len(both) == len(std)
    np.testing.assert_allclose(both["std"], both["std_r"], rtol=RTOL, atol=TOL)
    fm = fit.fit_measures()
    for m in MEASURES:
        if ref["fm"][m] is None:  # lavaan reports no p-value for the unscaled ULS test
            assert key == "ulsmv" and m == "pvalue"
            continue
        assert fm[m] == pytest.approx(ref["fm"][m], rel=1e-6, abs=TOL), m


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", ["wlsmv", "pairwise"])
def test_modification_indices_match_lavaan(key, fits, r_ref):
    ref = pd.DataFrame(r_ref[key]["mi"])
    ours = fits[key].modindices()
    merged = ref.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(merged) == len(ref) == len(ours)
    np.testing.assert_allclose(merged["mi"], merged["mi_r"], atol=1e-4)
    np.testing.assert_allclose(merged["epc"], merged["epc_r"], atol=1e-4)
    np.testing.assert_allclose(merged["sepc.all"], merged["sepc"], atol=1e-4)


def test_mixed_estimates_recover_the_simulation():
    """Large n: thresholds recover the cut points, the continuous items' intercepts their
    means, the polyserial correlations the latent ones."""
    big = simulated_mixed(n=8000, seed=5)
    fit = sem.cfa(MODEL, big, ordered=ORDERED, estimator="WLSMV", std_lv=True)
    pe = fit.parameter_estimates()
    for x, cuts in CUTS.items():
        th = pe[(pe["op"] == "|") & (pe["lhs"] == x)]["est"]
        np.testing.assert_allclose(th, cuts, atol=0.06)
    for x, (mean, sd) in SCALES.items():
        est = pe[(pe["op"] == "~1") & (pe["lhs"] == x)]["est"].iloc[0]
        assert est == pytest.approx(mean, abs=0.05 * sd)
        load = pe[(pe["op"] == "=~") & (pe["rhs"] == x)]["est"].iloc[0]
        assert load == pytest.approx(LOADINGS[x] * sd, abs=0.06 * sd)
    res = mixed_correlations(big, ordered=ORDERED)
    # x1 and c2 load on f1: latent correlation 0.7 * 0.6
    assert res.cor.loc["x1", "c2"] == pytest.approx(0.42, abs=0.04)


def test_multigroup_with_continuous_indicators_is_refused(data):
    grouped = data.assign(g=np.where(np.arange(len(data)) % 2 == 0, "A", "B"))
    with pytest.raises(NotImplementedError, match="multi-group models with continuous"):
        sem.cfa(MODEL, grouped, ordered=ORDERED, estimator="WLSMV", group="g")


def test_ordered_must_name_a_model_variable(data):
    with pytest.raises(ValueError, match="ordered= names none"):
        sem.cfa(MODEL, data, ordered=["nothere"], estimator="WLSMV")
