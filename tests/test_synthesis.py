"""Synthesis: standardized regression, dominance / relative weights, bootstrap, ERI increment."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from rcheck import requires_r, run_r

from policestress import synthesis as syn

PREDICTORS = ["x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """Correlated predictors with a few missing values, like construct scores."""
    rng = np.random.default_rng(20240601)
    n = 240
    cov = 0.4 * np.ones((4, 4)) + 0.6 * np.eye(4)
    x = rng.multivariate_normal(np.zeros(4), cov, size=n) + 3
    y = x @ np.array([0.5, 0.3, 0.15, 0.0]) + rng.normal(scale=0.8, size=n)
    frame = pd.DataFrame(x, columns=PREDICTORS)
    frame["y"] = y
    frame["e1"] = 0.3 * x[:, 0] + rng.normal(size=n)
    frame["e2"] = 0.4 * y + rng.normal(size=n)
    frame.loc[[3, 50, 77], "x2"] = np.nan
    frame.loc[[10, 120], "y"] = np.nan
    return frame


def test_standardized_regression_matches_statsmodels_on_zscores(data):
    res = syn.standardized_regression(data, "y", PREDICTORS)
    d = data[["y", *PREDICTORS]].dropna()
    assert res["n"].iloc[0] == len(d) == 235
    # Standardized beta = raw slope * sd(x) / sd(y).
    raw = sm.OLS(d["y"], sm.add_constant(d[PREDICTORS])).fit()
    expected = raw.params[PREDICTORS] * d[PREDICTORS].std() / d["y"].std()
    np.testing.assert_allclose(res["beta"], expected.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res["r2"].iloc[0], raw.rsquared, rtol=1e-12)
    assert (res["ci_low"] < res["beta"]).all() and (res["beta"] < res["ci_high"]).all()


@requires_r
@pytest.mark.r
def test_standardized_regression_matches_r_lm(data):
    res = syn.standardized_regression(data, "y", PREDICTORS)
    r = run_r(
        """
        d <- na.omit(data[["d"]][, c("y", "x1", "x2", "x3", "x4")])
        m <- lm(scale(y) ~ scale(x1) + scale(x2) + scale(x3) + scale(x4), data = d)
        s <- summary(m)
        ci <- confint(m)
        result <- list(beta = unname(coef(m)[-1]), se = unname(s$coefficients[-1, 2]),
                       t = unname(s$coefficients[-1, 3]), p = unname(s$coefficients[-1, 4]),
                       lo = unname(ci[-1, 1]), hi = unname(ci[-1, 2]),
                       r2 = s$r.squared, adj = s$adj.r.squared,
                       f = unname(s$fstatistic[1]), n = nrow(d))
        """,
        {"d": data},
    )
    for ours, theirs in [
        ("beta", "beta"),
        ("se", "se"),
        ("t", "t"),
        ("p", "p"),
        ("ci_low", "lo"),
        ("ci_high", "hi"),
    ]:
        np.testing.assert_allclose(res[ours], r[theirs], rtol=1e-8, atol=1e-12)
    assert res["n"].iloc[0] == r["n"]
    np.testing.assert_allclose(res["r2"].iloc[0], r["r2"], rtol=1e-10)
    np.testing.assert_allclose(res["adj_r2"].iloc[0], r["adj"], rtol=1e-10)
    np.testing.assert_allclose(res["f"].iloc[0], r["f"], rtol=1e-10)


def test_dominance_two_predictors_closed_form(data):
    """k = 2: GD_1 = (r1^2 + (R^2 - r2^2)) / 2, computed by hand from correlations."""
    d = data[["x1", "x2", "y"]].dropna()
    c = d.corr().to_numpy()
    r1, r2, r12 = c[0, 2], c[1, 2], c[0, 1]
    full = (r1**2 + r2**2 - 2 * r1 * r2 * r12) / (1 - r12**2)
    expected = [(r1**2 + full - r2**2) / 2, (r2**2 + full - r1**2) / 2]
    res = syn.dominance_weights(data, "y", ["x1", "x2"])
    np.testing.assert_allclose(res["weight"], expected, rtol=1e-12)


def test_dominance_and_relative_weights_sum_to_r2(data):
    d = data[["y", *PREDICTORS]].dropna()
    r2 = sm.OLS(d["y"], sm.add_constant(d[PREDICTORS])).fit().rsquared
    for fn in (syn.dominance_weights, syn.relative_weights):
        res = fn(data, "y", PREDICTORS)
        np.testing.assert_allclose(res["weight"].sum(), r2, rtol=1e-10)
        np.testing.assert_allclose(res["share"].sum(), 1.0, rtol=1e-12)
        assert (res["weight"] > 0).all()


def test_dominance_brute_force_over_subsets(data):
    """General dominance by enumerating every subset with statsmodels OLS fits."""
    d = data[["y", *PREDICTORS]].dropna()

    def r2(cols):
        if not cols:
            return 0.0
        return sm.OLS(d["y"], sm.add_constant(d[list(cols)])).fit().rsquared

    k = len(PREDICTORS)
    expected = []
    for j in PREDICTORS:
        others = [p for p in PREDICTORS if p != j]
        by_size = [
            np.mean([r2([*s, j]) - r2(list(s)) for s in itertools.combinations(others, size)])
            for size in range(k)
        ]
        expected.append(np.mean(by_size))
    res = syn.dominance_weights(data, "y", PREDICTORS)
    np.testing.assert_allclose(res["weight"], expected, rtol=1e-10)


def test_relative_weights_of_uncorrelated_predictors_are_squared_correlations():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3))
    # Exactly uncorrelated columns: the weights reduce to r_j^2 (Johnson 2000).
    q, _ = np.linalg.qr(x - x.mean(axis=0))
    d = pd.DataFrame(q, columns=["a", "b", "c"])
    d["y"] = d @ [3.0, 2.0, 1.0] + rng.normal(size=500) * 0.05
    r = d.corr()["y"][["a", "b", "c"]].to_numpy()
    res = syn.relative_weights(d, "y", ["a", "b", "c"])
    np.testing.assert_allclose(res["weight"], r**2, rtol=1e-8)


def test_relative_weights_close_to_dominance(data):
    """Johnson's weights approximate general dominance (LeBreton et al. 2004)."""
    dom = syn.dominance_weights(data, "y", PREDICTORS)["weight"]
    rw = syn.relative_weights(data, "y", PREDICTORS)["weight"]
    np.testing.assert_allclose(rw, dom, atol=0.01)


