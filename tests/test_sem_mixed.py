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
from policestress.sem.ordinal import _objective

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
# lavaan's nlminb stops the DWLS fit early where the objective is flat (the loadings and
# variances of c6, sd 10, in the models with equality constraints): its estimates lie up to
# ~1.3e-5 (relative) from the minimum, which this module reaches (its objective is lower
# there: checked in the test)
RTOL_FLAT = 3e-5
# lavaan stops its polyserial and pairwise-Pearson optimiser (nlminb) up to ~2e-6
# (relative) from the root of the score, which this module solves to ~1e-13: the statistics
# and the NACOV can differ by that much
STAT_TOL = 5e-6


def simulated_mixed(n=600, seed=2018):
    """Two correlated factors; four ordinal items (2 to 5 categories) with known
    thresholds, three continuous ones on their own scales; group B's first factor is
    shifted up."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.5, "A", "B")
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    f[group == "B", 0] += 0.3
    cols = {}
    for x, lam in LOADINGS.items():
        factor = 0 if x in ("x1", "c2", "x3") else 1
        y = lam * f[:, factor] + np.sqrt(1 - lam**2) * rng.normal(size=n)
        if x in CUTS:
            cols[x] = np.digitize(y, CUTS[x]) + 1.0
        else:
            mean, sd = SCALES[x]
            cols[x] = mean + sd * y
    return pd.DataFrame(cols).assign(g=group)


@pytest.fixture(scope="module")
def data():
    return simulated_mixed()


@pytest.fixture(scope="module")
def data_missing(data):
    rng = np.random.default_rng(11)
    items = [*ORDERED, *CONTINUOUS]
    return data.assign(**{x: data[x].mask(rng.random(len(data)) < 0.04) for x in items})


R_CODE = """
suppressPackageStartupMessages(library(lavaan))
d <- data[["d"]]; dm <- data[["dm"]]
out <- function(fit) {
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  mi <- modindices(fit)
  for (nm in c("pe", "ss", "mi")) {
    x <- get(nm); if (is.null(x$group)) x$group <- 1L; assign(nm, x)
  }
  obs <- lavInspect(fit, "wls.obs"); gamma <- lavInspect(fit, "gamma")
  if (!is.list(obs)) { obs <- list(obs); gamma <- list(gamma) }
  obs <- unname(obs); gamma <- unname(gamma)
  list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se,
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss$group, est = ss$est.std),
       fm = as.list(fitMeasures(fit, MEASURES)),
       obs = lapply(obs, unname), obs_names = lapply(obs, names),
       gamma = lapply(gamma, function(x) unname(unclass(x))),
       mi = list(lhs = mi$lhs, op = mi$op, rhs = mi$rhs, group = mi$group, mi = mi$mi,
                 epc = mi$epc, sepc = mi$sepc.all))
}
mg <- function(...) cfa(MODEL, d, ordered = ORDERED, estimator = "WLSMV", group = "g", ...)
fits <- list(
  wlsmv = cfa(MODEL, d, ordered = ORDERED, estimator = "WLSMV"),
  ulsmv = cfa(MODEL, d, ordered = ORDERED, estimator = "ULSMV"),
  stdlv = cfa(MODEL, d, ordered = ORDERED, estimator = "WLSMV", std.lv = TRUE),
  pairwise = cfa(MODEL, dm, ordered = ORDERED, estimator = "WLSMV", missing = "pairwise"),
  one_ordinal = cfa("f =~ x1 + c2 + c4 + c6", d, ordered = "x1", estimator = "WLSMV"),
  structural = sem(paste(MODEL, "; f2 ~ f1"), d, ordered = ORDERED, estimator = "WLSMV"),
  configural = mg(),
  loadings_only = mg(group.equal = "loadings"),
  thresholds = mg(group.equal = "thresholds"),
  scalar = mg(group.equal = c("loadings", "intercepts")),
  strict = mg(group.equal = c("thresholds", "loadings", "intercepts", "residuals")),
  mg_pairwise = cfa(MODEL, dm, ordered = ORDERED, estimator = "WLSMV", group = "g",
                    group.equal = c("loadings", "thresholds"), missing = "pairwise")
)
result <- lapply(fits, out)
lrt <- lavTestLRT(fits$configural, fits$scalar)
result$lrt <- list(chisq = lrt[2, "Chisq diff"], df = lrt[2, "Df diff"])
"""

FITS = {
    "wlsmv": dict(estimator="WLSMV"),
    "ulsmv": dict(estimator="ULSMV"),
    "stdlv": dict(estimator="WLSMV", std_lv=True),
    "pairwise": dict(estimator="WLSMV", missing="pairwise"),
    "one_ordinal": dict(estimator="WLSMV"),
    "structural": dict(estimator="WLSMV"),  # sem(): f2 ~ f1
    "configural": dict(estimator="WLSMV", group="g"),
    "loadings_only": dict(estimator="WLSMV", group="g", group_equal=["loadings"]),
    "thresholds": dict(estimator="WLSMV", group="g", group_equal=["thresholds"]),
    # lavaan: "intercepts" implies "thresholds" with ordered items, and vice versa
    "scalar": dict(estimator="WLSMV", group="g", group_equal=["loadings", "intercepts"]),
    "strict": dict(
        estimator="WLSMV",
        group="g",
        group_equal=["thresholds", "loadings", "intercepts", "residuals"],
    ),
    "mg_pairwise": dict(
        estimator="WLSMV", group="g", group_equal=["loadings", "thresholds"], missing="pairwise"
    ),
}
MISSING = ("pairwise", "mg_pairwise")
KEYS = ["lhs", "op", "rhs", "group"]


def _model(key):
    if key == "one_ordinal":
        return "f =~ x1 + c2 + c4 + c6"
    return MODEL + "; f2 ~ f1" if key == "structural" else MODEL


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
        frame = data_missing if key in MISSING else data
        fitter = sem.sem if key == "structural" else sem.cfa
        out[key] = fitter(_model(key), frame, ordered=_ordered(key), **kw)
    return out


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", list(FITS))
def test_sample_statistics_and_nacov_match_lavaan(key, fits, r_ref):
    """Thresholds, minus means, variances, polychoric / polyserial correlations and
    covariances (lavaan's wls.obs, in its order and with its names) and the NACOV."""
    fit, ref = fits[key], r_ref[key]
    assert len(fit.group_stats) == len(ref["obs"])
    for g, st in enumerate(fit.group_stats):
        res = mixed_correlations(
            pd.DataFrame(fit.data[g], columns=fit.observed),
            ordered=_ordered(key),
            missing=fit.missing,
        )
        assert res.labels == ref["obs_names"][g]
        np.testing.assert_array_equal(res.statistics, st.obs)
        np.testing.assert_allclose(st.obs, ref["obs"][g], rtol=STAT_TOL, atol=STAT_TOL)
        gamma = np.array(ref["gamma"][g])
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
    lav = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "group", "est", "se")})
    lav["rhs"] = lav["rhs"].fillna("")
    ours = fit.parameter_estimates()
    merged = lav.merge(ours, on=KEYS, suffixes=("_r", ""))
    assert len(merged) == len(lav) == len(ours), "the same parameter rows as lavaan"
    rtol = RTOL if len(fit.n_by_group) == 1 else RTOL_FLAT
    np.testing.assert_allclose(merged["est"], merged["est_r"], rtol=rtol, atol=TOL)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=rtol, atol=TOL)
    # where the two differ, this module's estimates are the better minimum of the objective
    theta_r = fit.theta.copy()
    lav_est = lav[[*KEYS, "est"]].rename(columns={"est": "est_r"})
    free = fit.partable[[*KEYS, "free"]].merge(lav_est, on=KEYS, how="left")
    for f, est in zip(free["free"], free["est_r"], strict=True):
        if f > 0:
            theta_r[f - 1] = est
    at = [_objective(fit.rep, fit.group_stats, th, fit.ntotal) for th in (fit.theta, theta_r)]
    assert at[0] <= at[1] + 1e-15
    # thresholds of the ordered items, intercepts and residual variances of the continuous
    th = ours[ours["op"] == "|"]
    assert set(th["lhs"]) == set(_ordered(key))
    cont = [x for x in fit.observed if x not in _ordered(key)]
    for op in ("~1", "~~"):
        rows = ours[(ours["op"] == op) & ours["lhs"].isin(cont) & (ours["lhs"] == ours["rhs"])
                    if op == "~~" else (ours["op"] == op) & ours["lhs"].isin(cont)]  # fmt: skip
        assert len(rows) == len(cont) * len(fit.n_by_group) and (rows["se"] > 0).all(), op
    std = pd.DataFrame(ref["std"]).rename(columns={"est": "std_r"})
    std["rhs"] = std["rhs"].fillna("")
    both = std.merge(ours.assign(std=fit._std_values(fit.theta)), on=KEYS)
    assert len(both) == len(std)
    bad = both[~np.isclose(both["std"], both["std_r"], rtol=RTOL, atol=TOL)]
    assert bad.empty, bad[[*KEYS, "std", "std_r"]].to_string()
    fm = fit.fit_measures()
    for m in MEASURES:
        if ref["fm"][m] is None:  # lavaan reports no p-value for the unscaled ULS test
            assert key == "ulsmv" and m == "pvalue"
            continue
        assert fm[m] == pytest.approx(ref["fm"][m], rel=rtol, abs=TOL), m


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", ["wlsmv", "pairwise", "scalar"])
def test_modification_indices_match_lavaan(key, fits, r_ref):
    ref = pd.DataFrame(r_ref[key]["mi"])
    ours = fits[key].modindices()
    merged = ref.merge(ours, on=KEYS, suffixes=("_r", ""))
    assert len(merged) == len(ref) == len(ours)
    np.testing.assert_allclose(merged["mi"], merged["mi_r"], atol=1e-4)
    np.testing.assert_allclose(merged["epc"], merged["epc_r"], atol=1e-4)
    np.testing.assert_allclose(merged["sepc.all"], merged["sepc"], atol=1e-4)


