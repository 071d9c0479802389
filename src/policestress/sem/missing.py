"""Full-information ML (FIML) for incomplete multivariate-normal data, in moment space.

Everything here works on one group's data and on that group's mean vector ``mu`` (p) and
covariance matrix ``sigma`` (p x p); the model enters only through them, so the SEM core
gets its gradient in the parameters as ``Delta.T @ fiml_gradient(...)`` and its information
as ``Delta.T @ fiml_information(...) @ Delta``. The moment vector is lavaan's
``m = [mu, vech(sigma)]`` with :func:`vech` = ``lav_matrix_vech`` (lower triangle, column by
column). The formulas are those of lavaan 0.6 (``lav_mvnorm_missing.R``,
``lav_mvnorm_missing_h1.R``):

* :func:`fiml_loglik` -- casewise log-likelihood (lavaan's ``logl`` under ``missing = "ml"``);
* :func:`fiml_gradient` -- its derivative with respect to ``m``
  (``lav_mvnorm_missing_dlogl_dmu`` / ``_dvechSigma``);
* :func:`fiml_information` -- the h1 information per case, ``"observed"`` (the Hessian,
  ``lav_mvnorm_missing_information_observed_samplestats``) or ``"expected"``
  (``lav_mvnorm_missing_information_expected``);
* :func:`casewise_scores` and :func:`first_order_information` -- per-case gradients and their
  cross-product per case (``lav_mvnorm_missing_scores_mu_vech_sigma``,
  ``..._information_firstorder``), the "meat" of the MLR sandwich;
* :func:`em_saturated` -- the unrestricted (H1) mean and covariance by EM, with lavaan's start
  values and stopping rule (``lav_mvnorm_missing_h1_estimate_moments``);
* :func:`baseline_fiml` -- the independence (baseline) model under FIML, in closed form.

Complete data are the special case of one pattern: the same functions give the ordinary
ML log-likelihood, gradient and information, so the core needs one code path.
:meth:`MissingPatterns.from_moments` builds that case from a mean, an ML covariance (divisor
n) and n alone.

Speed: rows are sorted by pattern once; for a given ``sigma`` the inverse of each pattern's
observed block comes from one inverse of ``sigma`` by the partitioned-inverse update (as
lavaan does), batched over patterns with the same number of missing values; the per-case
work is then a single matrix product (the E-step imputation, see ``_Fiml``).

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 5.0], [np.nan, 3.0], [4.0, 4.0]])
>>> pats = missing_patterns(x)
>>> pats.n_patterns, pats.n
(3, 5)
>>> h1 = em_saturated(pats)
>>> round(h1.loglik, 4) == round(fiml_loglik(pats, h1.mu, h1.sigma), 4)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))

__all__ = [
    "EMResult",
    "MissingPatterns",
    "baseline_fiml",
    "casewise_loglik",
    "casewise_scores",
    "em_saturated",
    "fiml_gradient",
    "fiml_information",
    "fiml_loglik",
    "fiml_loglik_gradient",
    "first_order_information",
    "missing_patterns",
    "moments_to_vector",
    "unvech",
    "vech",
    "vech_indices",
]


@lru_cache(maxsize=64)
def _vech_indices_cached(p: int) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.triu_indices(p)  # row-major upper = column-major lower, transposed
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of lavaan's ``vech`` order (lower triangle, column by column).

    >>> rows, cols = vech_indices(3)
    >>> list(zip(rows.tolist(), cols.tolist()))
    [(0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (2, 2)]
    """
    return _vech_indices_cached(int(p))


def vech(a: np.ndarray) -> np.ndarray:
    """Half-vectorisation in lavaan's order (``lav_matrix_vech``).

    >>> vech(np.array([[1.0, 2.0], [2.0, 3.0]])).tolist()
    [1.0, 2.0, 3.0]
    """
    a = np.asarray(a)
    rows, cols = vech_indices(a.shape[-1])
    return a[..., rows, cols]


