"""Stage 08: the Monte Carlo power study of the site (:mod:`policestress.power`)."""

from __future__ import annotations

import pandas as pd

from policestress import power
from policestress.config import SiteConfig
from policestress.plots.power import plot_power_curves
from policestress.power.site import site_design
from policestress.stagework import StageWork, setting
from policestress.stagework.narrative import say, sentence

# The parameter medians the notebook shows, by n and kind of parameter.
MEDIANS = ["relative_bias", "se_bias", "coverage", "power"]


def run(
    cfg: SiteConfig,
    n_grid: list[int] | None = None,
    replications: int | None = None,
    backend: str | None = None,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    language: str | None = None,
    progress: bool = True,
) -> StageWork:
    """Every table and figure of the power stage (parameters None: the ``power`` settings)."""
    lang = language or cfg.language
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    design = site_design(
        cfg,
        setting(cfg, "power.n_grid", n_grid),
        int(setting(cfg, "power.replications", replications)),
        setting(cfg, "power.backend", backend),
        int(setting(cfg, "power.n_jobs", n_jobs)),
        setting(cfg, "power.scheduler", scheduler),
        data=data,
    )
    also = cfg.simulated
    work = StageWork(
        cfg,
        narrative=[
            say(
                lang,
                "**模拟样本：** 功效分析的每个样本都从总体模型中抽取"
                + (f"（站点 {cfg.name} 本身也是模拟数据）" if also else "")
                + "。",
                "**SIMULATED SAMPLES:** the power study draws every sample from a population "
                "model" + (f" (and site {cfg.name} is itself simulated)" if also else "") + ".",
            ),
            "\n".join(f"* {line}" for line in design.description),
        ],
    )
    result = power.simulate_power(**design.arguments, progress=progress)
    convergence = power.convergence_table(result)
    parameters = power.parameter_table(result)
    needed = power.required_n(result, design.target_power, design.target_convergence)
    work.tables = {
        "power_convergence.csv": convergence,
        "power_parameters.csv": parameters,
        "power_fit.csv": power.fit_table(result),
        "power_required_n.csv": needed,
        "power_summary.csv": power.power_summary(result),
    }
    work.figures["power_curves"] = plot_power_curves(
        parameters, convergence, design.target_power, design.target_convergence, language=lang
    )
    overall = needed.iloc[-1]["required_n"] if len(needed) else float("nan")
    work.narrative.append(
        sentence(
            lang,
            "power",
            replications=len(result.replications),
            parameters=result.estimates["parameter"].nunique(),
            power=design.target_power,
            convergence=design.target_convergence,
            needed=f"n = {overall:.0f}"
            if overall == overall
            else sentence(lang, "power_not_reached"),
        )
    )
    work.values["medians"] = parameters.groupby(["n", "op"])[MEDIANS].median()
    return work
