"""Stage 06: regression and relative importance of the stress sources, ERI increment, SEM,
and the site's claims set against the evidence."""

from __future__ import annotations

import pandas as pd
import yaml

from policestress import interpret
from policestress import synthesis as syn
from policestress.config import ConfigError, SiteConfig
from policestress.plots import synthesis as synplots
from policestress.sem.fit import ConvergenceError
from policestress.sem.tables import HEADLINE_FIT
from policestress.stages import skip_stage
from policestress.stagework import StageWork, setting
from policestress.stagework.narrative import evidence_text, introduction, say, sentence

IMPORTANCE_METHODS = {"domain": "dominance", "construct": "relative_weights"}
ERI_PREDICTORS = ["eri_ratio", "eri_oc"]
SEM_FIT_COLUMNS = ["estimator", "missing", "n", *HEADLINE_FIT]


def outcome_column(cfg: SiteConfig, value: str | None = None) -> str:
    """``value``, else ``synthesis.outcome``, else the codebook's outcome score
    (:meth:`policestress.config.Codebook.outcome_score`); skips the stage when none."""
    outcome = setting(cfg, "synthesis.outcome", value) or cfg.codebook.outcome_score()
    if outcome is None:
        skip_stage(
            say(
                cfg.language,
                f"站点 '{cfg.name}' 的编码本中没有 `outcome` 量表，site.yml 的 "
                "`synthesis.outcome` 也未指定结果变量：没有可据以排列压力源的结果，"
                "因此不生成综合分析的表和图。",
                f"The codebook of site '{cfg.name}' has no `outcome` instrument and "
                "`synthesis.outcome` in its site.yml names no outcome column: there is nothing "
                "to rank the stress sources against, so no synthesis tables or figures are "
                "produced.",
            )
        )
    return outcome


def _first_level(table: pd.DataFrame) -> pd.DataFrame:
    return table[["level", *[c for c in table.columns if c != "level"]]]


def run(
    cfg: SiteConfig,
    outcome: str | None = None,
    n_boot: int | None = None,
    ci: float | None = None,
    n_jobs: int | None = None,
    language: str | None = None,
) -> StageWork:
    """Every table and figure of the synthesis stage (parameters None: site.yml)."""
    outcome = outcome_column(cfg, outcome)
    n_boot = int(setting(cfg, "synthesis.n_boot", n_boot))
    ci = float(setting(cfg, "synthesis.ci", ci))
    n_jobs = int(setting(cfg, "synthesis.n_jobs", n_jobs))
    lang = language or cfg.language
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    if outcome not in data.columns:
        raise ConfigError(
            f"{cfg.paths.config_dir / 'site.yml'}: synthesis.outcome names {outcome!r}, which is "
            "not a column of analysis.csv (scores: "
            f"{[c for c in data.columns if c.startswith('score_')]})"
        )
    book = cfg.codebook
    domains = [f"score_{d}" for d in book.domains("stress_sources")]
    constructs = [f"score_{c}" for c in book.scales("stress_sources")]
    labels = {c: book.label(c.removeprefix("score_"), lang) for c in domains + constructs}
    levels = {"domain": domains, "construct": constructs}
    work = StageWork(cfg, narrative=[introduction(cfg, "synthesis", n=len(data), outcome=outcome)])
    work.values["bootstrap"] = sentence(
        lang, "bootstrap", n_boot=n_boot, seed=cfg.seed, ci=ci, n_jobs=n_jobs
    )
    regression = pd.concat(
        [
            syn.standardized_regression(data, outcome, predictors, alpha=1 - ci).assign(level=level)
            for level, predictors in levels.items()
        ],
        ignore_index=True,
    )
    regression.insert(1, "label", regression["predictor"].map(labels))
    regression = _first_level(regression)
    importance = _importance(data, outcome, levels, n_boot, cfg.seed, ci, n_jobs)
    importance.insert(1, "label", importance["predictor"].map(labels))
    importance = _first_level(importance)
    ranking = pd.concat(
        [
            syn.score_ranking(data, importance[importance["level"] == level], level, labels)
            for level in levels
        ],
        ignore_index=True,
    )
    work.tables = {
        "synthesis_regression.csv": regression,
        "synthesis_importance.csv": importance,
        "synthesis_ranking.csv": ranking,
    }
    for level in levels:
        work.figures[f"synthesis_coefficients_{level}s"] = synplots.plot_coefficients(
            regression[regression["level"] == level], labels=labels, language=lang, ci=ci
        )
        work.figures[f"synthesis_importance_{level}s"] = synplots.plot_importance(
            ranking[ranking["level"] == level], language=lang
        )
    gap = (importance["weight"] - importance["general_dominance"]).abs().max()
    work.values["dominance_gap"] = sentence(lang, "dominance_gap", gap=gap)
    increment = _eri_increment(cfg, data, outcome, levels, work)
    _structural_model(cfg, data, outcome, lang, work)
    _claims(cfg, ranking, regression, lang, work)
    work.narrative.append(interpret.synthesis_text(ranking, cfg.language))
    work.narrative.append(_summary(cfg, ranking, increment))
    work.values["recovery"] = _recovery(cfg, ranking)
    return work