def unvech(v: np.ndarray) -> np.ndarray:
    """Symmetric matrix from its :func:`vech` (``lav_matrix_vech_reverse``).

    >>> unvech(np.array([1.0, 2.0, 3.0])).tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    v = np.asarray(v, dtype=float)
    p = int(round((np.sqrt(8 * v.size + 1) - 1) / 2))
    if p * (p + 1) // 2 != v.size:
        raise ValueError(f"a vech vector has length p(p+1)/2; got {v.size}")
    rows, cols = vech_indices(p)
    out = np.zeros((p, p))
    out[rows, cols] = v
    out[cols, rows] = v
    return out


def moments_to_vector(mu: np.ndarray | None, sigma: np.ndarray) -> np.ndarray:
    """The moment vector ``[mu, vech(sigma)]`` (just ``vech(sigma)`` when ``mu`` is None).

    >>> moments_to_vector(np.array([0.5, 1.0]), np.eye(2)).tolist()
    [0.5, 1.0, 1.0, 0.0, 1.0]
    """
    s = vech(np.asarray(sigma, dtype=float))
    if mu is None:
        return s
    return np.concatenate([np.asarray(mu, dtype=float).ravel(), s])


@dataclass(frozen=True)
class MissingPatterns:
    """One group's data, sorted by missing-data pattern (lavaan's ``Mp`` + ``Yp``).

    Attributes
    ----------
    observed : (n_patterns, p) bool array, True where the pattern's variable is observed.
    freq : (n_patterns,) int array, rows per pattern; patterns in order of first appearance.
    starts : (n_patterns + 1,) int array; pattern ``j``'s rows are ``data[starts[j]:starts[j+1]]``.
    data : (n, p) float array of the non-empty rows sorted by pattern, NaN where missing, or
        None when built by :meth:`from_moments` (complete data summarised by its moments).
    order : (n,) int array, ``data[k]`` is row ``order[k]`` of the matrix given.
    empty_rows : int array, rows with no observed value; they are dropped (as lavaan does,
        which counts them out of ``n``).
    means, covs : per pattern, the mean and ML covariance (divisor ``freq``) of the observed
        variables of its rows (lavaan's ``Yp[[j]]$MY`` and ``$SY``).
    """

    observed: np.ndarray
    freq: np.ndarray
    starts: np.ndarray
    data: np.ndarray | None
    order: np.ndarray
    empty_rows: np.ndarray
    means: tuple[np.ndarray, ...]
    covs: tuple[np.ndarray, ...]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of (non-empty) cases."""
        return int(self.freq.sum())

    @property
    def p(self) -> int:
        """Number of variables."""
        return int(self.observed.shape[1])

    @property
    def n_patterns(self) -> int:
        """Number of distinct patterns of observed variables."""
        return int(self.observed.shape[0])

    @property
    def complete(self) -> bool:
        """True when every value is observed (one pattern, nothing missing)."""
        return bool(self.observed.all())

    @classmethod
    def from_moments(cls, mean: np.ndarray, cov: np.ndarray, n: int) -> MissingPatterns:
        """Complete data given only by its mean, ML covariance (divisor ``n``) and ``n``.

        Log-likelihood, gradient and information need nothing more; the casewise functions
        (:func:`casewise_scores`, :func:`casewise_loglik`) need the rows and refuse.

        >>> pats = MissingPatterns.from_moments(np.zeros(2), np.eye(2), 10)
        >>> round(fiml_loglik(pats, np.zeros(2), np.eye(2)), 4)
        -28.3788
        """
        mean = np.asarray(mean, dtype=float).ravel()
        cov = np.asarray(cov, dtype=float)
        p = mean.size
        if cov.shape != (p, p):
            raise ValueError(f"cov must be {p} x {p} to match mean; got {cov.shape}")
        if n < 1:
            raise ValueError(f"n must be at least 1; got {n}")
        return cls(
            observed=np.ones((1, p), dtype=bool),
            freq=np.array([int(n)]),
            starts=np.array([0, int(n)]),
            data=None,
            order=np.arange(int(n)),
            empty_rows=np.array([], dtype=int),
            means=(mean,),
            covs=(cov,),
        )


def missing_patterns(x: np.ndarray) -> MissingPatterns:
    """Group the rows of ``x`` (n x p, NaN = missing) by their pattern of observed values.

    Rows with nothing observed are dropped and listed in ``empty_rows``.

    >>> x = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, np.nan], [4.0, np.nan]])
    >>> pats = missing_patterns(x)
    >>> pats.observed.tolist(), pats.freq.tolist(), pats.empty_rows.tolist()
    ([[True, False], [True, True]], [2, 1], [2])
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"data must be a 2-d array (cases x variables); got {x.ndim} dimensions")
    if np.isinf(x).any():
        bad = sorted(set(np.nonzero(np.isinf(x))[0].tolist()))
        raise ValueError(f"data hold infinite values in rows {bad[:10]}")
    obs = ~np.isnan(x)
    empty = np.nonzero(~obs.any(axis=1))[0]
    keep = np.nonzero(obs.any(axis=1))[0]
    if keep.size == 0:
        raise ValueError("every row of the data is empty (all values missing)")
    patterns, first, inverse = np.unique(obs[keep], axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    # order patterns by first appearance, so results do not depend on numpy's sort of booleans
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    patterns = patterns[np.argsort(first, kind="stable")]
    pat_of_row = rank[inverse]
    order_local = np.argsort(pat_of_row, kind="stable")
    order = keep[order_local]
    data = x[order]
    freq = np.bincount(pat_of_row, minlength=len(patterns))
    starts = np.concatenate([[0], np.cumsum(freq)])
    means, covs = [], []
    for j in range(len(patterns)):
        block = data[starts[j] : starts[j + 1]][:, patterns[j]]
        m = block.mean(axis=0)
        c = block - m
        means.append(m)
        covs.append(c.T @ c / block.shape[0])
    return MissingPatterns(
        observed=patterns,
        freq=freq,
        starts=starts,
        data=data,
        order=order,
        empty_rows=empty,
        means=tuple(means),
        covs=tuple(covs),
    )


def _check_moments(pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray):
    mu = np.asarray(mu, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float)
    if mu.size != pats.p or sigma.shape != (pats.p, pats.p):
        raise ValueError(
            f"mu must have {pats.p} elements and sigma be {pats.p} x {pats.p} (the data's "
            f"variables); got {mu.size} and {sigma.shape}"
        )
    return mu, sigma


class _Fiml:
    """The work shared by loglik, gradient, scores and information at one (mu, sigma).

    With ``lam = inv(sigma)`` and a pattern with missing set ``m``, the inverse of the
    observed block, embedded in p x p with zeros, is ``K = lam - lam[:, m] G`` with
    ``G = inv(lam[m, m]) lam[m, :]``; ``log det sigma_oo = log det sigma + log det lam[m, m]``.
    For a case with centred, zero-filled values ``z``, ``K z = lam zhat`` where ``zhat`` is
    ``z`` with its missing entries replaced by their conditional expectation ``-G z`` (the
    E-step imputation), so every case's ``K z`` is one product ``Zhat @ lam``.
    """

    def __init__(self, pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray):
        mu, sigma = _check_moments(pats, mu, sigma)
        self.pats, self.mu, self.sigma = pats, mu, sigma
        p = pats.p
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(
                "the model-implied covariance matrix is not positive definite"
            ) from exc
        inv_chol = np.linalg.solve(chol, np.eye(p))
        self.lam = inv_chol.T @ inv_chol
        self.logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        npat = pats.n_patterns
        self.pat_logdet = np.full(npat, self.logdet)
        # per number of missing values k: the patterns, their missing indices, G and inv(lam_mm)
        self.groups = []
        n_miss = (~pats.observed).sum(axis=1)
        for k in np.unique(n_miss):
            if k == 0:
                continue
            idx = np.nonzero(n_miss == k)[0]
            mis = np.nonzero(~pats.observed[idx])[1].reshape(idx.size, k)
            lam_mm = self.lam[mis[:, :, None], mis[:, None, :]]
            lam_m = self.lam[mis]  # (npat_k, k, p)
            lam_mm_inv = np.linalg.inv(lam_mm)
            g = lam_mm_inv @ lam_m
            sign, ld = np.linalg.slogdet(lam_mm)
            if np.any(sign <= 0):
                raise np.linalg.LinAlgError("a pattern's covariance block is not positive definite")
            self.pat_logdet[idx] += ld
            self.groups.append((idx, mis, lam_m, lam_mm_inv, g))
        self._zhat = None
        self._a = None

    # --- data-based pieces --------------------------------------------------------------
    def zhat(self) -> np.ndarray:
        """Centred cases with missing entries imputed by their conditional expectation."""
        if self._zhat is None:
            pats = self.pats
            if pats.data is None:
                raise ValueError(
                    "these patterns were built from moments only (MissingPatterns.from_moments); "
                    "casewise quantities need the data rows: use missing_patterns(X)"
                )
            z = pats.data - self.mu
            z[np.isnan(z)] = 0.0
            for idx, mis, _lam_m, _inv, g in self.groups:
                for local, j in enumerate(idx):
                    s, e = pats.starts[j], pats.starts[j + 1]
                    z[s:e, mis[local]] = -(z[s:e] @ g[local].T)
            self._zhat = z
        return self._zhat

    def a(self) -> np.ndarray:
        """``K z`` for every case (the case's gradient with respect to mu)."""
        if self._a is None:
            self._a = self.zhat() @ self.lam
        return self._a

    def k_sum(self) -> np.ndarray:
        """``sum over cases of K`` (p x p)."""
        pats = self.pats
        out = pats.n * self.lam
        for idx, _mis, lam_m, _inv, g in self.groups:
            f = pats.freq[idx].astype(float)[:, None, None]
            p = pats.p
            out = out - (f * lam_m).reshape(-1, p).T @ g.reshape(-1, p)
        return out

    def k_stack(self) -> np.ndarray:
        """``K`` of every pattern, (n_patterns, p, p), exactly zero off the observed block."""
        pats = self.pats
        k = np.broadcast_to(self.lam, (pats.n_patterns, pats.p, pats.p)).copy()
        for idx, _mis, lam_m, _inv, g in self.groups:
            k[idx] -= np.einsum("nkp,nkq->npq", lam_m, g)
            o = pats.observed[idx]
            k[idx] *= o[:, :, None] & o[:, None, :]
        return k

    # --- moment-based pieces (work with from_moments too) -----------------------------------
    def pattern_sums(self):
        """Per pattern, ``sum z`` and ``sum z z'`` (embedded, zero-filled, centred at mu)."""
        pats = self.pats
        p = pats.p
        zs = np.zeros((pats.n_patterns, p))
        zz = np.zeros((pats.n_patterns, p, p))
        for j in range(pats.n_patterns):
            o = pats.observed[j]
            d = pats.means[j] - self.mu[o]
            f = pats.freq[j]
            zs[j, o] = f * d
            zz[j][np.ix_(o, o)] = f * (pats.covs[j] + np.outer(d, d))
        return zs, zz

    def loglik(self) -> float:
        pats = self.pats
        n_obs = pats.observed.sum(axis=1)
        const = float((pats.freq * (n_obs * LOG_2PI + self.pat_logdet)).sum())
        if pats.data is not None:
            z = pats.data - self.mu
            z[np.isnan(z)] = 0.0
            dist = float(np.einsum("ij,ij->", z, self.a()))
        else:
            _zs, zz = self.pattern_sums()
            dist = float(np.einsum("npq,npq->", self.k_stack(), zz))
        return -0.5 * (const + dist)

    def gradient(self) -> np.ndarray:
        if self.pats.data is not None:
            a = self.a()
            g_mu = a.sum(axis=0)
            aa = np.ascontiguousarray(a.T) @ a
        else:
            zs, zz = self.pattern_sums()
            k = self.k_stack()
            g_mu = np.einsum("npq,nq->p", k, zs)
            aa = np.einsum("nab,nbc,ncd->ad", k, zz, k)
        d_sigma = 0.5 * (aa - self.k_sum())
        return np.concatenate([g_mu, _dup_pre_sym(d_sigma)])

    def pattern_a_stats(self):
        """Per pattern ``sum a`` (p) and ``sum a a'`` (p x p)."""
        pats = self.pats
        if pats.data is not None:
            a = self.a()
            asum = np.add.reduceat(a, pats.starts[:-1], axis=0)
            w = np.stack(
                [a[s:e].T @ a[s:e] for s, e in zip(pats.starts[:-1], pats.starts[1:], strict=True)]
            )
        else:
            zs, zz = self.pattern_sums()
            k = self.k_stack()
            asum = np.einsum("npq,nq->np", k, zs)
            w = k @ zz @ k
        return asum, w


def _dup_pre_sym(m: np.ndarray) -> np.ndarray:
    """``D' vec(m)`` for symmetric ``m``: vech with off-diagonal entries doubled."""
    rows, cols = vech_indices(m.shape[0])
    return np.where(rows == cols, 1.0, 2.0) * m[rows, cols]


@lru_cache(maxsize=8)
def _dup_kron_index(p: int):
    rows, cols = vech_indices(p)
    i, j = rows[:, None], cols[:, None]
    k, l_ = rows[None, :], cols[None, :]
    pp = p * p

    def lin(b, d, a, c):  # position of q[b, d, a, c] in q flattened as (p*p, p*p)
        return (b * p + d) * pp + a * p + c

    off_v = (i != j).astype(float)
    off_w = (k != l_).astype(float)
    return (lin(j, l_, i, k), lin(j, k, i, l_), lin(i, l_, j, k), lin(i, k, j, l_), off_v, off_w)


def _dup_kron(a: np.ndarray, b: np.ndarray, swap_symmetric: bool = False) -> np.ndarray:
    """``sum_j D' (a_j kron b_j) D`` over a stack of symmetric p x p matrices (p* x p*).

    ``swap_symmetric``: the caller guarantees ``sum_j a_j kron b_j = sum_j b_j kron a_j``
    (e.g. ``a_j = f_j K_j``, ``b_j = K_j``), which halves the gathers.
    """
    npat, p, _ = a.shape
    # q[b, d, a, c] = sum_j a_j[b, d] b_j[a, c]; (a kron b) at (vec(a, b), vec(c, d)) is q[b, d, a, c]
    q = (np.ascontiguousarray(a.reshape(npat, p * p).T) @ b.reshape(npat, p * p)).ravel()
    t1, t2, t3, t4, off_v, off_w = _dup_kron_index(p)
    # D sums the two positions (a, b) and (b, a) of each off-diagonal vech element
    if swap_symmetric:  # then q[i, l, j, k] = q[j, k, i, l] and q[i, k, j, l] = q[j, l, i, k]
        return (1.0 + off_v * off_w) * q[t1] + (off_v + off_w) * q[t2]
    return q[t1] + off_w * q[t2] + off_v * q[t3] + (off_v * off_w) * q[t4]


def fiml_loglik(pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray) -> float:
    """Total casewise (FIML) log-likelihood, with the ``2 pi`` constant (lavaan's ``logl``).

    ``sum_i -1/2 [p_i log(2 pi) + log det sigma_oo + (y_i - mu)_o' sigma_oo^-1 (y_i - mu)_o]``
    over the observed part ``o`` of each case (``lav_mvnorm_missing_loglik_samplestats``).

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0]])
    >>> round(fiml_loglik(missing_patterns(x), np.zeros(2), np.eye(2)), 6)
    -5.175754
    """
    return _Fiml(pats, mu, sigma).loglik()


def casewise_loglik(pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log-likelihood of each case, in the order of the rows given to :func:`missing_patterns`
    (empty rows left out) -- ``lav_mvnorm_missing_llik_casewise``.

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0]])
    >>> np.round(casewise_loglik(missing_patterns(x), np.zeros(2), np.eye(2)), 4).tolist()
    [-2.3379, -1.4189, -1.4189]
    """
    w = _Fiml(pats, mu, sigma)
    a = w.a()  # refuses patterns built from moments only
    z = pats.data - w.mu
    z[np.isnan(z)] = 0.0
    dist = np.einsum("ij,ij->i", z, a)
    n_obs = np.repeat(pats.observed.sum(axis=1), pats.freq)
    ld = np.repeat(w.pat_logdet, pats.freq)
    ll = -0.5 * (n_obs * LOG_2PI + ld + dist)
    return ll[np.argsort(pats.order)]


def fiml_gradient(pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gradient of :func:`fiml_loglik` with respect to ``m = [mu, vech(sigma)]``.

    The ``vech(sigma)`` part is the derivative with respect to each distinct element (an
    off-diagonal element moves both of its positions), as lavaan's
    ``lav_mvnorm_missing_dlogl_dvechSigma``; the core's gradient in the parameters is
    ``Delta.T @ fiml_gradient(...)``.

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0]])
    >>> fiml_gradient(missing_patterns(x), np.zeros(2), np.eye(2)).round(3).tolist()
    [1.0, 0.0, -0.5, 0.0, 0.0]
    """
    return _Fiml(pats, mu, sigma).gradient()


