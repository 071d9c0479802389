"""Population models of a Monte Carlo study, and the analysis model's values in them.

A :class:`PopulationModel` is lavaan syntax in which every parameter has its value, with
the moments it implies and, for rating data, the thresholds that cut each item's latent
response into categories. Three sources:

* :func:`population_from_syntax`: lavaan syntax with values, read as lavaan's
  ``simulateData`` reads it (``std.lv``: latent variances 1, no marker loadings; what the
  syntax leaves out is 0, except variances, which are 1);
* :func:`population_from_fit`: a fitted model's estimates (a site's CFA);
* :func:`population_from_site_model`: a simulated site's ``population_model.yml`` (the
  dictionary :func:`policestress.simulate.load_population_model` reads).

:func:`population_values` fits the analysis model to the population moments: its
estimates are the values the Monte Carlo estimates are compared with (the population
values when the analysis model is the population model in another scaling, the
pseudo-true values when it is misspecified on purpose).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from policestress import sem
from policestress.sem.model import Representation
from policestress.sem.partable import partable, variables
from policestress.sem.syntax import parse

__all__ = [
    "PopulationModel",
    "population_from_syntax",
    "population_from_fit",
    "population_from_site_model",
    "population_values",
    "categorize",
    "data_with_moments",
]

# Cases of the data set whose moments are exactly the population's (only its moments
# matter: the fit to it gives the population values; its n enters no estimate).
EXACT_N = 5000
# Cases drawn to estimate the moments of categorized data (their exact moments need
# bivariate normal probabilities of every pair of items and thresholds).
CATEGORY_MOMENT_N = 200_000
# Cases of the WLSMV fit whose estimates are a WLSMV study's reference values (thresholds
# and polychoric-based estimates of this many cases are within ~0.005 of the population's).
ORDINAL_REFERENCE_N = 50_000


@dataclass(frozen=True)
class PopulationModel:
    """A population: lavaan syntax with values, the moments it implies, thresholds.

    Attributes
    ----------
    syntax : str
        lavaan syntax, every parameter with its value.
    observed : list of str
        Observed variables, in the order of ``mean`` and ``cov``.
    mean, cov : ndarray
        Model-implied means and covariance matrix of the (latent) responses.
    thresholds : dict
        ``{item: increasing cut points}``: an item with ``k`` cut points is recorded as
        categories ``1 .. k + 1`` (empty: continuous data).
    source : str
        Where the values come from (shown in the notebook and tables).
    """

    syntax: str
    observed: list[str]
    mean: np.ndarray
    cov: np.ndarray
    thresholds: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "lavaan syntax"

    def digest(self) -> str:
        """SHA-256 of the population's moments and thresholds (identifies a study)."""
        h = hashlib.sha256()
        h.update("\n".join(self.observed).encode())
        h.update(np.ascontiguousarray(self.mean, dtype=float).tobytes())
        h.update(np.ascontiguousarray(self.cov, dtype=float).tobytes())
        for item in sorted(self.thresholds):
            h.update(item.encode() + np.asarray(self.thresholds[item], dtype=float).tobytes())
        return h.hexdigest()


def _check_thresholds(thresholds, observed) -> dict[str, np.ndarray]:
    out = {}
    for item, cuts in dict(thresholds or {}).items():
        if item not in observed:
            raise KeyError(f"thresholds given for {item!r}, not a variable of the population")
        cuts = np.asarray(cuts, dtype=float)
        if cuts.ndim != 1 or cuts.size == 0 or np.any(np.diff(cuts) <= 0):
            raise ValueError(f"thresholds of {item!r} must increase: {cuts.tolist()}")
        out[item] = cuts
    return out