@requires_r
@pytest.mark.r
def test_importance_matches_r(data):
    """R: dominance by lm() over every subset; relative weights by lm() on the orthogonal Z."""
    r = run_r(
        """
        d <- na.omit(data[["d"]][, c("y", "x1", "x2", "x3", "x4")])
        xs <- c("x1", "x2", "x3", "x4"); k <- length(xs)
        r2 <- function(v) if (length(v) == 0) 0 else
          summary(lm(reformulate(v, "y"), data = d))$r.squared
        gd <- sapply(xs, function(j) {
          others <- setdiff(xs, j)
          mean(sapply(0:(k - 1), function(s) {
            subs <- if (s == 0) list(character(0)) else combn(others, s, simplify = FALSE)
            mean(sapply(subs, function(v) r2(c(v, j)) - r2(v)))
          }))
        })
        X <- scale(as.matrix(d[, xs])); y <- scale(d$y)
        sv <- svd(X)
        Z <- sqrt(nrow(X) - 1) * sv$u %*% t(sv$v)   # orthogonal counterparts, unit variance
        beta <- coef(lm(y ~ Z - 1))                  # y on Z
        lambda <- coef(lm(X ~ Z - 1))                # X on Z (k x k)
        rw <- as.vector((t(lambda)^2) %*% (beta^2))
        result <- list(gd = unname(gd), rw = rw)
        """,
        {"d": data},
    )
    np.testing.assert_allclose(
        syn.dominance_weights(data, "y", PREDICTORS)["weight"], r["gd"], rtol=1e-8
    )
    np.testing.assert_allclose(
        syn.relative_weights(data, "y", PREDICTORS)["weight"], r["rw"], rtol=1e-8
    )


