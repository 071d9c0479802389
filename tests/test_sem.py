"""The SEM engine (policestress.sem) through its lavaan-shaped API, against lavaan 0.6.

Every case is fitted by ``sem.cfa`` / ``sem.sem`` and by lavaan in one R session on the same
data and settings; fit measures, estimates and SEs must agree within 1e-4 (relative for large
numbers), standardized estimates too.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from semopy.examples import holzinger39

from policestress import sem
from policestress.sem.estimate import numerical_hessian
from policestress.sem.syntax import parse

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
GROUPS = ["Pasteur", "Grant-White"]

# name -> (function, model, python kwargs, lavaan arguments)
CASES = {
    "hs": ("cfa", HS, {}, ""),
    "free_marker": (
        "cfa",
        "visual =~ NA*x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
        "visual ~~ 1*visual",
        {},
        "",
    ),
    "fixed_half": ("cfa", HS.replace("x1 + x2", "x1 + 0.5*x2"), {}, ""),
    "fixed_negative": ("cfa", HS.replace("x2 + x3", "x2 + -1*x3"), {}, ""),
    "semicolons_start_lists_intercept": (
        "cfa",
        "visual =~ x1 + start(0.5)*x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9\n"
        "x1 + x2 ~~ x3\nx1 ~ 1",
        {},
        "",
    ),
    "std_lv_orthogonal": (
        "cfa",
        HS,
        {"std_lv": True, "orthogonal": True},
        ", std.lv = TRUE, orthogonal = TRUE",
    ),
    "labels_defined": (
        "sem",
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
        "textual ~ a*visual\nspeed ~ b*textual + c*visual\nind := a*b\ntotal := c + a*b",
        {},
        "",
    ),
    "equal_labels": (
        "cfa",
        "visual =~ x1 + v*x2 + v*x3\ntextual =~ x4 + t*x5 + t2*x6\nspeed =~ x7 + x8 + x9\nt == t2",
        {},
        "",
    ),
    "observed_regression": (
        "sem",
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx7 ~ textual + x8 + x9",
        {},
        "",
    ),
    "second_order": (
        "cfa",
        HS + "\ng =~ visual + textual + speed",
        {},
        "",
    ),
    "configural": ("cfa", HS, {"group": "school"}, ", group = 'school'"),
    "scalar_partial": (
        "cfa",
        HS,
        {"group": "school", "group_equal": ("loadings", "intercepts"), "group_partial": ("x3~1",)},
        ", group = 'school', group.equal = c('loadings', 'intercepts'), group.partial = 'x3~1'",
    ),
    "strict_means": (
        "cfa",
        HS,
        {
            "group": "school",
            "group_equal": (
                "loadings",
                "intercepts",
                "residuals",
                "means",
                "lv.variances",
                "lv.covariances",
            ),
        },
        ", group = 'school', group.equal = c('loadings', 'intercepts', 'residuals', 'means', "
        "'lv.variances', 'lv.covariances')",
    ),
}

# FIML on Holzinger-Swineford with 10% of the item cells deleted at random (seeded)
FIML_CASES = {
    "fiml": ("cfa", HS, {"missing": "ml"}, ", missing = 'ml'"),
    "fiml_sem_defined": (
        "sem",
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ a*visual\n"
        "x7 ~ b*textual\nab := a*b",
        {"missing": "ml"},
        ", missing = 'ml'",
    ),
    "fiml_scalar": (
        "cfa",
        HS,
        {"missing": "ml", "group": "school", "group_equal": ("loadings", "intercepts")},
        ", missing = 'ml', group = 'school', group.equal = c('loadings', 'intercepts')",
    ),
}
ROBUST_CASES = {
    "mlm": ("cfa", HS, {"estimator": "MLM"}, ", estimator = 'MLM'"),
    "mlr": ("cfa", HS, {"estimator": "MLR"}, ", estimator = 'MLR'"),
    "mlr_metric": (
        "cfa",
        HS,
        {"estimator": "MLR", "group": "school", "group_equal": ("loadings",)},
        ", estimator = 'MLR', group = 'school', group.equal = 'loadings'",
    ),
    "mlm_scalar": (
        "cfa",
        HS,
        {"estimator": "MLM", "group": "school", "group_equal": ("loadings", "intercepts")},
        ", estimator = 'MLM', group = 'school', group.equal = c('loadings', 'intercepts')",
    ),
}
FIML_CASES["mlr_fiml"] = (
    "cfa",
    HS,
    {"estimator": "MLR", "missing": "ml"},
    ", estimator = 'MLR', missing = 'ml'",
)
FIML_CASES["mlr_fiml_scalar"] = (
    "cfa",
    HS,
    {
        "estimator": "MLR",
        "missing": "ml",
        "group": "school",
        "group_equal": ("loadings", "intercepts"),
    },
    ", estimator = 'MLR', missing = 'ml', group = 'school', "
    "group.equal = c('loadings', 'intercepts')",
)
# general constraints (==, <, >, := used in them): lavaan's estimates, SEs, npar and df
LABELLED = "visual =~ x1 + a1*x2 + a2*x3\ntextual =~ x4 + b*x5 + x6\nspeed =~ x7 + x8 + x9\n"
CONSTRAINT_CASES = {
    "con_ratio": ("cfa", LABELLED + "a1 == 2*a2", {}, ""),
    "con_sum": ("cfa", LABELLED + "a1 + a2 == 1.4", {}, ""),
    "con_product": ("cfa", LABELLED + "a1*a2 == 0.5", {}, ""),
    "con_active_lower": ("cfa", LABELLED + "b > 1.3", {}, ""),
    "con_inactive_lower": ("cfa", LABELLED + "b > 0.3", {}, ""),
    "con_active_upper": ("cfa", LABELLED + "a2 < 0.6", {}, ""),
    "con_defined": ("cfa", LABELLED + "d := a1 - a2\nd == 0.1", {}, ""),
    "con_mixed": ("cfa", LABELLED + "a1 + a2 == 1.4\nb > 1.3\na2 < 0.9\nd := a1 - a2", {}, ""),
    "con_indirect": (
        "sem",
        HS + "\ntextual ~ a*visual\nspeed ~ b*textual + c*visual\nind := a*b\nind + c == 0.3",
        {},
        "",
    ),
    "con_groups": (
        "cfa",
        "visual =~ x1 + c(p1, p2)*x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
        "p1 - p2 == 0.2",
        {"group": "school"},
        ", group = 'school'",
    ),
    "con_mlr": (
        "cfa",
        LABELLED + "a1 + a2 == 1.4\nb > 1.3",
        {"estimator": "MLR"},
        ", estimator = 'MLR'",
    ),
    "con_mlm": ("cfa", LABELLED + "a1*a2 == 0.5", {"estimator": "MLM"}, ", estimator = 'MLM'"),
}
FIML_CASES["con_fiml_mlr"] = (
    "cfa",
    LABELLED + "a1 == 2*a2\nb < 1",
    {"estimator": "MLR", "missing": "ml"},
    ", estimator = 'MLR', missing = 'ml'",
)
# observed covariates, fixed.x as lavaan's sem(): the robust corrections condition on them
# (lavaan's fixed.x Gamma, zeroed x-blocks of the h1 information, the baseline keeps the
# covariates' block); under FIML the case missing grade is deleted, as lavaan does
COVARIATES = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ ageyr + grade"
ROBUST_CASES["mlm_fixed_x"] = ("sem", COVARIATES, {"estimator": "MLM"}, ", estimator = 'MLM'")
ROBUST_CASES["mlr_fixed_x"] = ("sem", COVARIATES, {"estimator": "MLR"}, ", estimator = 'MLR'")
ROBUST_CASES["mlr_fixed_x_groups"] = (
    "sem",
    COVARIATES,
    {"estimator": "MLR", "group": "school"},
    ", estimator = 'MLR', group = 'school'",
)
FIML_CASES["fiml_fixed_x"] = ("sem", COVARIATES, {"missing": "ml"}, ", missing = 'ml'")
FIML_CASES["mlr_fiml_fixed_x"] = (
    "sem",
    COVARIATES,
    {"estimator": "MLR", "missing": "ml"},
    ", estimator = 'MLR', missing = 'ml'",
)
CASES.update(CONSTRAINT_CASES)
CASES.update(ROBUST_CASES)
CASES.update(FIML_CASES)
ROBUST_KEYS = [
    "chisq.scaled",
    "df.scaled",
    "pvalue.scaled",
    "chisq.scaling.factor",
    "baseline.chisq.scaled",
    "baseline.chisq.scaling.factor",
    "cfi.scaled",
    "tli.scaled",
    "rmsea.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.robust",
    "rmsea.ci.lower.robust",
    "rmsea.ci.upper.robust",
    "rmsea.pvalue.robust",
]

FIT_KEYS = [
    "npar",
    "ntotal",
    "chisq",
    "df",
    "pvalue",
    "baseline.chisq",
    "baseline.df",
    "cfi",
    "tli",
    "nfi",
    "rmsea",
    "rmsea.ci.lower",
    "rmsea.ci.upper",
    "rmsea.pvalue",
    "srmr",
    "gfi",
    "agfi",
    "logl",
    "unrestricted.logl",
    "aic",
    "bic",
    "bic2",
]

LAVAAN_R = """
suppressPackageStartupMessages(library(lavaan))
cases <- jsonlite::fromJSON(data[["cases"]]$json[1], simplifyVector = FALSE)
result <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- data[[cs$data]]
  d$school <- factor(d$school, levels = c("Pasteur", "Grant-White"))
  call <- sprintf("%s(cs$model, data = d%s)", cs$fun, cs$args)
  fit <- eval(parse(text = call))
  pe <- parameterEstimates(fit)
  if (is.null(pe$group)) pe$group <- 1L
  if (is.null(pe$label)) pe$label <- ""
  ss <- standardizedSolution(fit)
  if (is.null(ss$group)) ss$group <- 1L
  fm <- fitMeasures(fit)
  pe_all <- parameterEstimates(fit, remove.eq = FALSE, remove.ineq = FALSE)
  mi <- if (cs$fun == "cfa") modindices(fit) else NULL
  if (!is.null(mi) && is.null(mi$group)) mi$group <- 1L
  result[[name]] <- list(
    fm = as.list(fm),
    con = pe_all[pe_all$op %in% c("==", "<", ">"), c("lhs", "op", "rhs", "est", "se")],
    mi = if (is.null(mi)) NULL else mi[, c("lhs", "op", "rhs", "group", "mi", "epc", "sepc.all")],
    pe = pe[, c("lhs", "op", "rhs", "group", "label", "est", "se")],
    std = ss[, c("lhs", "op", "rhs", "group", "est.std", "se")]
  )
}
"""


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return holzinger39.get_data()


def hs_with_missing(data: pd.DataFrame, share: float = 0.10, seed: int = 2026) -> pd.DataFrame:
    """Holzinger-Swineford with ``share`` of the x1..x9 cells set missing at random (seeded)."""
    rng = np.random.default_rng(seed)
    items = [f"x{i}" for i in range(1, 10)]
    out = data.copy()
    values = out[items].to_numpy(dtype=float)
    values[rng.random(values.shape) < share] = np.nan
    out[items] = values
    return out


@pytest.fixture(scope="module")
def hsm(hs) -> pd.DataFrame:
    return hs_with_missing(hs)


@pytest.fixture(scope="module")
def lavaan_results(hs, hsm):
    payload = {
        name: {
            "fun": fun,
            "model": model,
            "args": args,
            "data": "hsm" if name in FIML_CASES else "hs",
        }
        for name, (fun, model, _, args) in CASES.items()
    }
    cases = pd.DataFrame({"json": [json.dumps(payload)]})
    return run_r(LAVAAN_R, {"hs": hs, "hsm": hsm, "cases": cases})


def _ours(hs, name):
    fun, model, kwargs, _ = CASES[name]
    if "group" in kwargs:
        kwargs = {**kwargs, "group_label": GROUPS}
    data = hs_with_missing(hs) if name in FIML_CASES else hs
    return getattr(sem, fun)(model, data, **kwargs)


def _key(frame: pd.DataFrame) -> pd.Series:
    return frame["lhs"] + frame["op"] + frame["rhs"] + "@" + frame["group"].astype(str)


def _close(ours, theirs, tol=1e-4):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    scale = np.maximum(1.0, np.abs(theirs))
    return np.all((np.abs(ours - theirs) <= tol * scale) | (np.isnan(ours) & np.isnan(theirs)))


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_against_lavaan(hs, lavaan_results, name):
    fit = _ours(hs, name)
    assert fit.converged, fit.warnings
    ref = lavaan_results[name]
    fm = fit.fit_measures()
    for key in FIT_KEYS:
        theirs = ref["fm"][key]
        theirs = np.nan if theirs is None else theirs
        assert _close(fm[key], theirs), (name, key, fm[key], theirs)
    # exactly the scaled and robust measures lavaan reports (none for ML on complete data,
    # the robust CFI/TLI/RMSEA for ML under FIML, all for MLM/MLR), within 1e-3
    reported = [k for k in ROBUST_KEYS if k in ref["fm"]]
    assert [k for k in ROBUST_KEYS if k in fm.index] == reported, name
    for key in reported:
        theirs = ref["fm"][key]
        theirs = np.nan if theirs is None else theirs
        assert _close(fm[key], theirs, tol=1e-3), (name, key, fm[key], theirs)
    ours = fit.parameter_estimates()
    ours = ours[ours["op"] != "=="]
    theirs = pd.DataFrame(ref["pe"])
    theirs = theirs[~theirs["op"].isin(["==", "<", ">"])]
    theirs.loc[theirs["op"] == ":=", "group"] = 0
    ours_k, theirs_k = ours.set_index(_key(ours)), theirs.set_index(_key(theirs))
    assert sorted(ours_k.index) == sorted(theirs_k.index)
    theirs_k = theirs_k.loc[ours_k.index]
    assert _close(ours_k["est"], theirs_k["est"]), name
    theirs_se = theirs_k["se"]
    if name.startswith("con_"):
        # a parameter held at an inequality bound has variance zero: lavaan's rounding
        # leaves it at 0 or slightly negative, printed NA
        theirs_se = theirs_se.where(~(theirs_se.isna() & (ours_k["se"] == 0)), 0.0)
    assert _close(ours_k["se"], theirs_se), name
    # the constraint rows as lavaan prints them with remove.eq / remove.ineq = FALSE
    rows = fit.parameter_estimates(remove_eq=False, remove_ineq=False)
    rows = rows[rows["op"].isin(["==", "<", ">"])]
    rcon = pd.DataFrame(ref["con"], columns=["lhs", "op", "rhs", "est", "se"])
    assert rows[["lhs", "op", "rhs"]].values.tolist() == rcon[["lhs", "op", "rhs"]].values.tolist()
    assert _close(rows["est"], rcon["est"]) and _close(rows["se"], rcon["se"]), name
    std = fit.standardized_solution()
    rstd = pd.DataFrame(ref["std"])
    rstd = rstd[rstd["op"] != ":="]
    std_k, rstd_k = std.set_index(_key(std)), rstd.set_index(_key(rstd))
    rstd_k = rstd_k.loc[std_k.index]
    assert _close(std_k["est.std"], rstd_k["est.std"]), name
    assert _close(std_k["se"], rstd_k["se"]), name


@requires_r
@pytest.mark.r
def test_satorra_bentler_columns_of_ml_fit_with_covariates(hs, lavaan_results):
    """The stage tables' Satorra-Bentler columns of an ML fit with fixed.x covariates are
    lavaan's MLM test of the same model (conditional on the covariates)."""
    from policestress.sem.tables import fit_row

    row = fit_row(sem.sem(COVARIATES, hs), satorra_bentler=True)
    ref = lavaan_results["mlm_fixed_x"]["fm"]
    assert row["chi2_sb"] == pytest.approx(ref["chisq.scaled"], rel=1e-3)
    assert row["sb_scaling"] == pytest.approx(ref["chisq.scaling.factor"], rel=1e-3)
    assert row["p_sb"] == pytest.approx(ref["pvalue.scaled"], abs=1e-3)