def fiml_loglik_gradient(
    pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray
) -> tuple[float, np.ndarray]:
    """:func:`fiml_loglik` and :func:`fiml_gradient` at once (they share the expensive part).

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0]])
    >>> ll, g = fiml_loglik_gradient(missing_patterns(x), np.zeros(2), np.eye(2))
    >>> round(ll, 6), g.shape
    (-5.175754, (5,))
    """
    w = _Fiml(pats, mu, sigma)
    return w.loglik(), w.gradient()


def casewise_scores(
    pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray, meanstructure: bool = True
) -> np.ndarray:
    """Per-case gradients of the casewise log-likelihood with respect to ``m`` (n x len(m)).

    Rows in the order given to :func:`missing_patterns` (empty rows left out); columns
    ``[mu, vech(sigma)]`` (only ``vech(sigma)`` when ``meanstructure=False``), as
    ``lav_mvnorm_missing_scores_mu_vech_sigma``. Their column sums are :func:`fiml_gradient`.

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0]])
    >>> pats = missing_patterns(x)
    >>> sc = casewise_scores(pats, np.zeros(2), np.eye(2))
    >>> np.allclose(sc.sum(axis=0), fiml_gradient(pats, np.zeros(2), np.eye(2)))
    True
    """
    w = _Fiml(pats, mu, sigma)
    a = w.a()
    rows, cols = vech_indices(pats.p)
    k_vech = vech(w.k_stack())  # (n_patterns, p*)
    sc = a[:, rows] * a[:, cols] - np.repeat(k_vech, pats.freq, axis=0)
    sc[:, rows == cols] *= 0.5
    out = np.hstack([a, sc]) if meanstructure else sc
    return out[np.argsort(pats.order)]


