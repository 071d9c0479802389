"""Short interpretations of each stage's results, written from the numbers, in 'zh' or 'en'.

Each function takes the stage's tidy table(s) (DataFrames, as the stage published them) and
returns one paragraph for the report, e.g. "CFI = .973, TLI = .969, RMSEA = .023, 90% CI
[.016, .029], SRMR = .045: ...". Nothing is hard-coded: every number comes from the tables,
every verdict from a stated convention (Hu & Bentler 1999 for fit, Chen 2007 for
invariance, the reliability threshold the descriptive stage set). Numbers are formatted by
the one formatter of the publication tables (:func:`policestress.publication.format_number`).

Examples
--------
>>> import pandas as pd
>>> fit = pd.DataFrame({"model": ["m"], "chi2": [120.5], "df": [100], "p": [0.08],
...     "cfi": [0.973], "tli": [0.969], "rmsea": [0.0231], "rmsea_ci_low": [0.0158],
...     "rmsea_ci_high": [0.0286], "srmr": [0.045], "bic": [1000.0]})
>>> cfa_text(fit, "m", {"m": "Model M"}, "en")  # doctest: +NORMALIZE_WHITESPACE
'Model M: χ²(100) = 120.50, p = .080, CFI = .973, TLI = .969, RMSEA = .023, 90% CI
 [.016, .029], SRMR = .045: a good fit by the conventional cut-offs (CFI and TLI ≥ .95,
 RMSEA ≤ .06, SRMR ≤ .08; Hu & Bentler, 1999).'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from policestress.publication import format_number, format_p

LANGUAGES = ("en", "zh")


def fmt(value: float, statistic: str) -> str:
    """One number as every table prints it (:func:`policestress.publication.format_number`)."""
    return format_number(value, statistic)


def p_value(p: float) -> str:
    """``p = .032`` or ``p < .001`` (:func:`policestress.publication.format_p`)."""
    return format_p(p, symbol=True)


def _check(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")


def _join(language: str, parts: list[str]) -> str:
    return ("；" if language == "zh" else "; ").join(parts)


# The cleaning rules of site.yml ``exclusions`` (policestress.cleaning), as the text names them.
RULE_NAMES = {
    "en": {
        "duplicates": "duplicates",
        "attention_check": "failed attention check",
        "max_missing_fraction": "too many missing answers",
        "straightlining": "straight-lining",
        "min_duration_seconds": "too fast",
    },
    "zh": {
        "duplicates": "重复提交",
        "attention_check": "注意力检测题未通过",
        "max_missing_fraction": "缺答过多",
        "straightlining": "直线作答",
        "min_duration_seconds": "作答时间过短",
    },
}


def validation_text(flow: pd.DataFrame, language: str = "en") -> str:
    """Export size, exclusions by rule and the analysed sample (``exclusion_flow.csv``).

    Examples
    --------
    >>> flow = pd.DataFrame({"step": [0, 1, 2], "rule": ["export", "duplicates", "speed"],
    ...     "excluded": [0, 4, 6], "remaining": [100, 96, 90]})
    >>> validation_text(flow)
    'The export holds 100 questionnaires; the cleaning rules excluded 10 (duplicates 4, speed 6), leaving 90 (90.0%) for the analysis.'
    """
    _check(language)
    total = int(flow["remaining"].iloc[0])
    kept = int(flow["remaining"].iloc[-1])
    steps = flow[flow["excluded"] > 0]
    names = RULE_NAMES[language]
    sep = "，" if language == "zh" else ", "
    detail = sep.join(f"{names.get(r.rule, r.rule)} {int(r.excluded)}" for r in steps.itertuples())
    share = kept / total if total else np.nan
    if language == "zh":
        return (
            f"原始数据共 {total} 份问卷；清洗规则剔除 {total - kept} 份（{detail}），"
            f"保留 {kept} 份（{share:.1%}）进入分析。"
        )
    return (
        f"The export holds {total} questionnaires; the cleaning rules excluded {total - kept} "
        f"({detail}), leaving {kept} ({share:.1%}) for the analysis."
    )


def reliability_text(reliability: pd.DataFrame, language: str = "en") -> str:
    """Range of Cronbach's alpha and omega over the constructs, scales below the threshold.

    Examples
    --------
    >>> rel = pd.DataFrame({"label": ["A", "B"], "level": ["construct"] * 2,
    ...     "alpha": [0.81, 0.66], "omega": [0.82, 0.68], "threshold": [0.7, 0.7]})
    >>> reliability_text(rel)
    "Cronbach's α of the 2 constructs ranges from .66 to .81 (McDonald's ω .68 to .82); 1 below .70: B (α = .66)."
    """
    _check(language)
    rows = (
        reliability[reliability["level"] == "construct"] if "level" in reliability else reliability
    )
    rows = rows[rows["alpha"].notna()]
    name = next(c for c in ("label", "scale", "construct") if c in rows)
    threshold = float(rows["threshold"].iloc[0]) if "threshold" in rows else 0.70
    low = rows[rows["alpha"] < threshold].sort_values("alpha")
    a_lo, a_hi = fmt(rows["alpha"].min(), "alpha"), fmt(rows["alpha"].max(), "alpha")
    omega = "omega" in rows and rows["omega"].notna().any()
    o_lo, o_hi = (
        (fmt(rows["omega"].min(), "omega"), fmt(rows["omega"].max(), "omega"))
        if omega
        else ("", "")
    )
    names = ", ".join(f"{getattr(r, name)} (α = {fmt(r.alpha, 'alpha')})" for r in low.itertuples())
    cut = fmt(threshold, "alpha")
    if language == "zh":
        text = f"{len(rows)} 个构念的 Cronbach's α 在 {a_lo} 至 {a_hi} 之间"
        text += f"（McDonald's ω 为 {o_lo} 至 {o_hi}）；" if omega else "；"
        return text + (f"{len(low)} 个低于 {cut}：{names}。" if len(low) else f"均不低于 {cut}。")
    text = f"Cronbach's α of the {len(rows)} constructs ranges from {a_lo} to {a_hi}"
    text += f" (McDonald's ω {o_lo} to {o_hi}); " if omega else "; "
    return text + (f"{len(low)} below {cut}: {names}." if len(low) else f"none is below {cut}.")


def efa_text(adequacy: pd.DataFrame, variance: pd.DataFrame, language: str = "en") -> str:
    """KMO, Bartlett's test, the number of factors and the variance they explain.

    Examples
    --------
    >>> ad = pd.DataFrame({"kmo": [0.829], "bartlett_chi2": [5931.58], "bartlett_df": [990],
    ...     "bartlett_p": [0.0], "n_factors_parallel": [15], "n_factors_kaiser": [14],
    ...     "n_factors_used": [15], "n": [325]})
    >>> efa_text(ad, pd.DataFrame({"cumulative_var": [0.3, 0.579]}))
    'KMO = .829, Bartlett χ²(990) = 5931.58, p < .001 (n = 325): the items suit a factor analysis. Parallel analysis suggests 15 factors (Kaiser criterion: 14); the 15 factors extracted explain 57.9% of the item variance.'
    """
    _check(language)
    a = adequacy.iloc[0]
    kmo = float(a["kmo"])
    test = (
        f"KMO = {fmt(kmo, 'kmo')}, Bartlett χ²({fmt(a['bartlett_df'], 'df')}) = "
        f"{fmt(a['bartlett_chi2'], 'chi2')}, {p_value(float(a['bartlett_p']))} (n = {int(a['n'])})"
    )
    explained = float(variance["cumulative_var"].iloc[-1])
    k, k_pa, k_kaiser = (int(a[c]) for c in ("n_factors_used", "n_factors_parallel",
                                             "n_factors_kaiser"))  # fmt: skip
    # Kaiser's (1974) labels: .80 and above meritorious, .60 the lowest acceptable.
    if language == "zh":
        suit = "适合进行因子分析" if kmo >= 0.6 else "不太适合进行因子分析（KMO < .60）"
        return (
            f"{test}：题项{suit}。平行分析建议提取 {k_pa} 个因子（Kaiser 准则为 {k_kaiser} 个）；"
            f"所提取的 {k} 个因子共解释题项方差的 {explained:.1%}。"
        )
    suit = "suit a factor analysis" if kmo >= 0.6 else "hardly suit a factor analysis (KMO < .60)"
    return (
        f"{test}: the items {suit}. Parallel analysis suggests {k_pa} factors (Kaiser "
        f"criterion: {k_kaiser}); the {k} factors extracted explain {explained:.1%} of the "
        "item variance."
    )


def _fit_verdict(row, language: str) -> str:
    good = row.cfi >= 0.95 and row.tli >= 0.95 and row.rmsea <= 0.06 and row.srmr <= 0.08
    fair = row.cfi >= 0.90 and row.tli >= 0.90 and row.rmsea <= 0.08 and row.srmr <= 0.10
    if language == "zh":
        verdict = "拟合良好" if good else "拟合可以接受" if fair else "拟合欠佳"
        return (
            f"按常用标准（CFI 与 TLI ≥ .95，RMSEA ≤ .06，SRMR ≤ .08；Hu & Bentler, 1999）{verdict}"
        )
    verdict = "a good fit" if good else "an acceptable fit" if fair else "a poor fit"
    return (
        f"{verdict} by the conventional cut-offs (CFI and TLI ≥ .95, RMSEA ≤ .06, "
        "SRMR ≤ .08; Hu & Bentler, 1999)"
    )


def _fit_numbers(row) -> str:
    return (
        f"χ²({fmt(row.df, 'df')}) = {fmt(row.chi2, 'chi2')}, {p_value(row.p)}, "
        f"CFI = {fmt(row.cfi, 'cfi')}, TLI = {fmt(row.tli, 'tli')}, "
        f"RMSEA = {fmt(row.rmsea, 'rmsea')}, 90% CI "
        f"[{fmt(row.rmsea_ci_low, 'rmsea')}, {fmt(row.rmsea_ci_high, 'rmsea')}], "
        f"SRMR = {fmt(row.srmr, 'srmr')}"
    )


def cfa_text(
    fit: pd.DataFrame, chosen: str, model_labels: Mapping[str, str], language: str = "en"
) -> str:
    """The chosen model's fit with a verdict, and the model the BIC prefers when it differs."""
    _check(language)
    fit = fit.set_index("model")
    if chosen not in fit.index:
        raise KeyError(f"chosen model {chosen!r} is not in cfa_fit ({list(fit.index)})")
    row = fit.loc[chosen]
    name = model_labels.get(chosen, chosen)
    sep = "：" if language == "zh" else ": "
    text = f"{name}{sep}{_fit_numbers(row)}{sep}{_fit_verdict(row, language)}"
    comparable = fit.drop(index=[m for m in fit.index if m == "eri"], errors="ignore")
    if "bic" in comparable and comparable["bic"].notna().sum() > 1:  # no BIC for WLSMV
        best = comparable["bic"].idxmin()
        if best != chosen:
            best_name = model_labels.get(best, best)
            text += (
                f"；BIC 最小的是{best_name}（BIC = {fmt(comparable.loc[best, 'bic'], 'ic')}）"
                if language == "zh"
                else f"; the lowest BIC is that of {best_name} "
                f"(BIC = {fmt(comparable.loc[best, 'bic'], 'ic')})"
            )
    return text + ("。" if language == "zh" else ".")


