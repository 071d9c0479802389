"""Stage 02: sampling adequacy, parallel analysis, EFA, item flags, SPSS-style PCA tables."""

from __future__ import annotations

import pandas as pd

from policestress import efa as E
from policestress import interpret, publication
from policestress.config import SiteConfig
from policestress.plots import efa as efa_plots
from policestress.stagework import StageWork, setting
from policestress.stagework.narrative import introduction, say

# The first columns of efa_adequacy.csv, in this order.
ADEQUACY_FIRST = [
    "kmo",
    "bartlett_chi2",
    "bartlett_df",
    "bartlett_p",
    "n_factors_parallel",
    "n_factors_kaiser",
    "n",
]
FLAGS = ("min_communality", "min_primary", "max_secondary", "min_gap")


def run(cfg: SiteConfig, **parameters) -> StageWork:
    """Every table and figure of the EFA stage.

    ``parameters`` are the notebook's (``n_factors``, ``extraction``, ``rotation``,
    ``parallel_iter``, ``parallel_percentile``, ``factor_eigen``, ``cor``, the four flag thresholds,
    ``spss_n_components``, ``spss_blank_below``); None takes the site.yml value.
    """

    def chosen(name: str, key: str, kind: type):
        value = setting(cfg, key, parameters.get(name))
        return None if value is None else kind(value)

    n_factors = chosen("n_factors", "efa.n_factors", int)
    extraction = chosen("extraction", "efa.extraction", str)
    rotation = chosen("rotation", "efa.rotation", str)
    cor = chosen("cor", "efa.cor", str)  # pearson, or poly (polychoric: ordered categories)
    thresholds = {f: chosen(f, f"efa.flags.{f}", float) for f in FLAGS}
    items = cfg.codebook.item_ids("stress_sources")
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    x = E.complete_cases(data, items)
    n_dropped = x.attrs["n_dropped"]
    work = StageWork(cfg, narrative=[introduction(cfg, "efa")])
    lang = cfg.language
    work.narrative.append(
        say(
            lang,
            f"{len(data)} 名受访者中 **{len(x)} 名回答了全部 {len(items)} 个条目**，纳入分析"
            f"（完整个案；{n_dropped} 名、{n_dropped / len(data):.0%} 因至少一题缺答而未纳入）。",
            f"{len(items)} items; {len(data)} respondents, of whom **{len(x)} answered every "
            f"item** and are analysed (complete cases; {n_dropped} respondents, "
            f"{n_dropped / len(data):.0%}, left out because of at least one missing answer).",
        )
    )
    adequacy, msa = E.sampling_adequacy(x), E.item_msa(x)
    pa = E.parallel_analysis(
        x,
        n_iter=chosen("parallel_iter", "efa.parallel_iter", int),
        percentile=chosen("parallel_percentile", "efa.parallel_percentile", float),
        seed=cfg.seed,
        factor_eigen=chosen("factor_eigen", "efa.factor_eigen", str),
        cor=cor,
        progress=False,  # ~1 s; a bar would put timings into the executed notebook
    )
    source = "set as a parameter" if n_factors is not None else "parallel analysis"
    n_factors = n_factors if n_factors is not None else max(pa.n_factors, 1)
    work.narrative.append(
        say(
            lang,
            f"平行分析（{pa.n_iter} 组随机数据，第 {pa.percentile:g} 百分位，种子 {cfg.seed}）；"
            f"提取 **{n_factors} 个因子**（{'参数设定' if source != 'parallel analysis' else '平行分析'}）。",
            f"Parallel analysis ({pa.n_iter} random data sets, {pa.percentile:g}th percentile, "
            f"seed {cfg.seed}); the analysis extracts **{n_factors} factors** ({source}).",
        )
    )
    result = E.efa(x, n_factors, extraction=extraction, rotation=rotation, cor=cor)
    work.narrative += _warnings(result, rotation, lang)
    variance = result.variance_table()
    flags = E.item_flags(result, **thresholds)
    flagged = int(flags["flagged"].sum())
    work.narrative.append(
        say(
            lang,
            f"{len(flags)} 个条目中 {flagged} 个被标记（阈值：{thresholds}）。",
            f"{flagged} of {len(flags)} items flagged (thresholds: {thresholds}).",
        )
    )
    spss = E.spss_pca(x, n_components=chosen("spss_n_components", "efa.spss_n_components", int))
    blank_below = chosen("spss_blank_below", "efa.spss_blank_below", float)
    row = adequacy.assign(
        n_factors_parallel=pa.n_factors,
        n_components_parallel=pa.n_components,
        n_factors_kaiser=pa.n_kaiser,
        n_factors_used=n_factors,
        extraction=extraction,
        rotation=rotation,
        rotation_converged=result.rotation_converged,
        n_dropped=n_dropped,
        parallel_iter=pa.n_iter,
        parallel_percentile=pa.percentile,
        factor_eigen=pa.factor_eigen,
        correlations=cor,
        seed=cfg.seed,
        missing_data="complete cases",
    )
    row = row[ADEQUACY_FIRST + [c for c in row.columns if c not in ADEQUACY_FIRST]]
    work.tables = {
        "efa_adequacy.csv": row,
        "efa_msa.csv": msa,
        "efa_parallel.csv": pa.table,
        "efa_loadings.csv": result.loadings_long(),
        "efa_structure.csv": result.structure_long(),
        "efa_variance.csv": variance,
        "efa_factor_correlations.csv": result.phi_long(),
        "efa_item_flags.csv": flags,
        "spss_total_variance.csv": spss.total_variance(),
        "spss_rotated_components.csv": spss.rotated_components(threshold=blank_below),
    }
    # Factors are named after the construct most of their items belong to (not MR1, MR2, ...).
    names = publication.factor_names(result.loadings_long(), cfg.codebook, cfg.language)
    work.figures = {
        "efa_scree": efa_plots.scree_plot(pa, language=cfg.language),
        "efa_loadings": efa_plots.loading_heatmap(
            result, factor_labels=names, language=cfg.language
        ),
        "efa_factor_correlations": efa_plots.factor_correlation_plot(
            result, names, language=cfg.language
        ),
    }
    work.narrative.append(interpret.efa_text(row, variance, cfg.language))
    work.values = {
        "adequacy": adequacy,
        "lowest_msa": msa.sort_values("msa").head(10),
        "parallel": pa.table.head(max(pa.n_factors, pa.n_kaiser) + 3),
        "variance": variance,
        "loadings": result.loadings.loc[efa_plots.sorted_items(result.loadings)].assign(
            h2=result.communalities
        ),
        "flagged": flags[flags["flagged"]],
        "spss_total": spss.total_variance().head(spss.rotated.shape[1] + 3),
        "spss_rotated": work.tables["spss_rotated_components.csv"].round(3).fillna(""),
    }
    return work


def _warnings(result, rotation: str, lang: str) -> list[str]:
    lines = []
    if not result.rotation_converged:
        lines.append(
            say(
                lang,
                f"**警告：{rotation} 旋转未收敛。** 解按原样报告（与 psych 相同），并在 "
                "`efa_adequacy.csv` 中标记（`rotation_converged = False`）：请谨慎解读载荷，"
                "或尝试其他因子数（`efa.n_factors`）或旋转方法（`efa.rotation`）。",
                f"**Warning: the {rotation} rotation did not converge.** The solution is "
                "reported as it stands, as psych does, and flagged in `efa_adequacy.csv` "
                "(`rotation_converged = False`): read the loadings with care, or try another "
                "number of factors (`efa.n_factors`) or rotation (`efa.rotation`).",
            )
        )
    if result.heywood:
        names = ", ".join(result.heywood)
        lines.append(
            say(
                lang,
                f"**Heywood 个案：** {names} 的共同度 >= 1。",
                f"**Heywood case:** communality >= 1 for {names}.",
            )
        )
    return lines