def first_order_information(
    pats: MissingPatterns, mu: np.ndarray, sigma: np.ndarray, meanstructure: bool = True
) -> np.ndarray:
    """Cross-product of the :func:`casewise_scores` per case, ``S'S / n`` (lavaan's B1,
    ``lav_mvnorm_missing_information_firstorder``; complete data:
    ``lav_mvnorm_information_firstorder``).

    >>> x = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -1.0], [2.0, 0.5]])
    >>> first_order_information(missing_patterns(x), np.zeros(2), np.eye(2)).shape
    (5, 5)
    """
    sc = casewise_scores(pats, mu, sigma, meanstructure=meanstructure)
    return sc.T @ sc / pats.n


def fiml_information(
    pats: MissingPatterns,
    mu: np.ndarray,
    sigma: np.ndarray,
    kind: str = "observed",
    meanstructure: bool = True,
) -> np.ndarray:
    """Information per case in moment space, lavaan's h1 information for (missing) data.

    ``kind="observed"``: minus the Hessian of :func:`fiml_loglik` with respect to ``m``,
    divided by ``n`` (``lav_mvnorm_missing_information_observed_samplestats``; with complete
    data ``lav_mvnorm_information_observed_samplestats``). ``kind="expected"``:
    ``blockdiag(sum_i K_i, 1/2 sum_i D'(K_i kron K_i) D) / n`` with ``K_i`` the inverse of
    case i's observed block (``lav_mvnorm_missing_information_expected``). Evaluated at the
    model-implied moments this is lavaan's "structured" h1 information, at the EM moments
    (:func:`em_saturated`) the "unstructured" one. ``meanstructure=False`` keeps the
    ``vech(sigma)`` block only (complete data with ``mu`` = the sample mean, where the two
    blocks are uncoupled).

    >>> pats = MissingPatterns.from_moments(np.zeros(2), np.eye(2), 50)
    >>> fiml_information(pats, np.zeros(2), np.eye(2), "expected").diagonal().tolist()
    [1.0, 1.0, 0.5, 1.0, 0.5]
    """
    if kind not in ("observed", "expected"):
        raise ValueError(f"kind must be 'observed' or 'expected'; got {kind!r}")
    w = _Fiml(pats, mu, sigma)
    p = pats.p
    k = w.k_stack()
    f = pats.freq.astype(float)
    fk = f[:, None, None] * k
    i11 = fk.sum(axis=0)
    if kind == "expected":
        i22 = 0.5 * _dup_kron(fk, k, swap_symmetric=True)
        i21 = np.zeros((i22.shape[0], p))
    else:
        asum, wa = w.pattern_a_stats()
        # D'(K kron W)D - 1/2 D'(K kron fK)D in one pass (linear in the second factor)
        i22 = _dup_kron(k, wa - 0.5 * fk)
        rows, cols = vech_indices(p)
        r = np.einsum("nj,nil->jil", asum, k)  # r[j, i, l] = sum_pattern asum[j] K[i, l]
        i21 = r[cols, rows, :] + np.where(rows != cols, 1.0, 0.0)[:, None] * r[rows, cols, :]
    i22 = 0.5 * (i22 + i22.T)
    if not meanstructure:
        return i22 / pats.n
    out = np.block([[i11, i21.T], [i21, i22]])
    return out / pats.n


