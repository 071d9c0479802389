"""Figures of the synthesis stage: relative importance with bootstrap intervals, standardized betas.

Labels may be Chinese: the functions call :func:`policestress.fonts.use_cjk_font` so the
glyphs render. Save with :func:`policestress.plots.save_figure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from policestress.plots.style import PALETTE, new_figure, styled

TEXT = {
    "en": {
        "importance": "Share of explained variance (R²)",
        "rank": "rank {rank} [{lo}–{hi}]",
        "beta": "Standardized coefficient β ({ci:.0%} CI)",
        "title_importance": "Relative importance for perceived stress ({method})",
        "title_beta": "Standardized regression on perceived stress (R² = {r2:.2f}, n = {n})",
        "dominance": "general dominance",
        "relative_weights": "relative weights",
    },
    "zh": {
        "importance": "解释方差（R²）",
        "rank": "排序 {rank} [{lo}–{hi}]",
        "beta": "标准化回归系数 β（{ci:.0%} 置信区间）",
        "title_importance": "压力源对职业压力感的相对重要性（{method}）",
        "title_beta": "职业压力感的标准化回归（R² = {r2:.2f}，n = {n}）",
        "dominance": "一般优势权重",
        "relative_weights": "相对权重",
    },
}


def _text(language: str) -> dict[str, str]:
    return TEXT.get(language, TEXT["en"])


@styled
def plot_importance(
    ranking: pd.DataFrame, language: str = "en", title: str | None = None
) -> plt.Figure:
    """Horizontal bars of the importance weights with bootstrap CIs and rank intervals.

    Parameters
    ----------
    ranking : DataFrame
        Output of :func:`policestress.synthesis.score_ranking` (one level).
    language : str
        'zh' or 'en' for the axis texts; source labels are taken from ``ranking['label']``.

    Examples
    --------
    >>> r = pd.DataFrame({"label": ["A", "B"], "weight": [0.2, 0.1], "ci_low": [0.15, 0.05],
    ...     "ci_high": [0.25, 0.15], "rank": [1, 2], "rank_ci_low": [1, 1],
    ...     "rank_ci_high": [1, 2], "method": ["dominance"] * 2})
    >>> fig = plot_importance(r)
    """
    t = _text(language)
    r = ranking.sort_values("rank", ascending=False)
    y = np.arange(len(r))
    fig, ax = new_figure(2.6 + 0.6 * len(r))
    err = np.vstack([r["weight"] - r["ci_low"], r["ci_high"] - r["weight"]])
    ax.barh(y, r["weight"], color="#6baed6", edgecolor="#2171b5")
    ax.errorbar(r["weight"], y, xerr=err, fmt="none", ecolor="#08306b", capsize=3, lw=1)
    for yi, (_, row) in zip(y, r.iterrows(), strict=True):
        ax.text(
            row["ci_high"],
            yi,
            "  "
            + t["rank"].format(rank=row["rank"], lo=row["rank_ci_low"], hi=row["rank_ci_high"]),
            va="center",
            fontsize=8,
            color="#333333",
        )
    ax.set_yticks(y, r["label"])
    ax.set_xlabel(t["importance"])
    ax.set_xlim(0, float(r["ci_high"].max()) * 1.45)
    method = t.get(str(r["method"].iloc[0]), str(r["method"].iloc[0]))
    # on the figure, not the axes: long titles get the whole width (labels take the left)
    fig.suptitle(title or t["title_importance"].format(method=method))
    return fig


@styled
def plot_coefficients(
    regression: pd.DataFrame,
    labels: dict[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    ci: float = 0.95,
) -> plt.Figure:
    """Forest plot of standardized betas with their CIs, largest on top.

    Parameters
    ----------
    regression : DataFrame
        Output of :func:`policestress.synthesis.standardized_regression`.
    labels : dict, optional
        predictor -> label.
    ci : float
        Confidence level of the intervals in ``regression`` (for the axis label).

    Examples
    --------
    >>> reg = pd.DataFrame({"predictor": ["a", "b"], "beta": [0.3, -0.1], "ci_low": [0.2, -0.2],
    ...     "ci_high": [0.4, 0.0], "r2": [0.3, 0.3], "n": [100, 100]})
    >>> fig = plot_coefficients(reg)
    """
    t = _text(language)
    labels = labels or {}
    r = regression.sort_values("beta")
    y = np.arange(len(r))
    fig, ax = new_figure(2.6 + 0.6 * len(r))
    ax.axvline(0, color="#999999", lw=0.8)
    ax.errorbar(
        r["beta"],
        y,
        xerr=np.vstack([r["beta"] - r["ci_low"], r["ci_high"] - r["beta"]]),
        fmt="o",
        color=PALETTE[0],
        ecolor="#6baed6",
        capsize=3,
    )
    ax.set_yticks(y, [labels.get(p, p) for p in r["predictor"]])
    ax.set_xlabel(t["beta"].format(ci=ci))
    fig.suptitle(
        title or t["title_beta"].format(r2=float(r["r2"].iloc[0]), n=int(r["n"].iloc[0])),
    )
    return fig