@requires_r
@pytest.mark.r
@pytest.mark.parametrize(
    "name",
    [
        "hs",
        "second_order",
        "configural",
        "mlr_metric",
        "scalar_partial",
        "con_sum",
        "fiml",
        "fiml_scalar",
        "mlr_fiml",
    ],
)
def test_modindices_against_lavaan(hs, lavaan_results, name):
    """The same candidate rows as lavaan's modindices (a multi-group model with equal
    loadings lists its fixed markers) with the same mi, epc and sepc.all; under FIML the
    score and the expected information are sums over the missing-data patterns, as lavaan's."""
    ours = _ours(hs, name).modindices()
    theirs = pd.DataFrame(lavaan_results[name]["mi"])
    ours_k, theirs_k = ours.set_index(_key(ours)), theirs.set_index(_key(theirs))
    assert sorted(ours_k.index) == sorted(theirs_k.index), name
    theirs_k = theirs_k.loc[ours_k.index]
    # mi within 1e-3: lavaan's own mi of two equivalent candidates of the second-order
    # model (x1~~x3, g=~x2) differ by 1e-4 (its optimiser stops earlier)
    for column, tol in (("mi", 1e-3), ("epc", 1e-4), ("sepc.all", 1e-4)):
        assert _close(ours_k[column], theirs_k[column], tol), (name, column)
    if name == "mlr_metric":
        marker = ours["lhs"] + ours["op"] + ours["rhs"]
        markers = ours[marker.isin(["visual=~x1", "textual=~x4", "speed=~x7"])]
        assert sorted(markers["group"].tolist()) == [1, 1, 1, 2, 2, 2]


