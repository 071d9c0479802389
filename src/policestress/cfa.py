"""Confirmatory factor analysis: semopy estimates, lavaan's statistics.

semopy (2.3.11) estimates the models by maximum likelihood (``obj='MLW'``, SLSQP with
``ftol = 1e-12``, tight enough to reproduce lavaan's estimates); everything reported is then
computed here from the estimated matrices, with lavaan's (0.6) definitions, because several
of semopy's statistics differ from lavaan's (GUIDE.md section 4):

* fit statistics (:func:`fit_measures`): chi-square ``N F_ML`` with ``S`` on divisor ``N``,
  CFI/TLI/NFI against the independence model, RMSEA with its 90% interval and p-close,
  SRMR (Bentler), GFI/AGFI, log-likelihood, AIC/BIC, and the Satorra-Bentler scaled
  chi-square of ``estimator = "MLM"`` (:mod:`policestress.fitstats` holds the formulas);
* standard errors from the expected information matrix (lavaan's default for ML), z, p and
  ``std.all`` (:func:`parameter_estimates`);
* modification indices, expected parameter changes and ``sepc.all``
  (:func:`modification_indices`, lavaan's ``modindices``);
* composite reliability and AVE (semTools ``compRelSEM`` and ``AVE`` defaults), the
  Fornell-Larcker table and HTMT (semTools ``htmt``, ``htmt2 = TRUE``).

Missing data: every model is fitted to the complete cases on *its own* items (listwise
deletion); ``n`` and ``n_dropped`` say how many rows that kept and dropped.

Heywood cases: semopy bounds variances at 0, which hides an improper solution as an
estimate stuck at 0. By default the bounds are removed (``allow_negative_variances=True``),
so that the estimates are lavaan's, negative variances included; :func:`heywood_cases` then
lists every variance at or below 0 and every standardized loading above 1 in absolute value.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import semopy
from scipy import stats

from policestress import fitstats
from policestress.lavaan_syntax import parse_syntax

if TYPE_CHECKING:
    from policestress.config import SiteConfig

__all__ = [
    "CUTOFFS",
    "CFAResult",
    "ConvergenceError",
    "factor_syntax",
    "codebook_models",
    "site_models",
    "fit_cfa",
    "fit_models",
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


class ConvergenceError(RuntimeError):
    """The optimizer did not reach an admissible maximum-likelihood solution."""


# --------------------------------------------------------------------------- model syntax


def factor_syntax(factors: dict[str, list[str]], comment: str | None = None) -> str:
    """lavaan measurement syntax ``factor =~ a + b + c``, one line per factor.

    The first indicator of each factor is its marker (loading fixed at 1), as in lavaan.

    Examples
    --------
    >>> print(factor_syntax({"visual": ["x1", "x2", "x3"], "speed": ["x7", "x8"]}))
    visual =~ x1 + x2 + x3
    speed =~ x7 + x8
    """
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    lines += [f"{name} =~ {' + '.join(items)}" for name, items in factors.items()]
    return "\n".join(lines)


def codebook_models(
    scales: dict[str, list[str]],
    domains: dict[str, list[str]],
    eri_scales: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """The competing models of the stress-source instrument (and ERI), in lavaan syntax.

    Parameters
    ----------
    scales : dict
        construct -> item ids (``cfg.codebook.scales("stress_sources")``).
    domains : dict
        domain -> constructs (``cfg.codebook.domains("stress_sources")``).
    eri_scales : dict, optional
        ERI construct -> item ids (effort, reward, overcommitment).

    Returns
    -------
    dict
        ``one_factor`` (one general factor), ``domains`` (correlated domain factors measured
        directly by their items), ``first_order`` (correlated constructs), ``second_order``
        (constructs -> domains, domains correlated) and, given ``eri_scales``, ``eri``.

    Examples
    --------
    >>> m = codebook_models({"a": ["a1", "a2"], "b": ["b1", "b2"]}, {"d": ["a", "b"]})
    >>> print(m["second_order"])
    # second-order: constructs -> domains
    a =~ a1 + a2
    b =~ b1 + b2
    d =~ a + b
    """
    all_items = [item for items in scales.values() for item in items]
    domain_items = {d: [i for c in cs for i in scales[c]] for d, cs in domains.items()}
    models = {
        "one_factor": factor_syntax({"general": all_items}, "one general factor"),
        "domains": factor_syntax(domain_items, "correlated domain factors"),
        "first_order": factor_syntax(scales, "correlated first-order constructs"),
        "second_order": factor_syntax({**scales, **domains}, "second-order: constructs -> domains"),
    }
    if eri_scales:
        models["eri"] = factor_syntax(eri_scales, "ERI measurement model")
    return models


def site_models(cfg: SiteConfig) -> dict[str, str]:
    """Models of a site: the codebook models, overridden or extended by site.yml files.

    site.yml keys (all optional)::

        cfa:
          models: {second_order: cfa/second_order.lavaan, my_model: cfa/my.lavaan}
          include: [one_factor, domains, first_order, second_order, eri]
          chosen_model: second_order

    ``cfa.models`` maps a model name to a lavaan model file relative to the site folder: it
    replaces the codebook model of that name or adds a new one. ``cfa.include`` selects and
    orders the models (default: all). The ERI model is built only when the codebook has the
    ``eri`` instrument.
    """
    book = cfg.codebook
    # one-item constructs and one-construct domains get no factor (Codebook.structure_notes)
    eri = book.factor_scales("eri") if book.has_instrument("eri") else None
    models = codebook_models(
        book.factor_scales("stress_sources"), book.factor_domains("stress_sources"), eri
    )
    for name, file in (cfg.get("cfa.models") or {}).items():
        path = Path(cfg.paths.config_dir) / file
        if not path.exists():
            raise FileNotFoundError(f"cfa.models.{name}: model file {path} not found")
        models[name] = path.read_text(encoding="utf-8").strip()
    include = cfg.get("cfa.include")
    if include:
        unknown = [m for m in include if m not in models]
        if unknown:
            raise KeyError(f"cfa.include names unknown models {unknown}; known {list(models)}")
        models = {m: models[m] for m in include}
    return models


# ------------------------------------------------------------------------------ fitting


@dataclass
class CFAResult:
    """A fitted CFA model: semopy's estimates with the matrices lavaan's statistics need.

    Attributes
    ----------
    name, syntax : str
    model : semopy.Model
    data : DataFrame
        The complete cases the model was fitted to (its observed variables only).
    n, n_dropped : int
        Complete cases used and rows dropped for missing values.
    observed, latent : list of str
        Row order of ``sample_cov`` / ``implied_cov`` and of the latent covariance matrix.
    sample_cov, implied_cov, latent_cov : ndarray
        ``S`` (divisor N), ``Sigma``, and ``Phi = C Psi C'`` (variances of all latents).
    converged : bool
    message : str
    """

    name: str
    syntax: str
    model: semopy.Model
    data: pd.DataFrame
    n: int
    n_dropped: int
    observed: list[str]
    latent: list[str]
    sample_cov: np.ndarray
    implied_cov: np.ndarray
    latent_cov: np.ndarray
    converged: bool
    message: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)


def _matrix_name(model: semopy.Model, matrix: np.ndarray) -> str:
    for name in ("lambda", "beta", "psi", "theta"):
        if getattr(model, f"mx_{name}") is matrix:
            return name
    raise ValueError("parameter location in an unsupported semopy matrix")


def _free_locations(model: semopy.Model) -> list[list[tuple[str, int, int]]]:
    """For each free parameter (in ``param_vals`` order) its matrix locations."""
    out = []
    for param in model.parameters.values():
        if not param.active:
            continue
        locs = []
        for loc in param.locations:
            i, j = loc.indices
            locs.append((_matrix_name(model, loc.matrix), int(i), int(j)))
        out.append(locs)
    return out


def _loc_key(kind: str, i: int, j: int) -> tuple[str, int, int]:
    # psi and theta are symmetric: one key per unordered pair
    if kind in ("psi", "theta") and i < j:
        i, j = j, i
    return (kind, i, j)


def fit_cfa(
    data: pd.DataFrame,
    syntax: str,
    name: str = "model",
    *,
    allow_negative_variances: bool = True,
    ftol: float = 1e-12,
    maxiter: int = 2000,
    polish: bool = True,
    raise_on_failure: bool = True,
) -> CFAResult:
    """Fit a CFA model by maximum likelihood with semopy, to the complete cases of its items.

    Parameters
    ----------
    data : DataFrame
        Must hold every observed variable of the model; other columns are ignored.
    syntax : str
        Model in lavaan syntax (``=~``, ``~~``; latent regressions ``~`` are allowed).
    name : str
        Model name carried into every table.
    allow_negative_variances : bool
        Remove semopy's lower bound 0 on variances (default), as lavaan, so that a Heywood
        case shows as a negative estimate instead of one stuck at 0. With False the bound is
        kept and :func:`heywood_cases` reports variances at the bound.
    ftol, maxiter : float, int
        SLSQP tolerance and iteration limit (``ftol = 1e-12`` matches lavaan).
    polish : bool
        Finish with Fisher-scoring steps (expected information) to the exact maximum, so that
        reruns give identical digits (skipped when a parameter sits at a bound).
    raise_on_failure : bool
        Raise :class:`ConvergenceError` when the optimizer fails or the solution is not a
        stationary point; otherwise warn and return it with ``converged = False``.

    Returns
    -------
    CFAResult

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6", "two")
    >>> fit.n, fit.converged
    (301, True)
    """
    model = semopy.Model(syntax)
    observed = list(model.vars["observed"])
    missing_cols = [v for v in observed if v not in data.columns]
    if missing_cols:
        raise KeyError(f"model {name!r}: variables not in the data: {missing_cols}")
    frame = data[observed].apply(pd.to_numeric, errors="coerce")
    complete = frame.dropna().reset_index(drop=True)
    n = len(complete)
    if n <= len(observed):
        raise ValueError(f"model {name!r}: {n} complete cases for {len(observed)} variables")
    values = complete.to_numpy(dtype=float)
    centred = values - values.mean(axis=0)
    s = centred.T @ centred / n  # divisor N, as lavaan's ML
    cov = pd.DataFrame(s, index=observed, columns=observed)
    if allow_negative_variances:
        # semopy sets a lower bound 0 on variances when it builds the model
        for param in model.parameters.values():
            param.bound = (None, None)
    # the covariance given (divisor N) is the S semopy fits; the data give starting values
    result = model.fit(
        complete, cov=cov, obj="MLW", solver="SLSQP", options={"ftol": ftol, "maxiter": maxiter}
    )
    sigma, (_, c) = model.calc_sigma()
    latent_cov = c @ model.mx_psi @ c.T
    latent = list(model.names_lambda[1])
    fit = CFAResult(
        name=name,
        syntax=syntax,
        model=model,
        data=complete,
        n=n,
        n_dropped=len(frame) - n,
        observed=list(model.names_lambda[0]),
        latent=latent,
        sample_cov=s,
        implied_cov=sigma,
        latent_cov=latent_cov,
        converged=bool(result.success),
        message=str(result.message),
    )
    if fit.observed != observed:  # semopy keeps the order; guard the assumption
        raise RuntimeError("semopy reordered the observed variables")
    structural = [v for v in latent if v in observed]
    if structural:
        # observed variables in regressions become semopy "inner" variables; the lavaan
        # labels and std.all of this module assume measurement models
        raise ValueError(
            f"model {name!r}: observed variables {structural} in regressions are not "
            "supported; use measurement models (=~), covariances (~~) and latent regressions"
        )
    problems = []
    if not result.success:
        problems.append(f"optimizer: {result.message}")
    if not np.isfinite(result.fun) or np.linalg.eigvalsh(sigma).min() <= 0:
        problems.append("model-implied covariance matrix not positive definite")
    else:
        grad = _gradient(fit, _free_deltas(fit))
        # a parameter held at its lower bound may keep a positive gradient (KKT)
        lower = np.array([b[0] if b[0] is not None else -np.inf for b in model.get_bounds()])
        grad[(model.param_vals - lower < 1e-6) & (grad > 0)] = 0.0
        if np.max(np.abs(grad)) > 1e-4:
            problems.append(
                f"gradient not zero at the solution (max |g| = {np.abs(grad).max():.2g})"
            )
        elif polish and np.all(model.param_vals - lower > 1e-6):
            _fisher_scoring(fit)
    if problems:
        fit.converged = False
        fit.message = "; ".join(problems)
        text = f"CFA model {name!r} did not converge: {fit.message}"
        if raise_on_failure:
            raise ConvergenceError(text)
        warnings.warn(text, stacklevel=2)
    return fit


def _refresh(fit: CFAResult) -> None:
    """Recompute the implied matrices after the parameters changed; drop cached derivatives."""
    sigma, (_, c) = fit.model.calc_sigma()
    fit.implied_cov = sigma
    fit.latent_cov = c @ fit.model.mx_psi @ c.T
    fit._cache.clear()


def _fisher_scoring(fit: CFAResult, max_iter: int = 20) -> None:
    """Polish semopy's solution with Fisher-scoring steps ``theta - I^-1 g``.

    SLSQP stops within ~1e-9 of the optimum at a point that depends on floating-point
    details (BLAS summation order differs between processes), so reruns would differ in the
    10th digit; a few scoring steps reach the maximum to machine precision, which makes the
    tables reproducible and as close to lavaan as lavaan's own tolerance allows. A step that
    does not lower the discrepancy is not taken.
    """
    model = fit.model

    def discrepancy() -> float:
        sign, logdet = np.linalg.slogdet(fit.implied_cov)
        if sign <= 0:
            return math.inf
        return logdet + float(np.trace(np.linalg.solve(fit.implied_cov, fit.sample_cov)))

    current = discrepancy()
    for _ in range(max_iter):
        deltas = _free_deltas(fit)
        step = np.linalg.solve(_information(fit, deltas), _gradient(fit, deltas))
        previous = model.param_vals.copy()
        model.param_vals = previous - step
        model.update_matrices(model.param_vals)
        _refresh(fit)
        new = discrepancy()
        if not new <= current + 1e-12 * abs(current):
            model.param_vals = previous
            model.update_matrices(previous)
            _refresh(fit)
            return
        current = new
        if np.max(np.abs(step)) <= 1e-14 * max(1.0, np.max(np.abs(previous))):
            return


def fit_models(
    data: pd.DataFrame, models: dict[str, str], progress: bool = True, **kwargs
) -> dict[str, CFAResult]:
    """Fit several models (name -> syntax) with :func:`fit_cfa`; a tqdm bar shows progress.

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
        out[name] = fit_cfa(data, syntax, name, **kwargs)
    return out


