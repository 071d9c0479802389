"""WLSMV / ULSMV with ordered items (sem/ordinal.py) against lavaan 0.6: estimates, robust
SEs, thresholds, the scaled-shifted test and fit measures, single- and multi-group.

Simulated ordinal data with known thresholds; one R script serves every test of the module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r

from policestress import cfa, sem
from policestress.config import load_site
from policestress.stagework import cfa as stagework_cfa

MODEL = "f1 =~ x1 + x2 + x3; f2 =~ x4 + x5 + x6"
ITEMS = [f"x{k}" for k in range(1, 7)]
CUTS = {
    "x1": [-1.0, 0.0, 1.0],
    "x2": [-0.5, 0.3, 1.2],
    "x3": [-1.5, 0.0, 0.5],
    "x4": [-1.0, 0.0, 1.0],
    "x5": [-1.0, 0.0, 1.0],
    "x6": [-0.3, 0.6, 1.6],
}
LOADINGS = {"x1": 0.7, "x2": 0.6, "x3": 0.8, "x4": 0.7, "x5": 0.5, "x6": 0.6}
MEASURES = [
    "chisq", "df", "pvalue", "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor",
    "baseline.chisq", "baseline.chisq.scaled", "cfi", "tli", "cfi.scaled", "tli.scaled",
    "rmsea", "rmsea.scaled", "rmsea.ci.upper.scaled", "srmr",
]  # fmt: skip
# lavaan finds the RMSEA interval with uniroot() at its default tolerance (about 1.2e-4 in
# the noncentrality): its bounds sit up to ~5e-5 from the exact root
CI_TOL = 1e-4


def simulated_ordinal(n=500, seed=1818):
    """Simulated: two correlated factors, six 4-point items with known thresholds; group B's
    second factor is shifted (its items are endorsed more), 3% of answers missing."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.5, "A", "B")
    f = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    f[group == "B", 1] += 0.3
    cols = {}
    for x in ITEMS:
        factor = 0 if x in ("x1", "x2", "x3") else 1
        lam = LOADINGS[x]
        y = lam * f[:, factor] + np.sqrt(1 - lam**2) * rng.normal(size=n)
        cols[x] = np.digitize(y, CUTS[x]) + 1.0
    data = pd.DataFrame(cols)
    data["g"] = group
    return data


@pytest.fixture(scope="module")
def data():
    return simulated_ordinal()


@pytest.fixture(scope="module")
def data_missing(data):
    rng = np.random.default_rng(3)
    return data.assign(**{x: data[x].mask(rng.random(len(data)) < 0.03) for x in ITEMS})


