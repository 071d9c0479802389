"""Fit indices of structural equation models, with lavaan's (0.6) definitions.

Pure functions of numbers (chi-square statistics, degrees of freedom, sample sizes) and of
matrices (sample and model-implied covariances), so that every model-fitting module (CFA,
multi-group invariance) reports the same numbers lavaan reports. semopy 2.3.11 computes
several of these differently (RMSEA with N - 1, GFI like NFI, no RMSEA interval, no SRMR): use
these functions instead of ``semopy.calc_stats`` for anything reported.

Each function names the lavaan function it reproduces (``lavaan:::lav_fit_*``). ``n`` is the
total number of observations (lavaan's ``ntotal``, likelihood "normal"); with several groups
pass the total over groups and ``n_groups``.

Examples
--------
Holzinger-Swineford three-factor model (lavaan: RMSEA .092, 90% CI .071-.114):

>>> round(rmsea(85.306, 24, 301), 3)
0.092
>>> [round(x, 3) for x in rmsea_ci(85.306, 24, 301)]
[0.071, 0.114]
>>> round(cfi(85.306, 24, 918.852, 36), 3), round(tli(85.306, 24, 918.852, 36), 3)
(0.931, 0.896)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = [
    "chi2_difference",
    "chi2_pvalue",
    "cfi",
    "tli",
    "nfi",
    "rmsea",
    "rmsea_ci",
    "rmsea_pclose",
    "gfi",
    "agfi",
    "srmr",
    "loglik_normal",
    "information_criteria",
]


def chi2_pvalue(chi2: float, df: float) -> float:
    """Upper-tail p value of a chi-square statistic (NaN when ``df`` is 0, as lavaan).

    >>> round(chi2_pvalue(85.306, 24), 8) < 0.001
    True
    """
    if df <= 0:
        return math.nan
    return float(stats.chi2.sf(chi2, df))


def rmsea(chi2: float, df: float, n: int, n_groups: int = 1) -> float:
    """Root mean square error of approximation (``lavaan:::lav_fit_rmsea``).

    ``sqrt(max(chi2 / (n df) - 1 / n, 0)) * sqrt(n_groups)``, with ``n`` the total sample
    size (not ``n - 1``, unlike semopy). 0 when ``df`` is 0.

    >>> round(rmsea(85.306, 24, 301), 4)
    0.0921
    """
    if df <= 0:
        return 0.0
    return math.sqrt(max(chi2 / n / df - 1.0 / n, 0.0)) * math.sqrt(n_groups)


def _ncp_root(fun, upper: float) -> float:
    # R's uniroot stops at tol ~ 1.2e-4 on lambda; brentq converges fully, which differs from
    # lavaan only beyond the printed decimals.
    return optimize.brentq(fun, 0.0, upper, xtol=1e-10, rtol=1e-12, maxiter=500)


def rmsea_ci(
    chi2: float, df: float, n: int, level: float = 0.90, n_groups: int = 1
) -> tuple[float, float]:
    """Confidence interval of the RMSEA by inverting the noncentral chi-square.

    Reproduces ``lavaan:::lav_fit_rmsea_ci``: the lower bound solves
    ``P(X2; df, lambda) = (1 + level) / 2`` for lambda in ``[0, chi2]`` (0 when even
    ``lambda = 0`` gives less), the upper bound solves ``P(X2; df, lambda) = (1 - level) / 2`` in
    ``[0, max(n, 4 chi2)]``; each bound is ``sqrt(lambda / (n df)) * sqrt(n_groups)``.

    Returns
    -------
    (low, high) : tuple of float

    >>> [round(x, 3) for x in rmsea_ci(85.306, 24, 301)]
    [0.071, 0.114]
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not all(np.isfinite([chi2, df, n])):
        return (math.nan, math.nan)
    upper_perc = 1 - (1 - level) / 2
    lower_perc = (1 - level) / 2
    scale = math.sqrt(n_groups)

    def cdf(lam: float) -> float:
        # ncp = 0 is the central chi-square; scipy's ncx2 needs ncp > 0
        return stats.chi2.cdf(chi2, df) if lam <= 0 else stats.ncx2.cdf(chi2, df, lam)

    if df < 1 or cdf(0.0) - upper_perc < 0:
        low = 0.0
    else:
        lam = _ncp_root(lambda x: cdf(x) - upper_perc, chi2)
        low = math.sqrt(lam / (n * df)) * scale
    n_rmsea = max(n, chi2 * 4)
    if df < 1 or cdf(n_rmsea) - lower_perc > 0 or cdf(0.0) - lower_perc < 0:
        high = 0.0
    else:
        lam = _ncp_root(lambda x: cdf(x) - lower_perc, n_rmsea)
        high = math.sqrt(lam / (n * df)) * scale
    return (low, high)


