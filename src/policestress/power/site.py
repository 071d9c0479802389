"""A site's power study, from its ``site.yml`` ``power`` settings (the notebook's one call).

:func:`site_design` decides everything the study needs from the site's configuration and
data, so the notebook only narrates and calls: the population (the site's population model,
or the CFA model fitted to the site's data), the analysis model (a CFA model of the site),
rating categories (the population model's thresholds, or thresholds that reproduce each
item's observed category shares), missing data (none, MCAR, or the data's observed
patterns), the estimator and the execution backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from policestress import sem
from policestress.power.population import (
    PopulationModel,
    population_from_fit,
    population_from_site_model,
)

__all__ = ["SiteDesign", "site_design", "observed_thresholds", "CHECKPOINT_DIR"]

# Finished chunks of a site's power studies: build/<site>/power-chunks (make clean removes it).
CHECKPOINT_DIR = "power-chunks"


@dataclass
class SiteDesign:
    """What :func:`~policestress.power.simulate_power` runs for a site, and what it means.

    ``arguments`` are its keyword arguments (``population`` and ``analysis_model``
    included); ``description`` one line per decision, for the notebook and the report.
    """

    arguments: dict
    target_power: float
    target_convergence: float
    description: list[str] = field(default_factory=list)

    @property
    def population(self) -> PopulationModel:
        return self.arguments["population"]


def observed_thresholds(data: pd.DataFrame, items, mean, cov, codes) -> dict[str, np.ndarray]:
    """Cut points of each item's latent response (normal with the model's ``mean`` and
    variance) that reproduce its observed category shares (categories ``codes[item]``: the
    codebook's ``min .. max``; a category nobody chose gets no room)."""
    out = {}
    for j, item in enumerate(items):
        low, high = codes[item]
        answered = data[item].dropna()
        shares = np.array([(answered == k).mean() for k in range(low, high + 1)])
        cumulative = np.clip(np.cumsum(shares)[:-1], 1e-6, 1 - 1e-6)
        cuts = mean[j] + np.sqrt(cov[j, j]) * stats.norm.ppf(cumulative)
        out[item] = np.maximum.accumulate(cuts + np.arange(len(cuts)) * 1e-9)
    return out


def site_design(
    cfg,
    n_grid=None,
    replications=None,
    backend=None,
    n_jobs=None,
    scheduler=None,
    data: pd.DataFrame | None = None,
) -> SiteDesign:
    """The power study of a site from its ``power`` settings (arguments override them).

    Parameters
    ----------
    cfg : SiteConfig
        ``load_site(site)``.
    n_grid, replications, backend, n_jobs, scheduler
        Override ``power.n_grid`` etc. (the notebook's parameters).
    data : DataFrame, optional
        The site's analysis.csv, needed for a ``fitted`` population, ``observed`` missing
        patterns or (with a fitted population) rating categories.

    Raises
    ------
    ValueError
        Naming the setting and the file, when the settings ask for what the site lacks.
    """
    from policestress.simulate import load_population_model
    from policestress.stagework.cfa import site_models

    site_file = f"config/sites/{cfg.name}/site.yml"
    book = cfg.codebook
    models = site_models(cfg)
    model_name = cfg.get("power.model")
    if model_name not in models:
        raise ValueError(
            f"power.model '{model_name}' ({site_file}) is not a CFA model of the site; "
            f"known: {', '.join(models)}"
        )
    analysis_model = models[model_name]
    items = sem.parse(analysis_model)
    from policestress.sem.partable import variables

    observed = variables(items, fixed_x=False).ov
    source = cfg.get("power.population")
    has_model = bool(cfg.settings.get("population_model")) and cfg.simulated
    if source == "auto":
        source = "population_model" if has_model else "fitted"
    categorized = cfg.get("power.data") == "categories"
    table = book.table.set_index("item_id")
    codes = {x: (int(table.loc[x, "min"]), int(table.loc[x, "max"])) for x in observed}
    description = []
    if source == "population_model":
        if not has_model:
            raise ValueError(
                f"power.population 'population_model' ({site_file}): the site has no "
                "population model (only simulated sites do); use 'fitted'"
            )
        categories = {x: high - low + 1 for x, (low, high) in codes.items()}
        population = population_from_site_model(
            load_population_model(cfg),
            book.factor_scales("stress_sources"),
            book.factor_domains("stress_sources"),
            categories,
        )
        description.append(
            "population: the site's population model (config/sites/"
            f"{cfg.name}/{cfg.settings.get('population_model')}), without its per-item spread "
            "of loadings and its group effects"
        )
    else:
        if data is None:
            raise ValueError("a fitted population needs the site's data (analysis.csv)")
        fit = sem.cfa(analysis_model, data, name=model_name, missing="ml")
        population = population_from_fit(fit)
        if categorized:
            cuts = observed_thresholds(data, observed, population.mean, population.cov, codes)
            population = PopulationModel(
                population.syntax,
                population.observed,
                population.mean,
                population.cov,
                cuts,
                population.source,
            )
        description.append(
            f"population: the estimates of the CFA model '{model_name}' fitted to the site's "
            f"data (FIML, n = {fit.ntotal})"
            + (", rating categories with the observed category shares" if categorized else "")
        )
    description.append(f"analysis model: the CFA model '{model_name}' ({len(observed)} items)")
    missing = cfg.get("power.missing")
    arguments = {
        "population": population,
        "analysis_model": analysis_model,
        "n_grid": [int(n) for n in (n_grid if n_grid is not None else cfg.get("power.n_grid"))],
        "replications": int(replications or cfg.get("power.replications")),
        "estimator": cfg.get("power.estimator"),
        "categorized": categorized,
        "seed": cfg.seed,
        "backend": backend or cfg.get("power.backend"),
        "n_jobs": int(n_jobs if n_jobs is not None else cfg.get("power.n_jobs")),
        "scheduler": scheduler or cfg.get("power.scheduler"),
        "chunk_size": cfg.get("power.chunk_size"),
        "checkpoint": Path(cfg.paths.base) / "build" / cfg.name / CHECKPOINT_DIR,
    }
    if missing == "mcar":
        arguments["missing_rate"] = cfg.get("power.missing_rate")
        description.append(f"missing answers: MCAR, {cfg.get('power.missing_rate'):.1%} of them")
    elif missing == "observed":
        if data is None:
            raise ValueError("observed missing patterns need the site's data (analysis.csv)")
        # population order; variables of the population outside the model are never missing
        patterns = np.zeros((len(data), len(population.observed)), dtype=bool)
        for j, x in enumerate(population.observed):
            if x in data.columns:
                patterns[:, j] = data[x].isna().to_numpy()
        arguments["missing_patterns"] = patterns
        description.append(
            f"missing answers: the observed patterns of the site's {len(data)} respondents"
        )
    else:
        description.append("missing answers: none")
    description.append(
        f"data: {'rating categories' if categorized else 'continuous'}; estimator "
        f"{arguments['estimator']}; {arguments['replications']} replications at n = "
        + ", ".join(str(n) for n in arguments["n_grid"])
    )
    return SiteDesign(
        arguments=arguments,
        target_power=cfg.get("power.target_power"),
        target_convergence=cfg.get("power.target_convergence"),
        description=description,
    )