R_CODE = """
suppressPackageStartupMessages({library(lavaan); library(psych)})
d <- data[["d"]]; dm <- data[["dm"]]
model <- "f1 =~ x1 + x2 + x3; f2 =~ x4 + x5 + x6"
items <- paste0("x", 1:6)
out <- function(fit) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op != "==", ]
  if (is.null(pe$group)) pe$group <- 1L
  ss <- standardizedSolution(fit)
  ss <- ss[ss$op != "==", ]
  if (is.null(ss$group)) ss$group <- 1L
  list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se,
       fm = as.list(fitMeasures(fit, MEASURES)),
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss$group, est = ss$est.std))
}
fits <- list(
  wlsmv = cfa(model, d, ordered = items, estimator = "WLSMV"),
  ulsmv = cfa(model, d, ordered = items, estimator = "ULSMV"),
  stdlv = cfa(model, d, ordered = items, estimator = "WLSMV", std.lv = TRUE),
  pairwise = cfa(model, dm, ordered = items, estimator = "WLSMV", missing = "pairwise"),
  configural = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g"),
  thresholds = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g",
                   group.equal = "thresholds"),
  metric = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g",
               group.equal = c("thresholds", "loadings")),
  scalar = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g",
               group.equal = c("thresholds", "loadings", "intercepts")),
  loadings_only = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g",
                      group.equal = "loadings"),
  loadings_intercepts = cfa(model, d, ordered = items, estimator = "WLSMV", group = "g",
                            group.equal = c("loadings", "intercepts"))
)
result <- lapply(fits, out)
mi_out <- function(fit) {
  mi <- modindices(fit)
  if (is.null(mi$group)) mi$group <- 1L
  list(lhs = mi$lhs, op = mi$op, rhs = mi$rhs, group = mi$group, mi = mi$mi, epc = mi$epc,
       sepc = mi$sepc.all)
}
# difference tests of nested WLSMV fits (lavaan's default: satorra.2000, scaled.shifted)
lrt <- function(m1, m0) {
  t <- lavTestLRT(m1, m0)
  list(chisq = t[2, "Chisq diff"], df = t[2, "Df diff"], p = t[2, "Pr(>Chisq)"])
}
result$lrt <- list(
  configural_thresholds = lrt(fits$configural, fits$thresholds),
  configural_loadings_only = lrt(fits$configural, fits$loadings_only),
  loadings_only_metric = lrt(fits$loadings_only, fits$metric),
  thresholds_metric = lrt(fits$thresholds, fits$metric)
)
result$mi_wlsmv <- mi_out(fits$wlsmv)
result$mi_metric <- mi_out(fits$metric)
# ordinal EFA: psych::fa and fa.parallel on polychoric correlations
efa_poly <- fa(d[, items], nfactors = 2, cor = "poly", fm = "minres", rotate = "oblimin")
result$fa_loadings <- unname(unclass(efa_poly$loadings))
result$fa_phi <- unname(efa_poly$Phi)
pa_poly <- fa.parallel(d[, items], cor = "poly", n.iter = 2, plot = FALSE)
result$pa_pc_values <- pa_poly$pc.values
# the default (simulated) site: the ERI model and the stress-source items' polychorics
site <- data[["site"]]
eri <- cfa(ERI_MODEL, site, ordered = TRUE, estimator = "WLSMV", missing = "pairwise")
result$site_eri <- out(eri)
result$site_domain <- out(cfa(DOMAIN_MODEL, site, ordered = TRUE, estimator = "WLSMV",
                              missing = "pairwise"))
stress <- site[, STRESS_ITEMS]
poly <- lavInspect(lavCor(stress, ordered = names(stress), missing = "pairwise",
                          output = "fit", se = "none"), "sampstat")
result$site_th <- unname(as.numeric(poly$th))
result$site_cor <- unname(unclass(poly$cov))
"""

FITS = {
    "wlsmv": dict(estimator="WLSMV"),
    "ulsmv": dict(estimator="ULSMV"),
    "stdlv": dict(estimator="WLSMV", std_lv=True),
    "pairwise": dict(estimator="WLSMV", missing="pairwise"),
    "configural": dict(estimator="WLSMV", group="g"),
    "thresholds": dict(estimator="WLSMV", group="g", group_equal=["thresholds"]),
    "metric": dict(estimator="WLSMV", group="g", group_equal=["thresholds", "loadings"]),
    "scalar": dict(
        estimator="WLSMV", group="g", group_equal=["thresholds", "loadings", "intercepts"]
    ),
    "loadings_only": dict(estimator="WLSMV", group="g", group_equal=["loadings"]),
    # lavaan: "intercepts" implies "thresholds" with ordered items (lav_options_set)
    "loadings_intercepts": dict(
        estimator="WLSMV", group="g", group_equal=["loadings", "intercepts"]
    ),
}


@pytest.fixture(scope="module")
def site_models():
    return stagework_cfa.site_models(load_site("y-subbureau-sim"))


def _stress_items(models):
    return sorted(set(cfa.parse_syntax(models["first_order"])["rhs"]))


def _domain_model(domain="organizational"):
    """One domain of the default site's stress sources: its constructs, each by its items
    (the full first-order model takes lavaan over a minute)."""
    book = load_site("y-subbureau-sim").codebook
    scales = book.factor_scales("stress_sources")
    constructs = book.domains("stress_sources")[domain]
    return "; ".join(f"{c} =~ {' + '.join(scales[c])}" for c in constructs)


