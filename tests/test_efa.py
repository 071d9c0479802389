"""Tests of policestress.efa and policestress.plots.efa.

Cross-checks run psych 2.2.9 / GPArotation on the same data (tests/rcheck.py). Tolerances:
KMO, MSA, Bartlett and observed eigenvalues 1e-10 (closed forms); pa loadings 1e-8 (same
iterations); minres and ml loadings, communalities, uniquenesses, Phi, structure and SS
loadings 1e-5 (the same L-BFGS-B optimiser settings as R's optim; agreement is usually 1e-12,
the margin covers differences between R's and scipy's L-BFGS-B builds).
"""

from __future__ import annotations

import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from scipy.optimize import linear_sum_assignment

from policestress import efa as E
from policestress.plots import efa as P
from policestress.plots import save_figure


# --------------------------------------------------------------------------- simulated data
def simulate_factors(
    n: int = 400,
    n_factors: int = 4,
    per_factor: int = 5,
    loading: tuple[float, float] = (0.5, 0.8),
    factor_r: float = 0.3,
    likert: bool = True,
    seed: int = 7,
) -> pd.DataFrame:
    """Items from correlated factors with simple structure (one cross-loading), as Likert 1-5."""
    rng = np.random.default_rng(seed)
    phi = np.full((n_factors, n_factors), factor_r)
    np.fill_diagonal(phi, 1.0)
    scores = rng.multivariate_normal(np.zeros(n_factors), phi, size=n)
    lam = np.zeros((n_factors * per_factor, n_factors))
    for j in range(n_factors):
        lam[j * per_factor : (j + 1) * per_factor, j] = rng.uniform(*loading, per_factor)
    if n_factors > 1:
        lam[per_factor - 2, 1] = 0.35
    common = np.sum((lam @ phi) * lam, axis=1)
    x = scores @ lam.T + rng.standard_normal((n, lam.shape[0])) * np.sqrt(1.0 - common)
    if likert:
        x = np.clip(np.round(x * 1.1 + 3), 1, 5)
    return pd.DataFrame(x, columns=[f"i{j + 1:02d}" for j in range(lam.shape[0])])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate_factors()


def align(ours: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column permutation and signs that map our factors onto the reference's."""
    cong = np.abs(ours.T @ reference) / np.outer(
        np.linalg.norm(ours, axis=0), np.linalg.norm(reference, axis=0)
    )
    rows, cols = linear_sum_assignment(-cong)
    perm = rows[np.argsort(cols)]
    signs = np.sign(np.sum(ours[:, perm] * reference, axis=0))
    return perm, signs


# --------------------------------------------------------------------------- data handling
def test_complete_cases_drops_incomplete_rows_and_counts_them():
    frame = pd.DataFrame({"a": [1, 2, None, 4], "b": [1, None, 3, 4], "c": [None] * 4})
    kept = E.complete_cases(frame, ["a", "b"])
    assert kept.index.tolist() == [0, 3]
    assert kept.attrs["n_dropped"] == 2
    assert list(kept.columns) == ["a", "b"]


def test_functions_refuse_missing_values(data):
    broken = data.copy()
    broken.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="complete_cases"):
        E.efa(broken, 2)
    with pytest.raises(ValueError, match="complete_cases"):
        E.parallel_analysis(broken)


def test_functions_name_an_item_without_variance(data):
    constant = data.assign(i03=3.0)
    for analysis in (E.sampling_adequacy, E.item_msa, E.parallel_analysis, E.spss_pca):
        with pytest.raises(ValueError, match="no variance in i03: every analysed respondent"):
            analysis(constant)
    with pytest.raises(ValueError, match="no variance in i03"):
        E.efa(constant, 2)


def test_smc_equals_r_squared_of_regression(data):
    corr = np.corrcoef(data.to_numpy(), rowvar=False)
    x = (data - data.mean()) / data.std()
    y, others = x.iloc[:, 0], x.iloc[:, 1:]
    beta, *_ = np.linalg.lstsq(others, y, rcond=None)
    r2 = 1 - np.sum((y - others @ beta) ** 2) / np.sum(y**2)
    assert E.smc(corr)[0] == pytest.approx(r2, abs=1e-10)


