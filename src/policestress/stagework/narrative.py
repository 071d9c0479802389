"""The stage notebooks' narrative in the site's language ('zh' or 'en'), counted from the codebook.

Nothing here names a count of a particular site: the number of domains, constructs and
items comes from the codebook, the number of respondents from the data, the results from
the stage's tables (:mod:`policestress.interpret`).

Examples
--------
>>> from policestress.config import load_site
>>> instrument_text(load_site("w-subbureau-sim"), "en")
'3 stress-source domains with 6 sub-dimensions (constructs) and 19 items; the outcome scale (3 items); the ERI questionnaire (16 items)'
"""

from __future__ import annotations

from policestress.config import SiteConfig

BANNER = {
    "zh": "> **模拟数据。** 以下所有数字都来自按 `config/sites/{site}/population_model.yml` "
    "中的总体模型模拟的数据，不描述任何真实民警。",
    "en": "> **SIMULATED DATA.** Every number below comes from data simulated from the "
    "population model in `config/sites/{site}/population_model.yml`; none describes real "
    "police officers.",
}

INTRODUCTIONS = {
    "validate": {
        "zh": "本阶段读取站点 {title} 的问卷导出文件，按代码本校验，应用排除规则，反向计分并计算"
        "各量表得分。问卷包括{instruments}。",
        "en": "This stage reads the survey export of {title}, checks it against the codebook, "
        "applies the exclusion rules, recodes reverse-keyed items and computes the scale "
        "scores. The questionnaire holds {instruments}.",
    },
    "descriptives": {
        "zh": "{n} 名受访者；问卷包括{instruments}。本阶段描述样本、条目与得分，估计信度，"
        "并比较各分组。",
        "en": "{n} respondents; the questionnaire holds {instruments}. This stage describes "
        "the sample, the items and the scores, estimates reliability and compares groups.",
    },
    "efa": {
        "zh": "对{instruments_sources}做探索性因子分析（完整个案）。",
        "en": "Exploratory factor analysis of {instruments_sources} (complete cases).",
    },
    "cfa": {
        "zh": "{n} 名受访者；以验证性因子分析检验{instruments_sources}的结构。",
        "en": "{n} respondents; confirmatory factor analysis of the structure of "
        "{instruments_sources}.",
    },
    "invariance": {
        "zh": "{n} 名受访者；检验{instruments_sources}在各分组间的测量不变性。",
        "en": "{n} respondents; measurement invariance of {instruments_sources} across groups.",
    },
    "eri": {
        "zh": "{n} 名受访者；付出-回报失衡（ERI）问卷的计分、失衡检出率及其与压力的关系。",
        "en": "{n} respondents; the effort-reward imbalance (ERI) questionnaire: scores, "
        "prevalence of imbalance and its association with stress.",
    },
    "synthesis": {
        "zh": "{n} 名受访者；结局变量 `{outcome}` 对{instruments_sources}的回归与相对重要性。",
        "en": "{n} respondents; the outcome `{outcome}` regressed on {instruments_sources}, "
        "with relative importance.",
    },
    "report": {
        "zh": "汇总各阶段发布的表格与图形，生成报告与论文表格。",
        "en": "The tables and figures every stage published, gathered into the report and the "
        "thesis tables.",
    },
}


def say(language: str, zh: str, en: str) -> str:
    """The text in the language asked for."""
    return zh if language == "zh" else en


def banner(cfg: SiteConfig) -> str:
    """The SIMULATED DATA banner of a simulated site ('' for a real survey)."""
    return BANNER[cfg.language].format(site=cfg.name) if cfg.simulated else ""


def sources_text(cfg: SiteConfig, language: str) -> str:
    """The stress-source instrument: its domains, constructs and items, counted."""
    book = cfg.codebook
    if not book.has_instrument("stress_sources"):
        return "压力源问卷" if language == "zh" else "the stress-source questionnaire"
    domains = len(book.domains("stress_sources"))
    constructs = len(book.scales("stress_sources"))
    items = len(book.item_ids("stress_sources"))
    if language == "zh":
        return f"{domains} 个压力源领域、{constructs} 个子维度（构念）、{items} 个条目"
    return (
        f"{domains} stress-source domains with {constructs} sub-dimensions (constructs) and "
        f"{items} items"
    )


def instrument_text(cfg: SiteConfig, language: str) -> str:
    """Every scored instrument of the site, counted from the codebook."""
    book = cfg.codebook
    parts = [sources_text(cfg, language)]
    names = {
        "outcome": ("结局量表", "the outcome scale"),
        "relief": ("缓解措施量表", "the relief scale"),
        "eri": ("ERI 问卷", "the ERI questionnaire"),
    }
    for instrument, (zh, en) in names.items():
        if book.has_instrument(instrument):
            n = len(book.item_ids(instrument))
            parts.append(f"{zh}（{n} 个条目）" if language == "zh" else f"{en} ({n} items)")
    return ("；" if language == "zh" else "; ").join(parts)


