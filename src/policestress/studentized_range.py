"""The studentized range distribution's CDF, R's ``ptukey`` vectorised in numpy.

The Games-Howell p-value of every pair of groups is a tail of the studentized range
distribution. ``scipy.stats.studentized_range.sf`` integrates it adaptively (``nquad``),
about 10 ms a value; this is the algorithm of R's ``stats::ptukey`` (Copenhaver & Holland
1988, as translated in R's ``nmath/ptukey.c``): Gauss-Legendre quadrature of fixed order
over the range's distribution (12 nodes on two or three intervals, Hartley's form) and over
the chi distribution of the standard error (16 nodes on up to 50 intervals), evaluated for
all values at once. Tested against R's ``ptukey`` in ``tests/test_studentized_range.py``.

R's constants and stopping rules are kept, so the values are R's (to rounding):

- a quadrature node of the chi density whose log weight is under -30 is skipped, and the
  outer integral stops at the first interval (after the first unit) adding at most 1e-14;
- in the range integral a node with ``exp(-x^2 / 2)`` or the range's probability power
  under ``exp(-30)`` is skipped, and a range ``w >= 16`` has probability 1.

R's ``ptukey`` is defined for ``df >= 2`` only (it returns NaN below): there the chi
density is unbounded at zero and fixed-order quadrature is inaccurate. Those values
(Welch df under 2 come only from groups of two or three respondents) are computed by
scipy's adaptive integration, which handles them.

References
----------
Copenhaver, M. D., & Holland, B. S. (1988). Computation of the distribution of the maximum
studentized range statistic with application to multiple significance testing of simple
effects. *Journal of Statistical Computation and Simulation*, 30, 1-15.

Examples
--------
>>> round(float(ptukey(3.5, 3, 20)), 6)  # R: ptukey(3.5, 3, 20) = 0.944108
0.944108
>>> ptukey([0.0, 3.5], 3, [20, 100], lower_tail=False).round(4).tolist()
[1.0, 0.0395]
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

# Gauss-Legendre nodes and weights on [-1, 1]: ascending nodes, as R visits them.
_RANGE_NODES, _RANGE_WEIGHTS = np.polynomial.legendre.leggauss(12)
_CHI_NODES, _CHI_WEIGHTS = np.polynomial.legendre.leggauss(16)
_MAX_INTERVALS = 50
_LOG_SKIP = -30.0  # R's eps1 / C1: terms under exp(-30) are left out
_CONVERGED = 1e-14  # R's eps2: an outer interval adding less ends the integral
_LARGE_DF = 25000.0  # R's dlarg: above, the standard error is taken as known


def _range_cdf(w: np.ndarray, nmeans: float, nranges: float) -> np.ndarray:
    """P(range of ``nmeans`` standard normals < ``w``)^``nranges`` (R's ``wprob``)."""
    w = np.asarray(w, dtype=float)
    half = 0.5 * w
    # (2 * Phi(w / 2) - 1)^nmeans, the first term of Hartley's form
    first = 2.0 * special.ndtr(half) - 1.0
    first = np.where(first >= np.exp(-50.0 / nmeans), first**nmeans, 0.0)
    # the second term: integral from w / 2 to 8 in two (w > 3) or three equal intervals
    n_intervals = np.where(w > 3.0, 2, 3)
    width = (8.0 - half) / n_intervals
    second = np.zeros_like(w)
    for i in range(3):
        used = i < n_intervals
        centre = half + (i + 0.5) * width
        x = centre[:, None] + 0.5 * width[:, None] * _RANGE_NODES  # (values, nodes)
        inner = special.ndtr(x) - special.ndtr(x - w[:, None])
        keep = (x * x <= 60.0) & (inner >= np.exp(_LOG_SKIP / (nmeans - 1.0)))
        terms = np.exp(-0.5 * x * x) * np.where(keep, inner, 0.0) ** (nmeans - 1.0)
        total = (np.where(keep, terms, 0.0) * _RANGE_WEIGHTS).sum(axis=1)
        second += np.where(used, total * width * nmeans / np.sqrt(2 * np.pi), 0.0)
    p = first + second
    p = np.where(p <= np.exp(_LOG_SKIP / nranges), 0.0, p**nranges)
    return np.where(half >= 8.0, 1.0, np.minimum(p, 1.0))


def _ptukey_lower(q: np.ndarray, nmeans: float, df: np.ndarray, nranges: float) -> np.ndarray:
    """Lower tail for q > 0 and 2 <= df <= 25000 (R's outer integral over the chi density)."""
    half_df = 0.5 * df
    # interval length by df, as in R: finer for a more concentrated chi density
    length = np.select([df <= 100, df <= 800, df <= 5000], [1.0, 0.5, 0.25], 0.125)
    log_const = half_df * np.log(df) - df * np.log(2.0) - special.gammaln(half_df)
    log_const += np.log(length)
    # nodes u of every interval i (centres (2i - 1) * length), shape (values, intervals, nodes)
    centres = (2 * np.arange(1, _MAX_INTERVALS + 1) - 1)[None, :, None] * length[:, None, None]
    u = centres + _CHI_NODES[None, None, :] * length[:, None, None]
    log_weight = (
        log_const[:, None, None]
        + (half_df - 1.0)[:, None, None] * np.log(u)
        - u * (0.25 * df)[:, None, None]
    )
    active = log_weight >= _LOG_SKIP
    rows = np.broadcast_to(np.arange(q.size)[:, None, None], u.shape)[active]
    terms = np.zeros(u.shape)
    ranges = _range_cdf(q[rows] * np.sqrt(0.5 * u[active]), nmeans, nranges)
    terms[active] = ranges * np.exp(log_weight[active])
    per_interval = (terms * _CHI_WEIGHTS).sum(axis=2)
    # R stops at the first interval (once i * length >= 1) that adds at most 1e-14, without it
    index = np.arange(1, _MAX_INTERVALS + 1)[None, :]
    stop = (index * length[:, None] >= 1.0) & (per_interval <= _CONVERGED)
    first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), _MAX_INTERVALS)
    if (first_stop == _MAX_INTERVALS).any():
        warnings.warn("ptukey: the integral did not converge in 50 intervals", stacklevel=3)
    before = index - 1 < first_stop[:, None]
    return np.minimum(np.where(before, per_interval, 0.0).sum(axis=1), 1.0)


