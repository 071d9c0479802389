"""Stage 05: effort-reward imbalance: scores, prevalence, reliability, odds ratios, domains."""

from __future__ import annotations

import pandas as pd

from policestress import eri, interpret
from policestress.config import SiteConfig
from policestress.descriptives import sample_profile
from policestress.plots import eri as eri_plots
from policestress.privacy import suppress_small_cells, suppressed_codes
from policestress.reliability import reliability_table
from policestress.stages import skip_stage
from policestress.stagework import StageWork, as_list, as_number_or, setting
from policestress.stagework.narrative import introduction, say


def stress_outcome(cfg: SiteConfig, value: str | None = None) -> str | None:
    """The outcome of the odds ratios: ``value``, else ``eri.stress_outcome``, else the
    codebook's outcome score (:meth:`policestress.config.Codebook.outcome_score`); None when
    the site has none."""
    return setting(cfg, "eri.stress_outcome", value) or cfg.codebook.outcome_score()


def run(
    cfg: SiteConfig,
    stress_outcome_column: str | None = None,
    stress_cutoff: float | str | None = None,
    covariates: list[str] | str | None = None,
    min_cell: int | None = None,
) -> StageWork:
    """Every table and figure of the ERI stage (parameters None: site.yml); skips the stage
    (:func:`policestress.stages.skip_stage`) when the codebook has no ERI items."""
    if not cfg.codebook.has_instrument("eri"):
        skip_stage(
            say(
                cfg.language,
                f"站点 '{cfg.name}' 的编码本中没有 'eri' 量表：本站点不计算付出-回报失衡，"
                "不生成相应的表和图，链条的其余阶段照常运行。",
                f"The codebook of site '{cfg.name}' has no 'eri' instrument: no ERI scoring, "
                "tables or figures are produced for this site, and the rest of the chain runs "
                "without them.",
            )
        )
    lang = cfg.language
    outcome = stress_outcome(cfg, stress_outcome_column)
    cutoff = as_number_or(setting(cfg, "eri.stress_cutoff", stress_cutoff), "tertile")
    covariates = as_list(setting(cfg, "eri.covariates", covariates))
    min_cell = int(setting(cfg, "privacy.min_cell", min_cell))
    rules = {
        "missing_rule": cfg.get("eri.missing_rule"),
        "max_missing": int(cfg.get("eri.max_missing")),
        "ratio_cutoff": float(cfg.get("eri.ratio_cutoff")),
        "oc_cutoff": cfg.get("eri.oc_cutoff"),
    }
    items = cfg.codebook.items("eri")
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    info = eri.score_eri(data, items, reverse_coded=True, **rules).attrs["eri"]
    work = StageWork(cfg, narrative=[introduction(cfg, "eri", n=len(data))])
    work.values["settings"] = rules
    counts = (
        f"c = {info['item_counts']['effort']}/{info['item_counts']['reward']} = {info['c']:.4f}"
    )
    work.narrative += [
        say(lang, f"版本：{info['version']}；{counts}", f"version: {info['version']}; {counts}"),
        eri.describe_missing_rule(rules["missing_rule"], rules["max_missing"], lang),
        eri.describe_classification(
            rules["ratio_cutoff"], rules["oc_cutoff"], info["oc_threshold"], lang
        ),
    ]
    groups = [g for g in cfg.grouping if g in data.columns]
    labels = {g: cfg.codebook.value_labels(g, lang) for g in groups}
    # one rule across tables: the groups the sample profile (stage 01) hides, from the same data
    profile = suppress_small_cells(sample_profile(data, groups, value_labels=labels), min_cell)
    prevalence = eri.prevalence(
        data, groups, min_cell=min_cell, labels=labels, suppressed=suppressed_codes(profile)
    )
    work.values["high"] = {
        column: eri.prevalence(data, [], column=column).iloc[0]
        for column in ("eri_high_oc", "eri_high_risk")
    }
    domains = [d for d in cfg.codebook.domains("stress_sources") if f"score_{d}" in data.columns]
    work.tables = {
        "eri_summary.csv": eri.eri_summary(
            data, items, rules["missing_rule"], rules["max_missing"]
        ),
        "eri_reliability.csv": reliability_table(data, cfg.codebook.scales("eri")),
        "eri_prevalence.csv": prevalence,
    }
    work.figures = {
        "eri_ratio_distribution": eri_plots.plot_ratio_distribution(
            data, cutoff=rules["ratio_cutoff"], language=lang
        ),
        "eri_effort_reward": eri_plots.plot_effort_reward(
            data, c=info["c"], cutoff=rules["ratio_cutoff"], seed=cfg.seed, language=lang
        ),
        "eri_prevalence": eri_plots.plot_prevalence(
            prevalence,
            var_labels={g: cfg.codebook.label(g, lang) for g in groups},
            language=lang,
        ),
    }
    odds = _odds_ratios(cfg, data, outcome, cutoff, covariates, work)
    work.tables["eri_domain_associations.csv"] = eri.domain_associations(data, domains)
    work.narrative.append(interpret.eri_text(prevalence, odds, rules["ratio_cutoff"], lang))
    return work


def _odds_ratios(
    cfg: SiteConfig,
    data: pd.DataFrame,
    outcome: str | None,
    cutoff: float | str,
    covariates: list[str],
    work: StageWork,
) -> pd.DataFrame | None:
    """The logistic model of high stress, when the site has the outcome column."""
    if outcome is None or outcome not in data.columns:
        work.narrative.append(
            say(
                cfg.language,
                f"analysis.csv 中没有结局变量 {outcome}：不估计 logistic 模型。",
                f"no outcome column {outcome} in analysis.csv: the logistic model is skipped",
            )
        )
        return None
    covariates = [c for c in covariates if c in data.columns]
    # numeric covariates (age in years) enter as numbers, the demographic codes as factors
    factors = [c for c in covariates if c not in cfg.codebook.numeric()]
    odds = eri.eri_logistic(data, outcome, cutoff, covariates=covariates, categorical=factors)
    work.tables["eri_odds_ratios.csv"] = odds
    work.figures["eri_odds_ratios"] = eri_plots.plot_odds_ratios(
        odds[odds["variable"].isin(["eri_imbalance", "eri_high_oc"])], language=cfg.language
    )
    n, events = odds["n"].iloc[0], odds["n_events"].iloc[0]
    work.narrative.append(
        say(
            cfg.language,
            f"{odds['outcome_definition'].iloc[0]}；n = {n}，事件数 = {events}；"
            f"协变量：{'、'.join(covariates) or '无'}",
            f"{odds['outcome_definition'].iloc[0]}; n = {n}, events = {events}; "
            f"covariates: {covariates or 'none'}",
        )
    )
    return odds
