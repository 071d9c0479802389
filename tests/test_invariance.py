"""Multi-group CFA and measurement invariance (policestress.invariance).

Reference values: GUIDE.md section 5 (Holzinger-Swineford by school) and lavaan 0.6 run
through tests/rcheck.py on the same data and settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from semopy.examples import holzinger39

from policestress.invariance import (
    domain_score_model,
    fit_invariance,
    fit_invariance_models,
    fit_multigroup_cfa,
    invariance_table,
    latent_mean_differences,
    parse_model,
    select_groups,
)
from policestress.sem.tables import FIT_COLUMNS

HS_MODEL = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
HS_GROUPS = ["Pasteur", "Grant-White"]  # lavaan's order (first appearance)
STEP_EQUAL = {
    "configural": "",
    "metric": "'loadings'",
    "scalar": "c('loadings', 'intercepts')",
    "strict": "c('loadings', 'intercepts', 'residuals')",
    "strict+means": "c('loadings', 'intercepts', 'residuals', 'means')",
    "scalar+means": "c('loadings', 'intercepts', 'means')",
}


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return holzinger39.get_data()


def lavaan_fits(
    data: pd.DataFrame,
    model: str,
    group: str,
    labels: list,
    steps: dict,
    partial: list | None = None,
) -> dict:
    """lavaan's fitMeasures, parameterEstimates and std.all for each step."""
    label_r = "c(" + ", ".join(f"'{g}'" for g in labels) + ")"
    partial_r = "c(" + ", ".join(f"'{p}'" for p in partial or []) + ")" if partial else "''"
    fits = []
    for step, equal in steps.items():
        fits.append(
            f"""
            f <- cfa(model, data = d, group = "{group}", group.label = {label_r},
                     group.equal = {equal or "''"}, group.partial = {partial_r})
            pe <- parameterEstimates(f)
            pe$std.all <- standardizedSolution(f)$est.std
            result[["{step}"]] <- list(fit = as.list(fitMeasures(f)),
                                        est = pe[, c("lhs", "op", "rhs", "group", "est", "se",
                                                     "z", "pvalue", "std.all")])"""
        )
    code = (
        "suppressPackageStartupMessages(library(lavaan))\n"
        f"model <- '{model}'\nd <- data$d\nresult <- list()\n" + "\n".join(fits)
    )
    return run_r(code, {"d": data})


