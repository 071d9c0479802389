"""Reliability of summated scales: Cronbach's alpha with its CI, McDonald's omega total.

Definitions (all matched to R in ``tests/test_reliability.py``):

Missing data
    **Listwise per scale**: every statistic of a scale uses the respondents who answered all
    of that scale's items (column ``n``), so alpha, its CI, omega, the corrected item-total
    correlations and alpha-if-item-deleted rest on the same people. R equivalents:
    ``psych::alpha(na.omit(x))`` and lavaan's default ``missing = "listwise"``. (psych's own
    default is pairwise covariances with the Feldt CI computed from *all* rows; pingouin's
    ``cronbach_alpha(nan_policy="listwise")`` likewise keeps the row count before deletion and
    rounds its CI to three decimals, which is why the CI is computed here.)
Cronbach's alpha
    ``k / (k - 1) * (1 - tr(C) / sum(C))`` with ``C`` the item covariance matrix
    (``psych::alpha()$total$raw_alpha``).
95% CI of alpha
    Feldt, Woodruff & Salih (1987), the interval ``psych::alpha`` stores as ``$feldt``
    (``psych::alpha.ci``) and pingouin reports:
    ``1 - (1 - alpha) * F(q; n - 1, (n - 1)(k - 1))`` at q = .975 (lower) and .025 (upper).
    psych also prints a "Duhachek" interval (alpha +- 1.96 * ase); it is not used here.
Omega total
    From a one-factor CFA fitted by maximum likelihood (factor variance fixed to 1) to the
    complete cases: ``omega = (sum lambda)^2 / sum(S)`` with ``S`` the observed covariance
    matrix of the items, i.e. ``semTools::compRelSEM(lavaan::cfa("f =~ x1 + ... + xk",
    std.lv = TRUE))`` with its default ``obs.var = TRUE``. Scales of two items have no
    identified one-factor model: omega is missing with a note. The model is fitted by
    :func:`policestress.cfa.fit_cfa` (the package's CFA: ML on ``S`` with divisor N, as
    lavaan, polished to the exact maximum) and omega is
    :func:`policestress.cfa.composite_reliability`; a residual variance <= 0 (Heywood case,
    :func:`policestress.cfa.heywood_cases`) is reported in ``note``, a model that does not
    converge (:class:`policestress.cfa.ConvergenceError`) leaves omega missing with a note.
    Omega agrees with lavaan to 1e-6 when lavaan is given ``control = list(rel.tol = 1e-13)``;
    lavaan's default tolerance leaves its omega up to ~1e-5 from the optimum. For a
    multidimensional item set (a domain of several constructs) the one-factor omega is a
    lower bound, since the model ignores the constructs' specific variance.
Ordinal alpha (``reliability_table(..., ordinal=True)``)
    Zumbo, Gadermann & Zeisser (2007): alpha of the polychoric correlation matrix ``R`` of
    the items, ``k / (k - 1) * (1 - k / sum(R))`` (``psych::alpha(polychoric(x)$rho)``);
    complete cases of the scale, polychorics as lavaan (:mod:`policestress.polychoric`).
Ordinal omega
    Green & Yang (2009) from a one-factor categorical CFA (WLSMV, factor variance 1), as
    ``semTools::compRelSEM(cfa(model, ordered = TRUE, std.lv = TRUE))`` with its default
    ``ord.scale = TRUE``: the share of the variance of the sum of the *observed* ordinal
    scores due to the factor, ``sum_jj' [sum_cc' Phi2(t_jc, t_j'c'; l_j l_j') -
    P_j P_j'] / sum_jj' [sum_cc' Phi2(t_jc, t_j'c'; r_jj') - P_j P_j']`` with ``P_j =
    sum_c Phi(t_jc)``, the model thresholds ``t`` and the polychoric correlations ``r``.
Corrected item-total correlation and alpha if item deleted
    ``psych::alpha()$item.stats$r.drop`` (the item against the sum of the other items) and
    ``psych::alpha()$alpha.drop$raw_alpha``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> f = rng.normal(size=300)
>>> data = pd.DataFrame({f"x{i}": f + rng.normal(size=300) for i in range(1, 5)})
>>> table = reliability_table(data, {"demo": ["x1", "x2", "x3", "x4"]})
>>> table[["scale", "n_items", "n"]].to_dict("records")
[{'scale': 'demo', 'n_items': 4, 'n': 300}]
>>> bool(0.7 < table.loc[0, "alpha"] < 0.9)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from policestress import cfa
from policestress.missing_data import complete_cases
from policestress.settings import default
from policestress.threads import one_blas_thread

DEFAULT_THRESHOLD: float = default("reliability.threshold")
RELIABILITY_COLUMNS = [
    "scale",
    "n_items",
    "n",
    "alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "omega",
    "alpha_below_threshold",
    "omega_below_threshold",
    "threshold",
    "note",
]


def _alpha_from_cov(cov: np.ndarray) -> float:
    k = cov.shape[0]
    return k / (k - 1) * (1 - np.trace(cov) / cov.sum())


def alpha_feldt_ci(alpha: float, n: int, k: int, ci: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for Cronbach's alpha (``psych::alpha.ci``).

    Parameters
    ----------
    alpha : float
        Sample alpha.
    n : int
        Number of respondents.
    k : int
        Number of items.
    ci : float
        Confidence level.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> low, high = alpha_feldt_ci(0.8, n=200, k=5)
    >>> round(low, 4), round(high, 4)
    (0.7526, 0.8407)
    """
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - ci) / 2
    low = 1 - (1 - alpha) * stats.f.ppf(1 - tail, df1, df2)
    high = 1 - (1 - alpha) * stats.f.ppf(tail, df1, df2)
    return float(low), float(high)