def population_from_syntax(
    syntax: str,
    thresholds: Mapping[str, Sequence[float]] | None = None,
    source: str = "lavaan syntax",
) -> PopulationModel:
    """A population model from lavaan syntax with values (``f =~ 0.7*x1 + 0.6*x2``).

    Read as lavaan's ``simulateData`` reads a model: latent variances are 1 unless given,
    no loading is fixed as a marker, parameters the syntax does not give a value are 0,
    except (residual) variances, which are 1.

    Parameters
    ----------
    syntax : str
        Measurement model, covariances, regressions among latent variables, intercepts.
    thresholds : mapping, optional
        ``{item: cut points}`` of the items recorded as rating categories.
    source : str
        Description kept with the model.

    Examples
    --------
    >>> pop = population_from_syntax("f =~ 0.8*x1 + 0.6*x2 + 0.7*x3; x1 ~~ 0.36*x1")
    >>> np.round(pop.cov, 2).tolist()
    [[1.0, 0.48, 0.56], [0.48, 1.36, 0.42], [0.56, 0.42, 1.49]]
    """
    parsed = parse(syntax)
    v = variables(parsed, fixed_x=False)
    observed_regressions = [
        f"{t.lhs} ~ {t.rhs}"
        for t in parsed.terms
        if t.op == "~" and (t.lhs in v.ov or t.rhs in v.ov)
    ]
    if observed_regressions:
        raise ValueError(
            "population syntax: regressions of observed variables are not supported "
            f"({', '.join(observed_regressions)}); give each a latent variable of its own"
        )
    table = partable(parsed, 1, model_type="sem", std_lv=True, meanstructure=True, fixed_x=False)
    values = table["ustart"].to_numpy(dtype=float).copy()
    missing = ~np.isfinite(values)
    is_variance = ((table["op"] == "~~") & (table["lhs"] == table["rhs"])).to_numpy()
    values[missing] = np.where(is_variance[missing], 1.0, 0.0)
    rep = Representation(table, v.ov, v.lv, [])
    mm = rep.matrices(np.zeros(rep.n_free), 0, values)
    if np.linalg.eigvalsh(mm.sigma).min() <= 0:
        raise ValueError(
            "population syntax: the implied covariance matrix is not positive definite "
            "(a loading or covariance too large for the variances given?)"
        )
    return PopulationModel(
        syntax=syntax,
        observed=list(v.ov),
        mean=mm.mu,
        cov=mm.sigma,
        thresholds=_check_thresholds(thresholds, v.ov),
        source=source,
    )


def _term(value: float, rhs: str) -> str:
    return f"{value!r}*{rhs}"


def population_from_fit(
    fit, thresholds: Mapping[str, Sequence[float]] | None = None
) -> PopulationModel:
    """A population model whose values are a fitted model's estimates (group 1).

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> fit = sem.cfa("visual =~ x1 + x2 + x3", holzinger39.get_data())
    >>> pop = population_from_fit(fit)
    >>> bool(np.allclose(pop.cov, fit.implied_cov))
    True
    """
    if not (fit.fitted and fit.converged):
        raise ValueError(f"model {fit.name!r} is not a converged fit: {fit.message}")
    est = fit.parameter_estimates()
    est = est[(est["group"] == 1) & est["op"].isin(["=~", "~~", "~", "~1"])]
    lines = []
    for r in est.itertuples():
        if r.op == "~1":
            lines.append(f"{r.lhs} ~ {r.est!r}*1")
        else:
            lines.append(f"{r.lhs} {r.op} {_term(float(r.est), r.rhs)}")
    has_means = (est["op"] == "~1").any()
    if not has_means:
        # a model without a mean structure implies the sample means
        lines += [
            f"{x} ~ {float(m)!r}*1" for x, m in zip(fit.observed, fit.moments[0].mean, strict=True)
        ]
    pop = population_from_syntax(
        "\n".join(lines), thresholds, source=f"estimates of the fitted model {fit.name!r}"
    )
    return pop