def efa_cfa_text(
    adequacy: pd.DataFrame,
    flags: pd.DataFrame,
    estimates: pd.DataFrame,
    chosen: str,
    n_constructs: int,
    language: str = "en",
) -> str:
    """What the EFA said, beside the CFA: its number of factors against the codebook's
    constructs, and the items it flagged with their standardized loading in the chosen model.

    ``adequacy`` and ``flags`` are the efa stage's ``efa_adequacy.csv`` and
    ``efa_item_flags.csv``, ``estimates`` the cfa stage's ``cfa_estimates.csv``.

    Examples
    --------
    >>> ad = pd.DataFrame({"n_factors_used": [15], "n_factors_parallel": [14]})
    >>> flags = pd.DataFrame({"item": ["A1", "A2"], "flagged": [True, False],
    ...     "reasons": ["communality < 0.3", ""]})
    >>> est = pd.DataFrame({"model": ["m", "m"], "op": ["=~", "=~"], "lhs": ["a", "a"],
    ...     "rhs": ["A1", "A2"], "std_all": [0.412, 0.7]})
    >>> efa_cfa_text(ad, flags, est, "m", 15)
    'EFA: 15 factors used (parallel analysis suggested 14); the codebook has 15 constructs. 1 items flagged by the EFA: A1 (communality < 0.3; standardized loading in the chosen model: .41 on a).'
    """
    _check(language)
    a = adequacy.iloc[0]
    used, suggested = int(a["n_factors_used"]), int(a["n_factors_parallel"])
    flagged = flags.loc[flags["flagged"].astype(bool), ["item", "reasons"]]
    loads = estimates[(estimates["model"] == chosen) & (estimates["op"] == "=~")]
    items = []
    for item, reasons in zip(flagged["item"], flagged["reasons"].fillna(""), strict=True):
        on = loads[loads["rhs"] == item]  # an item may load on more than one factor
        if on.empty:
            where = "不在所选模型中" if language == "zh" else "not in the chosen model"
        elif language == "zh":
            where = "所选模型中的标准化载荷：" + "，".join(
                f"在 {f} 上为 {fmt(v, 'loading')}"
                for f, v in zip(on["lhs"], on["std_all"], strict=True)
            )
        else:
            where = "standardized loading in the chosen model: " + ", ".join(
                f"{fmt(v, 'loading')} on {f}" for f, v in zip(on["lhs"], on["std_all"], strict=True)
            )
        items.append(
            f"{item}（{reasons}；{where}）" if language == "zh" else f"{item} ({reasons}; {where})"
        )
    if language == "zh":
        text = (
            f"探索性因子分析：提取 {used} 个因子（平行分析建议 {suggested} 个）；代码本有 "
            f"{n_constructs} 个构念。探索性因子分析标记了 {len(flagged)} 个条目"
        )
        return text + ("：" + "；".join(items) if items else "") + "。"
    text = (
        f"EFA: {used} factors used (parallel analysis suggested {suggested}); the codebook "
        f"has {n_constructs} constructs. {len(flagged)} items flagged by the EFA"
    )
    return text + (": " + "; ".join(items) if items else "") + "."