@pytest.fixture(scope="module")
def r_ref(data, data_missing, default_site_analysis, site_models):
    measures = ", ".join(f'"{m}"' for m in MEASURES)
    stress = ", ".join(f'"{x}"' for x in _stress_items(site_models))
    code = (
        f"MEASURES <- c({measures})\nSTRESS_ITEMS <- c({stress})\n"
        f"ERI_MODEL <- '{site_models['eri']}'\nDOMAIN_MODEL <- '{_domain_model()}'\n" + R_CODE
    )
    return run_r(code, {"d": data, "dm": data_missing, "site": default_site_analysis})


@pytest.fixture(scope="module")
def fits(data, data_missing):
    out = {}
    for key, kw in FITS.items():
        frame = data_missing if key == "pairwise" else data
        out[key] = sem.cfa(MODEL, frame, ordered=ITEMS, **kw)
    return out


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", list(FITS))
def test_estimates_ses_and_fit_measures_match_lavaan(key, fits, r_ref):
    fit, ref = fits[key], r_ref[key]
    assert fit.converged, fit.warnings
    lav = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "group", "est", "se")})
    lav["rhs"] = lav["rhs"].fillna("")
    ours = fit.parameter_estimates()
    merged = lav.merge(ours, on=["lhs", "op", "rhs", "group"], suffixes=("_r", ""))
    assert len(merged) == len(lav) == len(ours), "the same parameter rows as lavaan"
    np.testing.assert_allclose(merged["est"], merged["est_r"], atol=1e-5)
    np.testing.assert_allclose(merged["se"], merged["se_r"], atol=1e-5)
    assert (ours["op"] == "|").sum() == 18 * len(fit.n_by_group)
    # std.all of loadings, thresholds, (derived) residual variances and scaling factors
    std = pd.DataFrame(ref["std"]).rename(columns={"est": "std_r"})
    std["rhs"] = std["rhs"].fillna("")
    ours_std = ours.assign(std=fit._std_values(fit.theta))
    both = std.merge(ours_std, on=["lhs", "op", "rhs", "group"])
    both = both[both["op"].isin(["=~", "|", "~~", "~*~"])]
    assert len(both) > 0
    np.testing.assert_allclose(both["std"], both["std_r"], atol=1e-5)
    fm = fit.fit_measures()
    for m in MEASURES:
        if ref["fm"][m] is None:  # lavaan reports no p-value for the unscaled ULS test
            assert key == "ulsmv" and m == "pvalue"
            continue
        tol = CI_TOL if ".ci." in m else 1e-5
        assert fm[m] == pytest.approx(ref["fm"][m], rel=1e-6, abs=tol), m


def test_thresholds_estimate_the_simulated_cut_points():
    """Simulated, large n: single-group WLSMV thresholds recover the cut points."""
    big = simulated_ordinal(n=6000, seed=7)
    big = big[big["g"] == "A"]
    fit = sem.cfa(MODEL, big, ordered=True, estimator="WLSMV")
    th = fit.parameter_estimates().query("op == '|'")
    for x in ITEMS:
        np.testing.assert_allclose(th.loc[th["lhs"] == x, "est"], CUTS[x], atol=0.06)


def test_category_nobody_chose_in_one_group_is_refused(data):
    sparse = data.copy()
    sparse.loc[(sparse["g"] == "B") & (sparse["x2"] == 4), "x2"] = 3.0
    with pytest.raises(ValueError, match="categories are empty: item 'x2' in group 'B'"):
        sem.cfa(MODEL, sparse, ordered=ITEMS, estimator="WLSMV", group="g")


def test_ordered_needs_an_ordinal_estimator(data):
    with pytest.raises(ValueError, match="WLSMV"):
        sem.cfa(MODEL, data, ordered=ITEMS, estimator="MLR")