# ------------------------------------------------------------------- derivative machinery


def _delta(fit: CFAResult, kind: str, i: int, j: int) -> np.ndarray:
    """d Sigma / d theta for one parameter at matrix location (kind, i, j), p x p."""
    m = fit.model
    lam, psi = m.mx_lambda, m.mx_psi
    c = fit._cache.get("C")
    if c is None:
        c = np.linalg.inv(m.identity_c - m.mx_beta)
        fit._cache["C"] = c
    mc = lam @ c
    p = lam.shape[0]
    if kind == "theta":
        d = np.zeros((p, p))
        d[i, j] = 1.0
        d[j, i] = 1.0
        return d
    if kind == "psi":
        e = np.zeros_like(psi)
        e[i, j] = 1.0
        e[j, i] = 1.0
        return mc @ e @ mc.T
    if kind == "lambda":
        # Sigma = Lambda Phi Lambda' + Theta
        row = fit.latent_cov[j] @ lam.T  # (E_ij Phi Lambda')[i, :]
        d = np.zeros((p, p))
        d[i, :] += row
        d[:, i] += row
        return d
    if kind == "beta":
        # dC = C E C  ->  dSigma = Lambda dC Psi C' Lambda' + transpose
        e = np.zeros_like(psi)
        e[i, j] = 1.0
        half = lam @ c @ e @ c @ psi @ mc.T
        return half + half.T
    raise ValueError(kind)