STEP_NAMES = {
    "en": {"configural": "configural", "metric": "metric", "scalar": "scalar", "strict": "strict"},
    "zh": {"configural": "形态", "metric": "弱（载荷）", "scalar": "强（截距）", "strict": "严格"},
}


def invariance_text(
    table: pd.DataFrame, variable_labels: Mapping[str, str], language: str = "en"
) -> str:
    """The highest level of invariance each grouping supports by Chen's (2007) criteria.

    A step holds when its change in CFI is at least ``chen_delta_cfi_min`` (-.010) and its
    change in RMSEA at most ``chen_delta_rmsea_max`` (.015), and every earlier step held.

    Examples
    --------
    >>> t = pd.DataFrame({"group_var": ["g"] * 3, "step": ["configural", "metric", "scalar"],
    ...     "cfi": [0.956, 0.950, 0.894], "rmsea": [0.038, 0.041, 0.054],
    ...     "delta_cfi": [np.nan, -0.006, -0.056], "delta_rmsea": [np.nan, 0.003, 0.013],
    ...     "chen_delta_cfi_min": [-0.01] * 3, "chen_delta_rmsea_max": [0.015] * 3})
    >>> invariance_text(t, {"g": "Post"})
    'Post: configural model CFI = .956, RMSEA = .038; metric invariance holds (ΔCFI = −.006), scalar does not (ΔCFI = −.056, ΔRMSEA = .013) (Chen, 2007: ΔCFI ≥ −.010, ΔRMSEA ≤ .015).'
    """
    _check(language)
    names = STEP_NAMES[language]
    parts = []
    for var, rows in table.groupby("group_var", sort=False):
        rows = rows.reset_index(drop=True)
        base = rows.iloc[0]
        label = variable_labels.get(var, var)
        held, delta, failed = names["configural"], "", None
        for r in rows.iloc[1:].itertuples():
            ok = r.delta_cfi >= r.chen_delta_cfi_min and r.delta_rmsea <= r.chen_delta_rmsea_max
            if not ok:
                failed = r
                break
            held, delta = names[r.step], f" (ΔCFI = {fmt(r.delta_cfi, 'delta_fit')})"
        if language == "zh":
            text = f"{label}：形态模型 CFI = {fmt(base.cfi, 'cfi')}，RMSEA = {fmt(base.rmsea, 'rmsea')}；{held}不变性成立{delta}"
            if failed is not None:
                text += (
                    f"，{names[failed.step]}不变性不成立（ΔCFI = {fmt(failed.delta_cfi, 'delta_fit')}，"
                    f"ΔRMSEA = {fmt(failed.delta_rmsea, 'delta_fit')}）"
                )
        else:
            text = (
                f"{label}: configural model CFI = {fmt(base.cfi, 'cfi')}, RMSEA = "
                f"{fmt(base.rmsea, 'rmsea')}; {held} invariance holds{delta}"
            )
            if failed is not None:
                text += (
                    f", {names[failed.step]} does not (ΔCFI = {fmt(failed.delta_cfi, 'delta_fit')}, "
                    f"ΔRMSEA = {fmt(failed.delta_rmsea, 'delta_fit')})"
                )
        parts.append(text)
    cfi_min = fmt(table["chen_delta_cfi_min"].dropna().iloc[0], "delta_fit")
    rmsea_max = fmt(table["chen_delta_rmsea_max"].dropna().iloc[0], "delta_fit")
    rule = (
        f"（Chen, 2007：ΔCFI ≥ {cfi_min}，ΔRMSEA ≤ {rmsea_max}）。"
        if language == "zh"
        else f" (Chen, 2007: ΔCFI ≥ {cfi_min}, ΔRMSEA ≤ {rmsea_max})."
    )
    return _join(language, parts) + rule


