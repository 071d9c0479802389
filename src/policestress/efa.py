"""Exploratory factor analysis, done the way psych does it, plus the SPSS-style view.

What is here, and what it is checked against (``tests/test_efa.py`` runs R on the same data):

* :func:`sampling_adequacy` and :func:`item_msa`: KMO and Bartlett's test of sphericity, the
  closed forms of ``psych::KMO`` and ``psych::cortest.bartlett``.
* :func:`parallel_analysis`: Horn's parallel analysis for components and factors. The random
  correlation matrices are drawn from their exact distribution (the correlation matrix of a
  Wishart(n - 1, I) draw, made with the Bartlett decomposition), so the cost does not grow with
  the number of respondents; the decision rule is ``psych::fa.parallel``'s.
* :func:`efa`: extraction ``minres`` (default), ``ml`` or ``pa`` (iterated principal axis), and
  rotation ``oblimin`` (default), ``promax`` or ``varimax``, ported from ``psych::fa`` 2.2.9
  (the same optimiser settings, start values, stopping rules, Kaiser-normalised promax with
  power 4, GPArotation's oblimin) with psych's sign and order conventions.
* :func:`item_flags`: items with low communality, weak primary loading or cross-loading.
* :func:`spss_pca`: principal components with Kaiser-normalised varimax, the analysis SPSS's
  FACTOR procedure runs by default, with its "Total Variance Explained" and sorted, blanked
  "Rotated Component Matrix" tables. Checked against ``psych::principal(rotate="varimax")``;
  SPSS itself is not available to check against.

All analyses use complete cases on the analysed items (:func:`complete_cases`) and Pearson
correlations.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> f = rng.standard_normal((500, 2))
>>> data = pd.DataFrame(np.hstack([f[:, [0]] * 0.7, f[:, [0]] * 0.6, f[:, [0]] * 0.8,
...                                f[:, [1]] * 0.7, f[:, [1]] * 0.6, f[:, [1]] * 0.8])
...                     + rng.standard_normal((500, 6)) * 0.6,
...                     columns=["a1", "a2", "a3", "b1", "b2", "b3"])
>>> parallel_analysis(data, seed=1).n_factors
2
>>> fit = efa(data, 2)
>>> (fit.loadings.abs() > 0.5).sum().tolist()
[3, 3]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special
from tqdm import tqdm

from policestress.missing_data import complete_cases as complete_cases  # re-export
from policestress.settings import default
from policestress.threads import on_one_blas_thread

# Defaults of the efa section of site.yml (policestress.settings states them).
DEFAULT_PARALLEL_ITER: int = default("efa.parallel_iter")
DEFAULT_PARALLEL_PERCENTILE: float = default("efa.parallel_percentile")

EXTRACTIONS = ("minres", "ml", "pa")
ROTATIONS = ("oblimin", "promax", "varimax", "none")
FACTOR_EIGEN = ("smc", "fa")
OBLIQUE = ("oblimin", "promax")
# Column prefixes psych gives the factors of each extraction method.
FACTOR_PREFIX = {"minres": "MR", "ml": "ML", "pa": "PA"}
_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------- data and matrices
CORRELATIONS = ("pearson", "poly")


def _correlation(data: pd.DataFrame, cor: str = "pearson") -> np.ndarray:
    """Pearson correlations, or (``cor="poly"``) polychoric ones, as psych's ``cor="poly"``:
    :func:`policestress.polychoric.polychoric` (two-step ML; equal to psych's default global
    thresholds), smoothed as psych's ``cor.smooth`` if not positive definite (warned)."""
    if cor not in CORRELATIONS:
        raise ValueError(f"cor must be one of {CORRELATIONS}, not {cor!r}")
    values = np.asarray(data, dtype=float)
    if np.isnan(values).any():
        raise ValueError("data has missing values: pass complete_cases(data, items) first")
    constant = np.ptp(values, axis=0) == 0
    if constant.any():
        # a correlation with a constant is undefined (numpy gives NaN, and the analyses then
        # fail with LAPACK's "SVD did not converge")
        names = np.asarray(getattr(data, "columns", range(values.shape[1])))[constant]
        raise ValueError(
            f"no variance in {', '.join(map(str, names))}: every analysed respondent gave the "
            "same answer, so the item has no correlations; leave it out of the analysis"
        )
    if cor == "pearson":
        return np.corrcoef(values, rowvar=False)
    from policestress.polychoric import polychoric

    rho = polychoric(pd.DataFrame(values), acov=False).rho.to_numpy()
    vals, vecs = np.linalg.eigh(rho)
    if vals.min() <= 1e-12:
        warnings.warn(
            f"polychoric matrix not positive definite (smallest eigenvalue {vals.min():.3g}): "
            "smoothed as psych's cor.smooth",
            RuntimeWarning,
            stacklevel=3,
        )
        vals = np.where(vals < 1e-12, 100 * 1e-12, vals)
        vals = vals * len(vals) / vals.sum()
        rho = (vecs * vals) @ vecs.T
        d = np.sqrt(np.diag(rho))
        rho = rho / np.outer(d, d)
    return rho


def smc(corr: np.ndarray) -> np.ndarray:
    """Squared multiple correlations ``1 - 1 / diag(R^-1)``, clipped to [0, 1] as psych does.

    Works on one matrix or a stack of matrices (last two axes). psych's ``smc`` uses a
    pseudo-inverse; an ordinary inverse gives the same values for the non-singular correlation
    matrices of complete data.

    Examples
    --------
    >>> import numpy as np
    >>> smc(np.array([[1.0, 0.5], [0.5, 1.0]])).round(2).tolist()
    [0.25, 0.25]
    """
    inverse = np.linalg.inv(corr)
    values = 1.0 - 1.0 / np.diagonal(inverse, axis1=-2, axis2=-1)
    return np.clip(values, 0.0, 1.0)