def _free_deltas(fit: CFAResult) -> list[np.ndarray]:
    if "free_deltas" not in fit._cache:
        fit._cache["free_deltas"] = [
            sum(_delta(fit, *loc) for loc in locs) for locs in _free_locations(fit.model)
        ]
    return fit._cache["free_deltas"]


def _sigma_inv(fit: CFAResult) -> np.ndarray:
    if "sigma_inv" not in fit._cache:
        fit._cache["sigma_inv"] = np.linalg.inv(fit.implied_cov)
    return fit._cache["sigma_inv"]


def _information(fit: CFAResult, deltas_a, deltas_b=None) -> np.ndarray:
    """Unit expected information ``0.5 tr(Sigma^-1 dA Sigma^-1 dB)`` (lavaan, structured)."""
    inv = _sigma_inv(fit)
    a = np.stack([inv @ d for d in deltas_a])
    b = a if deltas_b is None else np.stack([inv @ d for d in deltas_b])
    q = a.shape[0]
    # tr(A_k B_l) = sum_ij A_k[i, j] B_l[j, i]
    return 0.5 * a.reshape(q, -1) @ np.transpose(b, (0, 2, 1)).reshape(b.shape[0], -1).T


def _gradient(fit: CFAResult, deltas) -> np.ndarray:
    """Gradient of lavaan's ML discrepancy ``0.5 [log|Sigma| + tr(S Sigma^-1)]``."""
    inv = _sigma_inv(fit)
    core = 0.5 * (inv - inv @ fit.sample_cov @ inv)
    return np.array([np.sum(core * d) for d in deltas])