def eri_text(
    prevalence: pd.DataFrame, odds: pd.DataFrame | None, cutoff: float, language: str = "en"
) -> str:
    """Overall prevalence of imbalance (Wilson CI) and the adjusted odds ratio of high stress.

    Examples
    --------
    >>> prev = pd.DataFrame({"group_var": ["overall"], "n": [372], "prevalence": [0.6237],
    ...     "ci_low": [0.5734], "ci_high": [0.6714]})
    >>> odds = pd.DataFrame({"model": ["adjusted"], "term": ["eri_imbalance"],
    ...     "odds_ratio": [3.2987], "ci_low": [1.8183], "ci_high": [5.9845], "p": [8.6e-5]})
    >>> eri_text(prev, odds, 1.0)
    'An effort-reward ratio above 1 in 62.4% of the 372 respondents (95% CI [57.3%, 67.1%], Wilson); with it the odds of high perceived stress are 3.30 times as high (adjusted OR, 95% CI [1.82, 5.98], p < .001).'
    """
    _check(language)
    overall = prevalence[prevalence["group_var"] == "overall"].iloc[0]
    share = f"{overall.prevalence:.1%}"
    ci = f"[{overall.ci_low:.1%}, {overall.ci_high:.1%}]"
    n = int(overall.n)
    if language == "zh":
        text = f"付出-回报比大于 {cutoff:g} 的比例为 {share}（n = {n}，95% CI {ci}，Wilson 法）"
    else:
        text = (
            f"An effort-reward ratio above {cutoff:g} in {share} of the {n} respondents "
            f"(95% CI {ci}, Wilson)"
        )
    if odds is not None and len(odds):
        rows = odds[odds["term"] == "eri_imbalance"]
        rows = rows[rows["model"] == "adjusted"] if (rows["model"] == "adjusted").any() else rows
        if len(rows):
            r = rows.iloc[0]
            kind = "adjusted" if r.model == "adjusted" else "unadjusted"
            ci_or = f"[{fmt(r.ci_low, 'odds_ratio')}, {fmt(r.ci_high, 'odds_ratio')}]"
            if language == "zh":
                kind_zh = "调整后" if kind == "adjusted" else "未调整"
                text += (
                    f"；失衡者出现高职业压力感的比值比为 {fmt(r.odds_ratio, 'odds_ratio')}"
                    f"（{kind_zh}，95% CI {ci_or}，{p_value(r.p)}）"
                )
            else:
                text += (
                    f"; with it the odds of high perceived stress are {fmt(r.odds_ratio, 'odds_ratio')} times "
                    f"as high ({kind} OR, 95% CI {ci_or}, {p_value(r.p)})"
                )
    return text + ("。" if language == "zh" else ".")