def population_from_site_model(
    model: Mapping,
    scales: Mapping[str, Sequence[str]],
    domains: Mapping[str, Sequence[str]],
    categories: Mapping[str, int] | int = 5,
) -> PopulationModel:
    """The population of a simulated site (its ``population_model.yml``) as a lavaan model.

    Items load ``item_loading.default`` on their construct (the simulator's per-item spread
    around it is left out), with the ``cross_loadings``; constructs load
    ``construct_sd * second_order_loading`` on their domain, domains correlate as
    ``domain_correlations``; item residual variances are ``1 - loading^2 - sum(cross^2)``,
    as the simulator draws them; the latent means are ``construct_mean`` (the group effects,
    shifts by demographic group, are left out). Each item is cut at the model's
    ``thresholds`` for its number of categories.

    Parameters
    ----------
    model : mapping
        The population model (``policestress.simulate.load_population_model(site)``).
    scales : mapping
        construct -> item ids (``cfg.codebook.scales("stress_sources")``).
    domains : mapping
        domain -> constructs (``cfg.codebook.domains("stress_sources")``), in the order of
        ``domain_correlations``.
    categories : int or mapping
        Number of rating categories of every item, or ``{item: number}``.

    Examples
    --------
    >>> spec = {"item_loading": {"default": 0.7, "spread": 0.1}, "cross_loadings": {},
    ...         "domain_correlations": [[1.0]], "second_order_loading": {"a": 0.8, "b": 0.6},
    ...         "construct_mean": {"a": 0.0, "b": 0.0}, "construct_sd": {"default": 1.0},
    ...         "thresholds": {5: [-1.5, -0.5, 0.5, 1.5]}}
    >>> pop = population_from_site_model(spec, {"a": ["a1", "a2"], "b": ["b1", "b2"]},
    ...                                  {"d": ["a", "b"]})
    >>> round(float(pop.cov[0, 2]), 4), sorted(pop.thresholds)
    (0.2352, ['a1', 'a2', 'b1', 'b2'])
    """
    loading = float(model["item_loading"]["default"])
    cross = model.get("cross_loadings", {}) or {}
    sd_spec = model["construct_sd"]
    phi = np.asarray(model["domain_correlations"], dtype=float)
    if phi.shape != (len(domains), len(domains)):
        raise ValueError(
            f"domain_correlations is {phi.shape[0]} x {phi.shape[1]}, the codebook has "
            f"{len(domains)} domains ({', '.join(domains)})"
        )
    constructs = [c for cs in domains.values() for c in cs]
    unknown = [c for c in constructs if c not in scales]
    if unknown:
        raise KeyError(f"domains name constructs without items: {unknown}")
    lines, means = [], []
    for c in constructs:
        terms = [_term(loading, item) for item in scales[c]]
        terms += [
            _term(float(w), item)
            for item, extra in cross.items()
            for other, w in extra.items()
            if other == c and item not in scales[c]
        ]
        lines.append(f"{c} =~ " + " + ".join(terms))
    for d, cs in domains.items():
        sds = [float(sd_spec.get(c, sd_spec["default"])) for c in cs]
        gammas = [float(model["second_order_loading"][c]) for c in cs]
        lines.append(
            f"{d} =~ "
            + " + ".join(_term(s * g, c) for s, g, c in zip(sds, gammas, cs, strict=True))
        )
        for s, g, c in zip(sds, gammas, cs, strict=True):
            lines.append(f"{c} ~~ {_term(s * s * (1 - g * g), c)}")
            means.append(f"{c} ~ {float(model['construct_mean'][c])!r}*1")
    names = list(domains)
    for i in range(len(names)):
        for j in range(i):
            lines.append(f"{names[i]} ~~ {_term(float(phi[i, j]), names[j])}")
    items = [i for c in constructs for i in scales[c]]
    for item in items:
        extra = cross.get(item, {})
        residual = 1 - loading**2 - sum(float(w) ** 2 for w in extra.values())
        lines.append(f"{item} ~~ {_term(residual, item)}")
    if isinstance(categories, int):
        categories = dict.fromkeys(items, categories)
    cuts = {}
    for item in items:
        k = int(categories[item])
        table = model["thresholds"]
        if k not in table and str(k) not in table:
            raise KeyError(f"population model has no thresholds for {k} categories ({item})")
        cuts[item] = table.get(k, table.get(str(k)))
    syntax = "\n".join(lines + means)
    return population_from_syntax(syntax, cuts, source="the site's population model")