def _vcov(fit: CFAResult) -> np.ndarray:
    if "vcov" not in fit._cache:
        info = _information(fit, _free_deltas(fit))
        try:
            fit._cache["vcov"] = np.linalg.inv(info) / fit.n
        except np.linalg.LinAlgError as err:
            raise ConvergenceError(
                f"model {fit.name!r}: information matrix singular (model not identified?)"
            ) from err
    return fit._cache["vcov"]


# ----------------------------------------------------------------------- fit statistics


def _n_free(fit: CFAResult) -> int:
    return len(_free_locations(fit.model))


def _satorra_bentler(fit: CFAResult, df: int) -> float:
    """Scaling factor ``tr(U Gamma) / df`` of lavaan's ``estimator = "MLM"``.

    ``U = W - W Delta (Delta' W Delta)^-1 Delta' W`` with the normal-theory weight
    ``W = 0.5 D' (Sigma^-1 x Sigma^-1) D`` at the estimates (expected information) and
    ``Gamma`` the fourth-moment matrix of the centred data (divisor N).
    """
    p = len(fit.observed)
    rows, cols = np.tril_indices(p)
    x = fit.data.to_numpy(dtype=float)
    x = x - x.mean(axis=0)
    d = x[:, rows] * x[:, cols]
    d = d - d.mean(axis=0)
    gamma = d.T @ d / fit.n
    inv = _sigma_inv(fit)
    # W on vech(S): 0.5 D'(V x V)D = 0.25 (v_ik v_jl + v_il v_jk) m_ij m_kl, m = 2 off-diagonal
    mult = np.where(rows == cols, 1.0, 2.0)
    w = 0.25 * (
        inv[np.ix_(rows, rows)] * inv[np.ix_(cols, cols)]
        + inv[np.ix_(rows, cols)] * inv[np.ix_(cols, rows)]
    )
    w *= np.outer(mult, mult)
    delta = np.stack([dd[rows, cols] for dd in _free_deltas(fit)], axis=1)
    wd = w @ delta
    u = w - wd @ np.linalg.solve(delta.T @ wd, wd.T)
    return float(np.sum(u * gamma.T)) / df


