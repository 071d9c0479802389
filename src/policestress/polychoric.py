"""Polychoric and polyserial correlations by two-step ML, with lavaan's asymptotic covariance.

Definitions (matched to R in ``tests/test_polychoric.py``):

Categories
    An ordinal item's categories are the distinct values observed in it, in numeric order
    (lavaan's ``ordered()`` levels); ``K`` categories give ``K - 1`` thresholds.
Thresholds (step 1)
    Per item from all rows that answered it: ``tau_k = Phi^-1(cumulative proportion)``,
    the univariate ML estimate (``lavCor(ordered=, output="th")``; psych ``polychoric()$tau``).
Polychoric correlation (step 2)
    Per pair, the ML estimate of the latent correlation with both items' thresholds held at
    their step-1 values, from the rows that answered both items (pairwise), the bivariate
    normal cell probabilities ``pi_ab(rho)``. Empty cells contribute nothing to the
    likelihood (lavaan's ``zero.add = c(0.5, 0)`` changes only 2 x 2 tables: a single zero
    cell gets 0.5 added with the margins kept; psych's default ``global = TRUE`` adds nothing
    either). Solved by Fisher scoring to 1e-10, bounded at +-0.999 as lavaan.
Polyserial correlation
    Continuous ``y`` (mean and variance by ML, divisor ``n``) with an ordinal ``x``: two-step
    ML as lavaan's ``lav_bvmix_cor_twostep_fit``.
Mixed ordinal and continuous variables
    :func:`mixed_correlations`: lavaan's sample statistics and NACOV of a model with some
    variables ``ordered`` (thresholds or minus means, variances, correlations and
    covariances).
Asymptotic covariance (``acov``)
    lavaan's ``muthen1984`` for ordinal items: the casewise scores of the thresholds
    (univariate likelihood) and of each correlation (bivariate likelihood), ``A11``
    (thresholds, block diagonal), ``A21`` and ``A22`` (diagonal) from their cross-products,
    ``B^-1 = [[A11^-1, 0], [-A22^-1 A21 A11^-1, A22^-1]]`` and
    ``NACOV = N B^-1 (S'S) B^-1'`` with ``S`` the scores (a row missing an item scores 0 for
    it); ``N`` all rows. Order: thresholds item by item, then the correlations in
    ``lav_matrix_vech(diagonal = FALSE)`` order (x1~~x2, x1~~x3, ..., x2~~x3, ...). The DWLS
    weight matrix of WLSMV is ``diag(1 / diag(NACOV))``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> z = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=500)
>>> items = pd.DataFrame({"a": np.digitize(z[:, 0], [-1, 0, 1]) + 1,
...                       "b": np.digitize(z[:, 1], [-0.5, 0.5]) + 1})
>>> res = polychoric(items)
>>> bool(abs(res.rho.loc["a", "b"] - 0.5) < 0.1)
True
>>> res.pairs[["item1", "item2", "n"]].to_dict("records")
[{'item1': 'a', 'item2': 'b', 'n': 500}]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

__all__ = [
    "MixedResult",
    "PolychoricResult",
    "bvn_cdf",
    "mixed_correlations",
    "ordinal_codes",
    "polychoric",
    "polyserial",
    "thresholds",
]

_BIG = 40.0  # stands in for +-infinity in the normal integrals (Phi(40) == 1 exactly)
_RHO_BOUND = 0.999  # lavaan's nlminb bounds
_EPS_LIK = np.sqrt(np.finfo(float).eps)  # lavaan drops scores of cells this improbable

# Gauss-Legendre nodes on [0, 1] for the Plackett integral of the bivariate normal CDF
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_GL_X, _GL_W = (_GL_X + 1.0) / 2.0, _GL_W / 2.0


def _phi(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _Phi(x):
    return special.ndtr(x)


def bvn_cdf(h, k, r) -> np.ndarray:
    """Standard bivariate normal ``P(X <= h, Y <= k)`` with correlation ``r`` (broadcast).

    Plackett's identity with ``r = sin(t)``:
    ``Phi2 = Phi(h) Phi(k) + 1/(2 pi) int_0^asin(r) exp(-(h^2 + k^2 - 2 h k sin t) /
    (2 cos^2 t)) dt``, by 20-point Gauss-Legendre on pieces ending at ``asin(0.8)``, ``asin(0.99)`` and
    ``asin(r)`` (the integrand steepens as ``|r| -> 1``). Accurate to ~1e-15 for ``|r| <= 0.999``
    (checked against scipy's Genz integration in the tests).

    >>> round(float(bvn_cdf(0.0, 0.0, 0.5)), 12)  # 1/4 + asin(0.5) / (2 pi)
    0.333333333333
    >>> round(float(bvn_cdf(0.3, -0.2, 1.0)), 6)  # r = 1: Phi(min(h, k)) = Phi(-0.2)
    0.42074
    """
    h, k, r = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (h, k, r)))
    h = np.clip(h, -_BIG, _BIG)
    k = np.clip(k, -_BIG, _BIG)
    # exact where a limit is infinite or r = 0; r = +-1: the degenerate distributions
    out = np.array(_Phi(h) * _Phi(k), dtype=float, ndmin=1).reshape(h.shape)
    one, minus = r >= 1.0, r <= -1.0
    out[one] = _Phi(np.minimum(h, k)[one])
    out[minus] = np.maximum(_Phi(h[minus]) + _Phi(k[minus]) - 1.0, 0.0)
    inner = (np.abs(h) < _BIG) & (np.abs(k) < _BIG) & (r != 0) & ~one & ~minus
    hh, kk, a = h[inner], k[inner], np.arcsin(r[inner])
    total = np.zeros(a.shape)
    lo = np.zeros(a.shape)
    for edge in (0.8, 0.99, 1.0):  # pieces end at asin(0.8), asin(0.99), asin(r)
        hi = np.sign(a) * np.minimum(np.abs(a), np.arcsin(edge))
        part = np.abs(hi) > np.abs(lo)
        total[part] += _plackett(hh[part], kk[part], lo[part], hi[part])
        lo = hi
    out[inner] += total / (2.0 * np.pi)
    return out


def _plackett(h, k, lo, hi):
    """int_lo^hi exp(-(h^2 + k^2 - 2 h k sin t) / (2 cos^2 t)) dt by Gauss-Legendre."""
    t = lo[:, None] + (hi - lo)[:, None] * _GL_X
    s = np.sin(t)
    f = np.exp(-((h * h + k * k)[:, None] - 2.0 * (h * k)[:, None] * s) / (2.0 * (1.0 - s * s)))
    return (hi - lo) * (f @ _GL_W)


def _bvn_pdf_drho(h, k, r):
    """d phi2 / d rho (= d^2 Phi2 / d rho^2)."""
    h = np.clip(h, -_BIG, _BIG)
    k = np.clip(k, -_BIG, _BIG)
    one = 1.0 - r * r
    q = h * h - 2.0 * r * h * k + k * k
    return _bvn_pdf(h, k, r) * (r / one + h * k / one - r * q / one**2)


def _bvn_pdf(h, k, r):
    h = np.clip(h, -_BIG, _BIG)
    k = np.clip(k, -_BIG, _BIG)
    one = 1.0 - r * r
    return np.exp(-(h * h - 2.0 * r * h * k + k * k) / (2.0 * one)) / (2.0 * np.pi * np.sqrt(one))


def ordinal_codes(data: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes 0..K-1 of each column's observed categories (-1 when missing), and the levels.

    Raises a ``ValueError`` naming the column when an item has fewer than two categories.
    """
    codes = np.full(data.shape, -1, dtype=int)
    levels = []
    for j, col in enumerate(data.columns):
        x = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(x)
        lev = np.unique(x[ok])
        if lev.size < 2:
            raise ValueError(
                f"ordinal item {col!r} has {lev.size} observed categor"
                f"{'y' if lev.size == 1 else 'ies'}: it needs at least two"
            )
        codes[ok, j] = np.searchsorted(lev, x[ok])
        levels.append(lev)
    return codes, levels


def _thresholds_from_codes(codes: np.ndarray, n_cat: list[int]) -> list[np.ndarray]:
    out = []
    for j, K in enumerate(n_cat):
        c = codes[:, j]
        counts = np.bincount(c[c >= 0], minlength=K)
        out.append(special.ndtri(np.cumsum(counts)[:-1] / counts.sum()))
    return out


def thresholds(data: pd.DataFrame) -> pd.DataFrame:
    """Step-1 thresholds of ordinal items: tidy ``item, threshold, level, est, n``.

    ``threshold`` is lavaan's name (``t1``, ``t2``, ...); ``level`` the category value the
    threshold lies above; ``n`` the rows that answered the item.

    >>> thresholds(pd.DataFrame({"a": [1, 1, 2, 2, 2, 3]}))["est"].round(4).tolist()
    [-0.4307, 0.9674]
    """
    codes, levels = ordinal_codes(data)
    ths = _thresholds_from_codes(codes, [len(lev) for lev in levels])
    rows = []
    for j, col in enumerate(data.columns):
        n = int((codes[:, j] >= 0).sum())
        for m, value in enumerate(ths[j]):
            rows.append((col, f"t{m + 1}", levels[j][m], float(value), n))
    return pd.DataFrame(rows, columns=["item", "threshold", "level", "est", "n"])


@dataclass
class PolychoricResult:
    """Two-step polychoric correlations of ordinal items.

    Attributes
    ----------
    rho : DataFrame
        The correlation matrix (items x items).
    thresholds : DataFrame
        ``item, threshold, level, est, n`` (see :func:`thresholds`).
    pairs : DataFrame
        One row per pair in lavaan's order: ``item1, item2, rho, n`` (rows answering both),
        ``empty_cells`` (cells of the pair's table nobody chose), ``se`` (from ``acov``).
    acov : DataFrame or None
        lavaan's NACOV of ``sqrt(N)`` times the estimates (thresholds, then correlations),
        labelled ``x1|t1``, ..., ``x1~~x2``, ...; ``None`` when not asked for.
    n : int
        Rows (all of them: pairwise deletion keeps every row that answered something).
    """

    rho: pd.DataFrame
    thresholds: pd.DataFrame
    pairs: pd.DataFrame
    acov: pd.DataFrame | None
    n: int

    @property
    def labels(self) -> list[str]:
        """Labels of the sample statistics (lavaan's ``wls.obs`` names)."""
        return _labels(self.thresholds, self.pairs)

    @property
    def statistics(self) -> np.ndarray:
        """Thresholds then correlations, in :attr:`labels` order (lavaan's ``wls.obs``)."""
        return np.concatenate([self.thresholds["est"].to_numpy(), self.pairs["rho"].to_numpy()])


def _labels(th: pd.DataFrame, pairs: pd.DataFrame) -> list[str]:
    """lavaan's names of the sample statistics: ``x1|t1``, ..., ``x1~~x2``, ..."""
    out = [f"{i}|{t}" for i, t in zip(th["item"], th["threshold"], strict=True)]
    return out + [f"{a}~~{b}" for a, b in zip(pairs["item1"], pairs["item2"], strict=True)]


def _pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i > j, in lavaan's ``vech(diagonal = FALSE)`` order (by column j)."""
    jj, ii = np.triu_indices(p, k=1)  # j < i, ordered by j then i
    return ii, jj


class _Pairs:
    """All pairs' contingency tables and cell quantities at a vector of correlations."""

    def __init__(self, codes: np.ndarray, ths: list[np.ndarray]):
        n, p = codes.shape
        self.n_cat = np.array([len(t) + 1 for t in ths])
        self.kmax = kmax = int(self.n_cat.max())
        # padded cut points: -BIG, tau_1 .. tau_{K-1}, +BIG, +BIG ... (unused cells empty)
        cuts = np.full((p, kmax + 1), _BIG)
        for j, t in enumerate(ths):
            cuts[j, 0] = -_BIG
            cuts[j, 1 : len(t) + 1] = np.clip(t, -_BIG, _BIG)
        self.cuts = cuts
        self.ii, self.jj = _pair_index(p)
        P = len(self.ii)
        ci, cj = codes[:, self.ii], codes[:, self.jj]
        both = (ci >= 0) & (cj >= 0)
        cell = np.where(both, ci * kmax + cj, 0) + np.arange(P) * kmax * kmax
        self.freq = np.bincount(cell[both], minlength=P * kmax * kmax).reshape(P, kmax, kmax)
        self.cell, self.both = cell, both
        self.n_pair = self.freq.sum(axis=(1, 2))
        real = np.zeros((P, kmax, kmax), dtype=bool)
        for q in range(P):
            real[q, : self.n_cat[self.ii[q]], : self.n_cat[self.jj[q]]] = True
        self.real = real

    def _zero_add_2x2(self):
        """lavaan's zero.add[1] = 0.5 for a 2 x 2 table with one empty cell (margins kept)."""
        freq = self.freq.astype(float)
        for q in np.flatnonzero((self.n_cat[self.ii] == 2) & (self.n_cat[self.jj] == 2)):
            t = freq[q, :2, :2]
            zero = np.flatnonzero(t.ravel() == 0)
            if zero.size == 1:
                sign = 1.0 if zero[0] in (0, 3) else -1.0
                t += sign * 0.5 * np.array([[1.0, -1.0], [-1.0, 1.0]])
        return freq

    def probabilities(self, rho: np.ndarray, second: bool = False):
        """Cell probabilities pi (P, K, K), d pi / d rho and (``second``) d2 pi / d rho2."""
        hi = self.cuts[self.ii][:, :, None]  # (P, K+1, 1)
        kj = self.cuts[self.jj][:, None, :]
        r = rho[:, None, None]

        def cells(F):
            return np.where(
                self.real, F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1], 0.0
            )

        out = [cells(bvn_cdf(hi, kj, r)), cells(_bvn_pdf(hi, kj, r))]
        if second:
            out.append(cells(_bvn_pdf_drho(hi, kj, r)))
        return out