@requires_r
@pytest.mark.r
def test_default_site_eri_model_and_stress_items_against_lavaan(
    default_site_analysis, site_models, r_ref
):
    """The default (simulated) site: its ERI measurement model (4-point items) through the
    CFA stage's fit_cfa with the stage default missing = "ml" (pairwise for WLSMV), and the
    thresholds and polychoric correlations of its 45 stress-source items."""
    data = default_site_analysis
    fit = cfa.fit_cfa(data, site_models["eri"], "eri", estimator="WLSMV", missing="ml")
    assert fit.missing == "pairwise"
    ref = r_ref["site_eri"]
    lav = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "est", "se")})
    merged = lav.merge(fit.parameter_estimates(), on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(merged) == len(lav)
    np.testing.assert_allclose(merged["est"], merged["est_r"], atol=1e-4)
    np.testing.assert_allclose(merged["se"], merged["se_r"], atol=1e-4)
    fm = fit.fit_measures()
    for m in ("chisq", "chisq.scaled", "df", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"):
        assert fm[m] == pytest.approx(ref["fm"][m], abs=1e-4), m
    row = cfa.fit_measures(fit).iloc[0]
    assert row["estimator"] == "WLSMV" and row["chi2_scaled"] == pytest.approx(fm["chisq.scaled"])
    from policestress.polychoric import polychoric

    items = _stress_items(site_models)
    res = polychoric(data[items], acov=False)
    np.testing.assert_allclose(res.thresholds["est"], r_ref["site_th"], atol=1e-6)
    np.testing.assert_allclose(res.rho.to_numpy(), np.array(r_ref["site_cor"]), atol=1e-6)


@requires_r
@pytest.mark.r
def test_default_site_stress_source_domain_against_lavaan(default_site_analysis, r_ref):
    """One domain of the default (simulated) site's stress-source items (3 constructs x 3
    items, 5-point ratings) with WLSMV and pairwise missing: loadings, thresholds, SEs,
    chisq.scaled, cfi.scaled and rmsea.scaled as lavaan's."""
    model = _domain_model()
    assert len(cfa.parse_syntax(model).query("op == '=~'")) == 9
    fit = cfa.fit_cfa(
        default_site_analysis, model, "organizational", estimator="WLSMV", missing="ml"
    )
    assert fit.converged and fit.missing == "pairwise"
    ref = r_ref["site_domain"]
    lav = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "est", "se")})
    lav["rhs"] = lav["rhs"].fillna("")
    ours = fit.parameter_estimates()
    merged = lav.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(merged) == len(lav) == len(ours)
    assert set(merged["op"]) >= {"=~", "|", "~~"}
    np.testing.assert_allclose(merged["est"], merged["est_r"], atol=1e-4)
    np.testing.assert_allclose(merged["se"], merged["se_r"], atol=1e-4)
    fm = fit.fit_measures()
    for m in ("chisq", "chisq.scaled", "df", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"):
        assert fm[m] == pytest.approx(ref["fm"][m], abs=1e-4), m


@requires_r
@pytest.mark.r
def test_ordinal_efa_matches_psych_fa_cor_poly(data, r_ref):
    """psych::fa(cor = "poly") loadings within 1e-4 (psych's own polychorics sit ~2e-5 from
    the maximum, see tests/test_polychoric.py), and fa.parallel's observed eigenvalues."""
    from policestress import efa

    res = efa.efa(data[ITEMS], 2, cor="poly")
    ref = np.array(r_ref["fa_loadings"])
    ours = res.loadings.to_numpy()
    # factor order and sign as psych's (both order by variance accounted for)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    np.testing.assert_allclose(res.phi.to_numpy(), np.array(r_ref["fa_phi"]), atol=1e-4)
    pa = efa.parallel_analysis(data[ITEMS], n_iter=20, seed=1, cor="poly")
    np.testing.assert_allclose(pa.table["component_observed"], r_ref["pa_pc_values"], atol=1e-4)


@requires_r
@pytest.mark.r
def test_invariance_stage_steps_with_wlsmv(data, r_ref):
    """The invariance stage's steps with WLSMV: configural, metric (loadings), scalar
    (loadings and thresholds: the intercepts are fixed at 0), as lavaan fits them."""
    from policestress import invariance as inv

    groups = list(dict.fromkeys(data["g"]))  # lavaan's order of appearance
    fits = inv.fit_invariance_models(
        data, MODEL, "g", steps=("configural", "metric", "scalar"), groups=groups,
        estimator="WLSMV", missing="ml",
    )  # fmt: skip
    table = inv.invariance_table(fits)
    for step, key in (("configural", "configural"), ("metric", "loadings_only"),
                      ("scalar", "metric")):  # fmt: skip
        row = table.set_index("step").loc[step]
        assert row["chi2_scaled"] == pytest.approx(r_ref[key]["fm"]["chisq.scaled"], rel=1e-6)
        assert row["df"] == r_ref[key]["fm"]["df"]
        assert row["missing"] == "pairwise"
    # the difference tests of consecutive steps: lavTestLRT's satorra.2000 (scaled.shifted)
    assert (table["delta_test"].iloc[1:] == "satorra.2000").all()
    for step, key in (("metric", "configural_loadings_only"), ("scalar", "loadings_only_metric")):
        row, ref = table.set_index("step").loc[step], r_ref["lrt"][key]
        assert row["delta_chi2"] == pytest.approx(ref["chisq"], abs=1e-4)
        assert row["delta_df"] == ref["df"]
        assert row["delta_p"] == pytest.approx(ref["p"], abs=1e-5)
    with pytest.raises(ValueError, match="strict step"):
        inv.fit_invariance_models(data, MODEL, "g", steps=("strict",), estimator="WLSMV")


@requires_r
@pytest.mark.r
@pytest.mark.parametrize(
    "free, restricted",
    [("configural", "thresholds"), ("configural", "loadings_only"),
     ("loadings_only", "metric"), ("thresholds", "metric")],
)  # fmt: skip
def test_satorra2000_difference_test_matches_lavtestlrt(free, restricted, fits, r_ref):
    """Simulated two-group ordinal data: the scaled-shifted difference test of nested WLSMV
    fits as lavaan's lavTestLRT (method = "satorra.2000")."""
    from policestress.sem.ordinal import satorra2000_difference_test

    ref = r_ref["lrt"][f"{free}_{restricted}"]
    res = satorra2000_difference_test(fits[restricted], fits[free])
    assert res["df.diff"] == ref["df"] > 0
    assert res["chisq.diff"] == pytest.approx(ref["chisq"], abs=1e-4)
    assert res["pvalue"] == pytest.approx(ref["p"], abs=1e-5)
    with pytest.raises(ValueError, match="restricted model"):
        satorra2000_difference_test(fits[free], fits[restricted])


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("key", ["wlsmv", "metric"])
def test_modification_indices_match_lavaan(key, fits, r_ref):
    ref = pd.DataFrame(r_ref[f"mi_{key}"])
    ours = fits[key].modindices()
    merged = ref.merge(ours, on=["lhs", "op", "rhs", "group"], suffixes=("_r", ""))
    assert len(merged) == len(ref) == len(ours)
    np.testing.assert_allclose(merged["mi"], merged["mi_r"], atol=1e-4)
    np.testing.assert_allclose(merged["epc"], merged["epc_r"], atol=1e-4)
    np.testing.assert_allclose(merged["sepc.all"], merged["sepc"], atol=1e-4)


def test_cfa_text_of_ordinal_fits_without_bic():
    """WLSMV fits have no likelihood, so no BIC: the CFA narrative then compares none."""
    from policestress import interpret

    row = dict(df=8, chi2=10.0, p=0.27, cfi=0.99, tli=0.98, rmsea=0.02, rmsea_ci_low=0.0,
               rmsea_ci_high=0.06, srmr=0.03, bic=np.nan)  # fmt: skip
    fit = pd.DataFrame([{"model": "a", **row}, {"model": "b", **row}])
    text = interpret.cfa_text(fit, "a", {"a": "A", "b": "B"}, "en")
    assert text.startswith("A: ") and "BIC" not in text


@pytest.fixture
def wlsmv_site(tmp_path, monkeypatch, default_site_analysis):
    """The default (simulated) site with ``cfa.estimator: WLSMV`` set in memory, its analysis
    data published in a temporary project (built in-process: no chain run)."""
    from policestress.tables import write_csv

    root = Path(__file__).resolve().parents[1]
    site = "y-subbureau-sim"
    shutil.copytree(root / "config" / "sites" / site, tmp_path / "config" / "sites" / site)
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("POLICESTRESS_ROOT", str(tmp_path))
    cfg = load_site(site, tmp_path)
    write_csv(default_site_analysis, cfg.paths.final_dir("processed") / "analysis.csv")
    monkeypatch.setitem(cfg.settings, "cfa", {"estimator": "WLSMV", "chosen_model": "eri"})
    return cfg


def test_cfa_and_invariance_stages_with_wlsmv(wlsmv_site, default_site_analysis):
    """The CFA stage's and the invariance stage's work with ``cfa.estimator: WLSMV`` on the
    default (simulated) site: the ERI model, and one domain's constructs across two groups."""
    from policestress.stagework import invariance as stagework_invariance

    work = stagework_cfa.run(wlsmv_site, models_include=["eri"])
    fit = work.tables["cfa_fit.csv"].iloc[0]
    assert fit["model"] == "eri" and fit["estimator"] == "WLSMV"
    assert fit["missing"] == "pairwise" and fit["converged"]
    eri_items = sorted(set(cfa.parse_syntax(work.texts["cfa_eri.lavaan"])["rhs"]))
    # pairwise: n is every respondent with an answer to at least one item of the model
    assert fit["n"] == default_site_analysis[eri_items].notna().any(axis=1).sum()
    assert np.isfinite(fit["chi2_scaled"]) and fit["df"] > 0
    estimates = work.tables["cfa_estimates.csv"]
    thresholds = estimates[estimates["op"] == "|"]
    cats = {x: default_site_analysis[x].nunique() for x in eri_items}
    assert len(thresholds) == sum(k - 1 for k in cats.values())
    assert set(thresholds["lhs"]) == set(eri_items) and thresholds["se"].gt(0).all()
    assert (estimates["estimator"] == "WLSMV").all()
    rule = stagework_cfa.MISSING_RULES["pairwise"][wlsmv_site.language]
    assert any(rule in text for text in work.narrative)

    scales = wlsmv_site.codebook.factor_scales("stress_sources")
    domain = wlsmv_site.codebook.domains("stress_sources")["social_opinion"]
    model = "\n".join(f"{c} =~ {' + '.join(scales[c])}" for c in domain)
    work = stagework_invariance.run(
        wlsmv_site, groups=["gender"], model=model, steps=["configural", "metric", "scalar"]
    )
    table = work.tables["invariance.csv"]
    assert list(table["step"]) == ["configural", "metric", "scalar"]
    # the invariance stage fits complete cases on the model's items (select_groups), stated
    items = [x for c in domain for x in scales[c]]
    complete = default_site_analysis.dropna(subset=[*items, "gender"])
    assert (table["estimator"] == "WLSMV").all() and (table["missing"] == "listwise").all()
    assert (table["n"] == len(complete)).all() and table["df"].is_monotonic_increasing
    assert table["chi2_scaled"].notna().all()
    assert (table["delta_test"].iloc[1:] == "satorra.2000").all()
    assert (
        table["delta_chi2"].iloc[1:].gt(0).all() and table["delta_p"].iloc[1:].between(0, 1).all()
    )
    assert "invariance_latent_means.csv" in work.tables