def fit_measures(fit: CFAResult, scaled: bool = True) -> pd.DataFrame:
    """One row of fit statistics with lavaan's definitions (``fitMeasures``).

    Columns: ``model, n, n_dropped, npar, chi2, df, p, chi2_df, baseline_chi2, baseline_df,
    cfi, tli, nfi, rmsea, rmsea_ci_low, rmsea_ci_high, rmsea_pclose, srmr, gfi, agfi, logl,
    unrestricted_logl, aic, bic, bic2`` and, with ``scaled``, the Satorra-Bentler columns
    ``chi2_sb, sb_scaling, p_sb`` (lavaan ``estimator = "MLM"``: ``chisq.scaled``,
    ``chisq.scaling.factor``, ``pvalue.scaled``), and ``converged``. The scaled and robust
    versions of CFI/TLI/RMSEA (``cfi.scaled``, ``cfi.robust``, ...) are not computed. The
    Satorra-Bentler columns are NaN beyond 80 items (the fourth-moment matrix grows as p^4).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fit = fit_cfa(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9")
    >>> fit_measures(fit)[["rmsea", "srmr", "gfi"]].round(3).to_dict("records")
    [{'rmsea': 0.092, 'srmr': 0.065, 'gfi': 0.943}]
    """
    s, sigma, n = fit.sample_cov, fit.implied_cov, fit.n
    p = s.shape[0]
    npar = _n_free(fit)
    df = p * (p + 1) // 2 - npar
    logl = fitstats.loglik_normal(sigma, s, n)
    logl_h1 = fitstats.loglik_normal(s, s, n)
    chi2 = max(2 * (logl_h1 - logl), 0.0)  # = N F_ML with S on divisor N
    # independence model: free variances, zero covariances
    chi2_base = n * (np.sum(np.log(np.diag(s))) - np.linalg.slogdet(s)[1])
    df_base = p * (p - 1) // 2
    low, high = fitstats.rmsea_ci(chi2, df, n)
    g = fitstats.gfi(s, sigma)
    row = {
        "model": fit.name,
        "n": n,
        "n_dropped": fit.n_dropped,
        "npar": npar,
        "chi2": chi2,
        "df": df,
        "p": fitstats.chi2_pvalue(chi2, df),
        "chi2_df": chi2 / df if df > 0 else math.nan,
        "baseline_chi2": chi2_base,
        "baseline_df": df_base,
        "cfi": fitstats.cfi(chi2, df, chi2_base, df_base),
        "tli": fitstats.tli(chi2, df, chi2_base, df_base),
        "nfi": fitstats.nfi(chi2, df, chi2_base, df_base),
        "rmsea": fitstats.rmsea(chi2, df, n),
        "rmsea_ci_low": low,
        "rmsea_ci_high": high,
        "rmsea_pclose": fitstats.rmsea_pclose(chi2, df, n),
        "srmr": fitstats.srmr(s, sigma),
        "gfi": g,
        "agfi": fitstats.agfi(g, p, df),
        "logl": logl,
        "unrestricted_logl": logl_h1,
        **fitstats.information_criteria(logl, npar, n).to_dict(),
    }
    if scaled:
        if df > 0 and p <= _SB_MAX_ITEMS:
            c = _satorra_bentler(fit, df)
            row.update(chi2_sb=chi2 / c, sb_scaling=c, p_sb=fitstats.chi2_pvalue(chi2 / c, df))
        else:
            row.update(chi2_sb=math.nan, sb_scaling=math.nan, p_sb=math.nan)
    row["converged"] = fit.converged
    return pd.DataFrame([row])