def _importance(data, outcome, levels, n_boot, seed, ci, n_jobs) -> pd.DataFrame:
    tables = []
    for level, predictors in levels.items():
        result = syn.bootstrap_importance(
            data,
            outcome,
            predictors,
            method=IMPORTANCE_METHODS[level],
            n_boot=n_boot,
            seed=seed,
            ci=ci,
            n_jobs=n_jobs,
        )
        # The exact general dominance weights beside the relative weights, as a check.
        exact = syn.dominance_weights(data, outcome, predictors).set_index("predictor")["weight"]
        result["general_dominance"] = result["predictor"].map(exact)
        tables.append(result.assign(level=level))
    return pd.concat(tables, ignore_index=True)


def _eri_increment(cfg, data, outcome, levels, work) -> pd.DataFrame | None:
    has_eri = cfg.codebook.has_instrument("eri") and all(c in data.columns for c in ERI_PREDICTORS)
    if not has_eri:
        work.narrative.append(
            say(
                cfg.language,
                f"站点 '{cfg.name}' 没有 ERI 得分：不计算 ERI 的增量。",
                f"site '{cfg.name}' has no ERI scores: no ERI increment is computed",
            )
        )
        return None
    with_log = syn.add_log_eri_ratio(data)
    increment = pd.concat(
        [
            syn.incremental_r2(with_log, outcome, predictors, ["eri_log_ratio", "eri_oc"]).assign(
                level=level
            )
            for level, predictors in levels.items()
        ],
        ignore_index=True,
    )
    increment = _first_level(increment)
    work.tables["synthesis_eri_increment.csv"] = increment
    return increment


def _structural_model(cfg, data, outcome, lang, work) -> None:
    """Domains as latent variables measured by their construct scores, the outcome a latent
    variable measured by its items, regressed on the domains (when the codebook allows)."""
    book = cfg.codebook
    construct = outcome.removeprefix("score_")
    ready = construct in book.scales("outcome") and all(
        len(c) >= 2 for c in book.domains("stress_sources").values()
    )
    work.values["sem_syntax"] = None
    if not ready:
        work.narrative.append(
            say(
                cfg.language,
                "结构模型需要每个领域至少 2 个构念且有结局量表：未估计。",
                "The structural model needs >= 2 constructs per domain and an outcome scale: "
                "skipped",
            )
        )
        return
    syntax = syn.structural_syntax(book, outcome_construct=construct)
    work.values["sem_syntax"] = syntax
    try:
        paths, fit = syn.structural_model(data, syntax)
    except ConvergenceError as error:
        work.narrative.append(sentence(lang, "sem_not_converged", error=error))
        return
    paths.insert(3, "label", paths["rhs"].map(lambda d: book.label(d, lang)))
    work.tables["synthesis_sem_paths.csv"] = paths
    work.tables["synthesis_sem_fit.csv"] = fit[SEM_FIT_COLUMNS]


