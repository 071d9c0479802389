"""Figures of the descriptive stage: Likert items, score distributions, correlations, groups.

Each function returns a matplotlib Figure; the notebook saves it with
:func:`policestress.plots.save_figure`. Labels are passed in (already in the site's
language); for Chinese labels call :func:`policestress.fonts.use_cjk_font` first.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> d = pd.DataFrame(rng.integers(1, 6, size=(50, 3)), columns=["a1", "a2", "b1"])
>>> fig = likert_diverging(d, {"A": ["a1", "a2"], "B": ["b1"]}, {i: str(i) for i in range(1, 6)})
>>> len(fig.axes) >= 2
True
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from policestress.descriptives import significance_stars
from policestress.plots.style import (
    PALETTE,
    TEXT_WIDTH_CM,
    bars,
    fit_text,
    heatmap_cells,
    legend_below,
    new_figure,
    styled,
    text_width_cm,
)
from policestress.plots.text import HOLM_LIKE, figure_text

NEUTRAL_GREY = "#c8c8c8"


def _category_colors(k: int) -> list:
    """Diverging colours, low codes blue, high codes red, the middle one grey if k is odd."""
    cmap = plt.get_cmap("RdBu_r")
    positions = np.linspace(0.08, 0.92, k)
    colors = [cmap(p) for p in positions]
    if k % 2 == 1:
        colors[k // 2] = NEUTRAL_GREY
    return colors


def likert_percentages(data: pd.DataFrame, items: list[str], codes: list[int]) -> pd.DataFrame:
    """Percentage of valid answers in each response code (rows items, columns codes).

    Examples
    --------
    >>> import pandas as pd
    >>> likert_percentages(pd.DataFrame({"a": [1, 2, 2, None]}), ["a"], [1, 2, 3]).values.tolist()
    [[33.33333333333333, 66.66666666666666, 0.0]]
    """
    rows = {}
    for item in items:
        valid = data[item].dropna()
        rows[item] = [100 * (valid == c).mean() if len(valid) else np.nan for c in codes]
    return pd.DataFrame.from_dict(rows, orient="index", columns=codes)


@styled
def likert_diverging(
    data: pd.DataFrame,
    scales: dict[str, list[str]],
    response_labels: dict[int, str],
    item_labels: dict[str, str] | None = None,
    scale_labels: dict[str, str] | None = None,
    title: str | None = None,
    label_cm: float = 6.0,
    language: str = "en",
) -> plt.Figure:
    """Diverging stacked bars of Likert items, centred on the neutral category, by scale.

    With an odd number of categories the middle (neutral) category is split in half on
    either side of zero; with an even number the bars meet between the two middle codes.
    The shares left and right of the neutral category are printed at the bar ends.

    Parameters
    ----------
    data : DataFrame
        Item responses (integer codes).
    scales : dict
        Scale label key -> item columns; one panel per scale, in this order.
    response_labels : dict
        Code -> label of the response scale (lowest code first), e.g.
        ``cfg.codebook.value_labels(item, language)``.
    item_labels : dict, optional
        Item -> wording; shown after the item id, shortened to ``label_width`` characters.
    scale_labels : dict, optional
        Scale -> panel title.
    title : str, optional
        Figure title.
    label_cm : float
        Printed width (cm) the item labels may take; longer wordings are shortened.
    language : {'en', 'zh'}

    Returns
    -------
    matplotlib Figure
    """
    item_labels = item_labels or {}
    scale_labels = scale_labels or {}
    codes = sorted(response_labels)
    k = len(codes)
    colors = _category_colors(k)
    n_items = [len(items) for items in scales.values()]
    height = 0.42 * sum(n_items) + 0.75 * len(scales) + 2.6
    fig, axes = new_figure(
        height,
        nrows=len(scales),
        sharex=True,
        gridspec_kw={"height_ratios": n_items},
        squeeze=False,
    )
    axes = axes[:, 0]
    for ax, (scale, items) in zip(axes, scales.items(), strict=True):
        pct = likert_percentages(data, items, codes).to_numpy()
        mid = k // 2
        # Left edge of each bar: everything below neutral, plus half the neutral category.
        left_start = -pct[:, :mid].sum(axis=1) - (pct[:, mid] / 2 if k % 2 else 0)
        y = np.arange(len(items))[::-1]
        start = left_start.copy()
        for j in range(k):
            bars(
                ax, y, pct[:, j], start, horizontal=True,
                facecolors=colors[j], edgecolors="white", linewidths=0.4,
            )  # fmt: skip
            start = start + pct[:, j]
        low_share = pct[:, :mid].sum(axis=1)
        high_share = pct[:, mid + (k % 2) :].sum(axis=1)
        for yi, lo, hi, ls, end in zip(y, low_share, high_share, left_start, start, strict=True):
            ax.text(ls - 1, yi, f"{lo:.0f}%", ha="right", va="center", fontsize=8)
            ax.text(end + 1, yi, f"{hi:.0f}%", ha="left", va="center", fontsize=8)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_yticks(y)
        ax.set_yticklabels(
            [
                fit_text(f"{i}  {item_labels[i]}", label_cm) if i in item_labels else i
                for i in items
            ],
            fontsize=8,
        )
        ax.set_title(scale_labels.get(scale, scale), loc="left", fontsize=9)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.tick_params(axis="y", length=0)
    limit = 112
    axes[-1].set_xlim(-limit, limit)
    ticks = np.arange(-100, 101, 50)
    axes[-1].set_xticks(ticks)
    axes[-1].set_xticklabels([f"{abs(t)}%" for t in ticks])
    axes[-1].set_xlabel(figure_text(language, "percent_answers"))
    handles = [
        Patch(color=c, label=response_labels[code]) for c, code in zip(colors, codes, strict=True)
    ]
    legend_below(axes[-1], handles=handles, ncol=min(k, 5), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


@styled
def score_distributions(
    data: pd.DataFrame,
    columns: list[str],
    labels: dict[str, str] | None = None,
    ncols: int = 4,
    value_range: tuple[float, float] | None = (1, 5),
    title: str | None = None,
    max_distinct: int = 30,
    language: str = "en",
) -> plt.Figure:
    """Distributions of scores in small multiples, with the mean (solid) and median (dashed).

    A score with at most ``max_distinct`` distinct values (the mean of a few items) is drawn
    as the count of each value; others as a 20-bin histogram.

    Parameters
    ----------
    data : DataFrame
    columns : list of str
        Score columns.
    labels : dict, optional
        Column -> panel title.
    ncols : int
        Panels per row.
    value_range : tuple, optional
        Common x range (the response scale); None lets each panel choose.
    title : str, optional
    max_distinct : int
        Largest number of distinct values drawn as exact-value counts.

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> fig = score_distributions(pd.DataFrame({"s": [1.0, 2, 2.5, 3, 4]}), ["s"])
    >>> fig.axes[0].get_title()
    's'
    """
    labels = labels or {}
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = new_figure(3.0 * nrows + 1.0, nrows=nrows, ncols=ncols, squeeze=False)
    for ax, col in zip(axes.flat, columns, strict=False):
        x = data[col].dropna()
        values, counts = np.unique(x, return_counts=True)
        if len(values) <= max_distinct:
            # Means of a few items take few values (thirds, quarters): a histogram with
            # regular bins would show empty bins between them, so draw each value's count.
            gap = np.diff(values).min() if len(values) > 1 else 1.0
            bars(ax, values, counts, width=0.8 * gap, facecolors=PALETTE[0], alpha=0.8)
        else:
            counts, edges = np.histogram(x, bins=20, range=value_range)
            bars(
                ax, (edges[:-1] + edges[1:]) / 2, counts, width=np.diff(edges),
                facecolors=PALETTE[0], edgecolors="white", alpha=0.8,
            )  # fmt: skip
        if value_range:
            ax.set_xlim(value_range[0] - 0.2, value_range[1] + 0.2)
        ax.axvline(x.mean(), color="black", linewidth=1)
        ax.axvline(x.median(), color="black", linewidth=1, linestyle="--")
        ax.set_title(fit_text(labels.get(col, col), 15.0 / ncols - 0.3), fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(columns) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


@styled
def correlation_heatmap(
    correlations: pd.DataFrame,
    columns: list[str] | None = None,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    annotate: bool = True,
    language: str = "en",
) -> plt.Figure:
    """Lower-triangle heatmap of correlations with r and significance marks in the cells.

    The cells print ``r`` (no leading zero) with its ``*`` marks when they are wide enough at
    8 pt, ``r`` alone when only that fits (the note says so), nothing when not even that fits.

    Parameters
    ----------
    correlations : DataFrame
        Long table from :func:`policestress.descriptives.score_correlations`.
    columns : list of str, optional
        Order of the variables (default: order of appearance).
    labels : dict, optional
        Variable -> axis label.
    title : str, optional
    annotate : bool
        Print ``r`` with ``*`` marks in each cell.
    language : {'en', 'zh'}

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"var1": ["a"], "var2": ["b"], "r": [0.5], "p": [0.01]})
    >>> fig = correlation_heatmap(long)
    >>> len(fig.axes)
    2
    """
    labels = labels or {}
    if columns is None:
        columns = list(dict.fromkeys([*correlations["var1"], *correlations["var2"]]))
    pos = {c: i for i, c in enumerate(columns)}
    m = len(columns)
    r = np.full((m, m), np.nan)
    p = np.full((m, m), np.nan)
    for row in correlations.itertuples():
        i, j = sorted((pos[row.var1], pos[row.var2]), reverse=True)
        r[i, j], p[i, j] = row.r, row.p
    names = [fit_text(labels.get(c, c), 3.4) for c in columns]
    label_cm = max(text_width_cm(n) for n in names) + 0.4
    cell_cm = min(1.3, (TEXT_WIDTH_CM - label_cm - 2.0) / max(m - 1, 1))
    fig, ax = new_figure(cell_cm * (m - 1) + label_cm + 2.2)
    # Strict lower triangle: rows 2..m against columns 1..m-1 (no empty first row/last column).
    image = heatmap_cells(ax, r[1:, :-1])
    ax.set_aspect("equal")  # square cells, as imshow draws them
    stars = annotate and text_width_cm("-.45***") <= cell_cm - 0.05
    values = annotate and text_width_cm("-.45") <= cell_cm - 0.05
    if values:
        for i in range(1, m):
            for j in range(i):
                if np.isfinite(r[i, j]):
                    color = "white" if abs(r[i, j]) > 0.6 else "black"
                    text = f"{r[i, j]:.2f}".replace("0.", ".")
                    text += significance_stars(p[i, j]) if stars else ""
                    ax.text(j, i - 1, text, ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(m - 1))
    ax.set_xticklabels(names[:-1], rotation=90, fontsize=8)
    ax.set_yticks(range(m - 1))
    ax.set_yticklabels(names[1:], fontsize=8)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.6, label="r")
    if title:
        ax.set_title(title)
    if stars:
        ax.set_xlabel(figure_text(language, "stars_unadjusted"), loc="right")
    elif values:
        ax.set_xlabel(figure_text(language, "r_only"), loc="right")
    return fig


@styled
def group_differences(
    means: pd.DataFrame,
    grouping: str,
    scores: list[str],
    score_labels: dict[str, str] | None = None,
    comparisons: pd.DataFrame | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Group means of several scores with 95% CIs, one colour per group.

    Parameters
    ----------
    means : DataFrame
        From :func:`policestress.groups.group_means`.
    grouping : str
        The grouping variable to draw.
    scores : list of str
        Scores to show, top to bottom.
    score_labels : dict, optional
        Score -> label.
    comparisons : DataFrame, optional
        From :func:`policestress.groups.group_comparisons`; adds the marks of the adjusted
        p-value to the score labels.
    title, xlabel : str, optional
        The x label defaults to "mean (95% CI)" in ``language``.
    language : {'en', 'zh'}

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"score": ["s", "s"], "grouping": ["g", "g"], "code": [1, 2],
    ...                   "group": ["a", "b"], "mean": [3.0, 3.4], "ci_low": [2.8, 3.1],
    ...                   "ci_high": [3.2, 3.7]})
    >>> fig = group_differences(m, "g", ["s"])
    >>> fig.axes[0].get_legend() is not None
    True
    """
    score_labels = score_labels or {}
    sub = means[(means["grouping"] == grouping) & means["score"].isin(scores)]
    groups = list(dict.fromkeys(sub.sort_values("code")["group"]))
    colors = PALETTE
    fig, ax = new_figure(0.5 * len(scores) * max(1, len(groups) / 3) + 3.0)
    offsets = np.linspace(-0.28, 0.28, len(groups)) if len(groups) > 1 else np.zeros(1)
    y_base = np.arange(len(scores))[::-1]
    for g, (group, offset) in enumerate(zip(groups, offsets, strict=True)):
        rows = sub[sub["group"] == group].set_index("score").reindex(scores)
        mean, low, high = (rows[c].to_numpy(float) for c in ("mean", "ci_low", "ci_high"))
        y = y_base - offset
        ax.errorbar(
            mean, y, xerr=np.vstack([mean - low, high - mean]),
            fmt="o", color=colors[g % len(colors)], markersize=3.5, capsize=2, linewidth=1,
            label=fit_text(group, 3.0),
        )  # fmt: skip
    marks = {}
    note = ""
    if comparisons is not None:
        rows = comparisons[comparisons["grouping"] == grouping].set_index("score")
        marks = {s: significance_stars(rows.loc[s, "p_adj"]) for s in scores if s in rows.index}
        method = rows["correction"].iloc[0] if "correction" in rows and len(rows) else ""
        note = figure_text(language, "stars_adjusted", method=HOLM_LIKE.get(method, method))
    ax.set_yticks(y_base)
    ax.set_yticklabels(
        [f"{fit_text(score_labels.get(s, s), 4.2)} {marks.get(s, '')}" for s in scores]
    )
    ax.set_xlabel(xlabel or figure_text(language, "mean_ci"))
    if note:
        ax.set_xlabel(ax.get_xlabel() + "\n" + note)
    ax.grid(axis="x", color="#e5e5e5")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    return fig