@dataclass(frozen=True)
class EMResult:
    """Unrestricted (H1) moments by EM: ``mu``, ``sigma``, ``loglik`` (with the 2 pi
    constant, lavaan's ``unrestricted.logl``), ``iterations`` and ``converged``."""

    mu: np.ndarray
    sigma: np.ndarray
    loglik: float
    iterations: int
    converged: bool


def em_saturated(pats: MissingPatterns, tol: float = 1e-5, max_iter: int = 500) -> EMResult:
    """ML estimate of the unrestricted mean and covariance from incomplete data by EM.

    As ``lav_mvnorm_missing_h1_estimate_moments`` (lavaan 0.6, defaults ``em.h1.tol = 1e-5``,
    ``em.h1.iter.max = 500``): start from the observed means and ML variances of each
    variable and a diagonal covariance; stop when no element of ``[mu, vech(sigma)]`` moves by
    ``tol`` or more; when an eigenvalue of an iterate falls below ``1e-6``, add
    ``1e-8 max(diag)`` to its diagonal. Complete data return the sample moments at once.
    ``converged`` is False when ``max_iter`` was reached; the caller must say so.

    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(200, 3)); x[rng.random((200, 3)) < 0.1] = np.nan
    >>> h1 = em_saturated(missing_patterns(x))
    >>> h1.converged, h1.sigma.shape
    (True, (3, 3))
    """
    if pats.data is None or pats.complete:
        if pats.complete and pats.data is not None:
            mu = pats.data.mean(axis=0)
            c = pats.data - mu
            sigma = c.T @ c / pats.n
        else:
            mu, sigma = pats.means[0], pats.covs[0]
        return EMResult(mu, sigma, fiml_loglik(pats, mu, sigma), 0, True)
    x = pats.data
    n = pats.n
    mu0 = np.nanmean(x, axis=0)
    var0 = np.nanmean((x - mu0) ** 2, axis=0)
    var0[~np.isfinite(var0) | (var0 == 0)] = 1.0
    sigma0 = np.diag(var0)
    mu, sigma = mu0, sigma0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        w = _Fiml(pats, mu, sigma)
        yhat = w.zhat() + mu
        t1 = yhat.sum(axis=0)
        t2 = np.ascontiguousarray(yhat.T) @ yhat
        for idx, mis, _lam_m, lam_mm_inv, _g in w.groups:
            f = pats.freq[idx].astype(float)
            np.add.at(t2, (mis[:, :, None], mis[:, None, :]), f[:, None, None] * lam_mm_inv)
        mu = t1 / n
        sigma = t2 / n - np.outer(mu, mu)
        sigma = 0.5 * (sigma + sigma.T)
        if np.linalg.eigvalsh(sigma).min() < 1e-6:
            sigma[np.diag_indices_from(sigma)] += np.max(np.diag(sigma)) * 1e-8
        delta = np.max(np.abs(moments_to_vector(mu, sigma) - moments_to_vector(mu0, sigma0)))
        if delta < tol:
            converged = True
            break
        mu0, sigma0 = mu, sigma
    return EMResult(mu, sigma, fiml_loglik(pats, mu, sigma), it, converged)


def baseline_fiml(pats: MissingPatterns) -> EMResult:
    """The independence (baseline) model under FIML: free means and variances, zero
    covariances. Its likelihood factors over the variables, so the ML estimates are each
    variable's mean and ML variance over the cases that observed it (what lavaan's iterative
    baseline fit converges to).

    >>> x = np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]])
    >>> b = baseline_fiml(missing_patterns(x))
    >>> np.round(b.mu, 4).tolist(), np.round(np.diag(b.sigma), 4).tolist()
    ([2.3333, 4.0], [1.5556, 1.0])
    """
    p = pats.p
    sums = np.zeros(p)
    counts = np.zeros(p)
    for j in range(pats.n_patterns):
        o = pats.observed[j]
        sums[o] += pats.freq[j] * pats.means[j]
        counts[o] += pats.freq[j]
    mu = sums / counts
    ss = np.zeros(p)
    for j in range(pats.n_patterns):
        o = pats.observed[j]
        d = pats.means[j] - mu[o]
        ss[o] += pats.freq[j] * (np.diag(pats.covs[j]) + d**2)
    sigma = np.diag(ss / counts)
    return EMResult(mu, sigma, fiml_loglik(pats, mu, sigma), 0, True)