def fit_table(fits: dict[str, CFAResult] | list[CFAResult], scaled: bool = True) -> pd.DataFrame:
    """:func:`fit_measures` of several models, one row each (the ``cfa_fit.csv`` table).

    Examples
    --------
    >>> import semopy.examples
    >>> hs = semopy.examples.holzinger39.get_data()
    >>> fits = fit_models(hs, {"one": "g =~ x1 + x2 + x3 + x4 + x5 + x6"}, progress=False)
    >>> fit_table(fits)["df"].tolist()
    [9]
    """
    items = fits.values() if isinstance(fits, dict) else fits
    return pd.concat([fit_measures(f, scaled=scaled) for f in items], ignore_index=True)


# ----------------------------------------------------------------------- parameter table


def _measurement_pairs(fit: CFAResult) -> set[tuple[str, str]]:
    if "pairs" not in fit._cache:
        table = parse_syntax(fit.syntax)
        table = table[table["op"] == "=~"]
        fit._cache["pairs"] = set(zip(table["lhs"], table["rhs"], strict=True))
    return fit._cache["pairs"]


def _label(fit: CFAResult, kind: str, i: int, j: int) -> tuple[str, str, str]:
    obs, lat = fit.observed, fit.latent
    if kind == "lambda":
        return (lat[j], "=~", obs[i])
    if kind == "beta":
        if (lat[j], lat[i]) in _measurement_pairs(fit):
            return (lat[j], "=~", lat[i])
        return (lat[i], "~", lat[j])
    names = obs if kind == "theta" else lat
    # lavaan writes a covariance in the order the variables appear: keep (earlier, later)
    a, b = sorted((i, j))
    return (names[a], "~~", names[b])


def _std_factor(fit: CFAResult, kind: str, i: int, j: int) -> float:
    """Multiplier turning an estimate at (kind, i, j) into lavaan's ``std.all``.

    Loadings use total variances (``Phi``, ``Sigma``); variances and covariances of residuals
    and disturbances use the residual variances themselves (lavaan's ``cov.std = TRUE``).
    """
    sig, phi, m = fit.implied_cov, fit.latent_cov, fit.model
    with np.errstate(invalid="ignore"):
        if kind == "lambda":
            return math.sqrt(phi[j, j]) / math.sqrt(sig[i, i])
        if kind == "beta":
            return math.sqrt(phi[j, j]) / math.sqrt(phi[i, i])
        if kind == "theta":
            if i == j:
                return 1.0 / sig[i, i]
            return 1.0 / math.sqrt(m.mx_theta[i, i] * m.mx_theta[j, j])
        if i == j:
            return 1.0 / phi[i, i]
        return 1.0 / math.sqrt(m.mx_psi[i, i] * m.mx_psi[j, j])