def rmsea_pclose(chi2: float, df: float, n: int, close: float = 0.05, n_groups: int = 1) -> float:
    """p value of the test of close fit, H0: RMSEA <= ``close`` (``lav_fit_rmsea_closefit``).

    ``1 - P(X2; df, ncp = n df close^2 / n_groups)``.

    >>> round(rmsea_pclose(85.306, 24, 301), 3)
    0.001
    """
    if df <= 0:
        return math.nan
    ncp = n * df * close**2 / n_groups
    return float(stats.ncx2.sf(chi2, df, ncp))


def cfi(chi2: float, df: float, chi2_base: float, df_base: float) -> float:
    """Comparative fit index (``lavaan:::lav_fit_cfi``, standard test).

    ``1 - max(chi2 - df, 0) / max(chi2 - df, chi2_base - df_base, 0)``; 1 when both are 0.

    >>> round(cfi(85.306, 24, 918.852, 36), 3)
    0.931
    """
    t1 = max(chi2 - df, 0.0)
    t2 = max(chi2 - df, chi2_base - df_base, 0.0)
    if math.isclose(t1, 0.0, abs_tol=1.5e-8) and math.isclose(t2, 0.0, abs_tol=1.5e-8):
        return 1.0
    return 1.0 - t1 / t2


def tli(chi2: float, df: float, chi2_base: float, df_base: float) -> float:
    """Tucker-Lewis index / NNFI (``lavaan:::lav_fit_tli``); not truncated to [0, 1].

    ``1 - ((chi2 - df) df_base) / ((chi2_base - df_base) df)``.

    >>> round(tli(85.306, 24, 918.852, 36), 3)
    0.896
    """
    t1 = (chi2 - df) * df_base
    t2 = (chi2_base - df_base) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    return 1.0


def nfi(chi2: float, df: float, chi2_base: float, df_base: float) -> float:
    """Bentler-Bonett normed fit index (``lavaan:::lav_fit_nfi``).

    ``(chi2_base - chi2) / chi2_base``; NaN when ``df > df_base``; 1 when ``df`` is 0.

    >>> round(nfi(85.306, 24, 918.852, 36), 3)
    0.907
    """
    if df > df_base or math.isclose(chi2_base, 0.0, abs_tol=1.5e-8):
        return math.nan
    if df > 0:
        return (chi2_base - chi2) / chi2_base
    return 1.0


def chi2_difference(chi2: float, df: float, chi2_ref: float, df_ref: float) -> pd.Series:
    """Likelihood-ratio (chi-square difference) test of nested ML models (``lavTestLRT``).

    ``chi2``/``df`` belong to the more constrained model, ``chi2_ref``/``df_ref`` to the less
    constrained one. Plain ML only (no scaling correction).

    Returns
    -------
    pandas.Series with ``delta_chi2``, ``delta_df``, ``p``.

    >>> round(float(chi2_difference(124.04, 54, 115.85, 48)["delta_chi2"]), 2)
    8.19
    """
    d_chi2 = chi2 - chi2_ref
    d_df = df - df_ref
    if d_df <= 0:
        raise ValueError("the constrained model must have more degrees of freedom")
    p = float(stats.chi2.sf(d_chi2, d_df))
    return pd.Series({"delta_chi2": d_chi2, "delta_df": d_df, "p": p})


