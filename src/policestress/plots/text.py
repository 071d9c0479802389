"""Every fixed text of the figures, in English and Chinese; one table, looked up by key.

Labels of items, constructs and domains come from the site's codebook (passed in by the
notebooks); the titles, axis labels, legends and notes the figure functions write themselves
come from here, so a Chinese site's figures hold no English words besides statistical symbols
(CFI, RMSEA, ER, n, p, CI) and names (Kaiser, Wilson, Welch, Holm).

Examples
--------
>>> figure_text("zh", "eigenvalue")
'特征值'
>>> figure_text("en", "scree_title", n_iter=100, n=300)
'Parallel analysis (100 random data sets, n = 300)'
>>> model_label("second_order", "zh")
'二阶因子模型'
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        # EFA
        "scree_title": "Parallel analysis ({n_iter} random data sets, n = {n})",
        "scree_x": "Factor or component number",
        "eigenvalue": "Eigenvalue",
        "components_observed": "Components, observed (retain {k})",
        "components_random": "Components, random data ({pct:g}th percentile)",
        "factors_observed": "Factors, observed (retain {k})",
        "factors_random": "Factors, random data ({pct:g}th percentile)",
        "kaiser": "Kaiser criterion, eigenvalue 1 ({k} components)",
        "loadings_title": "{extraction}, {rotation}: {kind} ({k} factors, n = {n})",
        "pattern": "pattern matrix",
        "loading_matrix": "loading matrix",
        "loading": "Loading",
        "factor_axis": "Factors, named after the construct most of their items belong to",
        "factor_correlations_title": "Factor correlations ({rotation})",
        "orthogonal_note": "orthogonal rotation: uncorrelated by construction",
        "minres": "minimum residual",
        "ml": "maximum likelihood",
        "pa": "principal axis",
        "oblimin": "oblimin rotation",
        "promax": "promax rotation",
        "varimax": "varimax rotation",
        "item_axis": "Item",
        # CFA
        "path_title": "{model}: standardized solution",
        "path_title_part": "{model}: standardized solution, {part}",
        "path_overview": "factors only",
        "path_note": "Arrows: standardized loadings; left of an item: residual variance",
        "path_note_structure": (
            "Arrows: standardized loadings; left of a factor: disturbance variance; "
            "arcs: correlations"
        ),
        "fit_title": "Fit of the competing models",
        # descriptives
        "stars_unadjusted": "* p < .05  ** p < .01  *** p < .001 (unadjusted)",
        "stars_adjusted": "* p < .05  ** p < .01  *** p < .001 (Welch test, {method}-adjusted)",
        "r_only": "Cells: r (p values in the table)",
        "mean_ci": "Mean (95% CI)",
        "percent_answers": "Share of answers",
        # invariance
        "latent_x": "Latent mean difference from the reference group (95% CI)",
        "latent_panel": "{variable} (reference = 0: {reference})",
        # ERI
        "ratio_x": "Effort-reward ratio (log scale)",
        "respondents": "Respondents",
        "ratio_title": "Effort-reward ratio (n = {n})",
        "ratio_share": "ER > {cutoff:g}: {share:.1%}",
        "reward_x": "Reward (sum score)",
        "effort_y": "Effort (sum score)",
        "effort_reward_title": "Effort and reward",
        "er_below": "ER ≤ {cutoff:g}",
        "er_above": "ER > {cutoff:g}",
        "balance_line": "effort = {slope:.3g} × reward",
        "overall": "Overall",
        "suppressed": "suppressed (n < minimum cell)",
        "prevalence_x": "Prevalence of ER > cut-off (Wilson 95% CI)",
        "prevalence_title": "Effort-reward imbalance by group",
        "eri_imbalance": "ER > cut-off",
        "eri_high_oc": "High overcommitment",
        "unadjusted": "unadjusted",
        "adjusted": "adjusted",
        "odds_x": "Odds ratio of high perceived stress (95% CI, log scale)",
        "odds_title": "Effort-reward imbalance, overcommitment and high stress",
        # power (Monte Carlo sample-size planning)
        "power_x": "Sample size n",
        "power_y": "Power (p < .05)",
        "power_title": "Power by sample size ({replications} replications per n)",
        "convergence_y": "Share of replications",
        "convergence_title": "Convergence and proper solutions",
        "converged": "Converged",
        "proper": "Converged, proper solution",
        "power_loadings": "Loadings (median, range)",
        "power_covariances": "Factor covariances (median, range)",
        "power_regressions": "Regressions (median, range)",
        "power_analytic": "Analytic power, loadings (median)",
        "target": "Target {value:g}",
    },
    "zh": {
        "scree_title": "平行分析（{n_iter} 组随机数据，n = {n}）",
        "scree_x": "因子或成分序号",
        "eigenvalue": "特征值",
        "components_observed": "成分，观测值（保留 {k} 个）",
        "components_random": "成分，随机数据（第 {pct:g} 百分位数）",
        "factors_observed": "因子，观测值（保留 {k} 个）",
        "factors_random": "因子，随机数据（第 {pct:g} 百分位数）",
        "kaiser": "Kaiser 准则：特征值 = 1（{k} 个成分）",
        "loadings_title": "{extraction}，{rotation}：{kind}（{k} 个因子，n = {n}）",
        "pattern": "模式矩阵",
        "loading_matrix": "载荷矩阵",
        "loading": "载荷",
        "factor_axis": "因子（以其多数题项所属的构念命名）",
        "factor_correlations_title": "因子间相关（{rotation}）",
        "orthogonal_note": "正交旋转：因子间不相关",
        "minres": "最小残差法",
        "ml": "极大似然法",
        "pa": "主轴因子法",
        "oblimin": "直接斜交旋转",
        "promax": "最优斜交旋转",
        "varimax": "最大方差正交旋转",
        "item_axis": "题项",
        "path_title": "{model}：标准化解",
        "path_title_part": "{model}：标准化解，{part}",
        "path_overview": "潜变量结构",
        "path_note": "箭头上为标准化载荷；题项左侧为残差方差",
        "path_note_structure": "箭头上为标准化载荷；因子左侧为残差（扰动）方差；弧线上为因子间相关",
        "fit_title": "竞争模型的拟合指标",
        "stars_unadjusted": "* p < .05  ** p < .01  *** p < .001（未校正）",
        "stars_adjusted": "* p < .05  ** p < .01  *** p < .001（Welch 检验，{method} 校正）",
        "r_only": "单元格为 r（p 值见表）",
        "mean_ci": "均值（95% 置信区间）",
        "percent_answers": "作答比例",
        "latent_x": "与参照组的潜均值差异（95% 置信区间）",
        "latent_panel": "{variable}（参照组 = 0：{reference}）",
        "ratio_x": "付出-回报比（对数刻度）",
        "respondents": "人数",
        "ratio_title": "付出-回报比（n = {n}）",
        "ratio_share": "ER > {cutoff:g}：{share:.1%}",
        "reward_x": "回报（总分）",
        "effort_y": "付出（总分）",
        "effort_reward_title": "付出与回报",
        "er_below": "ER ≤ {cutoff:g}",
        "er_above": "ER > {cutoff:g}",
        "balance_line": "付出 = {slope:.3g} × 回报",
        "overall": "总体",
        "suppressed": "已抑制（n < 最小单元格）",
        "prevalence_x": "ER > 临界值的检出率（Wilson 95% 置信区间）",
        "prevalence_title": "各群体的付出-回报失衡检出率",
        "eri_imbalance": "ER > 临界值",
        "eri_high_oc": "高过度投入",
        "unadjusted": "未调整",
        "adjusted": "调整后",
        "odds_x": "高职业压力感的比值比（95% 置信区间，对数刻度）",
        "odds_title": "付出-回报失衡、过度投入与高职业压力感",
        "power_x": "样本量 n",
        "power_y": "统计检验力（p < .05）",
        "power_title": "各样本量的统计检验力（每个 n 重复 {replications} 次）",
        "convergence_y": "重复样本所占比例",
        "convergence_title": "收敛与合理解",
        "converged": "收敛",
        "proper": "收敛且解合理",
        "power_loadings": "因子载荷（中位数、范围）",
        "power_covariances": "因子协方差（中位数、范围）",
        "power_regressions": "回归系数（中位数、范围）",
        "power_analytic": "解析检验力，因子载荷（中位数）",
        "target": "目标 {value:g}",
    },
}

# The competing CFA models of policestress.cfa.codebook_models; site-defined models keep
# the name their site.yml gives them.
MODEL_LABELS = {
    "en": {
        "one_factor": "One general factor",
        "domains": "Correlated domain factors",
        "first_order": "Correlated constructs",
        "second_order": "Second-order model",
        "eri": "ERI measurement model",
    },
    "zh": {
        "one_factor": "单因子模型",
        "domains": "领域相关因子模型",
        "first_order": "一阶相关因子模型",
        "second_order": "二阶因子模型",
        "eri": "付出-回报失衡测量模型",
    },
}

HOLM_LIKE = {"holm": "Holm", "bonferroni": "Bonferroni", "fdr_bh": "BH", "bh": "BH"}


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"figure language must be one of {LANGUAGES}, not {language!r}")


def figure_text(language: str, key: str, **values) -> str:
    """The figure text ``key`` in ``language``, formatted with ``values``."""
    check_language(language)
    return TEXT[language][key].format(**values)


def model_label(name: str, language: str) -> str:
    """Display name of a CFA model (its name when the model is a site's own)."""
    check_language(language)
    return MODEL_LABELS[language].get(name, name)