# --------------------------------------------------------------------------- parallel analysis
def test_random_correlations_have_the_distribution_of_sample_correlations():
    """Wishart/Bartlett draws vs correlation matrices of simulated normal data."""
    n, p, reps = 40, 6, 4000
    rng = np.random.default_rng(11)
    wishart = E.random_correlations(n, p, reps, rng)
    assert np.allclose(wishart, np.swapaxes(wishart, 1, 2))
    assert np.allclose(np.diagonal(wishart, axis1=1, axis2=2), 1.0)
    direct = np.array([np.corrcoef(rng.standard_normal((n, p)), rowvar=False) for _ in range(reps)])
    eig_w = np.linalg.eigvalsh(wishart)[:, ::-1]
    eig_d = np.linalg.eigvalsh(direct)[:, ::-1]
    se = np.sqrt(eig_w.var(axis=0) / reps + eig_d.var(axis=0) / reps)
    assert np.all(np.abs(eig_w.mean(axis=0) - eig_d.mean(axis=0)) < 4 * se)
    # Off-diagonal correlations: mean 0, variance 1 / (n - 1) under independence.
    off = wishart[:, 0, 1]
    assert off.var() == pytest.approx(1 / (n - 1), rel=0.08)
    q_w = np.percentile(eig_w[:, 0], 95)
    q_d = np.percentile(eig_d[:, 0], 95)
    assert q_w == pytest.approx(q_d, rel=0.03)


def test_random_correlations_need_more_respondents_than_items():
    with pytest.raises(ValueError, match="more respondents"):
        E.random_correlations(5, 5, 2, np.random.default_rng(0))


@pytest.mark.parametrize("n_factors", [1, 3, 5])
def test_parallel_analysis_recovers_the_number_of_simulated_factors(n_factors):
    x = simulate_factors(
        n=500,
        n_factors=n_factors,
        per_factor=6,
        loading=(0.6, 0.8),
        factor_r=0.2,
        likert=False,
        seed=n_factors,
    )
    result = E.parallel_analysis(x, n_iter=300, seed=1)
    assert result.n_factors == n_factors
    assert result.n_components == n_factors
    table = result.table
    assert table["factor_retained"].sum() == n_factors
    assert table["component_retained"].sum() == n_factors
    # The retained positions are exactly those before the first failure.
    first_fail = table.index[table["factor_observed"] <= table["factor_random_pct"]][0]
    assert first_fail == n_factors


def test_parallel_analysis_on_noise_errs_at_the_nominal_rate():
    """In pure noise the first observed eigenvalue beats the 95th percentile ~5% of the time."""
    rng = np.random.default_rng(5)
    retained, kaiser = [], []
    for rep in range(200):
        x = pd.DataFrame(rng.standard_normal((300, 12)))
        result = E.parallel_analysis(x, n_iter=200, seed=rep)
        retained.append((result.n_components > 0, result.n_factors > 0))
        kaiser.append(result.n_kaiser)
    rate = np.mean(retained, axis=0)
    assert (rate > 0.01).all() and (rate < 0.10).all()
    assert min(kaiser) > 0  # Kaiser always over-extracts in noise: why parallel analysis is used


def test_parallel_analysis_is_seeded_and_the_table_is_consistent(data):
    a = E.parallel_analysis(data, n_iter=200, seed=42)
    b = E.parallel_analysis(data, n_iter=200, seed=42, batch_size=37)
    c = E.parallel_analysis(data, n_iter=200, seed=43)
    pd.testing.assert_frame_equal(a.table, b.table)  # batching does not change the draws
    assert not np.allclose(a.table["factor_random_pct"], c.table["factor_random_pct"])
    t = a.table
    assert list(t.columns) == [
        "position",
        "component_observed",
        "component_random_mean",
        "component_random_pct",
        "component_retained",
        "factor_observed",
        "factor_random_mean",
        "factor_random_pct",
        "factor_retained",
    ]
    assert t["position"].tolist() == list(range(1, data.shape[1] + 1))
    assert t["component_observed"].sum() == pytest.approx(data.shape[1])
    assert (t["component_random_pct"] >= t["component_random_mean"] - 1e-12).all()
    assert a.n_kaiser == int((t["component_observed"] > 1).sum())
    summary = a.summary().iloc[0]
    assert summary["n_factors_parallel"] == a.n_factors and summary["seed"] == 42
    assert summary["n"] == len(data)