def introduction(cfg: SiteConfig, stage: str, **values) -> str:
    """The opening paragraph of a stage notebook, in the site's language."""
    language = cfg.language
    title = cfg.settings.get(f"title_{language}") or cfg.name
    return INTRODUCTIONS[stage][language].format(
        title=title,
        instruments=instrument_text(cfg, language),
        instruments_sources=sources_text(cfg, language),
        **values,
    )


# The sentences the stages generate from their results, in both languages (say() picks one).
SENTENCES = {
    "bootstrap": {
        "zh": "自助法（bootstrap）：{n_boot} 次重抽样，种子 {seed}，{ci:.0%} 区间，n_jobs={n_jobs}",
        "en": "bootstrap: {n_boot} resamples, seed {seed}, {ci:.0%} intervals, n_jobs={n_jobs}",
    },
    "dominance_gap": {
        "zh": "相对权重与一般优势权重之间的最大差异：{gap:.4f}",
        "en": "largest difference between relative weights and general dominance: {gap:.4f}",
    },
    "evidence": {
        "zh": "{label}：重要性排名 {rank}/{n_sources}（bootstrap 区间 {rank_ci_low}-{rank_ci_high}），"
        "占 R² 的 {share:.0%}；beta = {beta:.2f} [{beta_ci_low:.2f}, {beta_ci_high:.2f}]；"
        "均值水平排名 {mean_rank}，离散程度（SD）排名 {sd_rank}。",
        "en": "{label}: importance rank {rank} of {n_sources} (bootstrap interval "
        "{rank_ci_low}-{rank_ci_high}), {share:.0%} of R²; beta = {beta:.2f} "
        "[{beta_ci_low:.2f}, {beta_ci_high:.2f}]; mean level rank {mean_rank}, spread (SD) "
        "rank {sd_rank}.",
    },
    "sem_not_converged": {
        "zh": "结构模型未收敛，不输出 SEM 表格：{error}",
        "en": "The structural model did not converge, no SEM tables are written: {error}",
    },
    "no_claims": {
        "zh": "站点 '{site}' 的 site.yml 未列出待检验的论断（`synthesis.findings`）：不输出论断表。",
        "en": "The site.yml of site '{site}' lists no claims to test (`synthesis.findings`): "
        "no claims table is written.",
    },
    "power": {
        "zh": "{replications} 次重复，{parameters} 个参数。全部载荷与协方差达到检验力 "
        ">= {power:.0%} 且收敛率 >= {convergence:.0%} 所需样本量：{needed}",
        "en": "{replications} replications, {parameters} parameters. Every loading and "
        "covariance at power >= {power:.0%} with convergence >= {convergence:.0%}: {needed}",
    },
    "power_not_reached": {"zh": "在样本量网格内未达到", "en": "not reached in the n grid"},
    "thesis_files": {
        "zh": "{n} 张表格以 .docx 与 .tex 写入 {folder}",
        "en": "{n} tables written as .docx and .tex to {folder}",
    },
    "linked": {"zh": "（由报告链接）", "en": "(linked from the report)"},
    "printed": {"zh": "（无头 Chromium 打印）", "en": "(headless Chromium)"},
    "unlisted": {
        "zh": "未被任何阶段发布的文件（在报告的警告中列出）：{files}",
        "en": "files no stage published (named in the report's warning): {files}",
    },
}


def sentence(language: str, name: str, **values) -> str:
    """A generated sentence of :data:`SENTENCES` in the language asked for.

    Examples
    --------
    >>> sentence("zh", "dominance_gap", gap=0.00012)
    '相对权重与一般优势权重之间的最大差异：0.0001'
    >>> sentence("en", "dominance_gap", gap=0.00012)
    'largest difference between relative weights and general dominance: 0.0001'
    """
    return SENTENCES[name]["zh" if language == "zh" else "en"].format(**values)


def evidence_text(row, language: str) -> str:
    """One sentence stating a :func:`policestress.synthesis.findings_evidence` row's numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> row = pd.Series({"label": "Critical-incident risk", "rank": 1, "n_sources": 15,
    ...     "rank_ci_low": 1, "rank_ci_high": 2, "share": 0.22, "beta": 0.27,
    ...     "beta_ci_low": 0.18, "beta_ci_high": 0.36, "mean_rank": 1, "sd_rank": 1})
    >>> evidence_text(row, "en")
    'Critical-incident risk: importance rank 1 of 15 (bootstrap interval 1-2), 22% of R²; beta = 0.27 [0.18, 0.36]; mean level rank 1, spread (SD) rank 1.'
    >>> evidence_text(row.replace("Critical-incident risk", "危急事件风险"), "zh")
    '危急事件风险：重要性排名 1/15（bootstrap 区间 1-2），占 R² 的 22%；beta = 0.27 [0.18, 0.36]；均值水平排名 1，离散程度（SD）排名 1。'
    """
    return sentence(language, "evidence", **dict(row.items()))