def test_guide_reference_numbers(hs):
    """GUIDE.md section 5, through the new API."""
    fit = sem.cfa(HS, hs)
    fm = fit.fit_measures().round(3)
    assert fm[["chisq", "df", "cfi", "tli", "rmsea", "srmr", "gfi", "agfi", "nfi"]].tolist() == [
        85.306,
        24,
        0.931,
        0.896,
        0.092,
        0.065,
        0.943,
        0.894,
        0.907,
    ]
    assert fm[["logl", "aic", "bic"]].tolist() == [-3737.745, 7517.490, 7595.339]
    est = fit.parameter_estimates()
    x2 = est[(est["op"] == "=~") & (est["rhs"] == "x2")].iloc[0]
    assert [round(float(x2["est"]), 3), round(float(x2["se"]), 3)] == [0.554, 0.100]
    std = fit.standardized_solution()
    x9 = std[(std["op"] == "=~") & (std["rhs"] == "x9")].iloc[0]
    assert round(float(x9["est.std"]), 3) == 0.665


@pytest.mark.parametrize(
    ("model", "chisq", "df"),
    [
        (
            "visual =~ NA*x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
            "visual ~~ 1*visual",
            85.306,
            24,
        ),
        (HS.replace("x1 + x2", "x1 + 0.5*x2"), 85.556, 25),
        (HS.replace("x2 + x3", "x2 + -1*x3"), 170.032, 25),
    ],
)
def test_issue_syntax_forms(hs, model, chisq, df):
    fm = sem.cfa(model, hs).fit_measures()
    assert (round(fm["chisq"], 3), int(fm["df"])) == (chisq, df)