def compare_estimates(fit, ours_groups: list, r_est: dict, tol: float = 1e-4) -> None:
    """Estimates, SEs, z and std.all agree with lavaan's within ``tol``.

    lavaan stops its optimiser (nlminb, rel.tol 1e-10 on the discrepancy) when estimates are
    settled to about 1e-5 (a tighter rel.tol makes nlminb report non-convergence); ours are
    iterated until the scoring step is below 1e-10, hence the tolerance of 1e-4, not 1e-6.
    """
    r = pd.DataFrame(r_est)
    r = r[r["op"].isin(["=~", "~~", "~1"])].copy()
    r["group"] = [ours_groups[int(g) - 1] for g in r["group"]]
    merged = fit.estimates.merge(r, on=["group", "lhs", "op", "rhs"], suffixes=("", "_r"))
    assert len(merged) == len(fit.estimates) == len(r)
    np.testing.assert_allclose(merged["est"], merged["est_r"], atol=tol)
    free = merged[merged["free"]]
    np.testing.assert_allclose(free["se"], free["se_r"], atol=tol)
    np.testing.assert_allclose(merged["std_all"], merged["std.all"], atol=tol)
    np.testing.assert_allclose(free["z"], free["z_r"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(free["p"], free["pvalue"], atol=tol)


# ----------------------------------------------------------------------------- reference numbers


def test_holzinger_swineford_published_chi_square(hs):
    table = fit_invariance(hs, HS_MODEL, "school", groups=HS_GROUPS)
    assert table["step"].tolist() == ["configural", "metric", "scalar"]
    np.testing.assert_allclose(table["chi2"], [115.85, 124.04, 164.10], atol=0.005)
    assert table["df"].tolist() == [48, 54, 60]
    # the comparison columns are differences of the step rows
    assert table.loc[1, "delta_chi2"] == pytest.approx(124.04 - 115.85, abs=0.01)
    assert table.loc[2, "delta_df"] == 6
    assert np.isnan(table.loc[0, "delta_chi2"])
    assert table.loc[1, "chen_delta_cfi_min"] == -0.010
    assert table.loc[2, "chen_delta_rmsea_max"] == 0.015


def test_group_order_does_not_change_fit(hs):
    a = fit_multigroup_cfa(hs, HS_MODEL, "school", ["loadings"], groups=HS_GROUPS)
    b = fit_multigroup_cfa(hs, HS_MODEL, "school", ["loadings"])  # sorted: Grant-White first
    assert b.groups == ["Grant-White", "Pasteur"]
    assert a.fit_measures["chi2"] == pytest.approx(b.fit_measures["chi2"], rel=1e-9)


# ----------------------------------------------------------------------------- lavaan cross-checks


@requires_r
@pytest.mark.r
def test_holzinger_swineford_against_lavaan(hs):
    # "means" follows "strict" here: it adds equal latent means to the strict constraints
    steps = {k: STEP_EQUAL[k] for k in ("configural", "metric", "scalar", "strict")}
    steps["means"] = STEP_EQUAL["strict+means"]
    r = lavaan_fits(
        hs[["school", *[f"x{i}" for i in range(1, 10)]]], HS_MODEL, "school", HS_GROUPS, steps
    )
    fits = fit_invariance_models(hs, HS_MODEL, "school", steps=tuple(steps), groups=HS_GROUPS)
    for step, fit in fits.items():
        assert fit.fit_measures["converged"]
        for ours, theirs in FIT_COLUMNS.items():
            assert float(fit.fit_measures[ours]) == pytest.approx(
                r[step]["fit"][theirs], rel=1e-6, abs=1e-6
            ), (step, ours)
        # our optimum is at least as good as lavaan's
        assert fit.fit_measures["chi2"] <= r[step]["fit"]["chisq"] + 1e-9
        compare_estimates(fit, HS_GROUPS, r[step]["est"])
    # latent mean differences of the scalar model: lavaan's group-2 latent means
    lm = latent_mean_differences(fits["scalar"])
    est = pd.DataFrame(r["scalar"]["est"])
    lav = est[
        (est["op"] == "~1") & est["lhs"].isin(["visual", "textual", "speed"]) & (est["group"] == 2)
    ].set_index("lhs")
    np.testing.assert_allclose(lm["diff"], lav.loc[lm["factor"], "est"], atol=1e-4)
    np.testing.assert_allclose(lm["se"], lav.loc[lm["factor"], "se"], atol=1e-4)
    np.testing.assert_allclose(lm["p"], lav.loc[lm["factor"], "pvalue"], atol=1e-4)
    assert (lm["group"] == "Grant-White").all() and (lm["reference"] == "Pasteur").all()


@requires_r
@pytest.mark.r
def test_partial_invariance_against_lavaan(hs):
    partial = ["x3~1", "visual=~x2"]
    steps = {"configural": "", "metric": STEP_EQUAL["metric"], "scalar": STEP_EQUAL["scalar"]}
    r = lavaan_fits(
        hs[["school", *[f"x{i}" for i in range(1, 10)]]],
        HS_MODEL,
        "school",
        HS_GROUPS,
        steps,
        partial=partial,
    )
    fits = fit_invariance_models(
        hs,
        HS_MODEL,
        "school",
        steps=tuple(steps),
        partial=["x3 ~ 1", "visual =~ x2"],
        groups=HS_GROUPS,
    )
    for step, fit in fits.items():
        for ours in ("chi2", "df", "cfi", "tli", "rmsea", "srmr"):
            assert float(fit.fit_measures[ours]) == pytest.approx(
                r[step]["fit"][FIT_COLUMNS[ours]], rel=1e-6, abs=1e-6
            ), (step, ours)
        compare_estimates(fit, HS_GROUPS, r[step]["est"])
    # the freed parameters differ between groups, the constrained ones do not
    e = fits["scalar"].estimates.set_index(["group", "lhs", "op", "rhs"])["est"]
    assert e[("Pasteur", "visual", "=~", "x2")] != pytest.approx(
        e[("Grant-White", "visual", "=~", "x2")]
    )
    assert e[("Pasteur", "x3", "~1", "")] != pytest.approx(e[("Grant-White", "x3", "~1", "")])
    assert e[("Pasteur", "x4", "~1", "")] == pytest.approx(e[("Grant-White", "x4", "~1", "")])
    assert fits["scalar"].fit_measures["df"] == 58
    table = invariance_table(fits)
    # each step names only the freed parameters whose constraint it lifts
    assert table["partial"].tolist() == ["", "visual=~x2", "visual=~x2, x3~1"]


def three_group_data(seed: int = 11, n: int = 160) -> pd.DataFrame:
    """Two correlated factors, three groups differing in latent means and one intercept."""
    rng = np.random.default_rng(seed)
    lam = np.array([[1, 0], [0.8, 0], [1.2, 0], [0.9, 0], [0, 1], [0, 0.7], [0, 1.1], [0, 0.9]])
    frames = []
    for g, (shift, bias) in enumerate([((0, 0), 0.0), ((0.3, -0.2), 0.0), ((-0.2, 0.4), 0.5)]):
        eta = rng.multivariate_normal(shift, [[1, 0.4], [0.4, 0.8]], size=n + 20 * g)
        x = eta @ lam.T + rng.normal(0, 0.6, size=(n + 20 * g, 8)) + 3
        x[:, 6] += bias
        frame = pd.DataFrame(x, columns=[f"y{i}" for i in range(1, 9)])
        frame["grp"] = g + 1
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    data.loc[[3, 200, 400], "y2"] = np.nan  # complete cases are used
    return data


@requires_r
@pytest.mark.r
def test_three_groups_residual_covariance_against_lavaan():
    data = three_group_data()
    model = "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8\ny1 ~~ y5"
    # "means" follows "scalar" here: equal loadings, intercepts and latent means
    steps = {k: STEP_EQUAL[k] for k in ("configural", "metric", "scalar")}
    steps["means"] = STEP_EQUAL["scalar+means"]
    r = lavaan_fits(data, model, "grp", [1, 2, 3], steps)
    fits = fit_invariance_models(data, model, "grp", steps=tuple(steps), progress=False)
    assert int(fits["configural"].fit_measures["n"]) == len(data) - 3
    for step, fit in fits.items():
        for ours, theirs in FIT_COLUMNS.items():
            assert float(fit.fit_measures[ours]) == pytest.approx(
                r[step]["fit"][theirs], rel=1e-6, abs=1e-6
            ), (step, ours)
        compare_estimates(fit, [1, 2, 3], r[step]["est"])
    lm = latent_mean_differences(fits["scalar"])
    assert lm[["factor", "group"]].values.tolist() == [["f1", 2], ["f1", 3], ["f2", 2], ["f2", 3]]
    table = invariance_table(fits)
    # RMSEA carries lavaan's sqrt(G) factor: check it against the formula with G = 3
    row = table.iloc[1]
    assert row["rmsea"] == pytest.approx(
        np.sqrt(max(row["chi2"] / row["n"] / row["df"] - 1 / row["n"], 0)) * np.sqrt(3)
    )


# ----------------------------------------------------------------------------- unit tests


def test_parse_model_forms_agree():
    a = parse_model("f1 =~ a + b + c  # comment\nf2 =~ d + e\n f2 =~ g; a ~~ d")
    assert a.indicators == {"f1": ["a", "b", "c"], "f2": ["d", "e", "g"]}
    assert a.residual_covariances == [("a", "d")]
    b = parse_model({"f1": ["a", "b", "c"], "f2": ["d", "e", "g"]})
    assert b.observed == a.observed == ["a", "b", "c", "d", "e", "g"]
    assert "f1 =~ a + b + c" in a.to_lavaan()


@pytest.mark.parametrize(
    "bad",
    ["f =~ a", "f =~ a + 2*b + c", "y ~ f", "f =~ a + b; a ~~ z", "f =~ a + b; a ~~ a", ""],
)
def test_parse_model_refuses_what_it_cannot_fit(bad):
    with pytest.raises(ValueError):
        parse_model(bad)


def test_bad_options_raise(hs):
    with pytest.raises(ValueError, match="group_partial"):
        fit_multigroup_cfa(hs, HS_MODEL, "school", ["loadings"], group_partial=["visual=~x9"])
    with pytest.raises(ValueError, match="unknown group_equal"):
        fit_multigroup_cfa(hs, HS_MODEL, "school", ["slopes"])
    with pytest.raises(ValueError, match="means"):
        fit_invariance_models(hs, HS_MODEL, "school", steps=("configural", "means"))
    with pytest.raises(ValueError, match="latent means are fixed"):
        latent_mean_differences(fit_multigroup_cfa(hs, HS_MODEL, "school", ["loadings"]))
    with pytest.raises(KeyError):
        fit_multigroup_cfa(hs, HS_MODEL, "no_such_column")


def test_equal_parameters_are_equal_and_identification(hs):
    fit = fit_multigroup_cfa(hs, HS_MODEL, "school", ["loadings", "intercepts"], groups=HS_GROUPS)
    e = fit.estimates
    loads = e[e["op"] == "=~"].pivot(index=["lhs", "rhs"], columns="group", values="est")
    np.testing.assert_allclose(loads["Pasteur"], loads["Grant-White"])
    markers = e[(e["op"] == "=~") & ~e["free"]]
    assert set(markers["rhs"]) == {"x1", "x4", "x7"} and (markers["est"] == 1).all()
    means = e[(e["op"] == "~1") & e["lhs"].isin(["visual", "textual", "speed"])]
    assert (means.loc[means["group"] == "Pasteur", "est"] == 0).all()
    assert means.loc[means["group"] == "Grant-White", "free"].all()
    resid = e[(e["op"] == "~~") & (e["lhs"] == e["rhs"]) & e["lhs"].str.startswith("x")]
    assert not resid["equal"].any()


def test_recovers_known_latent_mean_differences():
    # large groups: the estimates approach the generating shifts (0.3, -0.2) and (-0.2, 0.4)
    data = three_group_data(seed=3, n=4000)
    fits = fit_invariance_models(
        data,
        {"f1": ["y1", "y2", "y3", "y4"], "f2": ["y5", "y6", "y7", "y8"]},
        "grp",
        steps=("configural", "metric", "scalar"),
        partial=["y7~1"],
    )
    lm = latent_mean_differences(fits["scalar"]).set_index(["factor", "group"])["diff"]
    np.testing.assert_allclose(
        lm.loc[[("f1", 2), ("f1", 3), ("f2", 2), ("f2", 3)]], [0.3, -0.2, -0.2, 0.4], atol=0.06
    )
    table = invariance_table(fits)
    assert table["delta_p"].iloc[1] > 0.001  # loadings really are equal in the population


def test_select_groups_drops_and_merges():
    data = pd.DataFrame({"g": [1] * 130 + [2] * 40 + [3] * 70 + [4] * 110, "x": 1.0})
    data.loc[0, "x"] = np.nan
    kept, info = select_groups(data, "g", ["x"], min_size=100)
    assert info["n"].tolist() == [129, 40, 70, 110]
    assert info["used"].tolist() == [True, False, False, True]
    assert set(kept["g"]) == {1, 4} and len(kept) == 239
    kept, info = select_groups(data, "g", ["x"], min_size=100, recode={2: 3})
    assert info["group"].tolist() == [1, 3, 4] and info["used"].all()
    assert len(kept) == 349


def test_heywood_case_is_reported():
    # one-factor correlations r12 = .3, r13 = r23 = .6 imply a loading of x3 above 1 and a
    # negative residual variance; lavaan (unbounded) and this estimator both return it.
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.3, 0.6], [0.3, 1.0, 0.6], [0.6, 0.6, 1.0]])
    x = rng.multivariate_normal(np.zeros(3), cov, size=2000)
    data = pd.DataFrame(x, columns=["a", "b", "c"]).assign(g=np.repeat([1, 2], 1000))
    with pytest.warns(UserWarning, match="Heywood"):
        fit = fit_multigroup_cfa(data, "f =~ a + b + c", "g")
    e = fit.estimates
    assert (e.loc[(e["lhs"] == "c") & (e["op"] == "~~"), "est"] < 0).all()