def test_parallel_analysis_percentile_orders_the_random_curve(data):
    low = E.parallel_analysis(data, n_iter=300, seed=3, percentile=50)
    high = E.parallel_analysis(data, n_iter=300, seed=3, percentile=99)
    assert (high.table["component_random_pct"] > low.table["component_random_pct"]).all()
    with pytest.raises(ValueError):
        E.parallel_analysis(data, percentile=100)
    with pytest.raises(ValueError):
        E.parallel_analysis(data, factor_eigen="pca")


def test_the_efa_settings_offer_exactly_the_choices_the_functions_take():
    """site.yml once offered factor_eigen 'pca', which parallel_analysis refuses (and not 'fa')."""
    from typing import get_args, get_type_hints

    from policestress.settings import Efa

    hints = get_type_hints(Efa)
    assert get_args(hints["extraction"]) == E.EXTRACTIONS
    assert get_args(hints["rotation"]) == E.ROTATIONS
    assert get_args(hints["factor_eigen"]) == E.FACTOR_EIGEN
    assert get_args(hints["cor"]) == E.CORRELATIONS


def test_the_efa_stage_imports_neither_scikit_learn_nor_scipy_stats():
    """Its KMO and Bartlett are closed forms: factor_analyzer's import (scikit-learn and
    scipy.stats) was 0.7 s of the stage's start."""
    code = (
        "import sys, policestress.stagework.efa\n"
        "print(sorted(m for m in ('sklearn', 'scipy.stats', 'factor_analyzer') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_parallel_analysis_cost_does_not_grow_with_respondents():
    """50 000 respondents and 45 items: the random part never simulates n x p data."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.standard_normal((50_000, 45)))
    start = time.perf_counter()
    result = E.parallel_analysis(x, n_iter=500, seed=0)
    assert time.perf_counter() - start < 30
    assert result.n_factors == 0
    # The random eigenvalues of 50 000 observations hug 1.
    assert result.table["component_random_mean"].between(0.9, 1.1).all()


# --------------------------------------------------------------------------- extraction, rotation
def test_efa_output_shapes_and_invariants(data):
    res = E.efa(data, 4, "minres", "oblimin")
    assert list(res.loadings.columns) == ["MR1", "MR2", "MR3", "MR4"]
    assert list(res.loadings.index) == list(data.columns)
    assert res.oblique
    np.testing.assert_allclose(np.diag(res.phi), 1.0)
    np.testing.assert_allclose(res.structure, res.loadings.to_numpy() @ res.phi.to_numpy())
    np.testing.assert_allclose(res.communalities + res.uniquenesses, 1.0)
    # Oblique rotation leaves the model-implied correlations unchanged.
    lam, phi = res.loadings.to_numpy(), res.phi.to_numpy()
    np.testing.assert_allclose(np.diag(lam @ phi @ lam.T), res.communalities, atol=1e-8)
    variance = res.variance_table()
    assert (np.diff(variance["ss_loadings"]) <= 1e-12).all()  # ordered as psych
    assert variance["cumulative_proportion"].iloc[-1] == pytest.approx(1.0)
    assert (res.loadings.sum() > 0).all()  # sign-aligned as psych
    long = res.loadings_long()
    assert list(long.columns) == ["item", "factor", "loading", "communality", "uniqueness"]
    assert len(long) == data.shape[1] * 4
    assert long["item"].iloc[0] == data.columns[0]
    assert list(res.structure_long().columns) == ["item", "factor", "structure"]
    assert len(res.phi_long()) == 16


def test_varimax_efa_is_orthogonal_and_ss_are_column_sums(data):
    res = E.efa(data, 4, "ml", "varimax")
    assert not res.oblique
    np.testing.assert_allclose(res.phi, np.eye(4))
    np.testing.assert_allclose(res.variance_table()["ss_loadings"], (res.loadings**2).sum())
    np.testing.assert_allclose((res.loadings**2).sum(axis=1), res.communalities, atol=1e-10)


def test_rotations_keep_the_common_part(data):
    unrotated = E.efa(data, 4, "pa", "none").loadings.to_numpy()
    model = unrotated @ unrotated.T
    for rotate in (E.oblimin, E.promax):
        pattern, phi, *_ = rotate(unrotated)
        np.testing.assert_allclose(pattern @ phi @ pattern.T, model, atol=1e-8)
    rotated, rotation = E.varimax(unrotated)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(rotated @ rotated.T, model, atol=1e-10)


def test_oblimin_lowers_its_criterion(data):
    unrotated = E.efa(data, 4, "minres", "none").loadings.to_numpy()
    pattern, _, converged = E.oblimin(unrotated)
    assert converged
    before, _ = E._oblimin_criterion(unrotated)
    after, _ = E._oblimin_criterion(pattern)
    assert after < before


def test_efa_rejects_bad_arguments(data):
    with pytest.raises(ValueError, match="extraction"):
        E.efa(data, 2, extraction="principal")
    with pytest.raises(ValueError, match="rotation"):
        E.efa(data, 2, rotation="quartimax")
    with pytest.raises(ValueError, match="n_factors"):
        E.efa(data, data.shape[1])


def test_efa_recovers_the_simulated_loadings():
    x = simulate_factors(n=3000, likert=False, seed=3)
    res = E.efa(x, 4, "ml", "oblimin")
    primary = res.loadings.abs().to_numpy().argmax(axis=1)
    # Items 1-5, 6-10, ... load on one factor each.
    assert all(len(set(primary[j * 5 : (j + 1) * 5])) == 1 for j in range(4))
    assert len(set(primary)) == 4
    off = res.phi.to_numpy()[np.triu_indices(4, 1)]
    assert off == pytest.approx(np.full(6, 0.3), abs=0.08)


# --------------------------------------------------------------------------- item flags
def _result_from(loadings: np.ndarray, communalities: np.ndarray) -> E.EFAResult:
    items = [f"x{i}" for i in range(loadings.shape[0])]
    names = [f"MR{j + 1}" for j in range(loadings.shape[1])]
    frame = pd.DataFrame(loadings, index=items, columns=names)
    k = loadings.shape[1]
    return E.EFAResult(
        loadings=frame,
        structure=frame,
        phi=pd.DataFrame(np.eye(k), index=names, columns=names),
        communalities=pd.Series(communalities, index=items),
        uniquenesses=pd.Series(1 - communalities, index=items),
        eigenvalues=np.ones(loadings.shape[0]),
        n_obs=100,
        extraction="minres",
        rotation="varimax",
    )


def test_item_flags_apply_each_threshold():
    loadings = np.array(
        [
            [0.70, 0.10],  # clean
            [0.35, 0.05],  # weak primary, and gap .30 is fine -> weak only
            [0.60, 0.32],  # second >= .30 -> cross-loading
            [0.55, -0.40],  # negative second counts by its size
            [0.50, 0.35],  # both rules
            [0.45, 0.28],  # gap .17 < .20 -> cross-loading
            [0.65, 0.20],  # clean but low communality
        ]
    )
    h2 = np.array([0.5, 0.3, 0.5, 0.5, 0.4, 0.3, 0.15])
    flags = E.item_flags(_result_from(loadings, h2))
    assert flags["weak_primary"].tolist() == [False, True, False, False, False, False, False]
    assert flags["cross_loading"].tolist() == [False, False, True, True, True, True, False]
    assert flags["low_communality"].tolist() == [False] * 6 + [True]
    assert flags["flagged"].tolist() == [False] + [True] * 6
    assert flags.loc[3, "secondary_loading"] == -0.40
    assert flags.loc[0, "reasons"] == ""
    assert "communality < 0.2" in flags.loc[6, "reasons"]
    stricter = E.item_flags(
        _result_from(loadings, h2), min_primary=0.6, max_secondary=0.5, min_gap=0.1
    )
    assert stricter["weak_primary"].tolist() == [False, True, False, True, True, True, False]
    assert stricter["cross_loading"].tolist() == [False] * 7


def test_item_flags_with_one_factor_never_cross_load():
    flags = E.item_flags(_result_from(np.array([[0.7], [0.3]]), np.array([0.49, 0.09])))
    assert flags["cross_loading"].tolist() == [False, False]
    assert flags["weak_primary"].tolist() == [False, True]


# --------------------------------------------------------------------------- SPSS view
def test_spss_tables_sort_blank_and_add_up(data):
    view = E.spss_pca(data)
    eigen = np.linalg.eigvalsh(np.corrcoef(data.to_numpy(), rowvar=False))[::-1]
    k = int((eigen > 1).sum())
    assert view.rotated.shape == (data.shape[1], k)  # SPSS default: eigenvalue > 1
    tv = view.total_variance()
    assert tv["initial_cumulative_pct"].iloc[-1] == pytest.approx(100.0)
    assert tv["extraction_total"].notna().sum() == k
    # Rotation redistributes, but keeps, the extracted variance.
    assert tv["rotation_cumulative_pct"].iloc[k - 1] == pytest.approx(
        tv["extraction_cumulative_pct"].iloc[k - 1]
    )
    table = view.rotated_components(threshold=0.40)
    assert list(table.columns) == ["item", "primary_component", *view.rotated.columns]
    shown = table[view.rotated.columns]
    assert (shown.abs().fillna(1) >= 0.40).all().all()
    order = [list(view.rotated.columns).index(c) for c in table["primary_component"]]
    assert order == sorted(order)
    for component, group in table.groupby("primary_component"):
        values = group[component].abs().to_numpy()
        assert (np.diff(values) <= 0).all()


def test_spss_rotated_components_on_a_known_matrix():
    rotated = pd.DataFrame(
        [[0.2, 0.8], [0.75, 0.1], [0.3, -0.5], [0.9, 0.45]],
        index=list("abcd"),
        columns=["C1", "C2"],
    )
    view = E.SPSSView(
        eigenvalues=np.array([2.0, 1.0, 0.6, 0.4]), unrotated=rotated, rotated=rotated, n_obs=10
    )
    table = view.rotated_components(threshold=0.4)
    assert table["item"].tolist() == ["d", "b", "a", "c"]
    assert table["C1"].isna().tolist() == [False, False, True, True]
    assert table.loc[0, "C2"] == 0.45
    tv = view.total_variance()
    assert tv["rotation_total"].iloc[:2].tolist() == pytest.approx(
        [0.2**2 + 0.75**2 + 0.09 + 0.81, 0.64 + 0.01 + 0.25 + 0.2025]
    )


# --------------------------------------------------------------------------- figures
def test_figures_draw_and_save(data, tmp_path):
    pa = E.parallel_analysis(data, n_iter=100, seed=0)
    res = E.efa(data, 4)
    fig = P.scree_plot(pa)
    assert len(fig.axes[0].lines) == 5  # 2 observed, 2 random, Kaiser line
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), pa.table["component_observed"])
    paths = save_figure(fig, tmp_path, "scree", simulated=False)
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    heat = P.loading_heatmap(res)
    labels = [t.get_text() for t in heat.axes[0].get_yticklabels()]
    assert labels == P.sorted_items(res.loadings)
    assert sorted(labels) == sorted(data.columns)
    phi_fig = P.factor_correlation_plot(res)
    assert "Factor correlations" in phi_fig.axes[0].get_title()
    plt.close("all")


# --------------------------------------------------------------------------- R cross-checks
@requires_r
@pytest.mark.r
def test_kmo_msa_and_bartlett_match_psych(data):
    r = run_r(
        """
        library(psych); x <- data$x
        k <- KMO(x); b <- cortest.bartlett(cor(x), n = nrow(x))
        result <- list(msa = k$MSA, msai = unname(k$MSAi), chisq = b$chisq, df = b$df, p = b$p.value)
        """,
        {"x": data},
    )
    row = E.sampling_adequacy(data).iloc[0]
    assert row["kmo"] == pytest.approx(r["msa"], abs=1e-10)
    assert row["bartlett_chi2"] == pytest.approx(r["chisq"], abs=1e-8)
    assert row["bartlett_df"] == r["df"]
    assert row["bartlett_p"] == pytest.approx(r["p"], rel=1e-6, abs=1e-300)
    np.testing.assert_allclose(E.item_msa(data)["msa"], r["msai"], atol=1e-10)


@pytest.fixture(scope="module")
def psych_fa(data):
    # Only @requires_r tests use this fixture; pytest skips them before setting it up.
    return run_r(
        """
        library(psych); x <- data$x
        out <- list()
        for (fm in c("minres", "ml", "pa")) for (rot in c("oblimin", "promax", "varimax")) {
          f <- fa(x, 4, fm = fm, rotate = rot)
          out[[paste(fm, rot, sep = "_")]] <- list(
            loadings = unclass(f$loadings), structure = unclass(f$Structure),
            h2 = unname(f$communality), u2 = unname(f$uniquenesses),
            phi = if (is.null(f$Phi)) diag(4) else f$Phi, ss = unname(f$Vaccounted[1, ]),
            prop = unname(f$Vaccounted[2, ]), cum_prop = unname(f$Vaccounted[5, ]))
        }
        f1 <- fa(x, 1, fm = "minres")
        out[["minres_1"]] <- list(loadings = unclass(f1$loadings), h2 = unname(f1$communality))
        result <- out
        """,
        {"x": data},
    )


@requires_r
@pytest.mark.r
@pytest.mark.parametrize("extraction", ["minres", "ml", "pa"])
@pytest.mark.parametrize("rotation", ["oblimin", "promax", "varimax"])
def test_efa_matches_psych_fa(data, psych_fa, extraction, rotation):
    ref = psych_fa[f"{extraction}_{rotation}"]
    res = E.efa(data, 4, extraction, rotation)
    tol = 1e-8 if extraction == "pa" else 1e-5
    ref_loadings = np.array(ref["loadings"])
    perm, signs = align(res.loadings.to_numpy(), ref_loadings)
    # psych's factor order and signs are reproduced, not just matched after alignment.
    assert perm.tolist() == [0, 1, 2, 3] and (signs > 0).all()
    np.testing.assert_allclose(res.loadings.to_numpy(), ref_loadings, atol=tol)
    np.testing.assert_allclose(res.structure.to_numpy(), np.array(ref["structure"]), atol=tol)
    np.testing.assert_allclose(res.communalities, ref["h2"], atol=tol)
    np.testing.assert_allclose(res.uniquenesses, ref["u2"], atol=tol)
    np.testing.assert_allclose(res.phi.to_numpy(), np.array(ref["phi"]), atol=tol)
    variance = res.variance_table()
    np.testing.assert_allclose(variance["ss_loadings"], ref["ss"], atol=tol)
    np.testing.assert_allclose(variance["proportion_var"], ref["prop"], atol=tol)
    np.testing.assert_allclose(variance["cumulative_proportion"], ref["cum_prop"], atol=tol)


@requires_r
@pytest.mark.r
def test_one_factor_minres_matches_psych(data, psych_fa):
    res = E.efa(data, 1)
    np.testing.assert_allclose(
        res.loadings.to_numpy(), np.array(psych_fa["minres_1"]["loadings"]), atol=1e-5
    )
    np.testing.assert_allclose(res.communalities, psych_fa["minres_1"]["h2"], atol=1e-5)


@requires_r
@pytest.mark.r
def test_efa_matches_psych_on_a_harder_data_set():
    """45 items, 9 weakly determined factors, n = 250: more iterations, more room to differ."""
    x = simulate_factors(n=250, n_factors=9, per_factor=5, loading=(0.35, 0.7), seed=21)
    r = run_r(
        """
        library(psych); x <- data$x; out <- list()
        for (fm in c("minres", "ml", "pa")) {
          f <- fa(x, 9, fm = fm, rotate = "oblimin")
          out[[fm]] <- list(loadings = unclass(f$loadings), phi = f$Phi,
                            h2 = unname(f$communality))
        }
        result <- out
        """,
        {"x": x},
    )
    for extraction in ("minres", "ml", "pa"):
        res = E.efa(x, 9, extraction, "oblimin")
        ref = np.array(r[extraction]["loadings"])
        perm, signs = align(res.loadings.to_numpy(), ref)
        ours = res.loadings.to_numpy()[:, perm] * signs
        np.testing.assert_allclose(ours, ref, atol=1e-4)
        phi = res.phi.to_numpy()[np.ix_(perm, perm)] * np.outer(signs, signs)
        np.testing.assert_allclose(phi, np.array(r[extraction]["phi"]), atol=1e-4)
        np.testing.assert_allclose(res.communalities, r[extraction]["h2"], atol=1e-4)


@requires_r
@pytest.mark.r
def test_parallel_analysis_matches_psych_fa_parallel():
    """Observed eigenvalues exactly; the decision on a clear-cut data set (3 factors)."""
    x = simulate_factors(
        n=500, n_factors=3, per_factor=6, loading=(0.6, 0.8), factor_r=0.2, likert=False, seed=3
    )
    r = run_r(
        """
        library(psych); x <- data$x; set.seed(123)
        a <- fa.parallel(x, fa = "both", SMC = TRUE, plot = FALSE, n.iter = 100)
        b <- fa.parallel(x, fa = "both", plot = FALSE, n.iter = 100)
        result <- list(smc_nf = a$nfact, smc_nc = a$ncomp, smc_fa = a$fa.values,
                       pc = a$pc.values, fa_nf = b$nfact, fa_nc = b$ncomp, fa_fa = b$fa.values)
        """,
        {"x": x},
    )
    smc = E.parallel_analysis(x, n_iter=500, seed=1)
    np.testing.assert_allclose(smc.table["component_observed"], r["pc"], atol=1e-10)
    np.testing.assert_allclose(smc.table["factor_observed"], r["smc_fa"], atol=1e-10)
    assert (smc.n_factors, smc.n_components) == (r["smc_nf"], r["smc_nc"]) == (3, 3)
    one_factor = E.parallel_analysis(x, n_iter=100, seed=1, factor_eigen="fa")
    np.testing.assert_allclose(one_factor.table["factor_observed"], r["fa_fa"], atol=1e-6)
    assert (one_factor.n_factors, one_factor.n_components) == (r["fa_nf"], r["fa_nc"]) == (3, 3)


@requires_r
@pytest.mark.r
def test_spss_view_matches_psych_principal_varimax(data):
    r = run_r(
        """
        library(psych); x <- data$x
        p <- principal(x, 4, rotate = "varimax")
        result <- list(loadings = unclass(p$loadings), values = p$values,
                       ss = unname(p$Vaccounted[1, ]))
        """,
        {"x": data},
    )
    view = E.spss_pca(data, n_components=4)
    ref = np.array(r["loadings"])
    perm, signs = align(view.rotated.to_numpy(), ref)
    np.testing.assert_allclose(view.rotated.to_numpy()[:, perm] * signs, ref, atol=1e-8)
    tv = view.total_variance()
    np.testing.assert_allclose(tv["initial_total"], r["values"], atol=1e-10)
    np.testing.assert_allclose(tv["rotation_total"].iloc[:4].to_numpy()[perm], r["ss"], atol=1e-8)


def test_a_rotation_that_does_not_converge_is_kept_with_a_warning(data):
    # psych/GPArotation warn and return the solution; the chain reports it with a flag.
    with pytest.warns(RuntimeWarning, match="oblimin rotation of 4 factors did not converge in 3"):
        res = E.efa(data, 4, rotation_max_iter=3)
    assert not res.rotation_converged
    unrotated = E.efa(data, 4, rotation="none")
    model = unrotated.loadings.to_numpy() @ unrotated.loadings.to_numpy().T
    pattern, phi = res.loadings.to_numpy(), res.phi.to_numpy()
    # a rotation, converged or not, leaves the common-factor model unchanged
    np.testing.assert_allclose(pattern @ phi @ pattern.T, model, atol=1e-8)
    assert E.efa(data, 4).rotation_converged


@requires_r
@pytest.mark.r
def test_an_unconverged_oblimin_matches_gparotation(data):
    unrotated = E.efa(data, 4, rotation="none").loadings.to_numpy()
    r = run_r(
        """
        library(GPArotation)
        a <- as.matrix(data$a)
        f <- suppressWarnings(oblimin(a, maxit = 3))
        result <- list(loadings = unclass(f$loadings), phi = f$Phi, converged = f$convergence)
        """,
        {"a": pd.DataFrame(unrotated)},
    )
    pattern, phi, converged = E.oblimin(unrotated, max_iter=3)
    assert converged is False and r["converged"] is False
    np.testing.assert_allclose(pattern, np.array(r["loadings"]), atol=1e-10)
    np.testing.assert_allclose(phi, np.array(r["phi"]), atol=1e-10)
