"""Confirmatory factor analysis: the stage's models, fitted by the SEM engine (:mod:`policestress.sem`).

This module is a thin user of :mod:`policestress.sem` (lavaan's ``cfa()`` semantics, its fit
measures, standard errors, standardized solution and modification indices, all checked
against lavaan): it builds the stage's models from the codebook (the one place codebook ->
model text lives), fits them, and shapes the stage tables:

* :func:`fit_measures` / :func:`fit_table`: the ``cfa_fit.csv`` rows
  (:func:`policestress.sem.tables.fit_row`: estimator, missing-data rule, n, lavaan's
  statistics, the Satorra-Bentler test of ML fits on complete data, ``converged`` and the
  ``reason`` a model failed);
* :func:`parameter_estimates`: estimates, SEs, z, p and ``std.all``;
* :func:`modification_indices` (lavaan's ``modindices``);
* composite reliability and AVE (semTools ``compRelSEM`` and ``AVE`` defaults), the
  Fornell-Larcker table and HTMT (semTools ``htmt``, ``htmt2 = TRUE``).

Missing data: ``missing="listwise"`` (lavaan's default: complete cases on *the model's* items;
``n`` and ``n_dropped`` say how many rows that kept and dropped) or ``missing="ml"`` (FIML:
every respondent with at least one answer). The stage reads the rule from site.yml
(``cfa.missing``, default ``ml``) and the estimator from ``cfa.estimator``.

Heywood cases: the estimator does not bound variances (as lavaan), so a negative variance is
reported as such; :func:`heywood_cases` lists every variance at or below 0 and every
standardized loading above 1 in absolute value. With ``allow_negative_variances=False`` the
model is fitted by semopy with its lower bound 0 on variances (fed from the parameter table),
and a variance at the bound is listed.

Examples
--------
>>> import semopy.examples
>>> hs = semopy.examples.holzinger39.get_data()
>>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
>>> fm = fit_measures(fit)
>>> round(float(fm["chi2"].iloc[0]), 3), round(float(fm["cfi"].iloc[0]), 3)
(85.306, 0.931)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from policestress import sem
from policestress.codebook_models import codebook_models as codebook_models  # re-export
from policestress.codebook_models import factor_syntax
from policestress.missing_data import complete_cases
from policestress.sem.fit import ConvergenceError, SEMFit
from policestress.sem.ordinal import ORDINAL_ESTIMATORS
from policestress.sem.syntax import parse_syntax
from policestress.sem.tables import estimate_columns, fit_row

__all__ = [
    "CUTOFFS",
    "CFAResult",
    "ConvergenceError",
    "factor_syntax",
    "codebook_models",
    "fit_cfa",
    "fit_models",
    "ordinal_missing",
    "fit_measures",
    "fit_table",
    "parameter_estimates",
    "heywood_cases",
    "composite_reliability",
    "average_variance_extracted",
    "validity_table",
    "fornell_larcker",
    "htmt",
    "modification_indices",
    "parse_syntax",
    "with_estimation",
]

# Conventional cut-offs, shown beside the statistics (never turned into verdicts).
CUTOFFS = pd.DataFrame(
    [
        ("chi2_df", "< 3 (some use < 5)", "Kline 2016"),
        ("cfi", ">= .90 acceptable, >= .95 good", "Hu & Bentler 1999"),
        ("tli", ">= .90 acceptable, >= .95 good", "Hu & Bentler 1999"),
        ("rmsea", "<= .08 acceptable, <= .06 good", "Hu & Bentler 1999; Browne & Cudeck 1993"),
        ("rmsea_pclose", "> .05 (close fit not rejected)", "Browne & Cudeck 1993"),
        ("srmr", "<= .08", "Hu & Bentler 1999"),
        ("gfi", ">= .90", "Joreskog & Sorbom 1984"),
        ("agfi", ">= .80 (some use .90)", "Joreskog & Sorbom 1984"),
        ("nfi", ">= .90", "Bentler & Bonett 1980"),
        ("cr", ">= .70 (.60 tolerated)", "Fornell & Larcker 1981; Bagozzi & Yi 1988"),
        ("ave", ">= .50", "Fornell & Larcker 1981"),
        ("htmt", "< .85 (liberal .90)", "Henseler, Ringle & Sarstedt 2015"),
    ],
    columns=["statistic", "cutoff", "source"],
)

_SB_MAX_ITEMS = 80  # Satorra-Bentler needs a p* x p* fourth-moment matrix: skip beyond this

CFAResult = SEMFit  # a fitted CFA model is the engine's fitted model


# ------------------------------------------------------------------------------ fitting


def fit_cfa(
    data: pd.DataFrame,
    syntax: str,
    name: str = "model",
    *,
    estimator: str = "ML",
    missing: str = "listwise",
    allow_negative_variances: bool = True,
    maxiter: int = 500,
    raise_on_failure: bool = True,
) -> SEMFit:
    """Fit a CFA model as ``lavaan::cfa(syntax, data, estimator=, missing=)``.

    Parameters
    ----------
    data : DataFrame
        Must hold every observed variable of the model; other columns are ignored.
    syntax : str
        Model in lavaan syntax (the whole syntax: :mod:`policestress.sem.syntax`).
    name : str
        Model name carried into every table.
    estimator, missing : str
        ``ML``, ``MLM`` or ``MLR``; ``listwise`` or ``ml`` (FIML). ``WLSMV`` or ``ULSMV``
        fit the items as ordered categories (lavaan's ``ordered = TRUE``,
        :mod:`policestress.sem.ordinal`), with ``listwise`` or ``pairwise`` missing data
        (``ml`` is read as ``pairwise``: see :func:`ordinal_missing`).
    allow_negative_variances : bool
        Variances unbounded, as lavaan (default). False fits the model with semopy keeping
        its lower bound 0 on variances; :func:`heywood_cases` then reports variances at 0.
    maxiter : int
        Iteration limit of the optimiser.
    raise_on_failure : bool
        Raise :class:`ConvergenceError` when the model was not fitted or did not converge;
        otherwise warn and return it with ``converged = False`` and the reason in
        ``fit.warnings``.

    Returns
    -------
    SEMFit

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6", "two")
    >>> fit.n, fit.converged
    (301, True)
    """
    ordinal = estimator.upper() in ORDINAL_ESTIMATORS
    if ordinal and not allow_negative_variances:
        raise ValueError(
            f"CFA model {name!r}: estimator {estimator!r} derives the items' residual "
            "variances (delta parameterization); bounded variances need an ML estimator"
        )
    fit = sem.cfa(
        syntax,
        data,
        estimator=estimator,
        missing=ordinal_missing(missing) if ordinal else missing,
        ordered=True if ordinal else None,
        name=name,
        backend="engine" if allow_negative_variances else "semopy",
        bounded=not allow_negative_variances,
        max_iter=maxiter,
    )
    if not (fit.fitted and fit.converged):
        text = f"CFA model {name!r} did not converge: {fit.message}"
        if raise_on_failure:
            raise ConvergenceError(text)
        warnings.warn(text, stacklevel=2)
    return fit


def ordinal_missing(missing: str) -> str:
    """The missing-data rule of an ordinal (WLSMV / ULSMV) fit for the stage's ``missing``:
    these estimators have no full-information likelihood, so ``ml`` (the stages' default)
    becomes ``pairwise`` (lavaan's ``missing = "pairwise"``: each polychoric correlation
    from the respondents who answered both items); the fit table's ``missing`` column
    says which rule was used.

    >>> ordinal_missing("ml"), ordinal_missing("listwise")
    ('pairwise', 'listwise')
    """
    if missing not in ("ml", "pairwise", "listwise"):
        raise ValueError(f"missing must be 'listwise', 'pairwise' or 'ml', got {missing!r}")
    return "pairwise" if missing == "ml" else missing


def fit_models(
    data: pd.DataFrame, models: dict[str, str], progress: bool = True, **kwargs
) -> dict[str, SEMFit]:
    """Fit several models (name -> syntax) with :func:`fit_cfa`; a model that fails is kept,
    unfitted or unconverged, with the reason (never an exception); a tqdm bar shows progress.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fits = fit_models(hs, {"one": "g =~ x1 + x2 + x3 + x4"}, progress=False)
    >>> list(fits)
    ['one']
    """
    from tqdm import tqdm

    out = {}
    for name, syntax in tqdm(models.items(), desc="CFA models", disable=not progress):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the reason is in the fit row
            out[name] = fit_cfa(data, syntax, name, raise_on_failure=False, **kwargs)
    return out


# ----------------------------------------------------------------------- fit statistics


def fit_measures(fit: SEMFit, scaled: bool = True) -> pd.DataFrame:
    """One row of fit statistics with lavaan's definitions (the ``cfa_fit.csv`` row).

    Columns (:func:`policestress.sem.tables.fit_row`): ``model, estimator, missing, n,
    n_dropped, npar, chi2, df, p, baseline_chi2, baseline_df, cfi, tli, nfi, rmsea,
    rmsea_ci_low, rmsea_ci_high, rmsea_pclose, srmr, gfi, agfi, logl, unrestricted_logl, aic,
    bic, bic2, chi2_df``; for MLM/MLR the scaled statistic and robust indices
    (``chi2_scaled``, ``cfi_robust``, ...), for ML under FIML the robust ``cfi_robust,
    tli_robust, rmsea_robust`` (lavaan 0.6 reports them there too); with ``scaled`` the Satorra-Bentler columns
    ``chi2_sb, sb_scaling, p_sb`` of an ML fit (lavaan ``estimator = "MLM"``:
    ``chisq.scaled``, ``chisq.scaling.factor``, ``pvalue.scaled``; complete data and at
    most 80 items, else NaN); ``converged`` and ``reason``.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> fit_measures(fit)[["rmsea", "srmr", "gfi"]].round(3).to_dict("records")
    [{'rmsea': 0.092, 'srmr': 0.065, 'gfi': 0.943}]
    """
    return pd.DataFrame([fit_row(fit, satorra_bentler=scaled, sb_max_items=_SB_MAX_ITEMS)])


def fit_table(fits: dict[str, SEMFit] | list[SEMFit], scaled: bool = True) -> pd.DataFrame:
    """:func:`fit_measures` of several models, one row each (the ``cfa_fit.csv`` table).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fits = fit_models(hs, {"one": "g =~ x1 + x2 + x3 + x4 + x5 + x6"}, progress=False)
    >>> fit_table(fits)["df"].tolist()
    [9.0]
    """
    items = fits.values() if isinstance(fits, dict) else fits
    return pd.concat([fit_measures(f, scaled=scaled) for f in items], ignore_index=True)


# ----------------------------------------------------------------------- parameter table


def parameter_estimates(fit: SEMFit) -> pd.DataFrame:
    """Estimates, SEs, z, p and ``std.all``, as lavaan's ``parameterEstimates(standardized=)``.

    SEs as lavaan's defaults (expected information for ML on complete data, observed under
    FIML, robust for MLM/MLR). Fixed parameters (marker loadings) have ``se = 0`` and no
    z / p, as in lavaan. Ordered items (WLSMV / ULSMV) add their thresholds (op ``|``). A
    model that was not fitted gives an empty table.

    Returns
    -------
    DataFrame with ``model, lhs, op, rhs, free, est, se, z, p, std_all``.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> est = parameter_estimates(fit)
    >>> row = (est["op"] == "=~") & (est["rhs"] == "x2")
    >>> est.loc[row, ["est", "se", "std_all"]].round(3).to_dict("records")
    [{'est': 0.554, 'se': 0.1, 'std_all': 0.424}]
    """
    cols = ["model", "lhs", "op", "rhs", "free", "est", "se", "z", "p", "std_all"]
    if not fit.fitted:
        return pd.DataFrame(columns=cols)
    table = estimate_columns(fit)
    # the stage lists parameters: thresholds are parameters of an ordinal fit
    table = table[table["op"].isin(["=~", "~", "~~", "~1", "|"])]
    table.insert(0, "model", fit.name)
    return table[cols].reset_index(drop=True)


def heywood_cases(
    estimates: pd.DataFrame, fit: SEMFit | None = None, tol: float = 1e-6
) -> pd.DataFrame:
    """Improper estimates: variances <= 0 (or at semopy's bound 0) and ``|std.all| > 1``.

    Parameters
    ----------
    estimates : DataFrame
        Output of :func:`parameter_estimates` (one or several models).
    fit : CFAResult, optional
        Adds latent variables whose total variance (``Phi``) is not positive.
    tol : float
        A variance with ``|est| < tol`` counts as "at the bound 0".

    Returns
    -------
    DataFrame with ``model, lhs, op, rhs, est, std_all, problem`` (empty when none).

    Examples
    --------
    >>> est = pd.DataFrame({"model": ["m"] * 2, "lhs": ["x1", "f"], "op": ["~~", "=~"],
    ...     "rhs": ["x1", "x2"], "est": [-0.1, 1.2], "std_all": [-0.1, 1.05]})
    >>> heywood_cases(est)["problem"].tolist()
    ['negative variance', 'standardized estimate above 1 in absolute value']
    """
    rows = []
    for rec in estimates.to_dict("records"):
        is_var = rec["op"] == "~~" and rec["lhs"] == rec["rhs"]
        problem = None
        if is_var and rec["est"] < -tol:
            problem = "negative variance"
        elif is_var and abs(rec["est"]) <= tol:
            problem = "variance at zero (boundary)"
        elif rec["op"] in ("=~", "~") and abs(rec["std_all"]) > 1:
            problem = "standardized estimate above 1 in absolute value"
        if problem:
            rows.append(
                {
                    **{k: rec[k] for k in ("model", "lhs", "op", "rhs", "est", "std_all")},
                    "problem": problem,
                }
            )
    if fit is not None and fit.fitted:
        for k, name in enumerate(fit.latent):
            if fit.latent_cov[k, k] <= tol:
                rows.append(
                    {
                        "model": fit.name,
                        "lhs": name,
                        "op": "~~",
                        "rhs": name,
                        "est": fit.latent_cov[k, k],
                        "std_all": math.nan,
                        "problem": "latent variance not positive",
                    }
                )
    columns = ["model", "lhs", "op", "rhs", "est", "std_all", "problem"]
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- validity


def _loadings(fit: SEMFit) -> pd.DataFrame:
    """Lambda as a DataFrame (observed x latent)."""
    k = len(fit.latent)
    return pd.DataFrame(fit.matrices(0).lam[:, :k], index=fit.observed, columns=fit.latent)


def _first_order(fit: SEMFit) -> list[str]:
    lam = _loadings(fit)
    return [f for f in fit.latent if (lam[f] != 0).sum() > 1]


def composite_reliability(fit: SEMFit, higher: bool = True) -> pd.Series:
    """Composite reliability (omega) of each factor, as semTools ``compRelSEM`` (defaults).

    Variant: ``obs.var = TRUE``, ``tau.eq = FALSE``: ``(sum lambda)^2 phi / 1' S 1`` with the
    *sample* covariance ``S`` of the factor's indicators in the denominator (semTools'
    ``omega3`` in the older ``reliability()``). With ``higher`` the second-order factors get
    ``compRelSEM(higher = ...)``: the share of the total-score variance of all their
    indicators explained by the higher-order factor (omega_L2-like).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> composite_reliability(fit).round(3).to_dict()
    {'visual': 0.612, 'textual': 0.885, 'speed': 0.686}
    """
    if not fit.fitted:  # a model that failed has no reliability: its fit row says why
        return pd.Series(dtype=float, name="cr")
    lam = _loadings(fit)
    s = pd.DataFrame(fit.sample_cov, index=fit.observed, columns=fit.observed)
    phi = pd.DataFrame(fit.latent_cov, index=fit.latent, columns=fit.latent)
    out = {}
    for f in _ordered_factors(fit):
        if f in _first_order(fit):
            items = lam.index[lam[f] != 0]
            out[f] = float(
                lam.loc[items, f].sum() ** 2 * phi.loc[f, f] / s.loc[items, items].to_numpy().sum()
            )
        elif higher:
            k = len(fit.latent)
            beta = pd.DataFrame(fit.matrices(0).beta[:k, :k], index=fit.latent, columns=fit.latent)
            lower = beta.index[beta[f] != 0]
            if len(lower) == 0:
                continue
            eff = lam[lower] @ beta.loc[lower, f]  # item loadings on the higher factor
            items = eff.index[eff != 0]
            out[f] = float(
                eff[items].sum() ** 2 * phi.loc[f, f] / s.loc[items, items].to_numpy().sum()
            )
    return pd.Series(out, name="cr")


def average_variance_extracted(fit: SEMFit) -> pd.Series:
    """Average variance extracted, as semTools ``AVE`` (``obs.var = TRUE``).

    ``sum(lambda^2) phi / sum(diag S)`` over the factor's indicators (sample variances);
    NaN for a factor with a cross-loading indicator, as semTools. First-order factors only.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> average_variance_extracted(fit).round(3).to_dict()
    {'visual': 0.371, 'textual': 0.721, 'speed': 0.424}
    """
    if not fit.fitted:
        return pd.Series(dtype=float, name="ave")
    lam = _loadings(fit)
    first = _first_order(fit)
    sub = lam[first]
    cross = (sub.round(5) != 0).sum(axis=1) > 1
    var = pd.Series(np.diag(fit.sample_cov), index=fit.observed)
    phi = pd.Series(np.diag(fit.latent_cov), index=fit.latent)
    out = {}
    for f in [f for f in _ordered_factors(fit) if f in first]:
        items = sub.index[sub[f] != 0]
        if cross[items].any():
            out[f] = math.nan
            continue
        out[f] = float((sub.loc[items, f] ** 2).sum() * phi[f] / var[items].sum())
    return pd.Series(out, name="ave")


def _ordered_factors(fit: SEMFit) -> list[str]:
    """Latent variables in the order the syntax introduces them."""
    return list(fit.latent)


def validity_table(fit: SEMFit) -> pd.DataFrame:
    """Convergent validity per factor: items, CR (compRelSEM), AVE, sqrt(AVE), max r.

    Returns
    -------
    DataFrame with ``model, factor, level, n_items, cr, ave, sqrt_ave, max_abs_r,
    fornell_larcker_ok`` (``sqrt_ave > max_abs_r``, the largest absolute correlation with
    another first-order factor); ``level`` is ``first`` or ``higher``.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> validity_table(fit)["fornell_larcker_ok"].tolist()
    [True, True, True]
    """
    if not fit.fitted:
        return pd.DataFrame()
    cr = composite_reliability(fit)
    ave = average_variance_extracted(fit)
    corr = _latent_correlations(fit)
    first = _first_order(fit)
    lam = _loadings(fit)
    rows = []
    for f in cr.index:
        level = "first" if f in first else "higher"
        others = [g for g in first if g != f]
        max_r = float(corr.loc[f, others].abs().max()) if level == "first" and others else math.nan
        sqrt_ave = math.sqrt(ave[f]) if f in ave and ave[f] >= 0 else math.nan
        rows.append(
            {
                "model": fit.name,
                "factor": f,
                "level": level,
                "n_items": int((lam[f] != 0).sum()) if level == "first" else math.nan,
                "cr": cr[f],
                "ave": ave.get(f, math.nan),
                "sqrt_ave": sqrt_ave,
                "max_abs_r": max_r,
                "fornell_larcker_ok": bool(sqrt_ave > max_r) if np.isfinite(max_r) else None,
            }
        )
    table = pd.DataFrame(rows)
    table["n_items"] = table["n_items"].astype("Int64")
    return table


def _latent_correlations(fit: SEMFit) -> pd.DataFrame:
    phi = fit.latent_cov
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(phi))
        corr = phi / np.outer(sd, sd)
    return pd.DataFrame(corr, index=fit.latent, columns=fit.latent)


def fornell_larcker(fit: SEMFit) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, latent correlations below it.

    First-order factors only, in syntax order; the upper triangle is left empty.

    Returns
    -------
    DataFrame with ``model, factor`` and one column per factor.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> round(float(fornell_larcker(fit).loc[1, "visual"]), 3)
    0.459
    """
    if not fit.fitted:
        return pd.DataFrame(columns=["model", "factor"])
    first = [f for f in _ordered_factors(fit) if f in _first_order(fit)]
    corr = _latent_correlations(fit).loc[first, first]
    ave = average_variance_extracted(fit)
    table = corr.where(np.tril(np.ones(corr.shape, dtype=bool), -1))
    for f in first:
        table.loc[f, f] = math.sqrt(ave[f]) if ave[f] >= 0 else math.nan
    table.insert(0, "factor", first)
    table.insert(0, "model", fit.name)
    return table.reset_index(drop=True)