def _loglik(freq, pi):
    return np.sum(np.where(freq > 0, freq * np.log(np.where(pi > 0, pi, 1e-300)), 0.0), axis=(1, 2))


def _fit_rho(pairs: _Pairs, start: np.ndarray, tol: float = 1e-10, max_iter: int = 100):
    """Newton steps on every pair's correlation at once (each pair its own problem), Fisher
    scoring where the log-likelihood is not concave, halved while it falls."""
    freq = pairs._zero_add_2x2()
    rho = np.clip(start, -0.99, 0.99)
    n = freq.sum(axis=(1, 2))
    done = n == 0
    pi, dpi, d2pi = pairs.probabilities(rho, second=True)
    ll = _loglik(freq, pi)
    for _ in range(max_iter):
        safe = np.where(pi > 0, pi, 1.0)
        ratio = np.where(freq > 0, dpi / safe, 0.0)
        score = np.sum(freq * ratio, axis=(1, 2))
        hess = np.sum(np.where(freq > 0, freq * (d2pi / safe - ratio * ratio), 0.0), axis=(1, 2))
        info = n * np.sum(np.where(pi > 0, dpi * dpi / safe, 0.0), axis=(1, 2))
        curv = np.where(hess < 0, -hess, info)
        step = np.where(done | (curv <= 0), 0.0, score / np.where(curv > 0, curv, 1.0))
        new = np.clip(rho + step, -_RHO_BOUND, _RHO_BOUND)
        for _half in range(40):
            pin, dpin, d2pin = pairs.probabilities(new, second=True)
            ll_new = _loglik(freq, pin)
            worse = ll_new < ll - 1e-12 * np.abs(ll)
            if not worse.any():
                break
            new = np.where(worse, (new + rho) / 2.0, new)
        change = np.abs(new - rho)
        rho, pi, dpi, d2pi, ll = new, pin, dpin, d2pin, ll_new
        if np.all(change < tol):
            break
    return rho