def _sqrt_or_nan(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


def parameter_estimates(fit: CFAResult) -> pd.DataFrame:
    """Estimates, SEs, z, p and ``std.all``, as lavaan's ``parameterEstimates(standardized=)``.

    SEs come from the expected information matrix at the estimates (lavaan's default for
    ML). Fixed parameters (marker loadings) are listed with ``se = 0`` and no z / p, as in
    lavaan. Rows: loadings, then (residual) variances and covariances.

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
    m = fit.model
    vcov = _vcov(fit)
    free_index = {}
    for k, locs in enumerate(_free_locations(m)):
        for loc in locs:
            free_index[_loc_key(*loc)] = k
    rows = []
    for kind in ("lambda", "beta", "theta", "psi"):
        mat = getattr(m, f"mx_{kind}")
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                key = _loc_key(kind, i, j)
                if kind in ("psi", "theta") and i < j:
                    continue
                k = free_index.get(key)
                if k is None and mat[i, j] == 0:
                    continue
                lhs, op, rhs = _label(fit, kind, i, j)
                est = float(mat[i, j])
                if k is None:
                    se, z, p = 0.0, math.nan, math.nan
                else:
                    se = _sqrt_or_nan(vcov[k, k])
                    z = est / se if se > 0 else math.nan
                    p = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else math.nan
                rows.append(
                    {
                        "model": fit.name,
                        "lhs": lhs,
                        "op": op,
                        "rhs": rhs,
                        "free": k is not None,
                        "est": est,
                        "se": se,
                        "z": z,
                        "p": p,
                        "std_all": est * _std_factor(fit, kind, i, j),
                    }
                )
    table = pd.DataFrame(rows)
    # lavaan's order: relations as written in the syntax, then residual variances of the
    # observed variables, latent variances, and the remaining covariances
    written = parse_syntax(fit.syntax)
    written_key = {
        (lhs, op, rhs): k for k, (lhs, op, rhs) in enumerate(written.itertuples(index=False))
    }
    names = list(dict.fromkeys([*written["lhs"], *written["rhs"]]))
    rank = {v: k for k, v in enumerate(names)}

    def order(rec) -> tuple:
        key = (rec.lhs, rec.op, rec.rhs)
        if key in written_key or (rec.rhs, rec.op, rec.lhs) in written_key:
            return (0, written_key.get(key, written_key.get((rec.rhs, rec.op, rec.lhs))), 0)
        a, b = rank.get(rec.lhs, len(rank)), rank.get(rec.rhs, len(rank))
        if rec.lhs == rec.rhs:
            return (1 if rec.lhs in fit.observed else 2, a, 0)
        return (3 if rec.lhs in fit.observed else 4, min(a, b), max(a, b))

    table = table.iloc[sorted(range(len(table)), key=lambda r: order(table.iloc[r]))]
    return table.reset_index(drop=True)


def heywood_cases(
    estimates: pd.DataFrame, fit: CFAResult | None = None, tol: float = 1e-6
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
    if fit is not None:
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


def _loadings(fit: CFAResult) -> pd.DataFrame:
    """Lambda as a DataFrame (observed x latent)."""
    return pd.DataFrame(fit.model.mx_lambda, index=fit.observed, columns=fit.latent)


def _first_order(fit: CFAResult) -> list[str]:
    lam = _loadings(fit)
    return [f for f in fit.latent if (lam[f] != 0).sum() > 1]


def composite_reliability(fit: CFAResult, higher: bool = True) -> pd.Series:
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
            beta = pd.DataFrame(fit.model.mx_beta, index=fit.latent, columns=fit.latent)
            lower = beta.index[beta[f] != 0]
            if len(lower) == 0:
                continue
            eff = lam[lower] @ beta.loc[lower, f]  # item loadings on the higher factor
            items = eff.index[eff != 0]
            out[f] = float(
                eff[items].sum() ** 2 * phi.loc[f, f] / s.loc[items, items].to_numpy().sum()
            )
    return pd.Series(out, name="cr")


def average_variance_extracted(fit: CFAResult) -> pd.Series:
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


def _ordered_factors(fit: CFAResult) -> list[str]:
    """Latent variables in the order the syntax introduces them (semopy sorts them)."""
    table = parse_syntax(fit.syntax)
    order = list(dict.fromkeys(table.loc[table["op"] == "=~", "lhs"]))
    return [f for f in order if f in fit.latent] + [f for f in fit.latent if f not in order]


def validity_table(fit: CFAResult) -> pd.DataFrame:
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


def _latent_correlations(fit: CFAResult) -> pd.DataFrame:
    phi = fit.latent_cov
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(phi))
        corr = phi / np.outer(sd, sd)
    return pd.DataFrame(corr, index=fit.latent, columns=fit.latent)


def fornell_larcker(fit: CFAResult) -> pd.DataFrame:
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
    frame = data[indicators].apply(pd.to_numeric, errors="coerce").dropna()
    r = frame.corr()
    if absolute or htmt2:
        r = r.abs()
    r = r.to_numpy()
    np.fill_diagonal(r, np.nan)
    r = pd.DataFrame(r, index=indicators, columns=indicators)

    degenerate = []

    def block_mean(a: list[str], b: list[str]) -> float:
        vals = r.loc[a, b].to_numpy().ravel()
        vals = vals[~np.isnan(vals)]
        if not htmt2:
            return float(np.mean(vals))
        if np.any(vals < 1e-10):
            degenerate.append((a, b))
        return float(np.exp(np.mean(np.log(vals))))

    mono = {f: block_mean(items[f], items[f]) for f in factors}
    out = pd.DataFrame(index=factors, columns=factors, dtype=float)
    bad = []
    for a in factors:
        for b in factors:
            n_before = len(degenerate)
            out.loc[a, b] = block_mean(items[a], items[b]) / math.sqrt(mono[a] * mono[b])
            if len(degenerate) > n_before:
                bad.append((a, b))
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


def _candidates(fit: CFAResult) -> list[tuple[str, int, int]]:
    """Fixed-at-zero parameters lavaan's ``modindices`` frees one at a time.

    Cross-loadings of every observed variable on every first-order factor, residual
    covariances of every pair of observed variables, and covariances of latent variables
    not yet free (exogenous pairs and disturbances), as ``lav_partable_full``.
    """
    m = fit.model
    free = {_loc_key(*loc) for locs in _free_locations(m) for loc in locs}
    lam, psi = m.mx_lambda, m.mx_psi
    p, k = lam.shape
    out = []
    for j in range(k):
        for i in range(p):
            if ("lambda", i, j) not in free and lam[i, j] == 0:
                out.append(("lambda", i, j))
    for i in range(p):
        for j in range(i):
            if ("theta", i, j) not in free:
                out.append(("theta", i, j))
    for i in range(k):
        for j in range(i):
            if _loc_key("psi", i, j) not in free and psi[i, j] == 0:
                out.append(("psi", i, j))
    return out


def modification_indices(
    fit: CFAResult, top: int | None = None, minimum: float = 0.0
) -> pd.DataFrame:
    """Modification indices, EPC and standardized EPC, as lavaan's ``modindices``.

    Score test of freeing each fixed-at-zero parameter alone, with the expected information
    at the estimates: ``mi = N g^2 / V`` with ``V = I11 - I12 I22^-1 I21``, ``epc = -g / V``,
    ``sepc.all`` the EPC standardized like ``std.all`` (loadings: ``sqrt(phi_jj / sigma_ii)``;
    covariances: residual variances, lavaan's ``cov.std = TRUE``).

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
    cand = _candidates(fit)
    cols = ["model", "lhs", "op", "rhs", "mi", "epc", "sepc_all"]
    if not cand:
        return pd.DataFrame(columns=cols)
    free_d = _free_deltas(fit)
    cand_d = [_delta(fit, *c) for c in cand]
    i22_inv = _vcov(fit) * fit.n
    i12 = _information(fit, cand_d, free_d)
    inv = _sigma_inv(fit)
    a = np.stack([inv @ d for d in cand_d])
    i11_diag = 0.5 * np.einsum("kij,kji->k", a, a)
    v = i11_diag - np.einsum("ka,ab,kb->k", i12, i22_inv, i12)
    v = np.where(v < np.finfo(float).eps ** (1 / 3), np.nan, v)
    g = _gradient(fit, cand_d)
    mi = fit.n * g**2 / v
    epc = -g / v
    rows = []
    for (kind, i, j), m_val, e_val in zip(cand, mi, epc, strict=True):
        lhs, op, rhs = _label(fit, kind, i, j)
        rows.append(
            {
                "model": fit.name,
                "lhs": lhs,
                "op": op,
                "rhs": rhs,
                "mi": m_val,
                "epc": e_val,
                "sepc_all": e_val * _std_factor(fit, kind, i, j),
            }
        )
    table = pd.DataFrame(rows, columns=cols).dropna(subset=["mi"])
    table = table[table["mi"] > minimum]
    # equivalent parameters share an index: break ties by name, not by last-bit noise
    order = table.assign(_mi=table["mi"].round(6)).sort_values(
        ["_mi", "lhs", "op", "rhs"], ascending=[False, True, True, True]
    )
    table = table.loc[order.index].reset_index(drop=True)
    return table.head(top) if top is not None else table