# --------------------------------------------------------------------------- sampling adequacy
def _kmo(corr: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-item MSA and overall KMO of a correlation matrix, as ``psych::KMO``.

    The anti-image (partial) correlations are ``-Q_ij / sqrt(Q_ii Q_jj)`` with ``Q = R^-1``;
    MSA_i is ``sum_j r_ij^2 / (sum_j r_ij^2 + sum_j a_ij^2)`` over j != i, KMO the same sums
    over every off-diagonal pair.
    """
    if np.linalg.cond(corr) > 1e12:
        raise ValueError("the correlation matrix is singular: KMO needs its inverse")
    inverse = np.linalg.inv(corr)
    scale = 1.0 / np.sqrt(np.diag(inverse))
    off = ~np.eye(corr.shape[0], dtype=bool)
    r2 = np.where(off, corr, 0.0) ** 2
    a2 = np.where(off, inverse * scale[:, None] * scale[None, :], 0.0) ** 2
    r2_items, a2_items = r2.sum(axis=0), a2.sum(axis=0)
    total = float(r2_items.sum() / (r2_items.sum() + a2_items.sum()))
    return r2_items / (r2_items + a2_items), total


def sampling_adequacy(data: pd.DataFrame) -> pd.DataFrame:
    """Kaiser-Meyer-Olkin measure and Bartlett's test of sphericity, as one tidy row.

    Parameters
    ----------
    data : DataFrame
        Complete cases on the analysed items (see :func:`complete_cases`).

    Returns
    -------
    DataFrame
        One row: ``n, n_items, kmo, bartlett_chi2, bartlett_df, bartlett_p``. Same values as
        ``psych::KMO(x)$MSA`` and ``psych::cortest.bartlett(cor(x), n = nrow(x))``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = pd.DataFrame(np.random.default_rng(0).standard_normal((200, 3)) @ [[1, .5, .5],
    ...                  [0, 1, .5], [0, 0, 1]], columns=list("abc"))
    >>> sampling_adequacy(x)[["n", "n_items", "bartlett_df"]].iloc[0].tolist()
    [200.0, 3.0, 3.0]
    """
    corr = _correlation(data)
    n, p = np.asarray(data).shape
    _, kmo_total = _kmo(corr)
    # -(n - 1 - (2p + 5) / 6) log|R|, chi-square with p(p - 1)/2 df. log|R| from slogdet:
    # |R| shrinks geometrically with the number of items (4e-9 for the default site's 45).
    chi2 = -(n - 1 - (2 * p + 5) / 6) * np.linalg.slogdet(corr)[1]
    df = p * (p - 1) / 2
    return pd.DataFrame(
        {
            "n": [n],
            "n_items": [p],
            "kmo": [kmo_total],
            "bartlett_chi2": [float(chi2)],
            "bartlett_df": [df],
            "bartlett_p": [float(special.chdtrc(df, chi2))],
        }
    )


def item_msa(data: pd.DataFrame) -> pd.DataFrame:
    """Measure of sampling adequacy of each item (``psych::KMO(x)$MSAi``).

    Returns
    -------
    DataFrame
        ``item, msa``, in the column order of ``data``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = pd.DataFrame(np.random.default_rng(0).standard_normal((100, 3)), columns=list("abc"))
    >>> item_msa(x)["item"].tolist()
    ['a', 'b', 'c']
    """
    per_item, _ = _kmo(_correlation(data))
    return pd.DataFrame({"item": list(data.columns), "msa": per_item})


# --------------------------------------------------------------------------- parallel analysis
def random_correlations(
    n_obs: int, n_items: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` correlation matrices of ``n_obs`` independent standard-normal observations.

    The sample correlation matrix of ``n`` independent normal observations is the correlation
    matrix of a Wishart(n - 1, I) scatter matrix, and the Bartlett decomposition draws that
    scatter matrix as ``A A'`` with ``A`` lower triangular, ``A[i, i]^2 ~ chi2(n - 1 - i)``
    (i from 0) and standard-normal entries below the diagonal. Work is ``p x p`` per matrix,
    independent of ``n``.

    Returns
    -------
    ndarray, shape (size, n_items, n_items)

    Examples
    --------
    >>> import numpy as np
    >>> r = random_correlations(50, 4, 3, np.random.default_rng(0))
    >>> r.shape, bool(np.allclose(np.diagonal(r, axis1=1, axis2=2), 1))
    ((3, 4, 4), True)
    """
    chi2 = _bartlett_chi2(n_obs, n_items, size, rng)
    return _bartlett_correlations(chi2, rng.standard_normal((size, n_items, n_items)))


def _bartlett_chi2(n_obs: int, n_items: int, size: int, rng: np.random.Generator) -> np.ndarray:
    df = n_obs - 1
    if df < n_items:
        raise ValueError(f"need more respondents than items (n = {n_obs}, items = {n_items})")
    return rng.chisquare(df - np.arange(n_items), size=(size, n_items))


def _bartlett_correlations(chi2: np.ndarray, normals: np.ndarray) -> np.ndarray:
    n_items = chi2.shape[1]
    idx = np.arange(n_items)
    lower = np.tril(normals, k=-1)
    lower[:, idx, idx] = np.sqrt(chi2)
    scatter = lower @ np.swapaxes(lower, 1, 2)
    scale = 1.0 / np.sqrt(np.diagonal(scatter, axis1=1, axis2=2))
    corr = scatter * scale[:, :, None] * scale[:, None, :]
    corr[:, idx, idx] = 1.0
    return corr


def _descending_eigenvalues(matrices: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(matrices)[..., ::-1]


def _reduced_smc_eigenvalues(corr: np.ndarray) -> np.ndarray:
    reduced = np.array(corr, copy=True)
    idx = np.arange(corr.shape[-1])
    reduced[..., idx, idx] = smc(corr)
    return _descending_eigenvalues(reduced)


def _one_factor_eigenvalues(corr: np.ndarray) -> np.ndarray:
    """psych's ``fa(r, nfactors = 1, fm = "minres")$values``: eigenvalues of R with the
    communalities of a one-factor minres solution on its diagonal."""
    loadings, _ = _extract(corr, 1, "minres")
    reduced = np.array(corr, copy=True)
    np.fill_diagonal(reduced, np.sum(loadings**2, axis=1))
    return _descending_eigenvalues(reduced)


def _leading_exceedances(observed: np.ndarray, threshold: np.ndarray) -> int:
    # psych: which(!(observed > threshold))[1] - 1, i.e. count until the first failure.
    below = np.flatnonzero(~(observed > threshold))
    return int(below[0]) if below.size else int(observed.size)


@dataclass
class ParallelAnalysis:
    """Result of :func:`parallel_analysis`.

    Attributes
    ----------
    table : DataFrame
        One row per position: ``position, component_observed, component_random_mean,
        component_random_pct, component_retained, factor_observed, factor_random_mean,
        factor_random_pct, factor_retained``.
    n_factors, n_components : int
        Suggested numbers (leading observed eigenvalues above the random percentile).
    n_kaiser : int
        Components with an eigenvalue above 1 (Kaiser criterion), for comparison.
    """

    table: pd.DataFrame
    n_factors: int
    n_components: int
    n_kaiser: int
    n_obs: int
    n_iter: int
    percentile: float
    factor_eigen: str
    seed: int | None

    def summary(self) -> pd.DataFrame:
        """One tidy row with the suggestions and the settings that produced them."""
        return pd.DataFrame(
            {
                "n_factors_parallel": [self.n_factors],
                "n_components_parallel": [self.n_components],
                "n_factors_kaiser": [self.n_kaiser],
                "n": [self.n_obs],
                "n_iter": [self.n_iter],
                "percentile": [self.percentile],
                "factor_eigen": [self.factor_eigen],
                "seed": [self.seed],
            }
        )


@on_one_blas_thread
def parallel_analysis(
    data: pd.DataFrame,
    n_iter: int = DEFAULT_PARALLEL_ITER,
    percentile: float = DEFAULT_PARALLEL_PERCENTILE,
    seed: int | np.random.Generator | None = None,
    factor_eigen: str = "smc",
    batch_size: int = 250,
    progress: bool = False,
    cor: str = "pearson",
) -> ParallelAnalysis:
    """Horn's parallel analysis for principal components and common factors.

    Observed eigenvalues are those of the correlation matrix (components) and of the reduced
    correlation matrix (factors); each is compared with the ``percentile`` of the eigenvalues
    at the same position in ``n_iter`` correlation matrices of uncorrelated normal data with the
    same n and number of items. The suggested number is the count of leading positions where
    the observed eigenvalue exceeds the random percentile (psych's rule).

    Parameters
    ----------
    data : DataFrame
        Complete cases on the analysed items.
    n_iter : int
        Random correlation matrices (psych's default is 20; 1000 costs well under a second for
        50 items, whatever the number of respondents).
    percentile : float
        Percentile of the random eigenvalues to beat (95, psych's ``quant = .95``); 50 is close
        to Horn's original mean criterion, which the table also reports.
    seed : int or numpy Generator, optional
        Seed of the random matrices (``cfg.seed`` in the notebook).
    factor_eigen : {"smc", "fa"}
        Diagonal of the reduced matrix. ``"smc"``: squared multiple correlations, the classic
        choice, as ``psych::fa.parallel(SMC = TRUE)``; vectorised. ``"fa"``: communalities of a
        one-factor minres solution, as ``psych::fa.parallel``'s default (``SMC = FALSE``); one
        small optimisation per random matrix.
    batch_size : int
        Random matrices drawn per batch (bounds memory at ``batch_size * p * p`` floats).
    progress : bool
        Show a tqdm progress bar over batches.
    cor : {"pearson", "poly"}
        Observed eigenvalues from Pearson or polychoric correlations (psych's
        ``fa.parallel(cor = "poly")``). The random benchmark is always the normal-data one
        (psych's ``sim = TRUE``): psych's polychoric variant instead resamples the data, at
        one polychoric matrix per random set, too slow for 1000 sets.

    Returns
    -------
    ParallelAnalysis

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> f = rng.standard_normal((300, 1))
    >>> x = pd.DataFrame(f * 0.7 + rng.standard_normal((300, 5)) * 0.7)
    >>> pa = parallel_analysis(x, n_iter=200, seed=3)
    >>> pa.n_factors, pa.n_components, pa.n_kaiser
    (1, 1, 1)
    """
    if factor_eigen not in FACTOR_EIGEN:
        raise ValueError(f"factor_eigen must be one of {FACTOR_EIGEN}, not {factor_eigen!r}")
    if not 0 < percentile < 100:
        raise ValueError("percentile must lie strictly between 0 and 100")
    corr = _correlation(data, cor)
    n_obs, n_items = np.asarray(data).shape
    rng = np.random.default_rng(seed)
    reduced_eigen = _reduced_smc_eigenvalues if factor_eigen == "smc" else None

    observed_pc = _descending_eigenvalues(corr)
    observed_fa = (
        reduced_eigen(corr) if reduced_eigen is not None else _one_factor_eigenvalues(corr)
    )

    random_pc = np.empty((n_iter, n_items))
    random_fa = np.empty((n_iter, n_items))
    # All chi-squares first, then the normals batch by batch (replicate-major): the draws, and
    # so the results, do not depend on batch_size.
    chi2 = _bartlett_chi2(n_obs, n_items, n_iter, rng)
    starts = range(0, n_iter, batch_size)
    for start in tqdm(starts, desc="parallel analysis", disable=not progress):
        stop = min(start + batch_size, n_iter)
        normals = rng.standard_normal((stop - start, n_items, n_items))
        mats = _bartlett_correlations(chi2[start:stop], normals)
        random_pc[start:stop] = _descending_eigenvalues(mats)
        if reduced_eigen is not None:
            random_fa[start:stop] = reduced_eigen(mats)
        else:
            random_fa[start:stop] = [_one_factor_eigenvalues(m) for m in mats]

    # numpy's default percentile is R's quantile type 7, which fa.parallel uses.
    pct_pc = np.percentile(random_pc, percentile, axis=0)
    pct_fa = np.percentile(random_fa, percentile, axis=0)
    n_components = _leading_exceedances(observed_pc, pct_pc)
    n_factors = _leading_exceedances(observed_fa, pct_fa)
    position = np.arange(1, n_items + 1)
    table = pd.DataFrame(
        {
            "position": position,
            "component_observed": observed_pc,
            "component_random_mean": random_pc.mean(axis=0),
            "component_random_pct": pct_pc,
            "component_retained": position <= n_components,
            "factor_observed": observed_fa,
            "factor_random_mean": random_fa.mean(axis=0),
            "factor_random_pct": pct_fa,
            "factor_retained": position <= n_factors,
        }
    )
    return ParallelAnalysis(
        table=table,
        n_factors=n_factors,
        n_components=n_components,
        n_kaiser=int(np.sum(observed_pc > 1.0)),
        n_obs=int(n_obs),
        n_iter=int(n_iter),
        percentile=float(percentile),
        factor_eigen=factor_eigen,
        seed=seed if isinstance(seed, int | None) else None,
    )


# --------------------------------------------------------------------------- extraction
def _top_eigen(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(matrix)
    order = np.argsort(values)[::-1][:k]
    return values[order], vectors[:, order]


def _minres_objective(psi: np.ndarray, corr: np.ndarray, k: int) -> float:
    # psych fac()'s fit.residuals, fm = "minres": squared off-diagonal residuals.
    reduced = corr.copy()
    np.fill_diagonal(reduced, 1.0 - psi)
    values, vectors = _top_eigen(reduced, k)
    values = np.where(values < _EPS, 100 * _EPS, values)
    loadings = vectors * np.sqrt(values)
    residual = (reduced - loadings @ loadings.T)[np.tril_indices_from(reduced, -1)]
    return float(np.sum(residual**2))


def _minres_gradient(psi: np.ndarray, corr: np.ndarray, k: int) -> np.ndarray:
    # psych's FAgr.minres (the diagonal residual, which psych uses as the gradient).
    values, vectors = _top_eigen(corr - np.diag(psi), k)
    loadings = vectors * np.sqrt(np.maximum(values, 0.0))
    return np.diag(loadings @ loadings.T + np.diag(psi) - corr)


def _ml_scaled(psi: np.ndarray, corr: np.ndarray) -> np.ndarray:
    scale = 1.0 / np.sqrt(psi)
    return corr * scale[:, None] * scale[None, :]


def _ml_objective(psi: np.ndarray, corr: np.ndarray, k: int) -> float:
    # psych's FAfn.
    values = np.linalg.eigvalsh(_ml_scaled(psi, corr))[::-1][k:]
    return -float(np.sum(np.log(values) - values) - k + corr.shape[0])


def _ml_loadings(psi: np.ndarray, corr: np.ndarray, k: int) -> np.ndarray:
    # psych's FAout.
    values, vectors = _top_eigen(_ml_scaled(psi, corr), k)
    return np.sqrt(psi)[:, None] * vectors * np.sqrt(np.maximum(values - 1.0, 0.0))


def _ml_gradient(psi: np.ndarray, corr: np.ndarray, k: int) -> np.ndarray:
    # psych's FAgr.
    loadings = _ml_loadings(psi, corr, k)
    g = loadings @ loadings.T + np.diag(psi) - corr
    return np.diag(g) / psi**2


def _optim_lbfgsb(fun, grad, start: np.ndarray, args: tuple, upper: float) -> np.ndarray:
    """R's ``optim(method = "L-BFGS-B", lower = .005, upper, parscale = .01)`` as psych calls it.

    R optimises ``par / parscale`` with its defaults factr = 1e7, pgtol = 0, lmm = 5 and
    maxit = 100; scipy's L-BFGS-B with the same settings follows the same path.
    """
    scale = 0.01
    result = optimize.minimize(
        lambda z: fun(z * scale, *args),
        start / scale,
        jac=lambda z: grad(z * scale, *args) * scale,
        method="L-BFGS-B",
        bounds=[(0.005 / scale, upper / scale)] * start.size,
        options={"maxcor": 5, "ftol": 1e7 * _EPS, "gtol": 0.0, "maxiter": 100},
    )
    return result.x * scale


def _principal_axis(
    corr: np.ndarray, k: int, min_err: float, max_iter: int
) -> tuple[np.ndarray, int]:
    """psych's iterated principal axis (fm = "pa"): SMC start, stop when the sum of
    communalities changes by less than ``min_err`` or after ``max_iter`` iterations."""
    reduced = corr.copy()
    np.fill_diagonal(reduced, smc(corr))
    total = float(np.trace(reduced))
    iterations = 0
    while True:
        values, vectors = _top_eigen(reduced, k)
        loadings = vectors * np.sqrt(values)
        communalities = np.sum(loadings**2, axis=1)
        np.fill_diagonal(reduced, communalities)
        new_total = float(communalities.sum())
        err = abs(total - new_total)
        total = new_total
        iterations += 1
        if not np.isfinite(err):
            raise FloatingPointError("principal axis: negative eigenvalue (try minres)")
        if err <= min_err or iterations >= max_iter:
            return loadings, iterations


def _extract(
    corr: np.ndarray, k: int, method: str, min_err: float = 0.001, max_iter: int = 50
) -> tuple[np.ndarray, int | None]:
    """Unrotated loadings of ``k`` factors (before psych's sign alignment)."""
    if method == "pa":
        return _principal_axis(corr, k, min_err, max_iter)
    start_smc = smc(corr)
    start = np.diag(corr) - start_smc
    upper = max(float(start_smc.max()), 1.0)
    if method == "minres":
        psi = _optim_lbfgsb(_minres_objective, _minres_gradient, start, (corr, k), upper)
        reduced = corr.copy()
        np.fill_diagonal(reduced, np.diag(corr) - psi)
        values, vectors = _top_eigen(reduced, k)
        return vectors * np.sqrt(np.maximum(values, 0.0)), None
    if method == "ml":
        psi = _optim_lbfgsb(_ml_objective, _ml_gradient, start, (corr, k), upper)
        return _ml_loadings(psi, corr, k), None
    raise ValueError(f"extraction must be one of {EXTRACTIONS}, not {method!r}")


# --------------------------------------------------------------------------- rotation
def varimax(loadings: np.ndarray, normalize: bool = True, eps: float = 1e-5):
    """Varimax rotation, a port of R's ``stats::varimax`` (Kaiser normalisation by default).

    Returns
    -------
    (rotated loadings, rotation matrix)

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[.7, .3], [.6, .4], [.3, -.6], [.4, -.7]])
    >>> rotated, _ = varimax(a)
    >>> bool(np.allclose((rotated**2).sum(axis=1), (a**2).sum(axis=1)))
    True
    """
    x = np.array(loadings, dtype=float)
    n_rows, n_cols = x.shape
    if n_cols < 2:
        return x, np.eye(n_cols)
    if normalize:
        row_norm = np.sqrt(np.sum(x**2, axis=1))
        x = x / row_norm[:, None]
    rotation = np.eye(n_cols)
    d = 0.0
    for _ in range(1000):
        z = x @ rotation
        b = x.T @ (z**3 - z @ np.diag(np.sum(z**2, axis=0)) / n_rows)
        u, s, vt = np.linalg.svd(b)
        rotation = u @ vt
        d_past, d = d, float(np.sum(s))
        if d < d_past * (1 + eps):
            break
    z = x @ rotation
    if normalize:
        z = z * row_norm[:, None]
    return z, rotation


def promax(loadings: np.ndarray, power: int = 4):
    """psych's ``promax``: ``kaiser(f, rotate = "Promax")`` with ``m = 4``.

    Rows are Kaiser-normalised (divided by the square root of their communality), rotated by
    varimax, raised to ``power`` into a target, fitted by least squares, then rescaled.

    Returns
    -------
    (pattern loadings, factor correlations Phi)
    """
    x = np.asarray(loadings, dtype=float)
    h = np.sqrt(np.sum(x**2, axis=1))
    weighted = x / h[:, None]
    rotated, varimax_rotation = varimax(weighted)
    target = rotated * np.abs(rotated) ** (power - 1)
    u = np.linalg.lstsq(rotated, target, rcond=None)[0]
    u = u * np.sqrt(np.diag(np.linalg.inv(u.T @ u)))
    pattern = rotated @ u
    # Phi from the whole rotation (varimax, then the promax step), as psych's Promax does.
    inverse = np.linalg.inv(varimax_rotation @ u)
    return pattern * h[:, None], inverse @ inverse.T


def _oblimin_criterion(lam: np.ndarray) -> tuple[float, np.ndarray]:
    # GPArotation's vgQ.oblimin with gam = 0 (quartimin).
    sq = lam**2
    x = sq @ (1.0 - np.eye(lam.shape[1]))
    return float(np.sum(sq * x) / 4.0), lam * x


def oblimin(loadings: np.ndarray, eps: float = 1e-5, max_iter: int = 1000):
    """Direct oblimin (gamma 0), a port of ``GPArotation::oblimin`` (GPFoblq, no normalisation).

    Returns
    -------
    (pattern loadings, factor correlations Phi, converged)
        Like GPArotation, a rotation that has not converged after ``max_iter`` iterations
        is returned as it stands, with ``converged`` False (the caller warns and flags it).
    """
    a = np.asarray(loadings, dtype=float)
    t = np.eye(a.shape[1])
    alpha = 1.0
    lam = a @ np.linalg.inv(t).T
    f, gq = _oblimin_criterion(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    converged = False
    for _ in range(max_iter + 1):
        gp = g - t @ np.diag(np.sum(t * g, axis=0))
        s = float(np.sqrt(np.sum(gp**2)))
        if s < eps:
            converged = True
            break
        alpha *= 2
        for _ in range(11):
            x = t - alpha * gp
            t_new = x / np.sqrt(np.sum(x**2, axis=0))
            lam = a @ np.linalg.inv(t_new).T
            f_new, gq_new = _oblimin_criterion(lam)
            if f - f_new > 0.5 * s**2 * alpha:
                break
            alpha /= 2
        t, f = t_new, f_new
        g = -(lam.T @ gq_new @ np.linalg.inv(t)).T
    return lam, t.T @ t, converged


def _rotate(
    loadings: np.ndarray, rotation: str, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(rotated loadings, Phi or None when orthogonal, whether the rotation converged)."""
    if rotation == "none" or loadings.shape[1] < 2:
        return loadings, None, True
    if rotation == "varimax":
        return varimax(loadings)[0], None, True
    if rotation == "promax":
        return (*promax(loadings), True)
    if rotation == "oblimin":
        return oblimin(loadings, max_iter=max_iter)
    raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation!r}")


# --------------------------------------------------------------------------- the EFA
@dataclass
class EFAResult:
    """Result of :func:`efa`. Matrices are DataFrames indexed by item, columns by factor.

    Attributes
    ----------
    loadings : DataFrame
        Pattern matrix (for orthogonal rotations the only loading matrix).
    structure : DataFrame
        Structure matrix ``loadings @ phi`` (equal to ``loadings`` when orthogonal).
    phi : DataFrame
        Factor correlations (identity when orthogonal).
    communalities, uniquenesses : Series
    variance : DataFrame
        psych's "Vaccounted" rows, one row per factor (see :meth:`variance_table`).
    eigenvalues : ndarray
        Eigenvalues of the correlation matrix (``e.values`` in psych).
    """

    loadings: pd.DataFrame
    structure: pd.DataFrame
    phi: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    eigenvalues: np.ndarray
    n_obs: int
    extraction: str
    rotation: str
    iterations: int | None = None
    heywood: list[str] = field(default_factory=list)
    rotation_converged: bool = True

    @property
    def oblique(self) -> bool:
        return self.rotation in OBLIQUE and self.loadings.shape[1] > 1

    def variance_table(self) -> pd.DataFrame:
        """SS loadings and proportions per factor, as psych's ``Vaccounted``.

        For oblique rotations the SS loadings are ``diag(Phi L'L)`` (psych's definition, which
        mixes pattern and structure); proportions are of the number of items.

        Returns
        -------
        DataFrame
            ``factor, ss_loadings, proportion_var, cumulative_var, proportion_explained,
            cumulative_proportion``.
        """
        lam = self.loadings.to_numpy()
        ss = np.diag(self.phi.to_numpy() @ lam.T @ lam)
        total = float(np.sum(self.communalities + self.uniquenesses))
        return pd.DataFrame(
            {
                "factor": list(self.loadings.columns),
                "ss_loadings": ss,
                "proportion_var": ss / total,
                "cumulative_var": np.cumsum(ss / total),
                "proportion_explained": ss / ss.sum(),
                "cumulative_proportion": np.cumsum(ss / ss.sum()),
            }
        )

    def loadings_long(self) -> pd.DataFrame:
        """Pattern loadings, one row per item and factor, with communality and uniqueness.

        Returns
        -------
        DataFrame
            ``item, factor, loading, communality, uniqueness``, items in input order.
        """
        return _long(self.loadings, "loading").merge(
            pd.DataFrame(
                {
                    "item": self.communalities.index,
                    "communality": self.communalities.to_numpy(),
                    "uniqueness": self.uniquenesses.to_numpy(),
                }
            ),
            on="item",
        )

    def structure_long(self) -> pd.DataFrame:
        """Structure coefficients (item-factor correlations): ``item, factor, structure``."""
        return _long(self.structure, "structure")

    def phi_long(self) -> pd.DataFrame:
        """Factor correlations: ``factor, with_factor, correlation`` (full matrix)."""
        names = list(self.phi.columns)
        return pd.DataFrame(
            [
                {"factor": a, "with_factor": b, "correlation": float(self.phi.loc[a, b])}
                for a in names
                for b in names
            ]
        )


def _long(matrix: pd.DataFrame, value: str) -> pd.DataFrame:
    long = matrix.rename_axis(index="item", columns="factor").stack().rename(value).reset_index()
    order = {item: i for i, item in enumerate(matrix.index)}
    return long.sort_values("item", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


@on_one_blas_thread
def efa(
    data: pd.DataFrame,
    n_factors: int,
    extraction: str = "minres",
    rotation: str = "oblimin",
    pa_min_err: float = 0.001,
    pa_max_iter: int = 50,
    rotation_max_iter: int = 1000,
    cor: str = "pearson",
) -> EFAResult:
    """Exploratory factor analysis as ``psych::fa(data, n_factors, rotate=, fm=)``.

    Parameters
    ----------
    data : DataFrame
        Complete cases on the analysed items (see :func:`complete_cases`).
    n_factors : int
    extraction : {"minres", "ml", "pa"}
        Minimum residual (psych's default), maximum likelihood, or iterated principal axis.
    rotation : {"oblimin", "promax", "varimax", "none"}
        ``oblimin`` is GPArotation's direct quartimin; ``promax`` is psych's (Kaiser
        normalisation, power 4); ``varimax`` is ``stats::varimax`` (Kaiser normalisation).
    pa_min_err, pa_max_iter : float, int
        psych's stopping rule for ``pa`` (``min.err``, ``max.iter``).
    rotation_max_iter : int
        GPArotation's ``maxit`` for oblimin. A rotation that has not converged by then is
        kept, as psych keeps it: a RuntimeWarning is issued and ``rotation_converged`` is
        False (the stage reports the solution with the warning and a flag).
    cor : {"pearson", "poly"}
        Factor the Pearson or the polychoric correlations (``psych::fa(cor = "poly")``, for
        items that are few ordered categories).

    Returns
    -------
    EFAResult
        Factors sign-aligned (positive loading sums) and ordered by variance accounted for, as
        psych does; named ``MR1, MR2, ...`` (``ML``/``PA`` for the other methods) in that order.
        Items with communality >= 1 (Heywood cases) are listed in ``heywood``.

    Warns
    -----
    RuntimeWarning
        When the oblimin rotation did not converge in ``rotation_max_iter`` iterations.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.standard_normal((400, 2))
    >>> x = pd.DataFrame(np.repeat(f, 3, axis=1) * 0.7 + rng.standard_normal((400, 6)) * 0.7)
    >>> res = efa(x, 2, extraction="ml", rotation="promax")
    >>> list(res.loadings.columns), res.oblique
    (['ML1', 'ML2'], True)
    """
    if extraction not in EXTRACTIONS:
        raise ValueError(f"extraction must be one of {EXTRACTIONS}, not {extraction!r}")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation!r}")
    corr = _correlation(data, cor)
    n_obs, n_items = np.asarray(data).shape
    if not 1 <= n_factors < n_items:
        raise ValueError(f"n_factors must be between 1 and {n_items - 1}, not {n_factors}")

    loadings, iterations = _extract(corr, n_factors, extraction, pa_min_err, pa_max_iter)
    signs = np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)
    loadings = loadings * signs
    model = loadings @ loadings.T

    rotated, phi, rotation_converged = _rotate(loadings, rotation, rotation_max_iter)
    if not rotation_converged:
        warnings.warn(
            f"{rotation} rotation of {n_factors} factors did not converge in "
            f"{rotation_max_iter} iterations; the solution is reported as it stands "
            "(as psych/GPArotation do): interpret it with care",
            RuntimeWarning,
            stacklevel=2,
        )
    signs = np.where(rotated.sum(axis=0) < 0, -1.0, 1.0)
    rotated = rotated * signs
    phi = np.eye(n_factors) if phi is None else phi * np.outer(signs, signs)
    # Order by variance accounted for, diag(Phi L'L) (psych's ev.rotated).
    order = np.argsort(-np.diag(phi @ rotated.T @ rotated), kind="stable")
    rotated = rotated[:, order]
    phi = phi[np.ix_(order, order)]

    items = list(data.columns)
    names = [f"{FACTOR_PREFIX[extraction]}{i + 1}" for i in range(n_factors)]
    communalities = np.diag(model)
    pattern = pd.DataFrame(rotated, index=items, columns=names)
    phi_frame = pd.DataFrame(phi, index=names, columns=names)
    return EFAResult(
        loadings=pattern,
        structure=pd.DataFrame(rotated @ phi, index=items, columns=names),
        phi=phi_frame,
        communalities=pd.Series(communalities, index=items, name="communality"),
        uniquenesses=pd.Series(np.diag(corr) - communalities, index=items, name="uniqueness"),
        eigenvalues=_descending_eigenvalues(corr),
        n_obs=int(n_obs),
        extraction=extraction,
        rotation=rotation if n_factors > 1 else "none",
        iterations=iterations,
        heywood=[item for item, h2 in zip(items, communalities, strict=True) if h2 >= 1.0],
        rotation_converged=bool(rotation_converged),
    )


def item_flags(
    result: EFAResult,
    min_communality: float = default("efa.flags.min_communality"),
    min_primary: float = default("efa.flags.min_primary"),
    max_secondary: float = default("efa.flags.max_secondary"),
    min_gap: float = default("efa.flags.min_gap"),
) -> pd.DataFrame:
    """Flag items with low communality, a weak primary loading, or a cross-loading.

    Loadings are absolute pattern loadings. An item cross-loads when its second-largest
    loading is ``>= max_secondary`` or the gap between its largest and second-largest loading
    is ``< min_gap`` (with one factor there is no cross-loading).

    Returns
    -------
    DataFrame
        ``item, communality, primary_factor, primary_loading, secondary_factor,
        secondary_loading, low_communality, weak_primary, cross_loading, flagged, reasons``;
        loadings keep their sign.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.standard_normal((400, 2))
    >>> x = pd.DataFrame(np.repeat(f, 3, axis=1) * 0.7 + rng.standard_normal((400, 6)) * 0.7)
    >>> int(item_flags(efa(x, 2))["flagged"].sum())
    0
    """
    lam = result.loadings.to_numpy()
    names = np.array(result.loadings.columns)
    order = np.argsort(-np.abs(lam), axis=1, kind="stable")
    rows = np.arange(lam.shape[0])
    primary = lam[rows, order[:, 0]]
    has_second = lam.shape[1] > 1
    secondary = lam[rows, order[:, 1]] if has_second else np.full(lam.shape[0], np.nan)
    h2 = result.communalities.to_numpy()
    low = h2 < min_communality
    weak = np.abs(primary) < min_primary
    cross = (
        (np.abs(secondary) >= max_secondary) | (np.abs(primary) - np.abs(secondary) < min_gap)
        if has_second
        else np.zeros(lam.shape[0], dtype=bool)
    )
    labels = [
        (low, f"communality < {min_communality:g}"),
        (weak, f"primary loading < {min_primary:g}"),
        (cross, f"cross-loading (second >= {max_secondary:g} or gap < {min_gap:g})"),
    ]
    reasons = ["; ".join(text for mask, text in labels if mask[i]) for i in rows]
    return pd.DataFrame(
        {
            "item": list(result.loadings.index),
            "communality": h2,
            "primary_factor": names[order[:, 0]],
            "primary_loading": primary,
            "secondary_factor": names[order[:, 1]] if has_second else None,
            "secondary_loading": secondary,
            "low_communality": low,
            "weak_primary": weak,
            "cross_loading": cross,
            "flagged": low | weak | cross,
            "reasons": reasons,
        }
    )


# --------------------------------------------------------------------------- SPSS-style view
@dataclass
class SPSSView:
    """Principal components with Kaiser-normalised varimax: what SPSS FACTOR prints by default.

    Attributes
    ----------
    eigenvalues : ndarray
        All eigenvalues of the correlation matrix ("Initial Eigenvalues").
    unrotated, rotated : DataFrame
        Component matrix and rotated component matrix (items x components), columns summing
        positive; rotated components keep the order varimax returns them in (SPSS does not
        re-sort them).
    """

    eigenvalues: np.ndarray
    unrotated: pd.DataFrame
    rotated: pd.DataFrame
    n_obs: int

    def total_variance(self) -> pd.DataFrame:
        """SPSS's "Total Variance Explained" table, one row per component.

        Returns
        -------
        DataFrame
            ``component, initial_total, initial_pct_variance, initial_cumulative_pct,
            extraction_total, extraction_pct_variance, extraction_cumulative_pct,
            rotation_total, rotation_pct_variance, rotation_cumulative_pct``; extraction and
            rotation columns are empty beyond the retained components.
        """
        p = self.eigenvalues.size
        k = self.rotated.shape[1]
        pct = 100 * self.eigenvalues / p
        rotation_ss = np.sum(self.rotated.to_numpy() ** 2, axis=0)
        pad = np.full(p - k, np.nan)
        rot_pct = 100 * rotation_ss / p
        return pd.DataFrame(
            {
                "component": np.arange(1, p + 1),
                "initial_total": self.eigenvalues,
                "initial_pct_variance": pct,
                "initial_cumulative_pct": np.cumsum(pct),
                "extraction_total": np.concatenate([self.eigenvalues[:k], pad]),
                "extraction_pct_variance": np.concatenate([pct[:k], pad]),
                "extraction_cumulative_pct": np.concatenate([np.cumsum(pct)[:k], pad]),
                "rotation_total": np.concatenate([rotation_ss, pad]),
                "rotation_pct_variance": np.concatenate([rot_pct, pad]),
                "rotation_cumulative_pct": np.concatenate([np.cumsum(rot_pct), pad]),
            }
        )

    def rotated_components(
        self, threshold: float = default("efa.spss_blank_below")
    ) -> pd.DataFrame:
        """SPSS's "Rotated Component Matrix", sorted by size and small coefficients blanked.

        Items are grouped by the component with their largest absolute loading (in component
        order) and sorted by that loading, largest first, as SPSS's "Sorted by size" option
        does; loadings with absolute value below ``threshold`` are left empty (NaN), as
        "Suppress small coefficients" does.

        Returns
        -------
        DataFrame
            ``item, primary_component`` and one column per component (``C1, C2, ...``).
        """
        lam = self.rotated.to_numpy()
        primary = np.argmax(np.abs(lam), axis=1)
        size = np.abs(lam[np.arange(lam.shape[0]), primary])
        order = np.lexsort((-size, primary))
        table = self.rotated.iloc[order].copy()
        table = table.where(table.abs() >= threshold)
        table.insert(0, "primary_component", [self.rotated.columns[j] for j in primary[order]])
        return table.rename_axis("item").reset_index()


@on_one_blas_thread
def spss_pca(data: pd.DataFrame, n_components: int | None = None) -> SPSSView:
    """The SPSS-style analysis: principal components, varimax with Kaiser normalisation.

    Parameters
    ----------
    data : DataFrame
        Complete cases on the analysed items.
    n_components : int, optional
        Components to extract; None keeps those with eigenvalue > 1, SPSS's default.

    Returns
    -------
    SPSSView
        Same loadings as ``psych::principal(x, n_components, rotate = "varimax")`` (up to
        column order and sign). SPSS stops varimax after 25 iterations by default; this runs
        it to convergence (raise SPSS's "Maximum Iterations for Convergence" to compare).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.standard_normal((400, 2))
    >>> x = pd.DataFrame(np.repeat(f, 3, axis=1) * 0.7 + rng.standard_normal((400, 6)) * 0.7)
    >>> view = spss_pca(x)
    >>> view.rotated.shape
    (6, 2)
    """
    corr = _correlation(data)
    n_obs = np.asarray(data).shape[0]
    eigenvalues = _descending_eigenvalues(corr)
    k = int(np.sum(eigenvalues > 1.0)) if n_components is None else int(n_components)
    if not 1 <= k <= corr.shape[0]:
        raise ValueError(f"n_components must be between 1 and {corr.shape[0]}, not {k}")
    values, vectors = _top_eigen(corr, k)
    unrotated = vectors * np.sqrt(np.maximum(values, _EPS))
    unrotated = unrotated * np.where(unrotated.sum(axis=0) < 0, -1.0, 1.0)
    rotated = varimax(unrotated)[0] if k > 1 else unrotated
    rotated = rotated * np.where(rotated.sum(axis=0) < 0, -1.0, 1.0)
    items = list(data.columns)
    names = [f"C{i + 1}" for i in range(k)]
    return SPSSView(
        eigenvalues=eigenvalues,
        unrotated=pd.DataFrame(unrotated, index=items, columns=names),
        rotated=pd.DataFrame(rotated, index=items, columns=names),
        n_obs=int(n_obs),
    )
