"""Robust ML (MLM, MLR) in moment space: Gamma, scaled tests, sandwich SEs, robust fit indices.

The SEM core hands over, per group ``g``: the Jacobian ``Delta_g`` of the model-implied
moment vector ``m = [mu, vech(sigma)]`` (or ``vech(sigma)`` without mean structure) with
respect to the free parameters (``lavInspect(fit, "delta")``), the h1 information matrices
of :mod:`policestress.sem.missing`, and ``n_g``. Groups are weighted as lavaan weights them,
``f_g = n_g / N``; every information matrix here is per case, like lavaan's, so the vcov is
``(1/N) E^-1 B E^-1``. The formulas follow lavaan 0.6 (``lav_samplestats_gamma.R``,
``lav_test_satorra_bentler.R``, ``lav_test_yuan_bentler.R``, ``lav_model_vcov.R``,
``lav_fit_cfi.R``, ``lav_fit_rmsea.R``, ``lav_test_diff.R``):

* :func:`gamma_adf` -- Gamma (NACOV) of complete data, divisor N (``gamma.n.minus.one =
  FALSE``); :func:`gamma_fiml` -- its FIML analogue ``A^-1 B A^-1`` from the h1 information
  and the casewise scores (``lav_mvnorm_missing_h1_omega_sw``);
* :func:`information_theta` -- ``sum_g f_g Delta_g' A_g Delta_g``;
* :func:`satorra_bentler` -- MLM's scaling factor ``tr(U Gamma) / df``;
* :func:`yuan_bentler_mplus` -- MLR's (test ``"yuan.bentler.mplus"``), complete or FIML data;
* :func:`vcov_huber_white` (MLR) and :func:`vcov_robust_sem` (MLM) -- sandwich covariances;
* :func:`scaled_fit_indices`, :func:`robust_fit_indices`, :func:`fiml_corrected` -- lavaan's
  ``cfi/tli/rmsea.scaled`` and ``.robust`` (Brosseau-Liard, Savalei & Li 2012;
  Brosseau-Liard & Savalei 2014; Zhang & Savalei's FIML correction for missing data);
* :func:`scaled_difference_test` -- Satorra-Bentler (2001) scaled chi-square difference;
* :func:`mlm`, :func:`mlr` with :class:`RobustGroup`, :func:`baseline_groups` and
  :func:`baseline_information` -- the whole recipe of each estimator (which moments each
  matrix is evaluated at), for the core to call once per fitted model.

The information of the model in the parameters (``E``) is an input where lavaan's default
uses the observed information: MLR takes it from the Hessian of the fit function in the
parameters, which needs the model's second derivatives, so the core computes it and passes
it; for MLM (expected information) :func:`information_theta` gives it.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = rng.standard_t(5, size=(500, 2))
>>> gamma_adf(x).shape          # [mu (2), vech(sigma) (3)]
(5, 5)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from policestress import fitstats
from policestress.sem.constraints import constrained_inverse
from policestress.sem.missing import (
    MissingPatterns,
    baseline_fiml,
    em_saturated,
    fiml_information,
    fiml_loglik,
    first_order_information,
    vech_indices,
)

__all__ = [
    "FimlCorrected",
    "RobustGroup",
    "RobustResult",
    "ScaledTest",
    "baseline_delta",
    "baseline_groups",
    "baseline_information",
    "fiml_corrected",
    "gamma_adf",
    "gamma_fiml",
    "information_theta",
    "mlm",
    "mlr",
    "robust_fit_indices",
    "satorra_bentler",
    "scaled_difference_test",
    "scaled_fit_indices",
    "vcov_huber_white",
    "vcov_robust_sem",
    "yuan_bentler_mplus",
]


def _weights(nobs: Sequence[int]) -> np.ndarray:
    n = np.asarray(nobs, dtype=float)
    if n.ndim != 1 or np.any(n <= 0):
        raise ValueError(f"nobs must list each group's (positive) number of cases; got {nobs}")
    return n / n.sum()


def _check_groups(name: str, seq, n_groups: int) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=float) for a in seq]
    if len(out) != n_groups:
        raise ValueError(f"{name} must hold one matrix per group ({n_groups}); got {len(out)}")
    return out


def gamma_adf(x: np.ndarray, meanstructure: bool = True, x_idx: Sequence[int] = ()) -> np.ndarray:
    """Asymptotic covariance of the sample moments (Gamma, NACOV) of complete data.

    Rows of ``z_i = [y_i, vech((y_i - ybar)(y_i - ybar)')]`` centred at their mean,
    ``Gamma = Z'Z / N`` (``lav_samplestats_Gamma`` with lavaan's default
    ``gamma.n.minus.one = FALSE``); ``meanstructure=False`` keeps the covariance part.
    With ``fixed.x`` covariates (columns ``x_idx``), lavaan's fixed.x Gamma: the same
    ``z_i`` minus that of ``yhat_i``, the data with the non-x columns replaced by their
    least-squares fit on ``(1, x)``; so the moments of the covariates alone have no
    sampling variance (rows and columns of zeros) and the rest is conditional on them.

    >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 4.0], [3.0, 5.0]])
    >>> gamma_adf(x, meanstructure=False).shape
    (3, 3)
    >>> gamma_adf(x, meanstructure=False, x_idx=[1])[2].round(12).tolist()  # var(x) row
    [0.0, 0.0, 0.0]
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or np.isnan(x).any():
        raise ValueError("gamma_adf needs a complete 2-d data matrix (no missing values)")
    n, p = x.shape
    rows, cols = vech_indices(p)

    def moments(v):
        vc = v - v.mean(axis=0)
        z = vc[:, rows] * vc[:, cols]
        return np.hstack([v, z]) if meanstructure else z

    z = moments(x)
    x_idx = list(x_idx)
    if x_idx:
        y_idx = [j for j in range(p) if j not in x_idx]
        design = np.column_stack([np.ones(n), x[:, x_idx]])
        coef = np.linalg.lstsq(design, x[:, y_idx], rcond=None)[0]
        fitted = x.copy()
        fitted[:, y_idx] = design @ coef
        z = z - moments(fitted)
    zc = z - z.mean(axis=0)
    return np.ascontiguousarray(zc.T) @ zc / n