def categorize(x: np.ndarray, population: PopulationModel) -> np.ndarray:
    """Latent responses (columns in ``population.observed`` order) cut into categories
    ``1 .. k + 1`` at each item's thresholds (items without thresholds stay continuous)."""
    out = np.array(x, dtype=float)
    for j, item in enumerate(population.observed):
        cuts = population.thresholds.get(item)
        if cuts is not None:
            out[:, j] = np.searchsorted(cuts, x[:, j]) + 1
    return out


def data_with_moments(mean: np.ndarray, cov: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` cases whose mean vector and covariance matrix (divisor ``n``) are exactly
    ``mean`` and ``cov``."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, bias=True))).T
    return z @ np.linalg.cholesky(cov).T + mean


def population_values(
    population: PopulationModel,
    analysis_model: str,
    categorized: bool = False,
    seed: int = 0,
    meanstructure: bool | None = None,
    estimator: str = "ML",
):
    """The analysis model fitted (ML) to the moments of the data as analysed.

    Continuous data: the population's moments, exactly. Categorized data: the moments of
    the categories, estimated from :data:`CATEGORY_MOMENT_N` cases drawn with ``seed``.
    The estimates are the Monte Carlo study's reference values and their expected
    information gives the analytic power. ``meanstructure`` as ``sem.cfa`` (FIML fits have
    one: their intercepts are parameters too). ``estimator="WLSMV"``: the WLSMV fit (items
    ordered) of :data:`ORDINAL_REFERENCE_N` categorized cases drawn with ``seed``, whose
    thresholds and loadings are on the latent responses' standardized scale.

    Returns
    -------
    SEMFit

    Raises
    ------
    ValueError
        When the analysis model names variables the population lacks, or cannot be fitted
        to the population moments.
    """
    parsed = parse(analysis_model)
    needed = variables(parsed, fixed_x=False).ov
    absent = [x for x in needed if x not in population.observed]
    if absent:
        raise ValueError(f"the analysis model names variables the population lacks: {absent}")
    mean, cov = population.mean, population.cov
    if estimator == "WLSMV":
        if not (categorized and all(x in population.thresholds for x in needed)):
            raise ValueError("WLSMV needs rating categories: thresholds for every item")
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((ORDINAL_REFERENCE_N, len(mean)))
        x = categorize(mean + z @ np.linalg.cholesky(cov).T, population)
        frame = pd.DataFrame(x, columns=population.observed)
        fit = sem.cfa(
            analysis_model, frame, name="analysis model", estimator="WLSMV", ordered=needed
        )
        if not (fit.fitted and fit.converged):
            raise ValueError(
                f"the analysis model cannot be fitted to the population: {fit.message}"
            )
        fit.data = []
        return fit
    if categorized and population.thresholds:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((CATEGORY_MOMENT_N, len(mean)))
        x = categorize(mean + z @ np.linalg.cholesky(cov).T, population)
        mean, cov = x.mean(axis=0), np.cov(x, rowvar=False, bias=True)
    frame = pd.DataFrame(data_with_moments(mean, cov, EXACT_N, seed), columns=population.observed)
    fit = sem.cfa(analysis_model, frame, name="analysis model", meanstructure=meanstructure)
    if not (fit.fitted and fit.converged):
        raise ValueError(f"the analysis model cannot be fitted to the population: {fit.message}")
    fit.data = []  # its moments are what counts (and what workers need: a small pickle)
    return fit