def test_dominance_refuses_too_many_predictors():
    rng = np.random.default_rng(0)
    d = pd.DataFrame(rng.normal(size=(60, 18)), columns=[f"x{i}" for i in range(18)])
    with pytest.raises(ValueError, match="relative_weights"):
        syn.dominance_weights(d, "x17", [f"x{i}" for i in range(17)])
    with pytest.raises(ValueError, match="method must be"):
        syn.bootstrap_importance(d, "x0", ["x1"], method="lmg", n_boot=2)


def test_bootstrap_reproducible_regardless_of_workers(data):
    kwargs = dict(n_boot=120, seed=11, progress=False)
    serial = syn.bootstrap_replicates(data, "y", PREDICTORS, n_jobs=1, chunk_size=50, **kwargs)
    parallel = syn.bootstrap_replicates(data, "y", PREDICTORS, n_jobs=2, chunk_size=7, **kwargs)
    pd.testing.assert_frame_equal(serial, parallel)
    other = syn.bootstrap_replicates(
        data, "y", PREDICTORS, n_jobs=1, n_boot=120, seed=12, progress=False
    )
    assert not np.allclose(serial.to_numpy(), other.to_numpy())
    # Replicate b depends only on its own child seed: the first 60 of 120 equal a 60-run.
    short = syn.bootstrap_replicates(
        data, "y", PREDICTORS, n_jobs=1, n_boot=60, seed=11, progress=False
    )
    pd.testing.assert_frame_equal(serial.iloc[:60], short)


def test_bootstrap_resample_is_a_resample_of_complete_cases(data):
    """Replicate 0 equals dominance weights on the rows its child seed draws."""
    d = data[[*PREDICTORS, "y"]].dropna().reset_index(drop=True)
    reps = syn.bootstrap_replicates(
        data, "y", PREDICTORS, n_boot=3, seed=5, n_jobs=1, progress=False
    )
    idx = np.random.default_rng(np.random.SeedSequence(5).spawn(3)[0]).integers(0, len(d), len(d))
    expected = syn.dominance_weights(d.iloc[idx], "y", PREDICTORS)["weight"].to_numpy()
    np.testing.assert_allclose(reps.iloc[0].to_numpy(), expected, rtol=1e-12)


def test_summarize_importance_ranks_and_intervals(data):
    res = syn.bootstrap_importance(
        data, "y", PREDICTORS, n_boot=200, seed=3, n_jobs=1, progress=False
    )
    assert res["predictor"].tolist()[0] == "x1"
    assert res["rank"].tolist() == [1, 2, 3, 4]
    assert (res["ci_low"] <= res["weight"]).all() and (res["weight"] <= res["ci_high"]).all()
    assert (res["rank_ci_low"] <= res["rank"]).all() and (res["rank"] <= res["rank_ci_high"]).all()
    np.testing.assert_allclose(res["p_first"].sum(), 1.0)
    assert res.loc[res["predictor"] == "x4", "rank_ci_low"].iloc[0] >= 3


def test_incremental_r2_matches_statsmodels_f_test(data):
    res = syn.incremental_r2(data, "y", PREDICTORS, ["e1", "e2"])
    d = data[["y", *PREDICTORS, "e1", "e2"]].dropna()
    m1 = sm.OLS(d["y"], sm.add_constant(d[PREDICTORS])).fit()
    m2 = sm.OLS(d["y"], sm.add_constant(d[[*PREDICTORS, "e1", "e2"]])).fit()
    f, p, df = m2.compare_f_test(m1)
    row = res.iloc[1]
    np.testing.assert_allclose([row["f_change"], row["p_change"], row["df1"]], [f, p, df])
    np.testing.assert_allclose(row["delta_r2"], m2.rsquared - m1.rsquared)