def gamma_fiml(
    pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray, information: str = "observed"
) -> np.ndarray:
    """FIML analogue of Gamma: ``A^-1 B A^-1`` at the unrestricted (EM) moments.

    ``A`` is the h1 information (:func:`~policestress.sem.missing.fiml_information`,
    ``information`` = "observed" or "expected"), ``B`` the first-order information of the
    casewise scores (``lav_mvnorm_missing_h1_omega_sw``). With complete data and
    ``information="expected"`` it equals :func:`gamma_adf`.

    >>> from policestress.sem.missing import missing_patterns, em_saturated
    >>> rng = np.random.default_rng(2)
    >>> x = rng.normal(size=(300, 2)); x[rng.random((300, 2)) < 0.1] = np.nan
    >>> pats = missing_patterns(x); h1 = em_saturated(pats)
    >>> gamma_fiml(pats, h1.mu, h1.sigma).shape
    (5, 5)
    """
    a = fiml_information(pats, mu, sigma, kind=information)
    b = first_order_information(pats, mu, sigma)
    a_inv = np.linalg.inv(a)
    return a_inv @ b @ a_inv


def information_theta(
    deltas: Sequence[np.ndarray], h1_information: Sequence[np.ndarray], nobs: Sequence[int]
) -> np.ndarray:
    """Information in the parameters, ``sum_g f_g Delta_g' A_g Delta_g`` (per case).

    With ``A_g`` the expected h1 information at the implied moments this is lavaan's expected
    information (MLM's ``E``); with the observed h1 information it is lavaan's
    ``observed.information = "h1"``.

    >>> information_theta([np.eye(2)], [np.diag([2.0, 4.0])], [10]).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    f = _weights(nobs)
    deltas = _check_groups("deltas", deltas, f.size)
    h1_information = _check_groups("h1_information", h1_information, f.size)
    return sum(fg * d.T @ a @ d for fg, d, a in zip(f, deltas, h1_information, strict=True))


@dataclass(frozen=True)
class ScaledTest:
    """A scaled test statistic: ``chisq`` (the ML statistic), ``df``, ``scaling_factor``
    (lavaan's ``chisq.scaling.factor``), ``chisq_scaled`` = chisq / scaling_factor, its
    ``pvalue_scaled``, and ``trace_ugamma`` (= scaling_factor * df; the ``df`` lavaan's
    ``rmsea.scaled`` uses)."""

    chisq: float
    df: int
    scaling_factor: float
    trace_ugamma: float

    @property
    def chisq_scaled(self) -> float:
        return self.chisq / self.scaling_factor

    @property
    def pvalue_scaled(self) -> float:
        return float(stats.chi2.sf(self.chisq_scaled, self.df)) if self.df > 0 else math.nan


def _scaled(chisq: float, df: int, trace: float) -> ScaledTest:
    if df <= 0:
        return ScaledTest(float(chisq), int(df), math.nan, math.nan)
    c = trace / df
    return ScaledTest(float(chisq), int(df), c if c >= 0 else math.nan, float(trace))


def satorra_bentler(
    chisq: float,
    df: int,
    deltas: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    gammas: Sequence[np.ndarray],
    nobs: Sequence[int],
    information: np.ndarray | None = None,
    information_inverse: np.ndarray | None = None,
) -> ScaledTest:
    """Satorra-Bentler scaled test (MLM; ``lav_test_satorra_bentler``, method "original").

    ``c = sum_g tr(U_g Gamma_g / f_g) / df`` with
    ``U_g = f_g W_g - f_g^2 W_g Delta_g E^-1 Delta_g' W_g``, ``W_g`` the h1 weight matrix
    (MLM: the expected information at the implied moments, ``lavInspect(fit, "wls.v")``),
    ``Gamma_g`` from :func:`gamma_adf` and ``E`` the information in the parameters
    (default :func:`information_theta` of ``weights``, MLM's expected information).

    >>> t = satorra_bentler(10.0, 1, [np.array([[1.0], [0.0]])], [np.eye(2)], [np.eye(2)], [100])
    >>> round(t.scaling_factor, 6)
    1.0
    """
    f = _weights(nobs)
    deltas = _check_groups("deltas", deltas, f.size)
    weights = _check_groups("weights", weights, f.size)
    gammas = _check_groups("gammas", gammas, f.size)
    e_inv = _e_inverse(deltas, weights, nobs, information, information_inverse)
    trace = 0.0
    for fg, d, w, g in zip(f, deltas, weights, gammas, strict=True):
        wd = w @ d
        u = fg * w - fg * fg * wd @ e_inv @ wd.T
        trace += float(np.sum(u * (g / fg)))
    return _scaled(chisq, df, trace)


def _e_inverse(deltas, weights, nobs, information, information_inverse) -> np.ndarray:
    # E^-1: given (under constraints, lavaan's inverted augmented information), or inverted
    if information_inverse is not None:
        return np.asarray(information_inverse, dtype=float)
    e = information_theta(deltas, weights, nobs) if information is None else information
    return np.linalg.inv(e)


def _inv_nonzero(a: np.ndarray) -> np.ndarray:
    # lavaan inverts A1 on the rows/columns whose diagonal is non-zero (fixed.x blocks)
    keep = np.diag(a) != 0
    out = np.zeros_like(a)
    out[np.ix_(keep, keep)] = np.linalg.inv(a[np.ix_(keep, keep)])
    return out


def _zero_fixed_x(a: np.ndarray, p: int, x_idx: Sequence[int]) -> np.ndarray:
    """lavaan's h1 information with ``fixed.x``: the rows and columns of the covariates'
    own moments (their means and vech(S_xx)) zeroed, so :func:`_inv_nonzero` skips them."""
    if not len(x_idx):
        return a
    rows, cols = vech_indices(p)
    fixed = np.isin(rows, x_idx) & np.isin(cols, x_idx)
    if a.shape[0] > rows.size:  # with the mean structure
        fixed = np.concatenate([np.isin(np.arange(p), x_idx), fixed])
    a = a.copy()
    a[fixed, :] = 0.0
    a[:, fixed] = 0.0
    return a


def yuan_bentler_mplus(
    chisq: float,
    df: int,
    h1_information: Sequence[np.ndarray],
    h1_first_order: Sequence[np.ndarray],
    b0_groups: Sequence[np.ndarray],
    information: np.ndarray,
    nobs: Sequence[int],
    information_inverse: np.ndarray | None = None,
) -> ScaledTest:
    """Yuan-Bentler scaled test, lavaan's ``test = "yuan.bentler.mplus"`` (MLR's default).

    ``c = sum_g [tr(B1_g A1_g^-1) - f_g tr(B0_g E^-1)] / df`` (``lav_test_yuan_bentler_mplus_trace``)
    with, per group, ``A1_g`` / ``B1_g`` the observed and first-order h1 information at the
    *unrestricted* moments (complete data: the sample moments; FIML: :func:`em_saturated`'s),
    ``B0_g = Delta_g' B1s_g Delta_g`` with ``B1s_g`` the first-order information at the
    implied moments (:func:`~policestress.sem.missing.first_order_information`), and ``E``
    the (observed) information in the parameters, per case, as the core computes it.

    >>> a = [np.eye(2)]
    >>> t = yuan_bentler_mplus(8.0, 1, a, a, [np.eye(1)], np.eye(1), [50])
    >>> float(t.scaling_factor)
    1.0
    """
    f = _weights(nobs)
    h1_information = _check_groups("h1_information", h1_information, f.size)
    h1_first_order = _check_groups("h1_first_order", h1_first_order, f.size)
    b0_groups = _check_groups("b0_groups", b0_groups, f.size)
    e_inv = np.linalg.inv(information) if information_inverse is None else information_inverse
    trace = 0.0
    for fg, a1, b1, b0 in zip(f, h1_information, h1_first_order, b0_groups, strict=True):
        trace_h1 = float(np.sum(b1 * _inv_nonzero(a1).T))
        trace_h0 = fg * float(np.sum(b0 * e_inv.T))
        trace += trace_h1 - trace_h0
    return _scaled(chisq, df, trace)


def vcov_huber_white(
    information: np.ndarray,
    b0_groups: Sequence[np.ndarray],
    nobs: Sequence[int],
    information_inverse: np.ndarray | None = None,
) -> np.ndarray:
    """Sandwich covariance of the estimates, lavaan's ``se = "robust.huber.white"`` (MLR).

    ``(1/N) E^-1 (sum_g f_g B0_g) E^-1`` with ``B0_g = Delta_g' B1_g Delta_g`` (first-order
    information at the implied moments) and ``E`` the information in the parameters
    (``lav_model_nvcov_robust_sandwich``).

    >>> vcov_huber_white(np.eye(1) * 2.0, [np.eye(1) * 4.0], [100]).tolist()
    [[0.01]]
    """
    f = _weights(nobs)
    b0_groups = _check_groups("b0_groups", b0_groups, f.size)
    e_inv = np.linalg.inv(information) if information_inverse is None else information_inverse
    b0 = sum(fg * b for fg, b in zip(f, b0_groups, strict=True))
    return e_inv @ b0 @ e_inv / float(np.sum(nobs))


def vcov_robust_sem(
    deltas: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    gammas: Sequence[np.ndarray],
    nobs: Sequence[int],
    information: np.ndarray | None = None,
    information_inverse: np.ndarray | None = None,
) -> np.ndarray:
    """Robust covariance of the estimates, lavaan's ``se = "robust.sem"`` (MLM).

    ``(1/N) E^-1 [sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g] E^-1`` with ``E`` the expected
    information (default :func:`information_theta` of ``weights``;
    ``lav_model_nvcov_robust_sem``).

    >>> vcov_robust_sem([np.eye(1)], [np.eye(1)], [np.eye(1) * 3.0], [100]).tolist()
    [[0.03]]
    """
    f = _weights(nobs)
    deltas = _check_groups("deltas", deltas, f.size)
    weights = _check_groups("weights", weights, f.size)
    gammas = _check_groups("gammas", gammas, f.size)
    e_inv = _e_inverse(deltas, weights, nobs, information, information_inverse)
    meat = sum(
        fg * (w @ d).T @ g @ (w @ d) for fg, d, w, g in zip(f, deltas, weights, gammas, strict=True)
    )
    return e_inv @ meat @ e_inv / float(np.sum(nobs))


def _cfi_chat(x2, df, x2_null, df_null, c_hat=1.0, c_hat_null=1.0) -> float:
    # lav_fit_cfi: with scaling factors c, the noncentralities are X2 - c df
    if any(not np.isfinite(v) for v in (x2, df, x2_null, df_null, c_hat, c_hat_null)):
        return math.nan
    t1 = max(x2 - c_hat * df, 0.0)
    t2 = max(x2 - c_hat * df, x2_null - c_hat_null * df_null, 0.0)
    if math.isclose(t1, 0.0, abs_tol=1.5e-8) and math.isclose(t2, 0.0, abs_tol=1.5e-8):
        return 1.0
    return 1.0 - t1 / t2


def _tli_chat(x2, df, x2_null, df_null, c_hat=1.0, c_hat_null=1.0) -> float:
    # lav_fit_tli with scaling factors
    if any(not np.isfinite(v) for v in (x2, df, x2_null, df_null, c_hat, c_hat_null)):
        return math.nan
    t1 = (x2 - c_hat * df) * df_null
    t2 = (x2_null - c_hat_null * df_null) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    return 1.0


def _rmsea_chat(x2, df, n, c_hat, n_groups) -> float:
    # lav_fit_rmsea with c.hat: sqrt(max(X2 / (N df) - c / N, 0)) sqrt(G)
    if not all(np.isfinite(v) for v in (x2, df, c_hat)):
        return math.nan
    if df <= 0:
        return 0.0
    return math.sqrt(max(x2 / n / df - c_hat / n, 0.0)) * math.sqrt(n_groups)


def scaled_fit_indices(
    model: ScaledTest,
    baseline: ScaledTest,
    n: int,
    n_groups: int = 1,
    ci_level: float = 0.90,
) -> dict[str, float]:
    """lavaan 0.6's ``cfi.scaled``, ``tli.scaled``, ``rmsea.scaled`` (+ its interval).

    CFI and TLI plug in the scaled statistics of the model and the baseline; the scaled
    RMSEA uses the unscaled chi-square with ``df = tr(U Gamma)`` (``lav_fit_rmsea_lavobject``),
    the same as ``chisq.scaled`` on ``df``.

    >>> m = ScaledTest(85.306, 24, 1.055, 1.055 * 24)
    >>> b = ScaledTest(918.852, 36, 1.2, 1.2 * 36)
    >>> round(scaled_fit_indices(m, b, 301)["cfi.scaled"], 4)
    0.9221
    """
    out = {
        "cfi.scaled": fitstats.cfi(
            model.chisq_scaled, model.df, baseline.chisq_scaled, baseline.df
        ),
        "tli.scaled": fitstats.tli(
            model.chisq_scaled, model.df, baseline.chisq_scaled, baseline.df
        ),
    }
    df2 = model.trace_ugamma
    if not np.isfinite(df2) or df2 == 0:
        out.update({"rmsea.scaled": math.nan, "rmsea.ci.lower.scaled": math.nan,
                    "rmsea.ci.upper.scaled": math.nan})  # fmt: skip
        return out
    out["rmsea.scaled"] = fitstats.rmsea(model.chisq, df2, n, n_groups)
    low, high = fitstats.rmsea_ci(model.chisq, df2, n, ci_level, n_groups)
    out["rmsea.ci.lower.scaled"], out["rmsea.ci.upper.scaled"] = low, high
    return out


def robust_fit_indices(
    chisq: float,
    df: int,
    c_hat: float,
    chisq_null: float,
    df_null: int,
    c_hat_null: float,
    n: int,
    n_groups: int = 1,
    ci_level: float = 0.90,
    close: float = 0.05,
) -> dict[str, float]:
    """lavaan 0.6's ``cfi.robust``, ``tli.robust``, ``rmsea.robust`` with its interval and
    close-fit p value (Brosseau-Liard, Savalei & Li 2012; Brosseau-Liard & Savalei 2014).

    Complete data: ``chisq`` is the ML statistic and ``c_hat`` the scaling factor of the
    model (``chisq_null``/``c_hat_null`` of the baseline). FIML: pass the
    :func:`fiml_corrected` statistics (``XX3``, ``c_hat3``, ``XX3_null``, ``c_hat3_null``).
    ``CFI = 1 - max(X2 - c df, 0) / max(X2 - c df, X2_0 - c_0 df_0, 0)``,
    ``RMSEA = sqrt(max(X2 / (N df) - c / N, 0)) sqrt(G)``; the interval inverts the
    noncentral chi-square at ``X2 / c`` and scales the bounds by ``sqrt(c)``.

    >>> r = robust_fit_indices(85.306, 24, 0.979, 918.852, 36, 1.2, 301)
    >>> round(r["rmsea.robust"], 4)
    0.0925
    """
    out = {
        "cfi.robust": _cfi_chat(chisq, df, chisq_null, df_null, c_hat, c_hat_null),
        "tli.robust": _tli_chat(chisq, df, chisq_null, df_null, c_hat, c_hat_null),
        "rmsea.robust": _rmsea_chat(chisq, df, n, c_hat, n_groups),
    }
    if not (np.isfinite(c_hat) and c_hat > 0 and np.isfinite(chisq)):
        out.update(dict.fromkeys(
            ["rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "rmsea.pvalue.robust"], math.nan
        ))  # fmt: skip
        return out
    scaled = chisq / c_hat
    low, high = fitstats.rmsea_ci(scaled, df, n, ci_level, n_groups)
    out["rmsea.ci.lower.robust"] = math.sqrt(c_hat) * low
    out["rmsea.ci.upper.robust"] = math.sqrt(c_hat) * high
    # lav_fit_rmsea_closefit with c.hat: ncp = N df close^2 / (c G)
    out["rmsea.pvalue.robust"] = fitstats.rmsea_pclose(scaled, df, n / c_hat, close, n_groups)
    return out


def baseline_delta(p: int, meanstructure: bool = True) -> np.ndarray:
    """Delta of the independence model (free means and variances, in that order).

    >>> baseline_delta(2).astype(int).tolist()
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    """
    rows, cols = vech_indices(p)
    diag = np.nonzero(rows == cols)[0]
    ps = rows.size
    if meanstructure:
        d = np.zeros((p + ps, 2 * p))
        d[np.arange(p), np.arange(p)] = 1.0
        d[p + diag, p + np.arange(p)] = 1.0
    else:
        d = np.zeros((ps, p))
        d[diag, np.arange(p)] = 1.0
    return d


@dataclass(frozen=True)
class FimlCorrected:
    """lavaan's ``lav_fit_fiml_corrected`` statistics for robust CFI/TLI/RMSEA under FIML:
    ``xx3`` (the ML statistic of the fitted model against the EM moments, as if they were
    complete-data moments), ``df3``, ``c_hat3``, ``xx3_scaled`` and the baseline's
    ``xx3_null``, ``df3_null``, ``c_hat3_null``."""

    xx3: float
    df3: int
    c_hat3: float
    xx3_null: float
    df3_null: int
    c_hat3_null: float

    @property
    def xx3_scaled(self) -> float:
        return self.xx3 / self.c_hat3


def _bdiag(blocks: Sequence[np.ndarray]) -> np.ndarray:
    n = sum(b.shape[0] for b in blocks)
    m = sum(b.shape[1] for b in blocks)
    out = np.zeros((n, m))
    r = c = 0
    for b in blocks:
        out[r : r + b.shape[0], c : c + b.shape[1]] = b
        r += b.shape[0]
        c += b.shape[1]
    return out


def fiml_corrected(
    patterns: Sequence[MissingPatterns],
    h1: Sequence[tuple[np.ndarray, np.ndarray]],
    implied: Sequence[tuple[np.ndarray, np.ndarray]],
    deltas: Sequence[np.ndarray],
    df: int,
    baseline_implied: Sequence[tuple[np.ndarray, np.ndarray]],
    version: str = "V3",
    information: str = "observed",
    constraint_jacobian: np.ndarray | None = None,
    baseline_deltas: Sequence[np.ndarray] | None = None,
    x_idx: Sequence[int] = (),
) -> FimlCorrected:
    """The FIML-corrected statistics behind lavaan's robust CFI/TLI/RMSEA with missing data.

    Per group: the EM moments ``h1 = (mu, sigma)``, the model's implied moments and
    ``Delta``, and the baseline (independence) model's implied moments (its Delta is
    :func:`baseline_delta`, separate parameters per group, as lavaan's baseline). As
    ``lav_fit_fiml_corrected``: ``XX3`` is the complete-data ML statistic of the implied
    moments against the EM moments; with ``Wm`` the h1 information at the EM moments (kind
    ``information``), ``Jm`` the first-order one, ``Wc`` the complete-data h1 information
    at the EM moments and ``U = Wm - Wm Delta (Delta' Wm Delta)^-1 Delta' Wm`` (groups
    weighted by f_g), ``c_hat3 = tr(U Wm^-1 Wc Wm^-1 U Gamma) / df`` with
    ``Gamma = Wm^-1 Jm Wm^-1`` ("V3", scaled tests) or ``tr(Wc Wm^-1 U Wm^-1) / df`` ("V6",
    plain ML). Pass the result's fields to :func:`robust_fit_indices`. Under constraints
    (``constraint_jacobian``: equalities and active inequalities) the model's
    ``(Delta' Wm Delta)^-1`` is lavaan's inverted augmented information,
    ``K (K' Delta' Wm Delta K)^-1 K'``. With ``fixed.x`` covariates (columns ``x_idx``)
    lavaan zeroes the covariates' own moments in ``Wm`` and inverts the rest; then pass the
    baseline's ``baseline_deltas`` (default :func:`baseline_delta` of every variable) from
    :func:`baseline_groups` with the same ``x_idx``.
    """
    version = version.upper()
    if version not in ("V3", "V6"):
        raise ValueError(f"version must be 'V3' or 'V6'; got {version!r}")
    nobs = [pt.n for pt in patterns]
    f = _weights(nobs)
    n_groups = f.size
    deltas = _check_groups("deltas", deltas, n_groups)
    for name, seq in (("h1", h1), ("implied", implied), ("baseline_implied", baseline_implied)):
        if len(seq) != n_groups:
            raise ValueError(f"{name} must hold one (mu, sigma) per group ({n_groups})")
    terms = _h1_terms(patterns, h1, baseline_implied, version, information, tuple(x_idx))
    xx3 = 0.0
    for full, ll_sat, (mu0, s0) in zip(terms.full, terms.ll_sat, implied, strict=True):
        xx3 += 2.0 * (ll_sat - fiml_loglik(full, mu0, s0))
    wm_g, wc_g, jm_g, jwi_g, trace_h1 = terms.wm, terms.wc, terms.jm, terms.jwi, terms.trace

    def k_value(deltas_g: list[np.ndarray], jac: np.ndarray | None = None) -> float:
        # lavaan's tr(U Wm^-1 Wc Wm^-1 U Gamma) (V3) or tr(Wc Wm^-1 U Wm^-1) (V6) with
        # U = Wm - Wm Delta E^-1 Delta' Wm, expanded so that no p* x p* product depends on
        # the model: with Wm Wm^-1 = I these are trace_h1 minus terms in q x q matrices
        e = sum(fg * d.T @ wm @ d for fg, d, wm in zip(f, deltas_g, wm_g, strict=True))
        e_inv = np.linalg.inv(e) if jac is None else constrained_inverse(e, jac)
        wc_d = [fg * wc @ d for fg, wc, d in zip(f, wc_g, deltas_g, strict=True)]
        dcd = sum(d.T @ x for d, x in zip(deltas_g, wc_d, strict=True))  # Delta' C Delta
        if version == "V6":
            return trace_h1 - float(np.sum(dcd * e_inv))
        dbcd = sum(d.T @ (jwi @ x) for d, jwi, x in zip(deltas_g, jwi_g, wc_d, strict=True))
        daga = sum(fg * d.T @ jm @ d for fg, d, jm in zip(f, deltas_g, jm_g, strict=True))
        return (
            trace_h1
            - 2.0 * float(np.sum(dbcd * e_inv.T))
            + float(np.sum((e_inv @ dcd @ e_inv) * daga.T))
        )

    nx = len(x_idx)
    df_null = sum(pt.p * (pt.p - 1) // 2 - nx * (nx - 1) // 2 for pt in patterns)
    jac = (
        None if constraint_jacobian is None or not len(constraint_jacobian) else constraint_jacobian
    )
    c3 = k_value(list(deltas), jac) / df
    if baseline_deltas is None:
        base = _bdiag([baseline_delta(pt.p) for pt in patterns])
        rows = np.cumsum([0] + [d.shape[0] for d in deltas])
        baseline_deltas = [base[a:b] for a, b in zip(rows[:-1], rows[1:], strict=True)]
    # the baseline's k depends on the data alone, like the h1 terms: once per data set
    key = _digest(*baseline_deltas)
    if key not in terms.k_null:
        terms.k_null[key] = k_value(list(baseline_deltas))
    c3_null = terms.k_null[key] / df_null
    return FimlCorrected(float(xx3), int(df), c3, float(terms.xx3_null), int(df_null), c3_null)


@dataclass
class _H1Terms:
    """What :func:`fiml_corrected` needs from the data alone (the EM moments, the baseline),
    per group: the saturated moments as complete data (``full``) and their log-likelihood,
    ``Wm``, ``Wc``, ``Jm``, ``Jm Wm^-1``, the model-free part of k, the baseline's XX3 and
    (by the digest of the baseline's Delta) its k."""

    full: list
    ll_sat: list
    wm: list
    wc: list
    jm: list
    jwi: list
    trace: float
    xx3_null: float
    k_null: dict


# A stage fits several models to the same items and rows (the CFA stage: one-factor,
# domains, first- and second-order, their fit measures one after another): their h1 terms
# are the same p* x p* matrices, computed and inverted once. Keyed by the digest of every
# input, so a hit returns exactly what the computation would; two entries, since each holds
# a few p* x p* matrices per group and a power study's every replication is new data.
_H1_CACHE: dict[bytes, _H1Terms] = {}
_H1_CACHE_SIZE = 2


def _digest(*parts) -> bytes:
    """A digest of arrays (values, shapes and dtypes) and plain values."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(repr((a.shape, a.dtype.str)).encode())
            h.update(a.tobytes())
        else:
            h.update(repr(part).encode())
    return h.digest()


def _patterns_digest(pats: MissingPatterns) -> bytes:
    data = () if pats.data is None else (pats.data,)
    return _digest(pats.observed, pats.freq, *data, *pats.means, *pats.covs)


def _h1_terms(patterns, h1, baseline_implied, version, information, x_idx) -> _H1Terms:
    key = _digest(
        *(_patterns_digest(pt) for pt in patterns),
        *(a for pair in h1 for a in pair),
        *(np.asarray(a) for pair in baseline_implied for a in pair),
        version,
        information,
        x_idx,
    )
    if key in _H1_CACHE:
        return _H1_CACHE[key]
    terms = _H1Terms([], [], [], [], [], [], 0.0, 0.0, {})
    for pats, (mu1, s1), (mub, sb) in zip(patterns, h1, baseline_implied, strict=True):
        full = MissingPatterns.from_moments(mu1, s1, pats.n)
        ll_sat = fiml_loglik(full, mu1, s1)
        terms.full.append(full)
        terms.ll_sat.append(ll_sat)
        terms.xx3_null += 2.0 * (ll_sat - fiml_loglik(full, mub, sb))
        wm = _zero_fixed_x(fiml_information(pats, mu1, s1, kind=information), pats.p, x_idx)
        wmi = _inv_nonzero(wm)
        wc = fiml_information(full, mu1, s1, kind="expected")
        terms.wm.append(wm)
        terms.wc.append(wc)
        if version == "V3":
            jm = first_order_information(pats, mu1, s1)
            jwi = jm @ wmi
            terms.jm.append(jm)
            terms.jwi.append(jwi)
            terms.trace += float(np.sum((wc @ wmi) * jwi.T))  # tr(Wc Wm^-1 Jm Wm^-1)
        else:
            terms.trace += float(np.sum(wc * wmi))  # tr(Wc Wm^-1)
    while len(_H1_CACHE) >= _H1_CACHE_SIZE:
        del _H1_CACHE[next(iter(_H1_CACHE))]  # the oldest entry
    _H1_CACHE[key] = terms
    return terms


@dataclass(frozen=True)
class RobustGroup:
    """What the robust corrections need from one group of a fitted model.

    ``patterns`` -- the group's data (:func:`~policestress.sem.missing.missing_patterns`);
    ``mu``, ``sigma`` -- the model-implied moments at the estimates (``mu`` None without mean
    structure: then the sample mean stands in, as in lavaan); ``delta`` -- the Jacobian of
    the implied moment vector in the (reduced) free parameters, rows ``[mu, vech(sigma)]`` or
    ``vech(sigma)`` alone; ``h1`` -- the unrestricted moments ``(mu, sigma)``, by default the
    sample moments of complete data or :func:`~policestress.sem.missing.em_saturated`'s;
    ``x_idx`` -- the columns of ``fixed.x`` covariates (their moments are fixed, so their
    Delta rows are zero and Gamma is lavaan's fixed.x one).
    """

    patterns: MissingPatterns
    mu: np.ndarray | None
    sigma: np.ndarray
    delta: np.ndarray
    h1: tuple[np.ndarray, np.ndarray] | None = None
    x_idx: tuple[int, ...] = ()

    @property
    def meanstructure(self) -> bool:
        p = self.patterns.p
        rows = self.delta.shape[0]
        if rows == p + p * (p + 1) // 2:
            return True
        if rows == p * (p + 1) // 2:
            return False
        raise ValueError(
            f"delta has {rows} rows; with {p} variables it must have {p * (p + 1) // 2} "
            f"(vech(sigma)) or {p + p * (p + 1) // 2} ([mu, vech(sigma)])"
        )

    def implied(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mu is None:
            if self.meanstructure or not self.patterns.complete:
                raise ValueError("mu is needed with a mean structure or missing data")
            return self.patterns.means[0], np.asarray(self.sigma, dtype=float)
        return np.asarray(self.mu, dtype=float), np.asarray(self.sigma, dtype=float)

    def unrestricted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.h1 is not None:
            return np.asarray(self.h1[0], dtype=float), np.asarray(self.h1[1], dtype=float)
        pats = self.patterns
        if pats.complete:
            return pats.means[0], pats.covs[0]
        h1 = em_saturated(pats)
        return h1.mu, h1.sigma


@dataclass(frozen=True)
class RobustResult:
    """A robust estimator's test (:class:`ScaledTest`) and covariance of the estimates."""

    test: ScaledTest
    vcov: np.ndarray


def mlm(
    groups: Sequence[RobustGroup],
    chisq: float,
    df: int,
    information_inverse: np.ndarray | None = None,
) -> RobustResult:
    """lavaan's ``estimator = "MLM"``: Satorra-Bentler test and ``robust.sem`` vcov.

    Complete data only. The weight matrices are the expected h1 information at the implied
    moments (``wls.v``), Gamma is :func:`gamma_adf`, ``E`` the expected information.

    >>> from policestress.sem.missing import missing_patterns
    >>> rng = np.random.default_rng(3)
    >>> x = rng.standard_t(5, size=(400, 2))
    >>> pats = missing_patterns(x)
    >>> # saturated "model": Delta is the identity, so there is nothing to test (df = 0)
    >>> res = mlm([RobustGroup(pats, None, pats.covs[0], np.eye(3))], 0.0, 0)
    >>> res.vcov.shape
    (3, 3)
    """
    nobs = [gr.patterns.n for gr in groups]
    weights, gammas, deltas = [], [], []
    for gr in groups:
        if not gr.patterns.complete or gr.patterns.data is None:
            raise ValueError("MLM needs the complete data rows of every group (use MLR with FIML)")
        mu, sigma = gr.implied()
        weights.append(fiml_information(gr.patterns, mu, sigma, "expected", gr.meanstructure))
        gammas.append(gamma_adf(gr.patterns.data, gr.meanstructure, gr.x_idx))
        deltas.append(gr.delta)
    e_inv = information_inverse
    test = satorra_bentler(chisq, df, deltas, weights, gammas, nobs, information_inverse=e_inv)
    vcov = vcov_robust_sem(deltas, weights, gammas, nobs, information_inverse=e_inv)
    return RobustResult(test, vcov)


def mlr(
    groups: Sequence[RobustGroup],
    information: np.ndarray,
    chisq: float,
    df: int,
    information_inverse: np.ndarray | None = None,
) -> RobustResult:
    """lavaan's ``estimator = "MLR"``: Yuan-Bentler (mplus) test and Huber-White vcov.

    ``information`` is the observed information in the parameters per case (lavaan: the
    Hessian of its fit function ``F = -logl / N`` for FIML, or of the ML discrepancy / 2 for
    complete data, by numerical differentiation of the analytic gradient). Complete data or
    FIML alike: ``A1``/``B1`` at the unrestricted moments, ``B0`` at the implied ones.

    >>> from policestress.sem.missing import missing_patterns
    >>> rng = np.random.default_rng(3)
    >>> pats = missing_patterns(rng.standard_t(5, size=(400, 2)))
    >>> gr = RobustGroup(pats, None, pats.covs[0], np.eye(3))
    >>> e = information_theta([gr.delta], [fiml_information(pats, pats.means[0], pats.covs[0],
    ...                        "observed", False)], [400])
    >>> mlr([gr], e, 0.0, 0).vcov.shape
    (3, 3)
    """
    nobs = [gr.patterns.n for gr in groups]
    a1, b1, b0 = [], [], []
    for gr in groups:
        ms_ = gr.meanstructure
        mu1, s1 = gr.unrestricted()
        a1.append(
            _zero_fixed_x(
                fiml_information(gr.patterns, mu1, s1, "observed", ms_), gr.patterns.p, gr.x_idx
            )
        )
        b1.append(first_order_information(gr.patterns, mu1, s1, ms_))
        mu, sigma = gr.implied()
        b1s = first_order_information(gr.patterns, mu, sigma, ms_)
        b0.append(gr.delta.T @ b1s @ gr.delta)
    e_inv = information_inverse
    test = yuan_bentler_mplus(chisq, df, a1, b1, b0, information, nobs, information_inverse=e_inv)
    return RobustResult(test, vcov_huber_white(information, b0, nobs, information_inverse=e_inv))


def baseline_groups(
    patterns: Sequence[MissingPatterns],
    meanstructure: bool = True,
    x_idx: Sequence[int] = (),
    h1: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[RobustGroup]:
    """The independence (baseline) model as :class:`RobustGroup` s, fitted in closed form
    (:func:`~policestress.sem.missing.baseline_fiml`), separate parameters per group (as
    lavaan's baseline), for :func:`mlm`, :func:`mlr` (with :func:`baseline_information`)
    and the baseline's scaling factor in the scaled/robust CFI and TLI. With ``fixed.x``
    covariates (columns ``x_idx``) lavaan's baseline keeps their (co)variances and means
    fixed at the unrestricted values (``h1``, one ``(mu, sigma)`` per group; default the
    sample moments of complete data): only the other variables' means and variances are
    free.

    >>> from policestress.sem.missing import missing_patterns
    >>> pats = missing_patterns(np.random.default_rng(0).normal(size=(50, 3)))
    >>> baseline_groups([pats])[0].delta.shape
    (9, 6)
    >>> baseline_groups([pats], x_idx=[2])[0].delta.shape
    (9, 4)
    """
    x_idx = tuple(int(i) for i in x_idx)
    deltas = []
    for pt in patterns:
        d = baseline_delta(pt.p, meanstructure)
        if x_idx:
            y_idx = [j for j in range(pt.p) if j not in x_idx]
            keep = [pt.p + j for j in y_idx] if meanstructure else list(y_idx)
            d = d[:, ([*y_idx] if meanstructure else []) + keep]
        deltas.append(d)
    q = sum(d.shape[1] for d in deltas)
    out, c = [], 0
    for g, (pt, d) in enumerate(zip(patterns, deltas, strict=True)):
        b = baseline_fiml(pt)
        mu, sigma = b.mu, b.sigma
        if x_idx:
            mu_h1, sigma_h1 = h1[g] if h1 is not None else (pt.means[0], pt.covs[0])
            mu, sigma = np.array(mu, dtype=float), np.array(sigma, dtype=float)
            mu[list(x_idx)] = mu_h1[list(x_idx)]
            sigma[np.ix_(x_idx, x_idx)] = sigma_h1[np.ix_(x_idx, x_idx)]
        full = np.zeros((d.shape[0], q))
        full[:, c : c + d.shape[1]] = d
        c += d.shape[1]
        out.append(RobustGroup(pt, mu if meanstructure else None, sigma, full, x_idx=x_idx))
    return out


def baseline_information(groups: Sequence[RobustGroup]) -> np.ndarray:
    """Observed information of the baseline model in its parameters. The independence
    model is linear in its parameters, so it is exactly ``sum_g f_g Delta' A_obs Delta``.

    >>> from policestress.sem.missing import missing_patterns
    >>> pats = missing_patterns(np.random.default_rng(0).normal(size=(50, 2)))
    >>> baseline_information(baseline_groups([pats])).shape
    (4, 4)
    """
    infos = [
        fiml_information(gr.patterns, *gr.implied(), "observed", gr.meanstructure) for gr in groups
    ]
    return information_theta([gr.delta for gr in groups], infos, [gr.patterns.n for gr in groups])


def scaled_difference_test(
    chisq0: float,
    df0: int,
    c0: float,
    chisq1: float,
    df1: int,
    c1: float,
) -> dict[str, float]:
    """Satorra-Bentler (2001) scaled chi-square difference test of nested models.

    Model 0 is the more restricted (more df), model 1 the less restricted, each with its ML
    chi-square and scaling factor. ``cd = (df0 c0 - df1 c1) / (df0 - df1)``,
    ``T = (chisq0 - chisq1) / cd`` on ``df0 - df1`` df (``lav_test_diff_SatorraBentler2001``;
    ``c1 = 1`` when ``df1 = 0``). A negative ``cd`` gives NaN, as lavaan.

    >>> r = scaled_difference_test(100.0, 30, 1.1, 80.0, 24, 1.05)
    >>> round(r["chisq.diff"], 4), r["df.diff"]
    (15.3846, 6)
    """
    if df1 == 0:
        c1 = 1.0
    m = df0 - df1
    if m <= 0:
        raise ValueError(
            f"model 0 must be nested in model 1 with more degrees of freedom; got df0={df0}, "
            f"df1={df1}"
        )
    cd = (df0 * c0 - df1 * c1) / m
    if not cd >= 0:
        cd = math.nan
    t = (chisq0 - chisq1) / cd
    p = float(stats.chi2.sf(t, m)) if np.isfinite(t) else math.nan
    return {"chisq.diff": t, "df.diff": int(m), "scaling.factor": cd, "pvalue": p}