def test_domain_score_model_and_plot():
    from policestress.plots.invariance import plot_latent_means

    model = domain_score_model({"occ": ["workload", "complaints"], "solo": ["health"]})
    assert model == {"occ": ["score_workload", "score_complaints"]}
    data = three_group_data()
    fits = fit_invariance_models(data, "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8", "grp")
    assert fits["scalar"].fit_measures["converged"]
    lm = latent_mean_differences(fits["scalar"])
    fig = plot_latent_means(
        lm, factor_labels={"f1": "Factor one"}, group_labels={"grp": {2: "two", 3: "three"}}
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Factor one", "f2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "two (n = 179)",
        "three (n = 199)",
    ]
    # the error bars span the confidence intervals
    segments = ax.collections[0].get_segments()
    np.testing.assert_allclose(segments[0][:, 0], lm.loc[0, ["ci_low", "ci_high"]].astype(float))


@requires_r
@pytest.mark.r
def test_default_site_against_lavaan(default_site_analysis):
    """The stage's default model on the default site's data, by shift work (two groups)."""
    from policestress.config import load_site

    cfg = load_site("y-subbureau-sim")
    model = domain_score_model(cfg.codebook.domains("stress_sources"))
    variables = parse_model(model).observed
    data = default_site_analysis[["shift_work", *variables]].dropna()
    steps = {k: STEP_EQUAL[k] for k in ("configural", "metric", "scalar", "strict")}
    r = lavaan_fits(data, parse_model(model).to_lavaan(), "shift_work", [1, 2], steps)
    fits = fit_invariance_models(data, model, "shift_work", steps=tuple(steps))
    for step, fit in fits.items():
        for ours, theirs in FIT_COLUMNS.items():
            assert float(fit.fit_measures[ours]) == pytest.approx(
                r[step]["fit"][theirs], rel=1e-6, abs=1e-6
            ), (step, ours)
        compare_estimates(fit, [1, 2], r[step]["est"])