@requires_r
@pytest.mark.r
def test_incremental_r2_matches_r_anova(data):
    res = syn.incremental_r2(data, "y", PREDICTORS, ["e1", "e2"])
    r = run_r(
        """
        d <- na.omit(data[["d"]][, c("y", "x1", "x2", "x3", "x4", "e1", "e2")])
        m1 <- lm(y ~ x1 + x2 + x3 + x4, data = d)
        m2 <- lm(y ~ x1 + x2 + x3 + x4 + e1 + e2, data = d)
        a <- anova(m1, m2)
        result <- list(r2 = c(summary(m1)$r.squared, summary(m2)$r.squared),
                       f = a$F[2], p = a[["Pr(>F)"]][2], df1 = a$Df[2], df2 = a$Res.Df[2])
        """,
        {"d": data},
    )
    np.testing.assert_allclose(res["r2"], r["r2"], rtol=1e-10)
    row = res.iloc[1]
    np.testing.assert_allclose(row["f_change"], r["f"], rtol=1e-8)
    np.testing.assert_allclose(row["p_change"], r["p"], rtol=1e-6)
    assert (row["df1"], row["df2"]) == (r["df1"], r["df2"])


def test_log_eri_ratio_rejects_nonpositive():
    out = syn.add_log_eri_ratio(pd.DataFrame({"eri_ratio": [0.5, 2.0]}))
    np.testing.assert_allclose(out["eri_log_ratio"], np.log([0.5, 2.0]))
    with pytest.raises(ValueError, match="<= 0"):
        syn.add_log_eri_ratio(pd.DataFrame({"eri_ratio": [0.0]}))


def test_score_ranking_columns(data):
    d = data.rename(columns={c: f"score_{c}" for c in PREDICTORS})
    preds = [f"score_{c}" for c in PREDICTORS]
    imp = syn.bootstrap_importance(d, "y", preds, n_boot=50, n_jobs=1, progress=False)
    res = syn.score_ranking(d, imp, "construct", labels={"score_x1": "risk"})
    assert res["source"].tolist()[0] == "x1" and res["label"].tolist()[0] == "risk"
    np.testing.assert_allclose(res.set_index("source").loc["x3", "mean"], data["x3"].mean())
    assert sorted(res["mean_rank"]) == [1, 2, 3, 4]


@pytest.fixture(scope="module")
def sem_data() -> pd.DataFrame:
    """Three correlated latent sources (3 indicators each) and a latent outcome (3 items)."""
    rng = np.random.default_rng(99)
    n = 400
    phi = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.35], [0.3, 0.35, 1.0]])
    eta = rng.multivariate_normal(np.zeros(3), phi, size=n)
    stress = eta @ [0.5, 0.25, 0.1] + rng.normal(scale=0.7, size=n)
    columns = {}
    for k, name in enumerate(["a", "b", "c"]):
        for j, loading in enumerate([0.8, 0.7, 0.6]):
            columns[f"{name}{j + 1}"] = loading * eta[:, k] + rng.normal(scale=0.6, size=n)
    for j, loading in enumerate([0.9, 0.8, 0.7]):
        columns[f"s{j + 1}"] = loading * stress + rng.normal(scale=0.5, size=n)
    frame = pd.DataFrame(columns)
    frame.loc[[5, 17], "b2"] = np.nan
    return frame


SEM_SYNTAX = """A =~ a1 + a2 + a3
B =~ b1 + b2 + b3
C =~ c1 + c2 + c3
S =~ s1 + s2 + s3
S ~ A + B + C"""