def synthesis_text(ranking: pd.DataFrame, language: str = "en") -> str:
    """The top-ranked stress-source domain, its weight, CI and how often it ranks first.

    Examples
    --------
    >>> r = pd.DataFrame({"level": ["domain"] * 2, "label": ["Occupational", "Social"],
    ...     "rank": [1, 2], "weight": [0.1977, 0.0908], "ci_low": [0.1391, 0.0512],
    ...     "ci_high": [0.2626, 0.1368], "p_first": [0.987, 0.007], "share": [0.458, 0.21],
    ...     "method": ["dominance"] * 2})
    >>> synthesis_text(r)
    'Occupational ranks first among the 2 domains: general dominance weight .198 (95% CI [.139, .263]), 45.8% of the explained variance, first in 98.7% of the bootstrap samples; next: Social (.091).'
    """
    _check(language)
    level = "domain" if (ranking["level"] == "domain").any() else ranking["level"].iloc[0]
    rows = ranking[ranking["level"] == level].sort_values("rank")
    top = rows.iloc[0]
    method = str(top.method)
    method_name = {
        "en": {"dominance": "general dominance weight", "relative_weights": "relative weight"},
        "zh": {"dominance": "一般优势权重", "relative_weights": "相对权重"},
    }[language].get(method, method)
    ci = f"[{fmt(top.ci_low, 'weight')}, {fmt(top.ci_high, 'weight')}]"
    nxt = rows.iloc[1] if len(rows) > 1 else None
    if language == "zh":
        text = (
            f"在 {len(rows)} 个压力源领域中，{top.label}排第一：{method_name} {fmt(top.weight, 'weight')}"
            f"（95% CI {ci}），占已解释方差的 {top.share:.1%}，在 {top.p_first:.1%} 的自助样本中排第一"
        )
        if nxt is not None:
            text += f"；其次为{nxt.label}（{fmt(nxt.weight, 'weight')}）"
        return text + "。"
    text = (
        f"{top.label} ranks first among the {len(rows)} domains: {method_name} "
        f"{fmt(top.weight, 'weight')} (95% CI {ci}), {top.share:.1%} of the explained variance, "
        f"first in {top.p_first:.1%} of the bootstrap samples"
    )
    if nxt is not None:
        text += f"; next: {nxt.label} ({fmt(nxt.weight, 'weight')})"
    return text + "."
