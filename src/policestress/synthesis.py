"""Which sources of stress matter most: standardized regression, relative importance, ERI increment.

The perceived-stress outcome (``score_perceived_stress``) is regressed on the stress-source
domain scores and, separately, on the construct (sub-dimension) scores.

* :func:`standardized_regression` - OLS on z-scored variables (listwise complete cases);
  the coefficients are the standardized betas of R's ``lm(scale(y) ~ scale(x1) + ...)``
  (cross-checked in ``tests/test_synthesis.py``).
* Relative importance, two measures that both split the model R^2 over the predictors:

  - :func:`dominance_weights` - general dominance weights (Budescu 1993; Azen & Budescu
    2003), identical to the LMG measure of R's ``relaimpo``: the increase in R^2 from
    adding a predictor, averaged over all subsets of the others within each subset size,
    then over sizes. Exact, but needs all 2^k subsets: bootstrapped for the 4 domains,
    computed once for the constructs as a check on the relative weights. (``relaimpo`` is
    not installed here; the tests check the weights against R ``lm()`` fits of every subset
    and against the closed form for two predictors.)
  - :func:`relative_weights` - Johnson's (2000) relative weights: the predictors are
    replaced by their closest orthogonal counterparts, whose contributions are split back.
    One eigendecomposition, so cheap enough to bootstrap 15+ constructs; it approximates
    general dominance closely (Johnson 2000; LeBreton et al. 2004). Used for constructs.

* :func:`bootstrap_importance` - percentile bootstrap CIs of the weights and of each
  predictor's rank. Every resample draws from its own child of
  ``numpy.random.SeedSequence(seed)``, so the result depends on the seed only, never on the
  number of joblib workers.
* :func:`incremental_r2` - hierarchical regression: what effort-reward imbalance adds
  (log ER ratio and overcommitment) over the stress sources (F test of the R^2 change, as
  R's ``anova(m1, m2)``).
* :func:`structural_model` - a structural equation model: each domain a latent variable
  measured by its construct scores, perceived stress a latent variable measured by its items,
  regressed on the four domains (ML with the SEM engine :mod:`policestress.sem`, whose
  statistics follow lavaan; the standardized paths are cross-checked against
  ``lavaan::sem`` in the tests). Unlike the regressions it separates measurement error from
  the domains' effects.

Missing data: listwise deletion on the variables of each model (scores are already means of
the answered items); the ``n`` column says how many respondents entered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.outliers_influence import variance_inflation_factor
from statsmodels.tools.tools import add_constant
from tqdm import tqdm  # text bar: no ipywidgets needed in JupyterLab or papermill

from policestress.codebook_models import structural_syntax as structural_syntax  # re-export
from policestress.importance import MAX_DOMINANCE_PREDICTORS as MAX_DOMINANCE_PREDICTORS
from policestress.importance import METHODS as _IMPORTANCE
from policestress.importance import bootstrap_chunk
from policestress.missing_data import complete_cases

IMPORTANCE_METHODS = ("dominance", "relative_weights")


def standardized_regression(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str], alpha: float = 0.05
) -> pd.DataFrame:
    """OLS regression of ``outcome`` on ``predictors``, all z-scored (standardized betas).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    outcome : str
        Column of the dependent variable.
    predictors : list of str
        Columns of the predictors.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per predictor: ``predictor, beta, se, t, p, ci_low, ci_high, vif`` and the
        model's ``n, r2, adj_r2, f, f_p`` (repeated on every row, so the table stays tidy).
        ``beta`` is the standardized coefficient (variables z-scored with the n - 1 SD, as
        R's ``scale``), with its OLS standard error and t-based interval.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame(rng.normal(size=(200, 2)), columns=["x1", "x2"])
    >>> d["y"] = 0.5 * d["x1"] + rng.normal(size=200)
    >>> standardized_regression(d, "y", ["x1", "x2"])[["predictor", "beta"]].round(2)
      predictor  beta
    0        x1  0.43
    1        x2  0.01
    """
    predictors = list(predictors)
    d = complete_cases(data, [outcome, *predictors])
    z = (d - d.mean()) / d.std(ddof=1)
    exog = add_constant(z[predictors])
    fit = OLS(z[outcome], exog).fit()
    ci = fit.conf_int(alpha)
    vif = [variance_inflation_factor(exog.to_numpy(), i + 1) for i in range(len(predictors))]
    return pd.DataFrame(
        {
            "predictor": predictors,
            "beta": fit.params[predictors].to_numpy(),
            "se": fit.bse[predictors].to_numpy(),
            "t": fit.tvalues[predictors].to_numpy(),
            "p": fit.pvalues[predictors].to_numpy(),
            "ci_low": ci.loc[predictors, 0].to_numpy(),
            "ci_high": ci.loc[predictors, 1].to_numpy(),
            "vif": vif,
            "n": int(fit.nobs),
            "r2": fit.rsquared,
            "adj_r2": fit.rsquared_adj,
            "f": fit.fvalue,
            "f_p": fit.f_pvalue,
        }
    )


def _check_method(method: str) -> None:
    if method not in _IMPORTANCE:
        raise ValueError(f"method must be one of {IMPORTANCE_METHODS}, not {method!r}")


def _importance(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str], method: str
) -> pd.DataFrame:
    _check_method(method)
    predictors = list(predictors)
    d = complete_cases(data, [*predictors, outcome])
    weights = _IMPORTANCE[method](np.corrcoef(d.to_numpy(), rowvar=False))
    r2 = weights.sum()
    return pd.DataFrame(
        {
            "predictor": predictors,
            "weight": weights,
            "share": weights / r2,
            "r2": r2,
            "n": len(d),
            "method": method,
        }
    )


def dominance_weights(data: pd.DataFrame, outcome: str, predictors: Sequence[str]) -> pd.DataFrame:
    """General dominance weights of ``predictors`` for ``outcome`` (they sum to the model R^2).

    Returns
    -------
    DataFrame
        ``predictor, weight, share, r2, n, method``: ``weight`` is the general dominance
        weight, ``share`` = weight / R^2.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> d = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> d["y"] = d["a"] + 0.5 * d["b"] + rng.normal(size=300)
    >>> w = dominance_weights(d, "y", ["a", "b", "c"])
    >>> bool(np.isclose(w["weight"].sum(), w["r2"].iloc[0]))
    True
    """
    return _importance(data, outcome, predictors, "dominance")


def relative_weights(data: pd.DataFrame, outcome: str, predictors: Sequence[str]) -> pd.DataFrame:
    """Johnson's (2000) relative weights of ``predictors`` for ``outcome`` (sum to R^2).

    Returns
    -------
    DataFrame
        ``predictor, weight, share, r2, n, method`` as :func:`dominance_weights`.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> d = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> d["y"] = d["a"] + 0.5 * d["b"] + rng.normal(size=300)
    >>> relative_weights(d, "y", ["a", "b", "c"])["weight"].round(2).tolist()
    [0.49, 0.1, 0.0]
    """
    return _importance(data, outcome, predictors, "relative_weights")


def bootstrap_replicates(
    data: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    method: str = "dominance",
    n_boot: int = 1000,
    seed: int = 0,
    n_jobs: int | None = -1,
    chunk_size: int = 50,
    progress: bool = True,
) -> pd.DataFrame:
    """Importance weights on ``n_boot`` bootstrap resamples (rows: resamples, columns: predictors).

    Resample ``b`` draws its row indices from ``numpy.random.default_rng(child_b)``, where
    ``child_b`` is the b-th child of ``SeedSequence(seed).spawn(n_boot)``; the resamples are
    split into chunks that joblib runs on ``n_jobs`` workers (-1: every core). The result
    therefore does not depend on ``n_jobs`` or ``chunk_size``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> d = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "y"])
    >>> bootstrap_replicates(d, "y", ["a", "b"], n_boot=20, n_jobs=1, progress=False).shape
    (20, 2)
    """
    _check_method(method)
    predictors = list(predictors)
    values = complete_cases(data, [*predictors, outcome]).to_numpy()
    children = np.random.SeedSequence(seed).spawn(n_boot)
    chunks = [children[i : i + chunk_size] for i in range(0, n_boot, chunk_size)]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(bootstrap_chunk)(values, chunk, method) for chunk in chunks
    )
    results = []
    with tqdm(total=n_boot, desc=f"bootstrap {method}", disable=not progress) as bar:
        for block in jobs:  # in submission order, whatever finishes first
            results.append(block)
            bar.update(len(block))
    return pd.DataFrame(np.vstack(results), columns=predictors).rename_axis("replicate")


def summarize_importance(
    point: pd.DataFrame, replicates: pd.DataFrame, ci: float = 0.95
) -> pd.DataFrame:
    """Percentile bootstrap CIs of importance weights and of the predictors' ranks.

    Parameters
    ----------
    point : DataFrame
        Output of :func:`dominance_weights` or :func:`relative_weights` on the full sample.
    replicates : DataFrame
        Output of :func:`bootstrap_replicates` with the same method.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        ``point``'s columns plus ``ci_low, ci_high, se_boot`` (of the weight), ``rank``
        (1 = most important, on the full sample), ``rank_ci_low, rank_ci_high`` (percentile
        interval of the rank over resamples), ``p_first`` (share of resamples in which the
        predictor ranks first), ``n_boot``; sorted by rank.

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> d = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "y"])
    >>> d["y"] += d["a"]
    >>> point = dominance_weights(d, "y", ["a", "b"])
    >>> reps = bootstrap_replicates(d, "y", ["a", "b"], n_boot=50, n_jobs=1, progress=False)
    >>> summarize_importance(point, reps)[["predictor", "rank", "p_first"]]
      predictor  rank  p_first
    0         a     1      1.0
    1         b     2      0.0
    """
    lo, hi = (1 - ci) / 2, 1 - (1 - ci) / 2
    reps = replicates[point["predictor"].tolist()]
    ranks = reps.rank(axis=1, ascending=False, method="min")
    out = point.copy()
    out["ci_low"] = reps.quantile(lo).to_numpy()
    out["ci_high"] = reps.quantile(hi).to_numpy()
    out["se_boot"] = reps.std(ddof=1).to_numpy()
    out["rank"] = out["weight"].rank(ascending=False, method="min").astype(int).to_numpy()
    # Ranks are integers: the "lower" / "higher" quantile keeps the interval on whole ranks.
    out["rank_ci_low"] = ranks.quantile(lo, interpolation="lower").astype(int).to_numpy()
    out["rank_ci_high"] = ranks.quantile(hi, interpolation="higher").astype(int).to_numpy()
    out["p_first"] = (ranks == 1).mean().to_numpy()
    out["n_boot"] = len(reps)
    return out.sort_values("rank", kind="stable").reset_index(drop=True)


def bootstrap_importance(
    data: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    method: str = "dominance",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    n_jobs: int | None = -1,
    progress: bool = True,
) -> pd.DataFrame:
    """Relative importance with bootstrap CIs of the weights and ranks, in one call.

    ``method`` is ``"dominance"`` (general dominance weights, at most
    :data:`MAX_DOMINANCE_PREDICTORS` predictors) or ``"relative_weights"`` (Johnson 2000).
    See :func:`bootstrap_replicates` and :func:`summarize_importance`.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> d = pd.DataFrame(rng.normal(size=(150, 3)), columns=["a", "b", "y"])
    >>> d["y"] += 0.8 * d["b"]
    >>> res = bootstrap_importance(d, "y", ["a", "b"], n_boot=40, n_jobs=1, progress=False)
    >>> res["predictor"].tolist()
    ['b', 'a']
    """
    point = _importance(data, outcome, predictors, method)
    reps = bootstrap_replicates(
        data,
        outcome,
        predictors,
        method,
        n_boot=n_boot,
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
    )
    return summarize_importance(point, reps, ci=ci)


def incremental_r2(
    data: pd.DataFrame, outcome: str, base: Sequence[str], added: Sequence[str]
) -> pd.DataFrame:
    """Hierarchical OLS: R^2 of ``base`` predictors, then of ``base + added``, and the F test.

    Both models are fitted on the same complete cases (of all variables), as R's
    ``anova(lm(y ~ base), lm(y ~ base + added))`` requires.

    Returns
    -------
    DataFrame
        Two rows (``step`` 1 and 2) with ``predictors`` (``+``-joined), ``n, r2, adj_r2,
        delta_r2, f_change, df1, df2, p_change`` (the change columns are NaN on step 1, except
        ``delta_r2`` = R^2 of step 1).

    Examples
    --------
    >>> rng = np.random.default_rng(6)
    >>> d = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "y"])
    >>> d["y"] += d["a"] + 0.5 * d["b"]
    >>> incremental_r2(d, "y", ["a"], ["b"])[["step", "delta_r2"]].round(2)
       step  delta_r2
    0     1      0.46
    1     2      0.13
    """
    base, added = list(base), list(added)
    d = complete_cases(data, [outcome, *base, *added])
    fits = [OLS(d[outcome], add_constant(d[cols])).fit() for cols in (base, base + added)]
    r2_1, r2_2 = fits[0].rsquared, fits[1].rsquared
    df1, df2 = len(added), int(fits[1].df_resid)
    f_change = ((r2_2 - r2_1) / df1) / ((1 - r2_2) / df2)
    return pd.DataFrame(
        {
            "step": [1, 2],
            "predictors": ["+".join(base), "+".join(base + added)],
            "n": len(d),
            "r2": [r2_1, r2_2],
            "adj_r2": [fits[0].rsquared_adj, fits[1].rsquared_adj],
            "delta_r2": [r2_1, r2_2 - r2_1],
            "f_change": [np.nan, f_change],
            "df1": [np.nan, df1],
            "df2": [np.nan, df2],
            "p_change": [np.nan, stats.f.sf(f_change, df1, df2)],
        }
    )


def add_log_eri_ratio(data: pd.DataFrame, ratio: str = "eri_ratio") -> pd.DataFrame:
    """Copy of ``data`` with ``eri_log_ratio`` = ln(ER ratio).

    The ER ratio is a quotient (1 = balance), skewed to the right; its logarithm is symmetric
    around 0 and is the usual form in regressions.

    Examples
    --------
    >>> add_log_eri_ratio(pd.DataFrame({"eri_ratio": [1.0, np.e]}))["eri_log_ratio"].tolist()
    [0.0, 1.0]
    """
    out = data.copy()
    ratio_values = pd.to_numeric(out[ratio])
    if (ratio_values <= 0).any():
        raise ValueError(f"{ratio} has values <= 0; its logarithm is undefined")
    out["eri_log_ratio"] = np.log(ratio_values)
    return out


def score_ranking(
    data: pd.DataFrame, importance: pd.DataFrame, level: str, labels: dict[str, str] | None = None
) -> pd.DataFrame:
    """Ranking of stress sources by importance for the outcome, beside their mean level.

    Two different questions: which sources officers *rate* as most stressful (mean score of
    the source, ``mean_rank``), and which sources *explain* perceived stress (importance
    ``rank`` with its bootstrap interval). ``sd`` and ``sd_rank`` show where officers differ most.

    Parameters
    ----------
    data : DataFrame
        Holds the predictor columns (``score_<source>``).
    importance : DataFrame
        Output of :func:`bootstrap_importance`.
    level : str
        ``"domain"`` or ``"construct"``, copied into the table.
    labels : dict, optional
        predictor column -> readable label.

    Returns
    -------
    DataFrame
        ``level, source, label, rank, rank_ci_low, rank_ci_high, p_first, weight, ci_low,
        ci_high, share, mean, sd, mean_rank, sd_rank, method``, sorted by ``rank``.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> d = pd.DataFrame(rng.normal(3, 1, size=(100, 3)), columns=["score_a", "score_b", "y"])
    >>> imp = bootstrap_importance(d, "y", ["score_a", "score_b"], n_boot=20, n_jobs=1,
    ...                            progress=False)
    >>> score_ranking(d, imp, "domain")["source"].tolist() in (["a", "b"], ["b", "a"])
    True
    """
    labels = labels or {}
    cols = importance["predictor"].tolist()
    means = data[cols].mean()
    sds = data[cols].std(ddof=1)
    out = pd.DataFrame(
        {
            "level": level,
            "source": [c.removeprefix("score_") for c in cols],
            "label": [labels.get(c, c.removeprefix("score_")) for c in cols],
            "rank": importance["rank"].to_numpy(),
            "rank_ci_low": importance["rank_ci_low"].to_numpy(),
            "rank_ci_high": importance["rank_ci_high"].to_numpy(),
            "p_first": importance["p_first"].to_numpy(),
            "weight": importance["weight"].to_numpy(),
            "ci_low": importance["ci_low"].to_numpy(),
            "ci_high": importance["ci_high"].to_numpy(),
            "share": importance["share"].to_numpy(),
            "mean": means[cols].to_numpy(),
            "sd": sds[cols].to_numpy(),
            "mean_rank": means[cols].rank(ascending=False, method="min").astype(int).to_numpy(),
            "sd_rank": sds[cols].rank(ascending=False, method="min").astype(int).to_numpy(),
            "method": importance["method"].to_numpy(),
        }
    )
    return out.sort_values("rank", kind="stable").reset_index(drop=True)


def findings_evidence(
    ranking: pd.DataFrame,
    regression: pd.DataFrame,
    findings: list[dict],
) -> pd.DataFrame:
    """The evidence the data give for each claim to test, one row per source it names.

    The claims themselves are in :func:`findings_claims`.

    Parameters
    ----------
    ranking : DataFrame
        :func:`score_ranking` rows of both levels (``level`` domain and construct).
    regression : DataFrame
        :func:`standardized_regression` rows of both levels, with a ``level`` column added.
    findings : list of dict
        ``finding``, ``claim_en``, ``claim_zh``, ``sources`` (domain / construct names): a
        site's ``synthesis.findings`` (the default site holds the thesis abstract's four).

    Returns
    -------
    DataFrame
        ``finding, level, source, label, rank, n_sources, rank_ci_low, rank_ci_high,
        p_first, share, beta, beta_ci_low, beta_ci_high, p, mean_rank, sd_rank``: the
        source's importance rank among the sources of its level (with the bootstrap
        interval), its share of R^2, its standardized beta in the joint regression, and how
        it ranks by mean level and by spread (SD).

    Raises
    ------
    ValueError
        When a claim names a source that is not among the ranked sources.

    Examples
    --------
    >>> rank = pd.DataFrame({"level": ["construct"] * 2, "source": ["a", "b"],
    ...     "label": ["A", "B"], "rank": [1, 2], "rank_ci_low": [1, 1], "rank_ci_high": [2, 2],
    ...     "p_first": [0.8, 0.2], "share": [0.7, 0.3], "mean_rank": [2, 1], "sd_rank": [1, 2]})
    >>> reg = pd.DataFrame({"level": ["construct"] * 2, "predictor": ["score_a", "score_b"],
    ...     "beta": [0.4, 0.2], "ci_low": [0.3, 0.1], "ci_high": [0.5, 0.3], "p": [0.0, 0.01]})
    >>> spec = [{"finding": 1, "claim_en": "a matters", "claim_zh": "", "sources": ["a"]}]
    >>> findings_evidence(rank, reg, spec)[["finding", "source", "rank", "n_sources", "beta"]]
       finding source  rank  n_sources  beta
    0        1      a     1          2   0.4
    """
    unknown = [
        (spec["finding"], s)
        for spec in findings
        for s in spec["sources"]
        if s not in set(ranking["source"])
    ]
    if unknown:
        raise ValueError(
            f"claims name sources that are not ranked (finding, source): {unknown}; "
            f"ranked sources: {sorted(ranking['source'])}"
        )
    reg = regression.assign(source=regression["predictor"].str.removeprefix("score_"))
    reg = reg.set_index(["level", "source"])
    counts = ranking.groupby("level")["source"].count()
    rows = []
    for spec in findings:
        for source in spec["sources"]:
            r = ranking[ranking["source"] == source].iloc[0]
            b = reg.loc[(r["level"], source)] if (r["level"], source) in reg.index else None
            rows.append(
                {
                    "finding": spec["finding"],
                    "level": r["level"],
                    "source": source,
                    "label": r["label"],
                    "rank": r["rank"],
                    "n_sources": int(counts[r["level"]]),
                    "rank_ci_low": r["rank_ci_low"],
                    "rank_ci_high": r["rank_ci_high"],
                    "p_first": r["p_first"],
                    "share": r["share"],
                    "beta": np.nan if b is None else b["beta"],
                    "beta_ci_low": np.nan if b is None else b["ci_low"],
                    "beta_ci_high": np.nan if b is None else b["ci_high"],
                    "p": np.nan if b is None else b["p"],
                    "mean_rank": r["mean_rank"],
                    "sd_rank": r["sd_rank"],
                }
            )
    return pd.DataFrame(rows)


def findings_claims(findings: list[dict], language: str = "en") -> pd.DataFrame:
    """A site's claims to test as a table: ``finding, claim, sources``.

    Examples
    --------
    >>> spec = [{"finding": 1, "claim_en": "Workload matters", "claim_zh": "工作负荷重要",
    ...     "sources": ["workload"]}]
    >>> findings_claims(spec, language="zh")["claim"].iloc[0]
    '工作负荷重要'
    """
    return pd.DataFrame(
        {
            "finding": [f["finding"] for f in findings],
            "claim": [f.get(f"claim_{language}") or f.get("claim_en", "") for f in findings],
            "sources": [", ".join(f["sources"]) for f in findings],
        }
    )


def structural_model(
    data: pd.DataFrame,
    syntax: str,
    name: str = "sources_sem",
    estimator: str = "ML",
    missing: str = "listwise",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit a structural model with the SEM engine (``lavaan::sem``); return its paths and fit.

    Returns
    -------
    paths : DataFrame
        The regressions (``op == "~"``): ``lhs, op, rhs, est, se, z, p, std_all``, ``r2``
        (variance of the outcome explained by the latent domains, one value repeated) and ``n``.
    fit : DataFrame
        One row of lavaan-style fit statistics (:func:`policestress.sem.tables.fit_row`, the
        columns of ``cfa_fit.csv``: estimator, missing-data rule, n, ...).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> paths, fit = structural_model(
    ...     hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9\\n"
    ...     "speed ~ visual + textual")
    >>> paths["rhs"].tolist()
    ['visual', 'textual']
    """
    from policestress import sem
    from policestress.sem.fit import ConvergenceError
    from policestress.sem.tables import estimate_columns, fit_row

    result = sem.sem(syntax, data, estimator=estimator, missing=missing, name=name)
    if not (result.fitted and result.converged):
        raise ConvergenceError(f"structural model {name!r} did not converge: {result.message}")
    estimates = estimate_columns(result)
    columns = ["lhs", "op", "rhs", "est", "se", "z", "p", "std_all"]
    paths = estimates.loc[estimates["op"] == "~", columns]
    outcome = paths["lhs"].iloc[0]
    residual = estimates[
        (estimates["op"] == "~~") & (estimates["lhs"] == outcome) & (estimates["rhs"] == outcome)
    ]
    paths = paths.assign(r2=1 - float(residual["std_all"].iloc[0]), n=result.n)
    return paths.reset_index(drop=True), pd.DataFrame([fit_row(result, satorra_bentler=True)])