@requires_r
@pytest.mark.r
def test_other_equality_classes_against_lavaan():
    """lv.variances, lv.covariances, residual.covariances; 'means' with group_partial.

    lavaan's group.partial does not free a latent mean under "means" (the means are fixed at 0,
    not equal free parameters): "f2~1" has no effect there, in lavaan and here.
    """
    data = three_group_data(seed=8)
    model = "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8\ny1 ~~ y5"
    cases = {
        "lv": (["loadings", "lv.variances", "lv.covariances", "residual.covariances"], []),
        "means_partial": (["loadings", "intercepts", "means"], ["f2~1", "y7~1"]),
    }
    for name, (equal, partial) in cases.items():
        r = lavaan_fits(
            data,
            model,
            "grp",
            [1, 2, 3],
            {name: "c(" + ", ".join(f"'{e}'" for e in equal) + ")"},
            partial=partial,
        )
        fit = fit_multigroup_cfa(data, model, "grp", equal, group_partial=partial)
        for ours, theirs in FIT_COLUMNS.items():
            assert float(fit.fit_measures[ours]) == pytest.approx(
                r[name]["fit"][theirs], rel=1e-6, abs=1e-6
            ), (name, ours)
        compare_estimates(fit, [1, 2, 3], r[name]["est"])


@requires_r
@pytest.mark.r
def test_mlr_invariance_scaled_difference_against_lavaan(hs):
    """Invariance with MLR: the steps' robust statistics and the Satorra-Bentler (2001) scaled
    difference test of lavTestLRT."""
    fits = fit_invariance_models(
        hs, HS_MODEL, "school", steps=("configural", "metric"), groups=HS_GROUPS, estimator="MLR"
    )
    table = invariance_table(fits)
    r = run_r(
        f"""
        suppressPackageStartupMessages(library(lavaan))
        d <- data$d
        f0 <- cfa('{HS_MODEL}', d, group = "school", group.label = c("Pasteur", "Grant-White"),
                  estimator = "MLR")
        f1 <- cfa('{HS_MODEL}', d, group = "school", group.label = c("Pasteur", "Grant-White"),
                  estimator = "MLR", group.equal = "loadings")
        lrt <- lavTestLRT(f0, f1, method = "satorra.bentler.2001")
        keys <- c("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust")
        result <- list(f0 = as.list(fitMeasures(f0, keys)), f1 = as.list(fitMeasures(f1, keys)),
                       diff = lrt[["Chisq diff"]][2], p = lrt[["Pr(>Chisq)"]][2])
        """,
        {"d": hs},
    )
    for k, key in enumerate(["f0", "f1"]):
        row = table.iloc[k]
        assert row["estimator"] == "MLR"
        for ours, theirs in (("chi2_scaled", "chisq.scaled"), ("scaling_factor",
                             "chisq.scaling.factor"), ("cfi_robust", "cfi.robust"),
                             ("rmsea_robust", "rmsea.robust")):  # fmt: skip
            assert row[ours] == pytest.approx(r[key][theirs], abs=1e-3)
    assert table.loc[1, "delta_test"] == "satorra.bentler.2001"
    assert table.loc[1, "delta_chi2"] == pytest.approx(r["diff"], abs=1e-3)
    assert table.loc[1, "delta_p"] == pytest.approx(r["p"], abs=1e-4)


