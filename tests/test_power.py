"""Monte Carlo sample-size planning (policestress.power): power, coverage, backends, resuming."""

import numpy as np
import pandas as pd
import pytest

from policestress import power, sem
from policestress.config import load_site
from policestress.simulate import load_population_model

POPULATION = "f =~ 0.2*x1 + 0.6*x2 + 0.6*x3 + 0.6*x4"
ANALYSIS = "f =~ NA*x1 + x2 + x3 + x4; f ~~ 1*f"


@pytest.fixture(scope="module")
def study():
    pop = power.population_from_syntax(POPULATION)
    return power.simulate_power(
        pop, ANALYSIS, [200, 1000], 300, seed=1, backend="serial", progress=False
    )


def test_monte_carlo_power_agrees_with_the_analytic_power(study):
    table = power.parameter_table(study).set_index(["n", "parameter"])
    row = table.loc[(200, "f=~x1")]
    assert 0.3 < row["analytic_power"] < 0.7  # a loading whose power is in question
    mcse = np.sqrt(row["analytic_power"] * (1 - row["analytic_power"]) / row["replications"])
    assert abs(row["power"] - row["analytic_power"]) < 3 * mcse
    assert row["population"] == pytest.approx(0.2, abs=1e-8)
    # the analytic power is the Wald test's at the expected information
    info = sem.cfa(
        ANALYSIS,
        pd.DataFrame(
            power.population.data_with_moments(
                np.zeros(4), power.population_from_syntax(POPULATION).cov, 500
            ),
            columns=["x1", "x2", "x3", "x4"],
        ),
    )
    se = np.sqrt(np.linalg.inv(info.information())[0, 0] / 200)
    assert row["analytic_power"] == pytest.approx(
        float(power.analytic_power(se * np.sqrt(200), 0.2, 200))
    )


def test_convergence_is_complete_and_coverage_near_95_at_large_n(study):
    conv = power.convergence_table(study).set_index("n")
    assert conv.loc[1000, "convergence"] == 1.0 and conv.loc[1000, "improper"] == 0
    table = power.parameter_table(study)
    large = table[table["n"] == 1000]
    assert abs(large["coverage"].mean() - 0.95) < 0.02
    assert ((large["coverage"] - 0.95).abs() < 4 * np.sqrt(0.95 * 0.05 / 300)).all()
    assert (large["relative_bias"].abs() < 0.05).all()
    assert (large["se_bias"].abs() < 0.15).all()


def test_fit_distributions_and_required_n(study):
    fit = power.fit_table(study)
    cfi = fit[(fit["n"] == 1000) & (fit["measure"] == "cfi")].iloc[0]
    assert cfi["share_meeting"] > 0.9 and cfi["q05"] <= cfi["median"] <= cfi["q95"]
    p = fit[(fit["n"] == 200) & (fit["measure"] == "pvalue")].iloc[0]
    assert abs(p["share_meeting"] - 0.95) < 4 * np.sqrt(0.95 * 0.05 / 300)  # chi-square test's size
    need = power.required_n(study, target_power=0.8).set_index("parameter")
    assert need.loc["f=~x2", "required_n"] == 200
    assert need.loc["f=~x1", "required_n"] == 1000  # 52 % at 200, so only at 1000
    assert need.loc["all", "required_n"] == 1000
    assert list(need.index) == ["f=~x1", "f=~x2", "f=~x3", "f=~x4", "all"]


def _equal(a, b):
    pd.testing.assert_frame_equal(a.replications, b.replications)
    pd.testing.assert_frame_equal(a.estimates, b.estimates)


