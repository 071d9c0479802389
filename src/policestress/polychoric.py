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
    "PolychoricResult",
    "bvn_cdf",
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
    a11_inv = np.linalg.inv(a11)
    a22_inv = np.where(a22 > 0, 1.0 / np.where(a22 > 0, a22, 1.0), 0.0)
    a21_inv = -(a22_inv[:, None] * a21) @ a11_inv
    # influence rows: scores times B^-1' (B^-1 lower block triangular)
    inf_th = sc_th @ a11_inv
    inf_cor = sc_th @ a21_inv.T + sc_cor * a22_inv
    infl = np.hstack([inf_th, inf_cor])
    return n * (infl.T @ infl)


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