def _acov(codes: np.ndarray, ths: list[np.ndarray], pairs: _Pairs, rho: np.ndarray) -> np.ndarray:
    """lavaan's ``muthen1984`` NACOV for ordinal items (see the module docstring)."""
    n = codes.shape[0]
    sc_th, a11, a21, sc_cor, a22 = _ordinal_scores(codes, ths, pairs, rho)
    a11_inv = np.linalg.inv(a11)
    a22_inv = np.where(a22 > 0, 1.0 / np.where(a22 > 0, a22, 1.0), 0.0)
    a21_inv = -(a22_inv[:, None] * a21) @ a11_inv
    # influence rows: scores times B^-1' (B^-1 lower block triangular)
    inf_th = sc_th @ a11_inv
    inf_cor = sc_th @ a21_inv.T + sc_cor * a22_inv
    infl = np.hstack([inf_th, inf_cor])
    return n * (infl.T @ infl)


def _ordinal_scores(codes, ths, pairs: _Pairs, rho):
    """The pieces of ``muthen1984`` for ordinal items: casewise threshold scores ``sc_th``
    (n, T), ``A11`` (their cross-products, block diagonal), ``A21`` (pairs, T), casewise
    correlation scores ``sc_cor`` (n, pairs) and ``A22`` (the diagonal, per pair)."""
    n, p = codes.shape
    n_th = [len(t) for t in ths]
    start = np.concatenate([[0], np.cumsum(n_th)])
    T = int(start[-1])
    P = len(rho)
    # univariate scores per category: d log p_k / d tau_m
    sc_th = np.zeros((n, T))
    a11 = np.zeros((T, T))
    for j, t in enumerate(ths):
        K = len(t) + 1
        cut = np.concatenate([[-_BIG], t, [_BIG]])
        prob = _Phi(cut[1:]) - _Phi(cut[:-1])
        u = np.zeros((K, K - 1))
        for k in range(K):
            if k < K - 1:
                u[k, k] = _phi(cut[k + 1]) / prob[k]
            if k > 0:
                u[k, k - 1] = -_phi(cut[k]) / prob[k]
        c = codes[:, j]
        ok = c >= 0
        block = slice(start[j], start[j + 1])
        sc_th[ok, block] = u[c[ok]]
        counts = np.bincount(c[ok], minlength=K)
        a11[block, block] = u.T @ (counts[:, None] * u)
    # bivariate scores per cell: d log pi_ab / d rho and / d thresholds of both items
    pi, dpi = pairs.probabilities(rho)
    good = pi > _EPS_LIK
    safe = np.where(good, pi, 1.0)
    s_rho = np.where(good, dpi / safe, 0.0)  # (P, K, K)
    freq = pairs.freq
    a22 = np.sum(freq * s_rho * s_rho, axis=(1, 2))
    a21 = np.zeros((P, T))
    R = np.sqrt(1.0 - rho * rho)[:, None, None]
    w = np.where(good, freq * s_rho / safe, 0.0)  # n_ab s_ab / pi_ab
    r = rho[:, None, None]
    for own, other, ww in ((pairs.ii, pairs.jj, w), (pairs.jj, pairs.ii, w.transpose(0, 2, 1))):
        c_own, c_oth = pairs.cuts[own], pairs.cuts[other]  # (P, K+1)
        # g[q, m, b] = phi(c_m) [Phi((c'_{b+1} - r c_m) / R) - Phi((c'_b - r c_m) / R)]:
        # d pi / d (cut m of the own item) in the own item's categories m - 1 (+) and m (-)
        tm = c_own[:, :, None]
        g = _phi(tm) * (
            _Phi((c_oth[:, None, 1:] - r * tm) / R) - _Phi((c_oth[:, None, :-1] - r * tm) / R)
        )
        # threshold m (0-based) = cut m + 1: upper cut of category m, lower of m + 1
        kmax = ww.shape[1]
        contrib = np.sum((ww[:, :-1, :] - ww[:, 1:, :]) * g[:, 1:kmax, :], axis=2)
        for q in range(P):  # scatter into the own item's threshold columns
            j = own[q]
            a21[q, start[j] : start[j + 1]] = contrib[q, : n_th[j]]
    # casewise correlation scores (0 when a row misses either item)
    flat = s_rho.reshape(-1)
    sc_cor = np.where(pairs.both, flat[pairs.cell], 0.0)
    return sc_th, a11, a21, sc_cor, a22


