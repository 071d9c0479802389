"""Stage 04: measurement invariance across the grouping variables, and latent mean differences."""

from __future__ import annotations

import warnings

import pandas as pd

from policestress import interpret
from policestress import invariance as inv
from policestress.config import SiteConfig
from policestress.plots import invariance as inv_plots
from policestress.sem.tables import HEADLINE_FIT
from policestress.stages import skip_stage
from policestress.stagework import StageWork, as_list, setting
from policestress.stagework.narrative import introduction, say

SHOWN = [
    "group_var",
    "step",
    "n",
    *HEADLINE_FIT,
    *inv.DELTA_COLUMNS,
]
LATENT_SHOWN = [
    "group_var",
    "factor",
    "group_label",
    "reference_label",
    "n",
    "diff",
    "se",
    "z",
    "p",
    "ci_low",
    "ci_high",
    "std_all",
]


def measurement_model(cfg: SiteConfig, model: str | None = None) -> inv.MeasurementModel:
    """The model to test: ``model`` (lavaan syntax, or ``domains``), else ``invariance.model``,
    else :func:`policestress.invariance.default_model` from the codebook."""
    model = setting(cfg, "invariance.model", model)
    if model is None:
        model = inv.default_model(cfg.codebook)
    elif model == "domains":
        model = inv.domain_score_model(cfg.codebook.domains("stress_sources"))
    return inv.parse_model(model)


def group_label(cfg: SiteConfig, variable: str, value, merge: dict) -> str:
    """A group's label; merged categories (``invariance.merge``) joined with " / "."""
    labels = cfg.codebook.value_labels(variable, cfg.language)
    merged = [old for old, new in merge.get(variable, {}).items() if new == value]
    codes = sorted({value, *merged})
    return " / ".join(labels.get(int(c), str(c)) for c in codes)


def partial_for(partial, variable: str) -> list[str]:
    """``invariance.partial``: a list for every grouping variable, or {variable: [names]}."""
    if isinstance(partial, dict):
        return list(partial.get(variable, []))
    return list(partial or [])


def run(
    cfg: SiteConfig,
    groups: list[str] | str | None = None,
    model: str | None = None,
    steps: list[str] | str | None = None,
    partial: list[str] | str | dict | None = None,
    min_group_size: int | None = None,
    estimator: str | None = None,
) -> StageWork:
    """Every table and figure of the invariance stage (parameters None: site.yml); skips the
    stage (:func:`policestress.stages.skip_stage`) when no variable has two large groups."""
    lang = cfg.language
    mm = measurement_model(cfg, model)
    steps = as_list(setting(cfg, "invariance.steps", steps))
    partial = setting(cfg, "invariance.partial", partial)
    partial = as_list(partial) if isinstance(partial, str) else partial
    min_size = int(setting(cfg, "invariance.min_group_size", min_group_size))
    merge = cfg.get("invariance.merge") or {}
    candidates = as_list(setting(cfg, "invariance.groups", groups)) or cfg.grouping
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    work = StageWork(cfg, narrative=[introduction(cfg, "invariance", n=len(data))])
    # the CFA stage's estimator (cfa.estimator); ordered categories are items, not scores
    estimator = setting(cfg, "cfa.estimator", estimator)
    if estimator in inv.ORDINAL_ESTIMATORS:
        item_model = cfg.codebook.factor_scales("stress_sources")
        if not set(mm.observed) <= {x for xs in item_model.values() for x in xs}:
            mm = inv.parse_model(item_model)
        if "strict" in steps:
            steps = [s for s in steps if s != "strict"]
        work.narrative.append(
            say(
                lang,
                f"{estimator}：条目作为有序类别（多分相关），各构念由其条目测量；无严格不变性步骤"
                "（有序条目的残差方差不是参数）。",
                f"{estimator}: items as ordered categories (polychoric correlations), each "
                "construct measured by its items; no strict step (the residual variances of "
                "ordered items are not parameters).",
            )
        )
    work.values["model"] = mm.to_lavaan()
    selected, info = {}, []
    for variable in candidates:
        kept, groups_info = inv.select_groups(
            data, variable, mm.observed, min_size, recode=merge.get(variable)
        )
        info.append(groups_info)
        for row in groups_info[~groups_info["used"]].itertuples():
            work.narrative.append(
                say(
                    lang,
                    f"{variable}：组 {group_label(cfg, variable, row.group, merge)} 未纳入"
                    f"（完整个案 {row.n} < {min_size}）",
                    f"{variable}: group {group_label(cfg, variable, row.group, merge)} left out "
                    f"({row.n} complete cases < {min_size})",
                )
            )
        if groups_info["used"].sum() >= 2:
            selected[variable] = kept
        else:
            work.narrative.append(
                say(
                    lang,
                    f"{variable}：不足两组达到 {min_size} 人，未检验",
                    f"{variable}: fewer than two groups of {min_size}; not tested",
                )
            )
    if not selected:
        skip_stage(
            say(
                lang,
                f"分组变量 {candidates} 中没有一个有两组各至少 {min_size} 个完整个案，"
                "因此本站点无法检验测量不变性。如需检验，请在 site.yml 中合并小组"
                "（`invariance.merge`）或降低 `invariance.min_group_size`。",
                f"No grouping variable among {candidates} has two groups of at least {min_size} "
                "complete cases, so measurement invariance cannot be tested on this site. To "
                "test it, merge small groups (`invariance.merge`) or lower "
                "`invariance.min_group_size` in site.yml.",
            )
        )
    work.values["groups"] = pd.concat(info, ignore_index=True)
    work.values["tested"] = {"variables": list(selected), "steps": steps}
    fits, tables = {}, []
    for variable, kept in selected.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits[variable] = inv.fit_invariance_models(
                kept, mm, variable, steps=steps, partial=partial_for(partial, variable),
                estimator=estimator,
            )  # fmt: skip
        work.narrative += [f"{variable}: {w.message}" for w in caught]
        tables.append(inv.invariance_table(fits[variable]))
    table = pd.concat(tables, ignore_index=True)
    work.tables["invariance.csv"] = table
    work.values["shown"] = table[SHOWN]
    work.values["latent_shown"] = None
    labels = {v: cfg.codebook.label(v, lang) for v in fits}
    work.narrative.append(interpret.invariance_text(table, labels, lang))
    if "scalar" not in steps:
        work.narrative.append(
            say(
                lang,
                "未要求标量不变性步骤：不比较潜均值。",
                "no scalar step requested: latent means are not compared",
            )
        )
        return work
    latent = []
    for variable, by_step in fits.items():
        lm = inv.latent_mean_differences(by_step["scalar"])
        lm.insert(1, "step", "scalar")
        lm.insert(5, "group_label", [group_label(cfg, variable, g, merge) for g in lm["group"]])
        lm.insert(
            6, "reference_label", [group_label(cfg, variable, g, merge) for g in lm["reference"]]
        )
        latent.append(lm)
    latent_means = pd.concat(latent, ignore_index=True)
    work.tables["invariance_latent_means.csv"] = latent_means
    work.values["latent_shown"] = latent_means[LATENT_SHOWN]
    work.figures["invariance_latent_means"] = inv_plots.plot_latent_means(
        latent_means,
        factor_labels={d: cfg.codebook.label(d, lang) for d in mm.factors},
        group_labels={
            v: {g: group_label(cfg, v, g, merge) for g in fits[v]["scalar"].groups} for v in fits
        },
        variable_labels=labels,
        language=lang,
    )
    return work