def cronbach_alpha(items: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha and its Feldt CI on the complete cases of ``items``.

    Parameters
    ----------
    items : DataFrame
        One column per item (already reverse-keyed where needed).
    ci : float
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        One row: ``n_items, n, alpha, alpha_ci_low, alpha_ci_high``.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"a": [1, 2, 3, 4, 5, 2], "b": [2, 2, 3, 5, 4, 1], "c": [1, 3, 3, 4, 5, 2]})
    >>> round(float(cronbach_alpha(x)["alpha"].iloc[0]), 4)
    0.9434
    """
    complete = complete_cases(items)
    n, k = complete.shape
    if k < 2:
        raise ValueError("alpha needs at least two items")
    alpha = _alpha_from_cov(np.cov(complete.to_numpy(float), rowvar=False))
    low, high = alpha_feldt_ci(alpha, n, k, ci)
    return pd.DataFrame(
        {"n_items": [k], "n": [n], "alpha": [alpha], "alpha_ci_low": [low], "alpha_ci_high": [high]}
    )


def item_reliability(items: pd.DataFrame) -> pd.DataFrame:
    """Corrected item-total correlation and alpha if item deleted (complete cases).

    Parameters
    ----------
    items : DataFrame
        The items of one scale.

    Returns
    -------
    DataFrame
        ``item, r_drop, alpha_if_deleted`` (psych::alpha's ``r.drop`` and
        ``alpha.drop$raw_alpha``). For a two-item scale alpha-if-deleted is missing (one item
        has no alpha; psych reports a different quantity there).

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"a": [1, 2, 3, 4, 5, 2], "b": [2, 2, 3, 5, 4, 1], "c": [1, 3, 3, 4, 5, 2]})
    >>> item_reliability(x)["item"].tolist()
    ['a', 'b', 'c']
    """
    cov = np.cov(complete_cases(items).to_numpy(float), rowvar=False)
    k = cov.shape[0]
    rows = []
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        rest = cov[np.ix_(keep, keep)]
        r_drop = (cov[i].sum() - cov[i, i]) / np.sqrt(cov[i, i] * rest.sum())
        alpha_del = _alpha_from_cov(rest) if k > 2 else np.nan
        rows.append({"item": items.columns[i], "r_drop": r_drop, "alpha_if_deleted": alpha_del})
    return pd.DataFrame(rows)


def omega_total(items: pd.DataFrame) -> dict:
    """McDonald's omega total from a one-factor ML CFA on the complete cases.

    ``omega = (sum lambda)^2 / sum(S)``: semTools::compRelSEM (``obs.var = TRUE``) on
    ``lavaan::cfa("f =~ ...", std.lv = TRUE)``. The model is fitted by
    :func:`policestress.cfa.fit_cfa` and omega is :func:`policestress.cfa.composite_reliability`
    (the ratio does not depend on the covariance divisor or on the factor's scaling).

    Parameters
    ----------
    items : DataFrame
        The items of one scale (at least three).

    Returns
    -------
    dict
        ``omega`` (float; NaN for fewer than three items, for no more complete cases than
        items, for a singular item covariance matrix and when the model does not converge),
        ``loadings`` (Series: factor variance 1, covariances on divisor N - 1, oriented to a
        positive sum; None where there is no fit), ``note`` (str: why omega is missing, or a
        Heywood case).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=500)
    >>> x = pd.DataFrame({f"x{i}": f + rng.normal(size=500) for i in range(4)})
    >>> round(omega_total(x)["omega"], 2)
    0.81
    """
    complete = complete_cases(items)
    n, k = complete.shape
    if k < 3:
        return {"omega": np.nan, "loadings": None, "note": "omega needs >= 3 items"}
    if n <= k:
        note = f"omega needs more complete cases than items ({n} for {k} items)"
        return {"omega": np.nan, "loadings": None, "note": note}
    values = complete.to_numpy(float)
    eigen = np.linalg.eigvalsh(np.cov(values, rowvar=False))
    if not eigen[0] > 1e-12 * max(eigen[-1], 0.0):
        # No ML fit exists (lavaan stops too): a constant item or linearly dependent items.
        note = "omega: item covariance matrix not positive definite (constant or collinear items)"
        return {"omega": np.nan, "loadings": None, "note": note}
    # Neutral variable names: any column label works and none can clash with the factor's.
    names = [f"x{j}" for j in range(k)]
    try:
        with one_blas_thread():
            fit = cfa.fit_cfa(pd.DataFrame(values, columns=names), "f =~ " + " + ".join(names))
            heywood = cfa.heywood_cases(cfa.parameter_estimates(fit), fit)
    except cfa.ConvergenceError:
        return {"omega": np.nan, "loadings": None, "note": "one-factor model did not converge"}
    omega = cfa.composite_reliability(fit)["f"]
    # Marker-variable estimates to factor variance 1 (std.lv), then from lavaan's divisor N
    # to the N - 1 of the sample covariance matrix.
    lam = fit.matrices(0).lam[:, 0] * np.sqrt(fit.latent_cov[0, 0] * n / (n - 1))
    lam = lam * (np.sign(lam.sum()) or 1.0)
    loadings = pd.Series(lam, index=complete.columns, name="loading")
    note = "Heywood case (residual variance <= 0)" if len(heywood) else ""
    return {"omega": float(omega), "loadings": loadings, "note": note}


def ordinal_alpha(items: pd.DataFrame) -> float:
    """Ordinal alpha (Zumbo et al. 2007): alpha of the items' polychoric correlations.

    Complete cases of the items; NaN for fewer than two items.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=400)
    >>> x = pd.DataFrame({f"x{i}": np.digitize(f + rng.normal(size=400), [-1, 0, 1])
    ...                   for i in range(4)})
    >>> bool(ordinal_alpha(x) > cronbach_alpha(x)["alpha"].iloc[0])
    True
    """
    from policestress.polychoric import polychoric

    complete = items.dropna()
    k = complete.shape[1]
    if k < 2:
        return float("nan")
    rho = polychoric(complete, acov=False).rho.to_numpy()
    return float(k / (k - 1) * (1.0 - k / rho.sum()))


def ordinal_omega(items: pd.DataFrame) -> dict:
    """Ordinal omega (Green & Yang 2009) from a one-factor WLSMV CFA on the complete cases,
    as ``semTools::compRelSEM`` on ``lavaan::cfa(..., ordered = TRUE, std.lv = TRUE)``.

    Returns ``{"omega": float, "note": str}``; NaN with the reason for fewer than three
    items or a model that did not converge.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=400)
    >>> x = pd.DataFrame({f"x{i}": np.digitize(f + rng.normal(size=400), [-1, 0, 1])
    ...                   for i in range(4)})
    >>> round(ordinal_omega(x)["omega"], 2)
    0.77
    """
    from policestress import sem
    from policestress.polychoric import bvn_cdf

    complete = items.dropna()
    k = complete.shape[1]
    if k < 3:
        return {"omega": np.nan, "note": "ordinal omega needs >= 3 items"}
    names = [f"x{j}" for j in range(k)]
    frame = pd.DataFrame(complete.to_numpy(float), columns=names)
    with one_blas_thread():
        fit = sem.cfa("f =~ " + " + ".join(names), frame, ordered=True, std_lv=True,
                      estimator="WLSMV")  # fmt: skip
    if not (fit.fitted and fit.converged):
        return {"omega": np.nan, "note": f"one-factor WLSMV model: {fit.message}"}
    lam = fit.matrices(0).lam[:, 0]
    true = np.outer(lam, lam)
    total = fit.sample_cov
    est = fit.parameter_estimates()
    cuts = [est.loc[(est["op"] == "|") & (est["lhs"] == x), "est"].to_numpy() for x in names]
    p = [stats.norm.cdf(t).sum() for t in cuts]
    num = den = 0.0
    for j in range(k):
        for i in range(k):
            h, kk = np.meshgrid(cuts[j], cuts[i], indexing="ij")
            num += bvn_cdf(h, kk, true[j, i]).sum() - p[j] * p[i]
            den += bvn_cdf(h, kk, total[j, i]).sum() - p[j] * p[i]
    note = "Heywood case (residual variance <= 0)" if fit.warnings else ""
    return {"omega": float(num / den), "note": note}


def reliability_table(
    data: pd.DataFrame,
    scales: dict[str, list[str]],
    threshold: float = DEFAULT_THRESHOLD,
    ci: float = 0.95,
    ordinal: bool = False,
) -> pd.DataFrame:
    """Alpha with its CI and omega total for each scale, flagged below ``threshold``.

    Parameters
    ----------
    data : DataFrame
        Item responses (reverse-keyed items already recoded), one column per item.
    scales : dict
        Scale name -> list of item columns, e.g. ``cfg.codebook.scales("eri")``.
    threshold : float
        Conventional minimum (default .70); ``alpha_below_threshold`` and
        ``omega_below_threshold`` flag values under it.
    ci : float
        Confidence level of the alpha interval (Feldt).
    ordinal : bool
        Add ``ordinal_alpha`` and ``ordinal_omega`` (items as ordered categories: see the
        module docstring) after the ML columns.

    Returns
    -------
    DataFrame
        One row per scale: ``scale, n_items, n, alpha, alpha_ci_low, alpha_ci_high, omega,
        alpha_below_threshold, omega_below_threshold, threshold, note``. ``n`` counts the
        respondents who answered every item of the scale (listwise rule, see module docs).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> f = rng.normal(size=200)
    >>> d = pd.DataFrame({f"x{i}": f + rng.normal(size=200) for i in range(6)})
    >>> t = reliability_table(d, {"a": ["x0", "x1", "x2"], "b": ["x3", "x4", "x5"]})
    >>> t["scale"].tolist(), t["n_items"].tolist()
    (['a', 'b'], [3, 3])
    """
    rows = []
    for name, item_ids in scales.items():
        missing = [c for c in item_ids if c not in data.columns]
        if missing:
            raise KeyError(f"scale {name!r}: items not in the data: {missing}")
        items = data[list(item_ids)]
        if len(item_ids) < 2:
            row = {
                "scale": name,
                "n_items": len(item_ids),
                "n": int(items.notna().all(axis=1).sum()),
            }
            row.update(alpha=np.nan, alpha_ci_low=np.nan, alpha_ci_high=np.nan, omega=np.nan)
            row["note"] = "single-item scale: no reliability"
        else:
            row = {"scale": name, **cronbach_alpha(items, ci).iloc[0].to_dict()}
            omega = omega_total(items)
            row["omega"] = omega["omega"]
            row["note"] = omega["note"]
            if ordinal:
                row["ordinal_alpha"] = ordinal_alpha(items)
                ordinal_om = ordinal_omega(items)
                row["ordinal_omega"] = ordinal_om["omega"]
                if ordinal_om["note"]:
                    row["note"] = "; ".join(x for x in (row["note"], ordinal_om["note"]) if x)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["n_items"] = table["n_items"].astype(int)
    table["n"] = table["n"].astype(int)
    # Nullable booleans: no flag (rather than False) where the coefficient is missing.
    for coef in ("alpha", "omega"):
        flag = (table[coef] < threshold).astype("boolean")
        table[f"{coef}_below_threshold"] = flag.mask(table[coef].isna())
    table["threshold"] = threshold
    if ordinal:
        for col in ("ordinal_alpha", "ordinal_omega"):
            if col not in table:
                table[col] = np.nan
        return table[[*RELIABILITY_COLUMNS, "ordinal_alpha", "ordinal_omega"]]
    return table[RELIABILITY_COLUMNS]