def polychoric(
    data: pd.DataFrame,
    items: list[str] | None = None,
    missing: str = "pairwise",
    acov: bool = True,
) -> PolychoricResult:
    """Polychoric correlations, thresholds and their asymptotic covariance (lavaan's).

    Parameters
    ----------
    data : DataFrame
        Ordinal items (any numeric codes; each column's observed values are its categories).
    items : list of str, optional
        Columns to use (default all).
    missing : {"pairwise", "listwise"}
        ``"pairwise"`` (lavaan's ``missing = "pairwise"``): thresholds from every row that
        answered the item, each correlation from the rows that answered both, the NACOV on
        all rows; ``"listwise"``: complete rows only (lavaan's default).
    acov : bool
        Compute the NACOV (``PolychoricResult.acov``) and the pairs' standard errors.

    Returns
    -------
    PolychoricResult

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1, 2, 2, 3, 3, 1, 2, 3, 1, 2],
    ...                   "b": [1, 2, 3, 3, 2, 1, 2, 3, 2, 1]})
    >>> res = polychoric(d)
    >>> res.labels
    ['a|t1', 'a|t2', 'b|t1', 'b|t2', 'a~~b']
    """
    frame = data[items] if items is not None else data
    if missing not in ("pairwise", "listwise"):
        raise ValueError(f"missing must be 'pairwise' or 'listwise', got {missing!r}")
    if missing == "listwise":
        frame = frame.dropna()
    if frame.shape[1] < 2:
        raise ValueError("polychoric correlations need at least two items")
    names = [str(c) for c in frame.columns]
    codes, levels = ordinal_codes(frame)
    ths = _thresholds_from_codes(codes, [len(lev) for lev in levels])
    pairs = _Pairs(codes, ths)
    # lavaan's start: the Pearson correlation of the codes (pairwise)
    x = np.where(codes >= 0, codes, np.nan)
    pear = pd.DataFrame(x).corr().to_numpy()
    start = np.nan_to_num(pear[pairs.ii, pairs.jj])
    rho = _fit_rho(pairs, start)
    p = len(names)
    mat = np.eye(p)
    mat[pairs.ii, pairs.jj] = rho
    mat[pairs.jj, pairs.ii] = rho
    cov = _acov(codes, ths, pairs, rho) if acov else None
    n = codes.shape[0]
    th_table = thresholds(frame)
    pair_table = pd.DataFrame(
        {
            "item1": [names[j] for j in pairs.jj],
            "item2": [names[i] for i in pairs.ii],
            "rho": rho,
            "n": pairs.n_pair.astype(int),
            "empty_cells": np.sum(pairs.real & (pairs.freq == 0), axis=(1, 2)).astype(int),
        }
    )
    acov_frame = None
    if cov is not None:
        T = len(th_table)
        pair_table["se"] = np.sqrt(np.diag(cov)[T:] / n)
        labels = _labels(th_table, pair_table)
        acov_frame = pd.DataFrame(cov, index=labels, columns=labels)
    return PolychoricResult(
        rho=pd.DataFrame(mat, index=names, columns=names),
        thresholds=th_table,
        pairs=pair_table,
        acov=acov_frame,
        n=n,
    )