def test_dask_and_joblib_give_identical_results_for_one_seed():
    pop = power.population_from_syntax(POPULATION)
    kwargs = dict(seed=7, progress=False, chunk_size=3)
    joblib = power.simulate_power(pop, ANALYSIS, [60, 90], 6, backend="joblib", n_jobs=2, **kwargs)
    dask = power.simulate_power(
        pop, ANALYSIS, [60, 90], 6, backend="dask", n_jobs=2, processes=False, **kwargs
    )
    serial = power.simulate_power(
        pop, ANALYSIS, [90, 60], 6, backend="serial", chunk_size=4, seed=7, progress=False
    )
    _equal(joblib, dask)
    # another chunking and grid order: the same replications
    key = ["n", "replication"]
    pd.testing.assert_frame_equal(
        serial.replications.sort_values(key).reset_index(drop=True), joblib.replications
    )


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    pop = power.population_from_syntax(POPULATION)
    kwargs = dict(seed=3, backend="serial", progress=False, chunk_size=2)
    whole = power.simulate_power(pop, ANALYSIS, [50, 80], 5, **kwargs)
    folder = tmp_path / "chunks"
    assert (
        power.simulate_power(pop, ANALYSIS, [50, 80], 5, checkpoint=folder, stop_after=2, **kwargs)
        is None
    )
    [own] = folder.glob("study-*")
    assert len(list(own.glob("*.replications.csv"))) == 2
    before = {p: p.stat().st_mtime_ns for p in own.glob("*.csv")}
    resumed = power.simulate_power(pop, ANALYSIS, [50, 80], 5, checkpoint=folder, **kwargs)
    _equal(whole, resumed)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # finished: skipped
    assert len(list(own.glob("*.estimates.csv"))) == 6
    other = power.simulate_power(pop, ANALYSIS, [50], 5, checkpoint=folder, **{**kwargs, "seed": 4})
    assert len(list(folder.glob("study-*"))) == 2  # another study: chunks of its own
    assert not other.replications.equals(resumed.replications.iloc[:5])


def test_population_sources():
    hs = __import__("semopy").examples.holzinger39.get_data()
    fit = sem.cfa("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6", hs)
    pop = power.population_from_fit(fit)
    np.testing.assert_allclose(pop.cov, fit.implied_cov, atol=1e-10)
    np.testing.assert_allclose(pop.mean, hs[fit.observed].mean(), atol=1e-10)
    again = power.population_values(pop, fit.syntax)
    np.testing.assert_allclose(again.theta, fit.theta, atol=1e-6)
    cfg = load_site("y-subbureau-sim")
    book = cfg.codebook
    site = power.population_from_site_model(
        load_population_model(cfg),
        book.factor_scales("stress_sources"),
        book.factor_domains("stress_sources"),
        5,
    )
    i = {x: k for k, x in enumerate(site.observed)}
    assert site.cov[i["OCC_WL1"], i["OCC_WL1"]] == pytest.approx(1.0)  # unit latent response
    assert site.cov[i["OCC_WL1"], i["OCC_WL2"]] == pytest.approx(0.75**2)
    # critical-incident risk: construct SD 1.5 (larger differences between individuals)
    assert site.cov[i["OCC_CI1"], i["OCC_CI2"]] == pytest.approx(0.75**2 * 1.5**2)
    assert site.thresholds["OCC_WL1"].tolist() == [-1.6, -0.6, 0.4, 1.4]
    with pytest.raises(ValueError, match="regressions of observed variables"):
        power.population_from_syntax("y ~ 0.3*x")