def htmt(
    data: pd.DataFrame, syntax: str, htmt2: bool = True, absolute: bool = True
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations, as semTools ``htmt``.

    Correlations of the complete cases on the model's indicators (``missing = "listwise"``).
    ``htmt2 = True`` (semTools >= 0.5-6 default) uses geometric means of the absolute
    correlations (Roemer, Schuberth & Henseler 2021); False gives the original arithmetic-mean
    HTMT. Factors measured by other factors only (second-order) are left out.

    A correlation of zero makes a geometric mean 0 in exact arithmetic and pure rounding noise
    in floating point (semTools included): such pairs are warned about and listed in
    ``result.attrs["degenerate"]``.

    Returns
    -------
    DataFrame with ``factor`` and one column per factor (symmetric, 1 on the diagonal).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> h = htmt(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> h.shape
    (3, 4)
    """
    table = parse_syntax(syntax)
    table = table[table["op"] == "=~"]
    factors = list(dict.fromkeys(table["lhs"]))
    items = {f: table.loc[table["lhs"] == f, "rhs"].tolist() for f in factors}
    factors = [f for f in factors if not any(i in items for i in items[f])]
    indicators = list(dict.fromkeys(i for f in factors for i in items[f]))
    frame = complete_cases(data, indicators)
    r = frame.corr()
    if absolute or htmt2:
        r = r.abs()
    r = r.to_numpy()
    np.fill_diagonal(r, np.nan)
    position = {x: k for k, x in enumerate(indicators)}

    degenerate = []

    def block_mean(a: list[str], b: list[str]) -> float:
        vals = r[np.ix_([position[x] for x in a], [position[x] for x in b])].ravel()
        vals = vals[~np.isnan(vals)]
        if not htmt2:
            return float(np.mean(vals))
        if np.any(vals < 1e-10):
            degenerate.append((a, b))
        return float(np.exp(np.mean(np.log(vals))))

    mono = {f: block_mean(items[f], items[f]) for f in factors}
    ratios = np.empty((len(factors), len(factors)))
    bad = []
    for i, a in enumerate(factors):
        for j, b in enumerate(factors):
            n_before = len(degenerate)
            ratios[i, j] = block_mean(items[a], items[b]) / math.sqrt(mono[a] * mono[b])
            if len(degenerate) > n_before:
                bad.append((a, b))
    out = pd.DataFrame(ratios, index=factors, columns=factors)
    if bad:
        # log(0): the geometric mean is decided by rounding noise (semTools does the same)
        warnings.warn(
            "HTMT2: a correlation of (numerically) zero between items of "
            f"{sorted({tuple(sorted(p)) for p in bad})}; these ratios are not reliable "
            "(use htmt2=False)",
            stacklevel=2,
        )
    out.insert(0, "factor", factors)
    out = out.reset_index(drop=True)
    out.attrs["degenerate"] = bad
    return out


# ------------------------------------------------------------------ modification indices


def modification_indices(fit: SEMFit, top: int | None = None, minimum: float = 0.0) -> pd.DataFrame:
    """Modification indices, EPC and standardized EPC, as lavaan's ``modindices``
    (:meth:`policestress.sem.SEMFit.modindices`).

    Parameters
    ----------
    top : int, optional
        Keep the ``top`` largest indices.
    minimum : float
        Keep indices above this value.

    Returns
    -------
    DataFrame with ``model, lhs, op, rhs, mi, epc, sepc_all``, sorted by ``mi`` (descending;
    ties, which equivalent parameters produce, by name).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> mi = modification_indices(fit, top=1)
    >>> mi[["lhs", "op", "rhs"]].iloc[0].tolist(), round(float(mi["mi"].iloc[0]), 3)
    (['visual', '=~', 'x9'], 36.411)
    """
    table = fit.modindices(minimum=minimum).rename(columns={"sepc.all": "sepc_all"})
    table.insert(0, "model", fit.name)
    table = table[["model", "lhs", "op", "rhs", "mi", "epc", "sepc_all"]]
    return table.head(top) if top is not None else table


def with_estimation(table: pd.DataFrame, fits: dict[str, SEMFit]) -> pd.DataFrame:
    """``table`` with the ``estimator``, ``missing`` rule and ``n`` of the model of each row
    (its ``model`` column), after ``model``: every stage table states how it was estimated.

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fits = fit_models(hs, {"one": "g =~ x1 + x2 + x3"}, progress=False)
    >>> with_estimation(pd.DataFrame({"model": ["one"], "x": [1]}), fits).columns.tolist()
    ['model', 'estimator', 'missing', 'n', 'x']
    """
    out = table.copy()
    at = out.columns.get_loc("model") + 1
    for k, (col, get) in enumerate(
        [
            ("estimator", lambda f: f.estimator),
            ("missing", lambda f: f.missing),
            ("n", lambda f: f.ntotal),
        ]  # fmt: skip
    ):
        values = out["model"].map({name: get(fit) for name, fit in fits.items()})
        if col in out.columns:
            out[col] = values
        else:
            out.insert(at + k, col, values)
    return out
