"""Relative importance from a correlation matrix: general dominance and relative weights.

The computations behind :func:`policestress.synthesis.dominance_weights`,
:func:`~policestress.synthesis.relative_weights` and their bootstrap, on the correlation
matrix of the predictors followed by the outcome. numpy only: the bootstrap's joblib worker
processes import this module, not pandas, scipy or statsmodels (importing
:mod:`policestress.synthesis` took each worker longer than its share of the resamples).

Examples
--------
>>> corr = np.array([[1.0, 0.3, 0.5], [0.3, 1.0, 0.4], [0.5, 0.4, 1.0]])
>>> w = dominance_from_corr(corr)
>>> bool(np.isclose(w.sum(), subset_r2(corr)[-1]))  # the weights split the model R^2
True
"""

from __future__ import annotations

import math

import numpy as np

# Dominance analysis fits all 2^k subsets: 16 predictors take about a second (fine once, too
# slow for a bootstrap); above that use relative weights.
MAX_DOMINANCE_PREDICTORS = 16


def subset_r2(corr: np.ndarray) -> np.ndarray:
    """R^2 of every subset of predictors; index = bit mask. ``corr``: predictors then outcome.

    The subsets of one size are solved as one stack (the same LAPACK solve per subset as one
    at a time, so the same numbers).
    """
    k = corr.shape[0] - 1
    rxx, rxy = corr[:k, :k], corr[:k, k]
    r2 = np.zeros(2**k)
    masks = np.arange(1, 2**k)
    bits = (masks[:, None] >> np.arange(k)) & 1
    sizes = bits.sum(axis=1)
    for size in range(1, k + 1):
        sel = sizes == size
        idx = np.nonzero(bits[sel])[1].reshape(-1, size)  # each subset's predictors, ascending
        r = rxy[idx]
        beta = np.linalg.solve(rxx[idx[:, :, None], idx[:, None, :]], r[..., None])
        r2[masks[sel]] = (r[:, None, :] @ beta)[:, 0, 0]
    return r2


def dominance_from_corr(corr: np.ndarray) -> np.ndarray:
    """General dominance weights (Budescu 1993) of the predictors of ``corr``."""
    k = corr.shape[0] - 1
    if k > MAX_DOMINANCE_PREDICTORS:
        raise ValueError(
            f"dominance analysis of {k} predictors needs 2^{k} regressions; use "
            f"method='relative_weights' above {MAX_DOMINANCE_PREDICTORS} predictors"
        )
    r2 = subset_r2(corr)
    masks = np.arange(2**k)
    sizes = ((masks[:, None] >> np.arange(k)) & 1).sum(axis=1)
    # Each subset of size s without j weighs 1 / C(k-1, s) within its size; sizes average.
    by_size = np.array([1.0 / (k * math.comb(k - 1, s)) for s in range(k)])
    weights = np.zeros(k)
    for j in range(k):
        without = masks[(masks >> j & 1) == 0]  # the subsets without predictor j
        gain = by_size[sizes[without]] * (r2[without | 1 << j] - r2[without])
        # summed in the order of the masks, one after another, as a loop over them would
        weights[j] = np.cumsum(gain)[-1]
    return weights


def relative_weights_from_corr(corr: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights of the predictors of ``corr``."""
    k = corr.shape[0] - 1
    rxx, rxy = corr[:k, :k], corr[:k, k]
    evals, evecs = np.linalg.eigh(rxx)
    # Lambda: correlations between the predictors and their orthogonal counterparts Z.
    lam = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    beta = np.linalg.solve(lam, rxy)
    return (lam**2) @ (beta**2)


METHODS = {"dominance": dominance_from_corr, "relative_weights": relative_weights_from_corr}


def bootstrap_chunk(
    values: np.ndarray, seeds: list[np.random.SeedSequence], method: str
) -> np.ndarray:
    """The weights of ``method`` on one resample of the rows of ``values`` per seed."""
    fn = METHODS[method]
    n = values.shape[0]
    out = np.empty((len(seeds), values.shape[1] - 1))
    for i, seed in enumerate(seeds):
        idx = np.random.default_rng(seed).integers(0, n, n)
        out[i] = fn(np.corrcoef(values[idx], rowvar=False))
    return out