def test_rating_categories_missing_data_and_estimators():
    pop = power.population_from_syntax(
        "f =~ 0.7*x1 + 0.7*x2 + 0.7*x3 + 0.7*x4",
        thresholds={x: [-1, 0, 1] for x in "x1 x2 x3 x4".split()},
    )
    kwargs = dict(seed=2, backend="serial", progress=False)
    rated = power.simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [80], 3, categorized=True, **kwargs)
    assert rated.replications["converged"].all()
    cuts = power.categorize(np.array([[-2.0, -0.5, 0.5, 3.0]]).T.repeat(4, axis=1), pop)
    assert cuts[:, 0].tolist() == [1, 2, 3, 4]
    # the analysis model's reference values are those of the categories, not of the latent
    # responses: the marker-scaled loadings stay 1 (equal loadings), the variance shrinks
    table = power.parameter_table(rated).set_index("parameter")
    assert table.loc["f=~x2", "population"] == pytest.approx(1.0, abs=0.02)
    assert table.loc["f~~f", "population"] < 0.49 * 1.0
    mcar = power.simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [80], 3, missing_rate=0.1, **kwargs)
    assert (mcar.replications["n_used"] < 80).all()  # ML: complete cases
    patterns = np.zeros((10, 4), dtype=bool)
    patterns[0, 0] = True  # one case in ten lacks x1
    fiml = power.simulate_power(
        pop,
        "f =~ x1 + x2 + x3 + x4",
        [80],
        2,
        estimator="FIML",
        missing_patterns=patterns,
        **kwargs,
    )
    assert (fiml.replications["n_used"] == 80).all() and fiml.replications["converged"].all()
    mlr = power.simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [80], 2, estimator="MLR", **kwargs)
    assert mlr.replications["converged"].all()
    assert np.isnan(power.parameter_table(mlr)["analytic_power"]).all()
    wlsmv = power.simulate_power(
        pop, "f =~ x1 + x2 + x3 + x4", [150], 2, estimator="WLSMV", categorized=True, **kwargs
    )
    table = power.parameter_table(wlsmv).set_index("parameter")
    # thresholds on the standardized latent-response scale: -1 / sqrt(1 + .49)
    assert table.loc["x1|t1", "population"] == pytest.approx(-1 / np.sqrt(1.49), abs=0.02)
    assert wlsmv.replications["converged"].all()
    assert "x1|t1" not in power.required_n(wlsmv)["parameter"].tolist()
    with pytest.raises(ValueError, match="WLSMV' analyses rating categories"):
        power.simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [80], 2, estimator="WLSMV", **kwargs)


def test_curves_and_the_thesis_table_in_the_project_style(study, tmp_path):
    from policestress import publication as pub
    from policestress.plots import save_figure, svg_texts
    from policestress.plots.power import plot_power_curves

    summary = power.power_summary(study)
    assert summary["n"].tolist() == [200, 1000]
    assert summary.loc[1, "convergence"] == 1.0 and np.isnan(
        summary.loc[0, "power_covariances_median"]
    )
    fig = plot_power_curves(
        power.parameter_table(study), power.convergence_table(study), language="zh"
    )
    _, svg = save_figure(
        fig, tmp_path, "power_curves", simulated=False
    )  # refuses a figure off the print style
    assert "样本量 n" in svg_texts(svg)
    [table] = pub.publication_tables({"power_summary": summary}, None, "zh", simulated=True)
    assert table.key == "power-summary" and table.stage == "power"
    assert table.body.columns[1] == "收敛率（%）"
    assert table.body.iloc[1, 1] == "100.0"
    assert not pub.table_problems(table)


def test_the_power_stage_runs_on_request_or_when_the_site_asks(tmp_path):
    import shutil
    from pathlib import Path

    from policestress.stages import CHAIN, STAGES, write_site_fragment

    root = Path(__file__).resolve().parents[1]
    assert STAGES["power"].on_request and "power" not in CHAIN
    # (the report's rule waits for $(ON_REQUEST_IN_ALL): tests/test_notebooks.py)
    site = tmp_path / "config" / "sites" / "asks"
    shutil.copytree(root / "config" / "sites" / "y-subbureau-sim", site)
    from policestress.stages import stage_settings

    read = stage_settings("asks", tmp_path)["power"]
    assert "population_model.yml" in read["files"] and "power" not in read["settings"]
    plain = write_site_fragment("asks", tmp_path).read_text()
    assert "ON_REQUEST_IN_ALL" not in plain
    with open(site / "site.yml", "a", encoding="utf-8") as handle:
        handle.write("\npower:\n  in_all: true\n")
    asked = write_site_fragment("asks", tmp_path).read_text()
    assert "ON_REQUEST_IN_ALL := $(REPORTS)/08_power.ipynb" in asked