@requires_r
@pytest.mark.r
def test_ml_fiml_invariance_reports_lavaans_robust_indices(hs):
    """ML under FIML: the invariance rows carry lavaan 0.6's FIML-corrected robust CFI, TLI
    and RMSEA (fitMeasures reports them for ML too), and no scaled test."""
    data = hs.copy()
    items = [f"x{i}" for i in range(1, 10)]
    values = data[items].to_numpy(dtype=float)
    values[np.random.default_rng(14).random(values.shape) < 0.1] = np.nan
    data[items] = values
    fits = fit_invariance_models(
        data, HS_MODEL, "school", steps=("configural",), groups=HS_GROUPS, missing="ml"
    )
    row = invariance_table(fits).iloc[0]
    r = run_r(
        f"""
        suppressPackageStartupMessages(library(lavaan))
        f <- cfa('{HS_MODEL}', data$d, group = "school", missing = "ml",
                 group.label = c("Pasteur", "Grant-White"))
        result <- as.list(fitMeasures(f, c("cfi.robust", "tli.robust", "rmsea.robust")))
        """,
        {"d": data},
    )
    for ours, theirs in (("cfi_robust", "cfi.robust"), ("tli_robust", "tli.robust"),
                         ("rmsea_robust", "rmsea.robust")):  # fmt: skip
        assert row[ours] == pytest.approx(r[theirs], abs=1e-3), ours
    assert "chi2_scaled" not in row.index and "scaling_factor" not in row.index


def test_integer_group_codes_with_missing_values_stay_integers():
    """A band column with missing values reads back from CSV as floats: its groups are
    still 1 and 2 (invariance.csv printed "2.0")."""
    from policestress.invariance import select_groups

    d = pd.DataFrame({"g": [1.0] * 150 + [2.0] * 120 + [np.nan] * 5, "x": 1.0})
    kept, info = select_groups(d, "g", ["x"])
    assert info["group"].tolist() == [1, 2]
    assert kept["g"].dtype.kind == "i" and [str(g) for g in sorted(kept["g"].unique())] == [
        "1",
        "2",
    ]
