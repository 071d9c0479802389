"""Figures of the effort-reward imbalance stage.

Each function takes the tidy outputs of :mod:`policestress.eri` (or the per-respondent
``eri_*`` columns) and returns a matplotlib Figure; save it with
:func:`policestress.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from policestress.plots.style import PALETTE, fit_text, legend_below, new_figure, styled
from policestress.plots.text import figure_text

# Readable ticks for a log axis of ratios (the default log locator labels only decades).
RATIO_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 7, 10, 20, 50, 100)
TERMS = ("eri_imbalance", "eri_high_oc")


def _ratio_ticks(ax, low: float, high: float) -> None:
    ticks = [t for t in RATIO_TICKS if low <= t <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


@styled
def plot_ratio_distribution(
    scores: pd.DataFrame,
    cutoff: float = 1.0,
    bins: int = 30,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Histogram of the ER ratio on a log axis with the imbalance cut-off.

    A log axis makes the ratio symmetric around balance (ER = 1): a ratio of 2 lies as far
    from 1 as a ratio of 0.5.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> s = pd.DataFrame({"eri_ratio": np.exp(np.random.default_rng(0).normal(0, .3, 200))})
    >>> fig = plot_ratio_distribution(s)
    """
    ratio = pd.to_numeric(scores["eri_ratio"], errors="coerce").dropna()
    ratio = ratio[ratio > 0]
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    fig, ax = new_figure(8.5)
    edges = np.geomspace(min(ratio.min(), cutoff) * 0.95, max(ratio.max(), cutoff) * 1.05, bins + 1)
    ax.hist(ratio, bins=edges, color="#9ecae1", edgecolor=PALETTE[0], linewidth=0.5)
    ax.set_xscale("log")
    _ratio_ticks(ax, edges[0], edges[-1])
    share = float((ratio > cutoff).mean())
    ax.axvline(cutoff, color="#de2d26", linestyle="--", linewidth=1.5)
    ax.text(
        0.98,
        0.95,
        t("ratio_share", cutoff=cutoff, share=share),
        transform=ax.transAxes,
        color="#de2d26",
        va="top",
        ha="right",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
    ax.set_xlabel(t("ratio_x"))
    ax.set_ylabel(t("respondents"))
    ax.set_title(title or t("ratio_title", n=ratio.size))
    return fig


@styled
def plot_effort_reward(
    scores: pd.DataFrame,
    c: float,
    cutoff: float = 1.0,
    jitter: float = 0.15,
    seed: int = 0,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Effort against reward, with the imbalance line ``effort = cutoff * c * reward``.

    With the usual cut-off 1 this is the line of balance; points above it have ER > cut-off. Sum scores are integers, so the points are jittered
    (uniform, +/- ``jitter``; fixed ``seed`` for identical reruns); the line is exact.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"eri_effort": [12, 18, 9], "eri_reward": [30, 25, 40],
    ...                   "eri_imbalance": [0, 1, 0]})
    >>> fig = plot_effort_reward(s, c=6 / 11)
    """
    d = scores[["eri_effort", "eri_reward"]].apply(pd.to_numeric, errors="coerce")
    flag = pd.to_numeric(scores.get("eri_imbalance", pd.Series(np.nan, index=scores.index)))
    keep = d.notna().all(axis=1)
    d, flag = d[keep], flag[keep]
    rng = np.random.default_rng(seed)
    x = d["eri_reward"] + rng.uniform(-jitter, jitter, len(d))
    y = d["eri_effort"] + rng.uniform(-jitter, jitter, len(d))
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    fig, ax = new_figure(11.0)
    above = flag == 1
    ax.scatter(x[~above], y[~above], s=8, alpha=0.5, color=PALETTE[0],
               label=t("er_below", cutoff=cutoff))  # fmt: skip
    ax.scatter(x[above], y[above], s=8, alpha=0.6, color=PALETTE[1],
               label=t("er_above", cutoff=cutoff))  # fmt: skip
    grid = np.linspace(d["eri_reward"].min() - 1, d["eri_reward"].max() + 1, 50)
    slope = cutoff * c
    ax.plot(grid, slope * grid, color="black", linewidth=1.2, label=t("balance_line", slope=slope))
    ax.set_xlabel(t("reward_x"))
    ax.set_ylabel(t("effort_y"))
    ax.set_title(title or t("effort_reward_title"))
    # Outside the axes: every corner of the plane can hold respondents.
    legend_below(ax, ncol=3)
    return fig


@styled
def plot_prevalence(
    table: pd.DataFrame,
    var_labels: Mapping[str, str] | None = None,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Prevalence of imbalance with 95% CIs, overall and by group (output of ``prevalence``).

    Suppressed cells are listed with the note "suppressed (n < min cell)" instead of a point.
    ``var_labels`` maps grouping variables to the names shown (default: the variable names).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group_var": ["overall", "g", "g"], "group_label": ["all", "a", "b"],
    ...     "n": [10, 6, 4], "prevalence": [.4, .5, float("nan")], "ci_low": [.17, .19, float("nan")],
    ...     "ci_high": [.69, .81, float("nan")], "suppressed": [False, False, True]})
    >>> fig = plot_prevalence(t)
    """
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    rows = table.reset_index(drop=True)
    names = dict(var_labels or {})
    labels = [
        t("overall")
        if r.group_var == "overall"
        else f"{names.get(r.group_var, r.group_var)}{'：' if language == 'zh' else ': '}{r.group_label}"
        for r in rows.itertuples()
    ]
    ypos = np.arange(len(rows))[::-1]
    fig, ax = new_figure(0.45 * len(rows) + 2.6)
    shown = ~rows["suppressed"].astype(bool) & rows["prevalence"].notna()
    err = np.vstack(
        [
            (rows["prevalence"] - rows["ci_low"])[shown],
            (rows["ci_high"] - rows["prevalence"])[shown],
        ]
    )
    ax.errorbar(
        rows.loc[shown, "prevalence"],
        ypos[shown.to_numpy()],
        xerr=err,
        fmt="o",
        color=PALETTE[0],
        ecolor="#6baed6",
        capsize=2,
    )
    overall = rows.loc[rows["group_var"] == "overall", "prevalence"]
    if not overall.empty and pd.notna(overall.iloc[0]):
        ax.axvline(overall.iloc[0], color="grey", linestyle=":", linewidth=1)
    for y, row in zip(ypos, rows.itertuples(), strict=True):
        if bool(row.suppressed) or pd.isna(row.prevalence):
            ax.text(0.01, y, t("suppressed"), va="center", fontsize=8, color="grey")
    ax.set_yticks(ypos)
    ax.set_yticklabels(
        [f"{fit_text(lab, 5.0)} (n = {n})" for lab, n in zip(labels, rows["n"], strict=True)]
    )
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(t("prevalence_x"))
    ax.set_title(title or t("prevalence_title"))
    return fig