def test_a_sites_design_comes_from_its_power_settings():
    from policestress.power.site import observed_thresholds, site_design

    cfg = load_site("y-subbureau-sim")
    design = site_design(cfg, n_grid=[120], replications=3, backend="serial")
    args = design.arguments
    assert args["n_grid"] == [120] and args["replications"] == 3 and args["backend"] == "serial"
    assert args["estimator"] == cfg.get("power.estimator") and args["seed"] == cfg.seed
    assert args["categorized"] == (cfg.get("power.data") == "categories")
    assert design.population.source == "the site's population model"
    assert "OCC_WL1" in design.population.thresholds
    assert args["checkpoint"].parts[-3:] == ("build", "y-subbureau-sim", "power-chunks")
    assert any("population model" in line for line in design.description)
    # thresholds reproducing observed category shares
    frame = pd.DataFrame({"a": [1] * 10 + [2] * 30 + [3] * 60})
    cuts = observed_thresholds(frame, ["a"], np.zeros(1), np.eye(1), {"a": (1, 3)})["a"]
    np.testing.assert_allclose(cuts, [-1.2815516, -0.2533471], atol=1e-6)


def test_a_fitted_population_with_the_observed_category_shares_and_missing_patterns(
    monkeypatch,
):
    from scipy import stats

    import policestress.stagework.cfa
    from policestress.codebook_models import factor_syntax
    from policestress.power.site import site_design
    from policestress.simulate import simulate_responses

    cfg = load_site("y-subbureau-sim")
    scales = cfg.codebook.factor_scales("stress_sources")
    two = {c: scales[c] for c in list(scales)[:2]}  # a small model keeps the test fast
    monkeypatch.setattr(
        policestress.stagework.cfa, "site_models", lambda _: {"small": factor_syntax(two)}
    )
    monkeypatch.setitem(
        cfg.settings, "power", {"population": "fitted", "missing": "observed", "model": "small"}
    )
    data = simulate_responses(cfg, n=300)
    items = [i for c in two.values() for i in c]
    data.loc[:9, items[0]] = np.nan
    design = site_design(cfg, n_grid=[100], replications=2, backend="serial", data=data)
    pop = design.population
    assert pop.observed == items and "fitted" in pop.source
    shares = data[items[1]].value_counts(normalize=True).sort_index().to_numpy()
    z = (pop.thresholds[items[1]] - pop.mean[1]) / np.sqrt(pop.cov[1, 1])
    np.testing.assert_allclose(np.diff(np.concatenate([[0], stats.norm.cdf(z), [1]])), shares)
    patterns = design.arguments["missing_patterns"]
    assert patterns.shape == (len(data), len(items))
    assert (patterns[:, 0] == data[items[0]].isna().to_numpy()).all()
    result = power.simulate_power(**{**design.arguments, "checkpoint": None, "progress": False})
    assert result.replications["converged"].all()
    assert (result.replications["n_used"] < 100).all()  # ML: the complete cases


def test_a_misspecified_analysis_model_is_judged_against_its_pseudo_true_values():
    pop = power.population_from_syntax(
        "f =~ 0.7*x1 + 0.7*x2 + 0.7*x3 + 0.4*y1; g =~ 0.7*y1 + 0.7*y2 + 0.7*y3; f ~~ 0.3*g"
    )
    simple = "f =~ x1 + x2 + x3; g =~ y1 + y2 + y3"  # leaves out the cross-loading
    res = power.simulate_power(pop, simple, [600], 30, seed=5, backend="serial", progress=False)
    table = power.parameter_table(res).set_index("parameter")
    # the pseudo-true factor covariance absorbs the cross-loading: above the generating 0.3
    assert table.loc["f~~g", "population"] > 0.3 * 0.7 * 0.7 + 0.05
    assert abs(table.loc["f~~g", "bias"]) < 4 * table.loc["f~~g", "mean_est_mcse"]
    fit = power.fit_table(res).set_index("measure")
    assert fit.loc["pvalue", "share_meeting"] < 0.5  # the chi-square test sees the misfit


def test_the_progress_bar_counts_every_replication(capsys, monkeypatch):
    """A study shows a tqdm bar of its replications (on stderr), ending at their total."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    pop = power.population_from_syntax(POPULATION)
    power.simulate_power(
        pop, ANALYSIS, [50, 80], 3, seed=1, backend="serial", chunk_size=2, progress=True
    )
    bar = capsys.readouterr().err
    assert "replications" in bar and "6/6" in bar