def polyserial(data: pd.DataFrame, continuous: str, ordinal: str) -> pd.DataFrame:
    """Two-step polyserial correlation of a continuous and an ordinal column (lavaan's).

    Rows missing either column are left out; mean and variance of ``continuous`` (divisor
    ``n``) and the thresholds of ``ordinal`` come from those rows, then the correlation by
    ML. Returns one row: ``continuous, ordinal, rho, n``.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=800)
    >>> d = pd.DataFrame({"y": z[:, 0], "x": np.digitize(z[:, 1], [-0.5, 0.7]) + 1})
    >>> bool(abs(polyserial(d, "y", "x").loc[0, "rho"] - 0.6) < 0.08)
    True
    """
    frame = data[[continuous, ordinal]].apply(pd.to_numeric, errors="coerce").dropna()
    y = frame[continuous].to_numpy(dtype=float)
    codes, levels = ordinal_codes(frame[[ordinal]])
    c = codes[:, 0]
    tau = _thresholds_from_codes(codes, [len(levels[0])])[0]
    cut = np.concatenate([[-_BIG], tau, [_BIG]])
    z = (y - y.mean()) / y.std()
    up, lo = cut[c + 1], cut[c]

    def score_info(r):
        R = np.sqrt(1.0 - r * r)
        a, b = (up - r * z) / R, (lo - r * z) / R
        p = np.maximum(_Phi(a) - _Phi(b), 1e-300)
        # d/dr of (t - r z)/sqrt(1 - r^2) = (t r - z) / (1 - r^2)^(3/2)
        da = (up * r - z) / R**3
        db = (lo * r - z) / R**3
        dp = _phi(np.clip(a, -_BIG, _BIG)) * da - _phi(np.clip(b, -_BIG, _BIG)) * db
        return np.sum(dp / p), np.sum((dp / p) ** 2), np.sum(np.log(p))

    r = float(np.clip(np.corrcoef(y, c)[0, 1], -0.9, 0.9))
    for _ in range(100):
        s, info, ll = score_info(r)
        step = s / info
        new = float(np.clip(r + step, -_RHO_BOUND, _RHO_BOUND))
        while score_info(new)[2] < ll - 1e-12 * abs(ll) and abs(new - r) > 1e-14:
            new = (new + r) / 2.0
        done = abs(new - r) < 1e-10
        r = new
        if done:
            break
    return pd.DataFrame(
        {"continuous": [continuous], "ordinal": [ordinal], "rho": [r], "n": [len(y)]}
    )


@dataclass
class MixedResult:
    """lavaan's sample statistics of ordinal and continuous variables together
    (``muthen1984`` with numeric variables; see :func:`mixed_correlations`).

    Attributes
    ----------
    names : list of str
        The variables, in the data's order.
    ordered : list of bool
        Which of ``names`` are ordinal.
    cor : DataFrame
        Polychoric (ordinal pairs), polyserial (ordinal with continuous) and Pearson
        (continuous pairs) correlations.
    cov : DataFrame
        lavaan's ``COV``: ``cor`` scaled by the standard deviations of the continuous
        variables (ordinal ones count 1): covariances of continuous pairs, polyserial times
        the continuous standard deviation, polychoric correlations as they are.
    mean : Series
        Means of the continuous variables (ML, 0 for the ordinal ones).
    variances : Series
        Variances of the continuous variables (divisor ``n``; 1 for the ordinal ones).
    thresholds : DataFrame
        The ordinal variables' thresholds (see :func:`thresholds`).
    pairs : DataFrame
        One row per pair in lavaan's order: ``item1, item2, kind`` (``polychoric``,
        ``polyserial``, ``pearson``), ``rho``, ``n`` (rows answering both) and
        ``empty_cells`` (of the contingency table; 0 unless both are ordinal).
    statistics : ndarray
        lavaan's ``wls.obs``: per variable in order its thresholds (ordinal) or minus its
        mean (continuous), then the variances of the continuous variables, then the lower
        triangle of ``cov`` by column.
    labels : list of str
        lavaan's names of ``statistics`` (``x1|t1``, ``c2~1``, ``c2~~c2``, ``x1~~c2``, ...).
    acov : DataFrame or None
        lavaan's NACOV of ``sqrt(N)`` times ``statistics``; ``None`` when not asked for.
    n : int
        Rows (all of them under pairwise deletion).
    n_th : int
        Entries of ``statistics`` that are thresholds or minus means.
    n_var : int
        Entries that are variances (the continuous variables).
    """

    names: list[str]
    ordered: list[bool]
    cor: pd.DataFrame
    cov: pd.DataFrame
    mean: pd.Series
    variances: pd.Series
    thresholds: pd.DataFrame
    pairs: pd.DataFrame
    statistics: np.ndarray
    labels: list[str]
    acov: pd.DataFrame | None
    n: int
    n_th: int
    n_var: int


_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))
_POLYSERIAL_BOUND = 0.995  # lavaan 0.6's nlminb bounds in lav_bvmix_cor_twostep_fit


def _bounded_ml(model, bound: float) -> float:
    """The correlation maximising a two-step likelihood on ``[-bound, bound]``: Brent's
    method on the likelihood, then scoring steps (the score over the casewise scores'
    squares) to the root of the score, which a likelihood near its flat top cannot place
    closer than ~1e-8."""
    from scipy import optimize

    res = optimize.minimize_scalar(
        model.negloglik, bounds=(-bound, bound), method="bounded", options={"xatol": 1e-10}
    )
    r = float(res.x)
    for _ in range(100):
        s = model.scores(r)[0][model.kept(r)]
        info = float(s @ s)
        if info <= 0 or abs(r) >= bound:
            break
        step = float(s.sum()) / info
        r = float(np.clip(r + step, -bound, bound))
        if abs(step) < 1e-14:
            break
    return r