def test_parser_modifiers():
    m = parse("f =~ c(1, NA)*x1 + a*start(0.3)*x2 + label('b')*x3; x1 ~~ equal('a')*x2")
    t = m.terms
    assert t[0].fixed == [1.0, pytest.approx(np.nan, nan_ok=True)]
    assert (t[1].label, t[1].start) == (["a"], [0.3])
    assert t[2].label == ["b"]
    assert t[3].equal == ["a"]
    with pytest.raises(ValueError, match="unsupported lavaan operator '<~'"):
        parse("f <~ a + b")
    with pytest.raises(ValueError, match="cannot read term"):
        parse("f =~ a - b")


def test_analytic_gradient_matches_finite_differences(hs):
    """The engine's ML gradient (multi-group, mean structure, equalities, partial, a residual
    covariance) against central differences of its discrepancy; the scoring matrix is PD."""
    fit = sem.cfa(
        HS + "\nx1 ~~ x4",
        hs,
        group="school",
        group_equal=("loadings", "intercepts"),
        group_partial=("x3~1",),
        group_label=GROUPS,
    )
    obj = fit._objective()
    theta = fit.theta + np.random.default_rng(1).normal(0, 0.05, fit.npar)
    _, grad, hess = obj.value_gradient_information(theta)
    eye = np.eye(fit.npar) * 1e-6
    numeric = np.array([(obj.value(theta + e) - obj.value(theta - e)) / 2e-6 for e in eye])
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    assert np.allclose(hess, hess.T) and np.all(np.linalg.eigvalsh(hess) > 0)