def _as_matrix(m) -> np.ndarray:
    return np.asarray(m, dtype=float)


def gfi(sample_cov, implied_cov) -> float:
    """Goodness-of-fit index of an ML fit (``lavaan:::lav_fit_gfi``, single group, no means).

    lavaan weights the residuals with the normal-theory weight of the *model-implied*
    covariance (``structured = TRUE``), which gives
    ``1 - tr[(Sigma^-1 (S - Sigma))^2] / tr[(Sigma^-1 S)^2]``; semopy's ``calc_stats`` GFI is
    NFI-like.

    Parameters
    ----------
    sample_cov, implied_cov : array-like (p, p)
        ``S`` (divisor N, as lavaan) and the model-implied ``Sigma``.

    Examples
    --------
    >>> S = np.array([[1.0, 0.3], [0.3, 1.0]])
    >>> gfi(S, S)
    1.0
    """
    sigma = _as_matrix(implied_cov)
    s = _as_matrix(sample_cov)
    resid = np.linalg.solve(sigma, s - sigma)
    obs = np.linalg.solve(sigma, s)
    return float(1.0 - np.trace(resid @ resid) / np.trace(obs @ obs))


def agfi(gfi_value: float, n_vars: int, df: float) -> float:
    """Adjusted GFI: ``1 - (p (p + 1) / 2) / df * (1 - GFI)`` (lavaan, no mean structure).

    >>> round(agfi(0.943, 9, 24), 3)
    0.893
    """
    if df <= 0:
        return math.nan
    nel = n_vars * (n_vars + 1) / 2
    return 1.0 - nel / df * (1.0 - gfi_value)


def srmr(sample_cov, implied_cov) -> float:
    """Standardized root mean square residual, Bentler's definition (lavaan's ``srmr``).

    Residuals ``(s_ij - sigma_ij) / sqrt(s_ii s_jj)`` over the ``p (p + 1) / 2`` elements of the
    lower triangle including the diagonal (no mean structure).

    >>> S = np.array([[1.0, 0.3], [0.3, 1.0]])
    >>> round(srmr(S, np.eye(2)), 4)
    0.1732
    """
    s = _as_matrix(sample_cov)
    sd = np.sqrt(np.diag(s))
    r = (s - _as_matrix(implied_cov)) / np.outer(sd, sd)
    idx = np.tril_indices(s.shape[0])
    return float(np.sqrt(np.mean(r[idx] ** 2)))


def loglik_normal(cov, sample_cov, n: int) -> float:
    """Multivariate-normal log-likelihood with saturated means, as lavaan's ``logl``.

    ``-n/2 [p log(2 pi) + log|Sigma| + tr(Sigma^-1 S)]``, ``S`` with divisor ``n``. With
    ``cov = sample_cov`` it is the unrestricted (H1) log-likelihood ``unrestricted.logl``.

    >>> S = np.eye(2)
    >>> round(loglik_normal(S, S, 10), 4)
    -28.3788
    """
    sig = _as_matrix(cov)
    s = _as_matrix(sample_cov)
    p = s.shape[0]
    sign, logdet = np.linalg.slogdet(sig)
    if sign <= 0:
        return math.nan
    return float(-n / 2 * (p * math.log(2 * math.pi) + logdet + np.trace(np.linalg.solve(sig, s))))


def information_criteria(logl: float, n_par: int, n: int) -> pd.Series:
    """AIC, BIC and sample-size-adjusted BIC as lavaan (``aic``, ``bic``, ``bic2``).

    ``AIC = -2 logL + 2 k``; ``BIC = -2 logL + k log n``; ``BIC2`` uses ``(n + 2) / 24``.

    >>> round(float(information_criteria(-3737.745, 21, 301)["aic"]), 3)
    7517.49
    """
    return pd.Series(
        {
            "aic": -2 * logl + 2 * n_par,
            "bic": -2 * logl + n_par * math.log(n),
            "bic2": -2 * logl + n_par * math.log((n + 2) / 24),
        }
    )