class _Serial:
    """One continuous with one ordinal variable: lavaan's ``lav_bvmix`` quantities (rows
    missing either are left out of the likelihood and score 0)."""

    def __init__(self, y, mean, var, code, tau):
        self.ok = np.isfinite(y) & (code >= 0)
        self.sd = np.sqrt(var)
        self.var = var
        self.z = np.where(self.ok, (np.where(np.isfinite(y), y, mean) - mean) / self.sd, 0.0)
        cut = np.concatenate([[-_BIG], tau, [_BIG]])
        c = np.where(self.ok, code, 0)
        self.c, self.K = c, len(tau) + 1
        self.up, self.lo = cut[c + 1], cut[c]

    def cell(self, r):
        R = np.sqrt(1.0 - r * r)
        a, b = (self.up - r * self.z) / R, (self.lo - r * self.z) / R
        return R, a, b, np.maximum(_Phi(a) - _Phi(b), np.finfo(float).eps)

    def kept(self, r):
        # lavaan drops rows whose likelihood (the continuous density, unstandardised, times
        # the conditional category probability) is below sqrt(eps)
        return self.ok & (_phi(self.z) / self.sd * self.cell(r)[3] >= _SQRT_EPS)

    def negloglik(self, r):
        return -float(np.sum(np.log(self.cell(r)[3][self.kept(r)])))

    def scores(self, r):
        """Casewise scores of rho, the mean, the variance and the thresholds."""
        R, a, b, p = self.cell(r)
        fa, fb = _phi(a), _phi(b)
        inv = np.where(self.ok, 1.0 / p, 0.0)
        z = self.z
        d_rho = inv / R**3 * (fa * (self.up * r - z) - fb * (self.lo * r - z))
        d_mu = np.where(self.ok, (z + inv * (r / R) * (fa - fb)) / self.sd, 0.0)
        d_var = np.where(
            self.ok, ((z * z - 1.0) + inv * r * z / R * (fa - fb)) / (2 * self.var), 0.0
        )
        d_th = np.zeros((len(z), self.K - 1))
        rows = np.arange(len(z))
        top = self.ok & (self.c < self.K - 1)  # the category's upper cut is threshold c
        d_th[rows[top], self.c[top]] += (fa * inv / R)[top]
        bottom = self.ok & (self.c > 0)  # its lower cut is threshold c - 1
        d_th[rows[bottom], self.c[bottom] - 1] -= (fb * inv / R)[bottom]
        return d_rho, d_mu, d_var, d_th


class _Pearson:
    """Two continuous variables with their means and variances held (lavaan's
    ``lav_bvreg``): Pearson's correlation on complete columns, ML on the pairs otherwise."""

    def __init__(self, y1, m1, v1, y2, m2, v2):
        self.ok = np.isfinite(y1) & np.isfinite(y2)
        self.e1 = np.where(self.ok, y1 - m1, 0.0)
        self.e2 = np.where(self.ok, y2 - m2, 0.0)
        self.v1, self.v2 = v1, v2
        self.s12 = np.sqrt(v1) * np.sqrt(v2)
        self.complete = bool(np.isfinite(y1).all() and np.isfinite(y2).all())
        if self.complete:
            self.start = float(np.corrcoef(y1, y2)[0, 1])

    def _logl(self, r):
        one = 1.0 - r * r
        q = self.e1**2 / self.v1 - 2 * r * self.e1 * self.e2 / self.s12 + self.e2**2 / self.v2
        return -np.log(2 * np.pi) - 0.5 * np.log(self.v1 * self.v2 * one) - q / (2 * one)

    def kept(self, r):
        # as lavaan, rows whose likelihood is below sqrt(eps) are left out
        return self.ok & (np.exp(self._logl(r)) >= _SQRT_EPS)

    def negloglik(self, r):
        return -float(np.sum(self._logl(r)[self.kept(r)]))

    def scores(self, r):
        """Casewise scores of rho and of both means and variances."""
        one = 1.0 - r * r
        e1, e2, v1, v2, s = self.e1, self.e2, self.v1, self.v2, self.s12
        ok = self.ok
        d_mu1 = np.where(ok, (2 * e1 / v1 - 2 * r * e2 / s) / (2 * one), 0.0)
        d_mu2 = np.where(ok, -(2 * r * e1 / s - 2 * e2 / v2) / (2 * one), 0.0)
        d_v1 = np.where(
            ok, -(0.5 / v1 - (e1 * e1 / (v1 * v1) - r * e1 * e2 / (v1 * s)) / (2 * one)), 0.0
        )
        d_v2 = np.where(
            ok, -(0.5 / v2 + (r * e1 * e2 / (v2 * s) - e2 * e2 / (v2 * v2)) / (2 * one)), 0.0
        )
        q = e1 * e1 / v1 - 2 * r * e1 * e2 / s + e2 * e2 / v2
        d_rho = np.where(ok, r / one + (e1 * e2 / (s * one) - q * r / one**2), 0.0)
        return d_rho, d_mu1, d_v1, d_mu2, d_v2