def test_analytic_observed_information_is_the_hessian_lavaan_differences(hs):
    """FIML and MLR use the observed information: the engine's analytic one (moment-space
    Hessian per pattern plus the model's curvature) against central differences of the
    analytic gradient, lavaan's ``lav_model_hessian``; also the FIML gradient against
    differences of the FIML discrepancy. Two groups, a regression, a residual covariance."""
    model = HS + "\nspeed ~ visual + textual\nx1 ~~ x4"
    fiml = sem.sem(model, hs_with_missing(hs), missing="ml", group="school", group_label=GROUPS)
    mlr = sem.cfa(HS, hs, estimator="MLR")
    for fit in (fiml, mlr):
        obj = fit._objective()

        def gradient(t, obj=obj):
            return obj.value_gradient_information(t, information=False)[1]

        numeric = numerical_hessian(gradient, fit.theta) / 2.0
        np.testing.assert_allclose(fit.information(), numeric, atol=1e-7)
    obj = fiml._objective()
    theta = fiml.theta + np.random.default_rng(2).normal(0, 0.02, fiml.npar)
    eye = np.eye(fiml.npar) * 1e-6
    numeric = np.array([(obj.value(theta + e) - obj.value(theta - e)) / 2e-6 for e in eye])
    np.testing.assert_allclose(gradient(theta, obj), numeric, atol=1e-7)


@pytest.mark.parametrize("name", ["hs", "free_marker", "fixed_half", "second_order"])
def test_semopy_fed_from_the_parameter_table_gives_the_engines_estimates(hs, name):
    """Deliver 4: semopy (single-group ML, complete data) estimates the model described by the
    parameter table (never by semopy's own reading of the user's syntax) and reaches the
    engine's estimates, markers, freed markers and fixed loadings included."""
    from policestress.sem.fit import _start_values
    from policestress.sem.semopy_backend import fit_with_semopy

    fit = _ours(hs, name)
    start = _start_values(fit.rep, fit.partable, fit.moments, fit.partable.attrs["variables"])
    theta, ok, _ = fit_with_semopy(
        fit.partable, fit.observed, fit.data[0], fit.moments[0].cov, start
    )
    assert ok
    np.testing.assert_allclose(theta, fit.theta, atol=1e-5)
    # and through the API: semopy's solution polished by Fisher scoring is the engine's
    polished = sem.cfa(CASES[name][1], hs, backend="semopy")
    np.testing.assert_allclose(polished.theta, fit.theta, atol=1e-9)