def test_mixed_estimates_recover_the_simulation():
    """Large n: thresholds recover the cut points, the continuous items' intercepts their
    means, the polyserial correlations the latent ones."""
    big = simulated_mixed(n=16000, seed=5)
    big = big[big["g"] == "A"]
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
    res = mixed_correlations(big[[*ORDERED, *CONTINUOUS]], ordered=ORDERED)
    # x1 and c2 load on f1: latent correlation 0.7 * 0.6
    assert res.cor.loc["x1", "c2"] == pytest.approx(0.42, abs=0.04)


@requires_r
@pytest.mark.r
def test_satorra2000_difference_test_of_mixed_fits_matches_lavtestlrt(fits, r_ref):
    from policestress.sem.ordinal import satorra2000_difference_test

    res = satorra2000_difference_test(fits["scalar"], fits["configural"])
    assert res["df.diff"] == r_ref["lrt"]["df"]
    assert res["chisq.diff"] == pytest.approx(r_ref["lrt"]["chisq"], rel=1e-6, abs=1e-5)


def test_polyserial_agrees_with_the_standalone_polyserial(data):
    """Complete data: each polyserial correlation of mixed_correlations (bounded ML, then
    scoring to the score's root) equals polyserial()'s (its own Newton iterations)."""
    from policestress.polychoric import polyserial

    res = mixed_correlations(data[[*ORDERED, *CONTINUOUS]], ordered=ORDERED)
    serial = res.pairs[res.pairs["kind"] == "polyserial"]
    assert len(serial) == len(ORDERED) * len(CONTINUOUS)
    for a, b, rho in zip(serial["item1"], serial["item2"], serial["rho"], strict=True):
        cont, ordinal = (a, b) if a in CONTINUOUS else (b, a)
        assert rho == pytest.approx(polyserial(data, cont, ordinal).loc[0, "rho"], abs=1e-9)


def test_ordered_must_name_a_model_variable(data):
    with pytest.raises(ValueError, match="ordered= names none"):
        sem.cfa(MODEL, data, ordered=["nothere"], estimator="WLSMV")