def _claims(cfg, ranking, regression, lang, work) -> None:
    """The site's claims (``synthesis.findings``) set against the evidence."""
    findings = cfg.get("synthesis.findings")
    lines = []
    if not findings:
        work.values["claims"] = sentence(lang, "no_claims", site=cfg.name)
        return
    work.tables["synthesis_claims.csv"] = syn.findings_claims(findings, lang)
    evidence = syn.findings_evidence(ranking, regression, findings)
    work.tables["synthesis_findings.csv"] = evidence
    if cfg.simulated:
        lines.append(
            say(
                lang,
                "> **模拟数据：以下结果反映的是生成数据的总体模型，而非关于真实民警的证据。**\n",
                "> **SIMULATED DATA: these answers reflect the population model the data were "
                "drawn from, not evidence about real officers.**\n",
            )
        )
    for spec in findings:
        rows = evidence[evidence["finding"] == spec["finding"]]
        claim = (spec.get("claim_zh") or spec["claim_en"]) if lang == "zh" else spec["claim_en"]
        lines.append(
            say(lang, f"**发现 {spec['finding']}。** ", f"**Finding {spec['finding']}.** ")
            + f"{claim}\n"
        )
        lines += [f"- {evidence_text(row, lang)}" for _, row in rows.iterrows()]
        lines.append("")
    work.values["claims"] = "\n".join(lines)


def _recovery(cfg: SiteConfig, ranking: pd.DataFrame) -> pd.DataFrame | None:
    """A simulated site: the population model's outcome weights beside the estimated ranks."""
    if not cfg.simulated:
        return None
    model_file = cfg.paths.config_dir / cfg.get("population_model")
    weights = yaml.safe_load(model_file.read_text(encoding="utf-8"))["outcome"]["weights"]
    recovery = ranking[ranking["level"] == "construct"][["source", "label", "rank"]]
    recovery = recovery.assign(population_weight=recovery["source"].map(weights).fillna(0.0))
    return recovery.sort_values("population_weight", ascending=False, kind="stable")


def _summary(cfg: SiteConfig, ranking: pd.DataFrame, increment: pd.DataFrame | None) -> str:
    lang = cfg.language
    top = ranking[ranking["level"] == "construct"].iloc[0]
    top_domain = ranking[ranking["level"] == "domain"].iloc[0]
    spread = ranking[ranking["level"] == "construct"].sort_values("sd_rank").iloc[0]

    def ranked(row) -> str:
        interval = f"{row['rank_ci_low']}-{row['rank_ci_high']}"
        return say(
            lang,
            f"排名区间 {interval}，在 {row['p_first']:.0%} 的重抽样中排第一",
            f"rank interval {interval}, first in {row['p_first']:.0%} of resamples",
        )

    summary = [
        say(lang, "- 最重要的领域：", "- Most important domain: ")
        + f"**{top_domain['label']}** ({ranked(top_domain)}).",
        say(lang, "- 最重要的子维度：", "- Most important sub-dimension: ")
        + f"**{top['label']}** ({ranked(top)}).",
        say(lang, "- 民警之间差异最大（SD）：", "- Largest differences between officers (SD): ")
        + f"**{spread['label']}** (SD {spread['sd']:.2f}).",
    ]
    if increment is not None:
        step2 = increment[(increment["level"] == "construct") & (increment["step"] == 2)].iloc[0]
        summary.append(
            say(lang, "- ERI 在子维度之外增加 ", "- ERI adds ")
            + f"ΔR² = {step2['delta_r2']:.3f}"
            + say(lang, "", " over the sub-dimensions")
            + f" (F({int(step2['df1'])}, {int(step2['df2'])}) = {step2['f_change']:.2f}, "
            f"p = {step2['p_change']:.3g})."
        )
    if cfg.simulated:
        summary.append(
            say(
                lang,
                "- *模拟数据：用于检验分析链能否复原总体模型。*",
                "- *Simulated data: a check that the chain recovers the population model.*",
            )
        )
    return "\n".join(summary)