@styled
def plot_odds_ratios(
    table: pd.DataFrame,
    term_labels: Mapping[str, str] | None = None,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Forest plot of odds ratios with CIs on a log axis (output of ``eri_logistic``).

    One row per term and model, the OR and CI printed on the right; the reference line is
    OR = 1. ``term_labels`` maps terms to the names shown (defaults for the two exposures).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"model": ["unadjusted"] * 2, "term": ["eri_imbalance", "eri_high_oc"],
    ...     "odds_ratio": [2.0, 1.5], "ci_low": [1.2, .9], "ci_high": [3.3, 2.5]})
    >>> fig = plot_odds_ratios(t)
    """
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    rows = table.reset_index(drop=True)
    names = {**{term: t(term) for term in TERMS}, **dict(term_labels or {})}
    model_names = {m: t(m) for m in ("unadjusted", "adjusted")}
    ypos = np.arange(len(rows))[::-1]
    colours = {"unadjusted": "#636363", "adjusted": PALETTE[0]}
    fig, ax = new_figure(0.6 * len(rows) + 3.2)
    for model, part in rows.groupby("model", sort=False):
        idx = part.index.to_numpy()
        ax.errorbar(
            part["odds_ratio"],
            ypos[idx],
            xerr=[part["odds_ratio"] - part["ci_low"], part["ci_high"] - part["odds_ratio"]],
            fmt="s",
            color=colours.get(model, PALETTE[0]),
            capsize=2,
            label=model_names.get(model, model),
        )
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    low = min(rows["ci_low"].min(), 1.0) / 1.15
    high = max(rows["ci_high"].max(), 1.0) * 1.15
    ax.set_xlim(low, high)
    _ratio_ticks(ax, low, high)
    for y, row in zip(ypos, rows.itertuples(), strict=True):
        ax.annotate(
            f"{row.odds_ratio:.2f} ({row.ci_low:.2f}-{row.ci_high:.2f})",
            xy=(1.02, y),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(ypos)
    ax.set_yticklabels(
        [f"{names.get(r.term, r.term)}（{model_names.get(r.model, r.model)}）"
         if language == "zh" else f"{names.get(r.term, r.term)} ({r.model})"
         for r in rows.itertuples()]
    )  # fmt: skip
    ax.set_ylim(ypos.min() - 0.6, ypos.max() + 0.6)
    ax.set_xlabel(t("odds_x"))
    ax.set_title(title or t("odds_title"))
    legend_below(ax, ncol=2)
    return fig