@requires_r
@pytest.mark.r
def test_structural_model_matches_lavaan_sem(sem_data):
    paths, fit = syn.structural_model(sem_data, SEM_SYNTAX)
    r = run_r(
        f"""
        suppressPackageStartupMessages(library(lavaan))
        m <- sem('{SEM_SYNTAX}', data = data[["d"]], estimator = "ML")
        ss <- standardizedSolution(m)
        pe <- parameterEstimates(m)
        reg <- pe$op == "~"
        result <- list(rhs = pe$rhs[reg], est = pe$est[reg], se = pe$se[reg],
                       std = ss$est.std[ss$op == "~"], r2 = unname(inspect(m, "rsquare")["S"]),
                       chisq = unname(fitMeasures(m, "chisq")), df = unname(fitMeasures(m, "df")),
                       n = lavInspect(m, "nobs"))
        """,
        {"d": sem_data},
    )
    assert paths["rhs"].tolist() == r["rhs"] == ["A", "B", "C"]
    np.testing.assert_allclose(paths["est"], r["est"], atol=1e-4)
    np.testing.assert_allclose(paths["se"], r["se"], atol=1e-4)
    np.testing.assert_allclose(paths["std_all"], r["std"], atol=1e-4)
    np.testing.assert_allclose(paths["r2"].iloc[0], r["r2"], atol=1e-4)
    np.testing.assert_allclose(fit["chi2"].iloc[0], r["chisq"], rtol=1e-4)
    assert fit["df"].iloc[0] == r["df"] and paths["n"].iloc[0] == r["n"] == 398


def test_structural_syntax_from_a_codebook():
    from policestress.config import CODEBOOK_COLUMNS, Codebook

    rows = [
        ("W1", "stress_sources", "workload", "occupational"),
        ("R1", "stress_sources", "risk", "occupational"),
        ("A1", "stress_sources", "appraisal", "organizational"),
        ("P1", "outcome", "perceived_stress", "outcome"),
        ("P2", "outcome", "perceived_stress", "outcome"),
    ]
    table = pd.DataFrame(
        [
            {"item_id": i, "instrument": s, "construct": c, "domain": d, "type": "likert"}
            for i, s, c, d in rows
        ]
    ).reindex(columns=CODEBOOK_COLUMNS, fill_value="")
    text = syn.structural_syntax(Codebook(table, pd.DataFrame(columns=["name"])))
    assert text.splitlines() == [
        "occupational =~ score_workload + score_risk",
        "organizational =~ score_appraisal",
        "stress =~ P1 + P2",
        "stress ~ occupational + organizational",
    ]


def test_findings_evidence_takes_ranks_and_betas_of_the_named_sources(data):
    d = data.rename(columns={c: f"score_{c}" for c in PREDICTORS})
    preds = [f"score_{c}" for c in PREDICTORS]
    imp = syn.bootstrap_importance(d, "y", preds, n_boot=50, n_jobs=1, progress=False)
    ranking = syn.score_ranking(d, imp, "construct")
    regression = syn.standardized_regression(d, "y", preds).assign(level="construct")
    spec = [
        {"finding": 1, "claim_en": "x1 first", "sources": ["x1"]},
        {"finding": 2, "claim_en": "x4 too", "claim_zh": "x4 也是", "sources": ["x4", "x1"]},
    ]
    # a claim about a source the site does not measure is a configuration error, not skipped
    unmeasured = [{"finding": 3, "claim_en": "?", "sources": ["x1", "not_measured"]}]
    with pytest.raises(ValueError, match=r"\(3, 'not_measured'\)"):
        syn.findings_evidence(ranking, regression, unmeasured)
    evidence = syn.findings_evidence(ranking, regression, spec)
    assert evidence[["finding", "source"]].values.tolist() == [[1, "x1"], [2, "x4"], [2, "x1"]]
    x4 = evidence[evidence["source"] == "x4"].iloc[0]
    assert x4["rank"] == ranking.set_index("source").loc["x4", "rank"] and x4["n_sources"] == 4
    assert x4["beta"] == regression.set_index("predictor").loc["score_x4", "beta"]
    claims = syn.findings_claims(spec, "zh")
    assert claims["claim"].tolist() == ["x1 first", "x4 也是"]  # falls back to English
    from policestress.stagework.narrative import evidence_text

    assert "rank 1 of 4" in evidence_text(evidence.iloc[0], "en")
    assert "排名 1/4" in evidence_text(evidence.iloc[0], "zh")