def ptukey(q, nmeans, df, nranges: float = 1.0, lower_tail: bool = True) -> np.ndarray:
    """CDF of the studentized range distribution, as R's ``ptukey``.

    Parameters
    ----------
    q : array-like
        Quantiles (studentized ranges).
    nmeans : float
        Number of means in the range (the groups compared), at least 2.
    df : array-like
        Degrees of freedom of the standard error (broadcast against ``q``); ``inf`` for a
        known one. Above 25000 the standard error is taken as known, as in R.
    nranges : float
        Number of groups whose maximum range is taken (1 for ordinary comparisons).
    lower_tail : bool
        True: P(Q <= q); False: P(Q > q), computed as 1 - P(Q <= q) as R does (absolute
        accuracy about 1e-14, so p-values far below that are not resolved).

    Returns
    -------
    ndarray of float
        Same shape as ``q`` and ``df`` broadcast; NaN where ``q`` or ``df`` is NaN.

    Raises
    ------
    ValueError
        When ``nmeans < 2``, ``nranges < 1`` or a ``df`` is not positive.

    Examples
    --------
    >>> ptukey([1.0, 3.0, 5.0], 4, 30).round(6).tolist()  # R: ptukey(c(1, 3, 5), 4, 30)
    [0.106517, 0.830508, 0.993033]
    """
    if nmeans < 2 or nranges < 1:
        raise ValueError(f"ptukey needs nmeans >= 2 and nranges >= 1, not {nmeans}, {nranges}")
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(df, dtype=float))
    shape = q.shape
    q, df = q.ravel(), df.ravel()
    if (df[~np.isnan(df)] <= 0).any():
        raise ValueError("ptukey needs positive degrees of freedom")
    lower = np.full(q.shape, np.nan)
    known = ~np.isnan(q) & ~np.isnan(df)
    lower[known & (q <= 0)] = 0.0
    lower[known & np.isposinf(q)] = 1.0
    finite = known & (q > 0) & np.isfinite(q)
    large = finite & (df > _LARGE_DF)
    lower[large] = _range_cdf(q[large], nmeans, nranges)
    small = finite & (df < 2)
    if small.any():
        # outside R's domain (see the module docstring): scipy's adaptive integration
        if nranges != 1:
            raise ValueError("ptukey with df < 2 is computed for nranges = 1 only")
        lower[small] = stats.studentized_range.cdf(q[small], nmeans, df[small])
    regular = finite & ~large & ~small
    if regular.any():
        lower[regular] = _ptukey_lower(q[regular], nmeans, df[regular], nranges)
    out = lower if lower_tail else 1.0 - lower
    return out.reshape(shape)