def mixed_correlations(
    data: pd.DataFrame,
    ordered: list[str],
    missing: str = "pairwise",
    acov: bool = True,
) -> MixedResult:
    """Sample statistics of ordinal and continuous variables together, as lavaan 0.6
    computes them for ``cfa(..., ordered = <some>, estimator = "WLSMV")``
    (``muthen1984`` / ``lav_samplestats_step1`` and ``step2`` with numeric variables).

    Step 1 per variable: an ordinal one's thresholds (as :func:`thresholds`), a continuous
    one's mean and variance (ML, divisor ``n``), each from the rows that answered it. Step 2
    per pair with both step-1 estimates held: polychoric (as :func:`polychoric`),
    polyserial (ML, lavaan's ``lav_bvmix``, bounded at +-0.995) or, for two continuous
    variables, Pearson's correlation (ML on the pairs when a column has missing values,
    lavaan's ``lav_bvreg``); the polyserial and pairwise-Pearson likelihoods leave out the
    rows lavaan leaves out (casewise likelihood below ``sqrt(eps)``).

    NACOV: with ``S = [scores of the thresholds and means, of the variances, of the
    correlations]`` casewise (0 where a row misses the variable), ``A11`` the cross-products
    of each variable's own step-1 scores (block diagonal: thresholds; mean and variance),
    ``A21`` the cross-products of each correlation's scores with the bivariate scores of its
    pair's step-1 parameters, ``A22`` the diagonal of the correlations' cross-products,
    ``B^-1 = [[A11^-1, 0], [-A22^-1 A21 A11^-1, A22^-1]]``: ``NACOV = N H B^-1 S'S B^-1' H'``
    where ``H`` is the Jacobian of (thresholds, means, variances, covariances) with respect
    to (thresholds, means, variances, correlations) (covariance ``rho sd_i sd_j``, ordinal
    ``sd`` = 1), with the rows and columns of the means negated (the statistic is minus the
    mean).

    Parameters
    ----------
    data : DataFrame
        The variables (numeric columns; the ordinal ones' observed values are their
        categories).
    ordered : list of str
        The ordinal columns (at least one); the others are continuous.
    missing : {"pairwise", "listwise"}
        As :func:`polychoric`.
    acov : bool
        Compute the NACOV.

    Returns
    -------
    MixedResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(5)
    >>> z = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=400)
    >>> d = pd.DataFrame({"x": np.digitize(z[:, 0], [-0.5, 0.5]) + 1, "c": 3 + 2 * z[:, 1]})
    >>> res = mixed_correlations(d, ordered=["x"])
    >>> res.labels
    ['x|t1', 'x|t2', 'c~1', 'c~~c', 'x~~c']
    >>> res.pairs["kind"].tolist(), bool(abs(res.cor.loc["x", "c"] - 0.5) < 0.1)
    (['polyserial'], True)
    """
    if missing not in ("pairwise", "listwise"):
        raise ValueError(f"missing must be 'pairwise' or 'listwise', got {missing!r}")
    frame = data.dropna() if missing == "listwise" else data
    names = [str(c) for c in frame.columns]
    unknown = sorted(set(map(str, ordered)) - set(names))
    if unknown:
        raise ValueError(f"ordered names columns that are not in the data: {unknown}")
    is_ord = np.array([x in set(map(str, ordered)) for x in names])
    if not is_ord.any():
        raise ValueError("mixed_correlations needs at least one ordinal column (ordered=)")
    if frame.shape[1] < 2:
        raise ValueError("correlations need at least two variables")
    n, p = frame.shape
    ord_idx, num_idx = np.flatnonzero(is_ord), np.flatnonzero(~is_ord)
    codes_o, levels_o = ordinal_codes(frame.iloc[:, ord_idx])
    ths_o = _thresholds_from_codes(codes_o, [len(lev) for lev in levels_o])
    y = frame.iloc[:, num_idx].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    means, variances = np.zeros(p), np.ones(p)
    for k, j in enumerate(num_idx):
        col = y[:, k][np.isfinite(y[:, k])]
        if col.size < 2 or np.ptp(col) == 0:
            raise ValueError(f"continuous variable {names[j]!r} has no variance")
        means[j] = col.mean()
        variances[j] = np.mean((col - means[j]) ** 2)
    # layout of the step-1 parameters: per variable its thresholds or its mean, then the
    # variances of the continuous variables
    n_th = np.ones(p, dtype=int)
    n_th[ord_idx] = [len(t) for t in ths_o]
    th_start = np.concatenate([[0], np.cumsum(n_th)])
    T, Q = int(th_start[-1]), len(num_idx)
    var_col = {int(j): T + k for k, j in enumerate(num_idx)}
    pos_o = {int(j): k for k, j in enumerate(ord_idx)}
    pos_n = {int(j): k for k, j in enumerate(num_idx)}
    # ordinal pairs: the polychoric machinery on the ordinal columns alone
    pairs_o = _Pairs(codes_o, ths_o)
    x = np.where(codes_o >= 0, codes_o, np.nan)
    pear = pd.DataFrame(x).corr().to_numpy()
    rho_o = _fit_rho(pairs_o, np.nan_to_num(pear[pairs_o.ii, pairs_o.jj]))
    q_o = {(int(a), int(b)): q for q, (a, b) in enumerate(zip(pairs_o.ii, pairs_o.jj, strict=True))}
    ii, jj = _pair_index(p)
    P = len(ii)
    kinds, rhos, n_pair, empty = [], np.zeros(P), np.zeros(P, dtype=int), np.zeros(P, dtype=int)
    models: list = []
    for q, (i, j) in enumerate(zip(ii, jj, strict=True)):
        i, j = int(i), int(j)
        if is_ord[i] and is_ord[j]:
            k = q_o[(pos_o[i], pos_o[j])]
            kinds.append("polychoric")
            rhos[q], n_pair[q] = rho_o[k], pairs_o.n_pair[k]
            empty[q] = np.sum(pairs_o.real[k] & (pairs_o.freq[k] == 0))
            models.append(k)
            continue
        if is_ord[i] or is_ord[j]:
            a, b = (j, i) if is_ord[i] else (i, j)  # a continuous, b ordinal
            m = _Serial(
                y[:, pos_n[a]], means[a], variances[a], codes_o[:, pos_o[b]], ths_o[pos_o[b]]
            )
            kinds.append("polyserial")
            rhos[q] = _bounded_ml(m, _POLYSERIAL_BOUND)
        else:
            m = _Pearson(
                y[:, pos_n[i]], means[i], variances[i], y[:, pos_n[j]], means[j], variances[j]
            )
            kinds.append("pearson")
            rhos[q] = m.start if m.complete else _bounded_ml(m, _RHO_BOUND)
        n_pair[q] = int(m.ok.sum())
        models.append(m)
    cor = np.eye(p)
    cor[ii, jj] = cor[jj, ii] = rhos
    sds = np.sqrt(variances)
    cov = cor * np.outer(sds, sds)
    # statistics: thresholds / minus means, variances, covariances (lavaan's wls.obs)
    th_values, labels = [], []
    for j in range(p):
        if is_ord[j]:
            th_values.extend(ths_o[pos_o[j]])
            labels.extend(f"{names[j]}|t{m + 1}" for m in range(n_th[j]))
        else:
            th_values.append(-means[j])
            labels.append(f"{names[j]}~1")
    labels += [f"{names[j]}~~{names[j]}" for j in num_idx]
    labels += [f"{names[j]}~~{names[i]}" for i, j in zip(ii, jj, strict=True)]
    statistics = np.concatenate([th_values, variances[num_idx], cov[ii, jj]])
    nacov = None
    if acov:
        nacov = _mixed_acov(
            n, p, is_ord, codes_o, ths_o, pairs_o, rho_o, y, means, variances, th_start,
            var_col, pos_o, pos_n, ii, jj, rhos, models,
        )  # fmt: skip
    th_table = thresholds(frame.iloc[:, ord_idx])
    pair_table = pd.DataFrame(
        {
            "item1": [names[j] for j in jj],
            "item2": [names[i] for i in ii],
            "kind": kinds,
            "rho": rhos,
            "n": n_pair,
            "empty_cells": empty,
        }
    )
    return MixedResult(
        names=names,
        ordered=[bool(v) for v in is_ord],
        cor=pd.DataFrame(cor, index=names, columns=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        mean=pd.Series(means, index=names),
        variances=pd.Series(variances, index=names),
        thresholds=th_table,
        pairs=pair_table,
        statistics=statistics,
        labels=labels,
        acov=None if nacov is None else pd.DataFrame(nacov, index=labels, columns=labels),
        n=n,
        n_th=T,
        n_var=Q,
    )


def _mixed_acov(
    n, p, is_ord, codes_o, ths_o, pairs_o, rho_o, y, means, variances, th_start, var_col,
    pos_o, pos_n, ii, jj, rhos, models,
) -> np.ndarray:  # fmt: skip
    """lavaan's ``muthen1984`` NACOV with numeric variables (see :func:`mixed_correlations`)."""
    T = int(th_start[-1])
    Q = len(var_col)
    P = len(ii)
    size = T + Q
    sc = np.zeros((n, size + P))
    a21 = np.zeros((P, size))
    h21 = np.zeros((P, size))
    h22 = np.ones(P)
    # step-1 scores: the ordinal thresholds (lavaan's lav_uvord_scores), the continuous
    # means and variances (lav_uvreg_scores)
    sc_th_o, _, a21_o, sc_cor_o, _ = _ordinal_scores(codes_o, ths_o, pairs_o, rho_o)
    o_start = np.concatenate([[0], np.cumsum([len(t) for t in ths_o])])
    col_o = np.zeros(int(o_start[-1]), dtype=int)  # ordinal threshold column -> full column
    for j, k in pos_o.items():
        col_o[o_start[k] : o_start[k + 1]] = th_start[j] + np.arange(len(ths_o[k]))
        sc[:, col_o[o_start[k] : o_start[k + 1]]] = sc_th_o[:, o_start[k] : o_start[k + 1]]
    for j, k in pos_n.items():
        ok = np.isfinite(y[:, k])
        e = np.where(ok, y[:, k] - means[j], 0.0)
        v = variances[j]
        sc[:, th_start[j]] = e / v
        sc[:, var_col[j]] = np.where(ok, -1.0 / (2 * v) + e * e / (2 * v * v), 0.0)
    sds = np.sqrt(variances)
    for q, (i, j) in enumerate(zip(ii, jj, strict=True)):
        i, j, m, r = int(i), int(j), models[q], rhos[q]
        if is_ord[i] and is_ord[j]:
            sc[:, size + q] = sc_cor_o[:, m]
            a21[q, col_o] = a21_o[m]
            continue
        if is_ord[i] or is_ord[j]:
            a, b = (j, i) if is_ord[i] else (i, j)
            d_rho, d_mu, d_var, d_th = m.scores(r)
            a21[q, th_start[a]] = d_rho @ d_mu
            a21[q, var_col[a]] = d_rho @ d_var
            a21[q, th_start[b] : th_start[b + 1]] = d_rho @ d_th
            h21[q, var_col[a]] = r / (2 * sds[a])
            h22[q] = sds[a]
        else:
            d_rho, d_mu1, d_v1, d_mu2, d_v2 = m.scores(r)
            a21[q, th_start[i]] = d_rho @ d_mu1
            a21[q, th_start[j]] = d_rho @ d_mu2
            a21[q, var_col[i]] = d_rho @ d_v1
            a21[q, var_col[j]] = d_rho @ d_v2
            h21[q, var_col[i]] = sds[j] * r / (2 * sds[i])
            h21[q, var_col[j]] = sds[i] * r / (2 * sds[j])
            h22[q] = sds[i] * sds[j]
        sc[:, size + q] = d_rho
    inner = sc.T @ sc
    a11 = np.zeros((size, size))
    for j in range(p):
        idx = list(range(th_start[j], th_start[j + 1])) + ([] if is_ord[j] else [var_col[j]])
        a11[np.ix_(idx, idx)] = inner[np.ix_(idx, idx)]
    a22 = np.diag(inner)[size:]
    if np.any(a22 == 0):
        raise ValueError("a correlation has no information (no rows answer both variables)")
    a11_inv = np.linalg.inv(a11)
    b_inv = np.zeros((size + P, size + P))
    b_inv[:size, :size] = a11_inv
    b_inv[size:, :size] = -(a21 / a22[:, None]) @ a11_inv
    b_inv[size:, size:] = np.diag(1.0 / a22)
    h = np.eye(size + P)
    h[size:, :size] = h21
    h[size:, size:] = np.diag(h22)
    hb = h @ b_inv
    out = n * (hb @ inner @ hb.T)
    means_rows = [th_start[j] for j in range(p) if not is_ord[j]]
    out[means_rows, :] *= -1.0
    out[:, means_rows] *= -1.0
    return out
