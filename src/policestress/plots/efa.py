"""Figures of the exploratory factor analysis: scree/parallel plot, loadings, factor correlations.

Each function returns a matplotlib Figure at print size (15 cm wide) with its texts in
``language`` ('zh' or 'en'); write it with :func:`policestress.plots.save_figure`. Factors
are named after the codebook construct most of their items belong to
(:func:`policestress.publication.factor_names`, the names of the loadings table too), not
MR1, MR2, ...

Examples
--------
>>> import numpy as np, pandas as pd
>>> from policestress.efa import efa, parallel_analysis
>>> rng = np.random.default_rng(0)
>>> f = rng.standard_normal((300, 2))
>>> x = pd.DataFrame(np.repeat(f, 3, axis=1) * 0.7 + rng.standard_normal((300, 6)) * 0.7,
...                  columns=["a1", "a2", "a3", "b1", "b2", "b3"])
>>> fig = scree_plot(parallel_analysis(x, n_iter=100, seed=0), language="zh")
>>> fig = loading_heatmap(efa(x, 2), factor_labels={"MR1": "A", "MR2": "B"}, language="zh")
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from policestress.efa import EFAResult, ParallelAnalysis
from policestress.plots.style import PALETTE, heatmap_cells, new_figure, styled
from policestress.plots.text import figure_text

# Row pitch of the loading heatmap: 8-pt labels need about 0.34 cm each.
ROW_CM = 0.34


def _apa(value: float, decimals: int = 2) -> str:
    """A loading or correlation without the leading zero: .72, -.31."""
    return f"{value:.{decimals}f}".replace("0.", ".", 1)


@styled
def scree_plot(
    result: ParallelAnalysis,
    max_position: int | None = None,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Scree plot of observed eigenvalues with the parallel-analysis curves and Kaiser's line.

    Components (eigenvalues of R) and factors (eigenvalues of the reduced matrix) are drawn
    with their random-data percentile curves; the horizontal line at 1 is Kaiser's criterion.

    Parameters
    ----------
    result : ParallelAnalysis
        From :func:`policestress.efa.parallel_analysis`.
    max_position : int, optional
        Show only the first positions (all by default).
    title : str, optional
    language : {'en', 'zh'}
    """
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    table = result.table if max_position is None else result.table.head(max_position)
    pct = result.percentile
    fig, ax = new_figure(9.5)
    x = table["position"]
    blue, red = PALETTE[0], PALETTE[1]
    ax.plot(x, table["component_observed"], "o-", color=blue, ms=3,
            label=t("components_observed", k=result.n_components))  # fmt: skip
    ax.plot(x, table["component_random_pct"], "--", color=blue, alpha=0.7,
            label=t("components_random", pct=pct))  # fmt: skip
    ax.plot(x, table["factor_observed"], "^-", color=red, ms=3,
            label=t("factors_observed", k=result.n_factors))  # fmt: skip
    ax.plot(x, table["factor_random_pct"], "--", color=red, alpha=0.7,
            label=t("factors_random", pct=pct))  # fmt: skip
    ax.axhline(1.0, color="grey", lw=1, ls=":", label=t("kaiser", k=result.n_kaiser))
    ax.set_xlabel(t("scree_x"))
    ax.set_ylabel(t("eigenvalue"))
    ax.set_xlim(0.5, x.max() + 0.5)
    ax.set_title(title or t("scree_title", n_iter=result.n_iter, n=result.n_obs))
    ax.legend(loc="upper right")
    return fig


def sorted_items(loadings: pd.DataFrame) -> list[str]:
    """Items grouped by their primary factor (largest absolute loading), largest first.

    The order of ``psych::fa.sort``: factor by factor, items by decreasing absolute loading.

    Examples
    --------
    >>> import pandas as pd
    >>> sorted_items(pd.DataFrame({"F1": [.2, .8, .6], "F2": [.7, .1, .1]}, index=list("abc")))
    ['b', 'c', 'a']
    """
    values = loadings.abs().to_numpy()
    primary = values.argmax(axis=1)
    size = values[np.arange(len(values)), primary]
    order = np.lexsort((-size, primary))
    return [loadings.index[i] for i in order]


@styled
def loading_heatmap(
    result: EFAResult,
    labels: dict[str, str] | None = None,
    factor_labels: dict[str, str] | None = None,
    annotate_above: float = 0.30,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Heatmap of the pattern loadings, items sorted by factor; loadings of note printed.

    Loadings are printed without the leading zero (APA), those under ``annotate_above`` in
    absolute value left blank, as in a thesis table; a thin line separates the item groups.

    Parameters
    ----------
    result : EFAResult
    labels : dict, optional
        Item id -> label for the y axis (item ids by default; ids keep the figure narrow).
    factor_labels : dict, optional
        Factor -> label (:func:`policestress.publication.factor_names`), written vertically
        above the columns.
    annotate_above : float
        Print loadings whose absolute value is at least this.
    title : str, optional
    language : {'en', 'zh'}
    """
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    factor_labels = factor_labels or {}
    order = sorted_items(result.loadings)
    matrix = result.loadings.loc[order]
    n_items, n_factors = matrix.shape
    longest = max((len(str(factor_labels.get(f, f))) for f in matrix.columns), default=3)
    header_cm = 0.9 + 0.3 * min(longest, 14)
    fig, ax = new_figure(ROW_CM * n_items + header_cm + 2.2)
    image = heatmap_cells(ax, matrix.to_numpy())
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if abs(value) >= annotate_above:
            colour = "white" if abs(value) > 0.6 else "black"
            ax.text(j, i, _apa(value), ha="center", va="center", fontsize=8, color=colour)
    primary = matrix.abs().to_numpy().argmax(axis=1)
    for i in np.flatnonzero(np.diff(primary)):
        ax.axhline(i + 0.5, color="0.3", lw=0.5)
    ax.set_xticks(range(n_factors), [factor_labels.get(f, f) for f in matrix.columns],
                  rotation=90, fontsize=8)  # fmt: skip
    ax.set_yticks(range(n_items), [(labels or {}).get(item, item) for item in order], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set_ylabel(t("item_axis"))
    ax.set_xlabel(t("factor_axis"))
    kind = t("pattern") if result.oblique else t("loading_matrix")
    default = t(
        "loadings_title",
        extraction=t(result.extraction),
        rotation=t(result.rotation),
        kind=kind,
        k=n_factors,
        n=result.n_obs,
    )
    ax.set_title(title or default[:1].upper() + default[1:])
    fig.colorbar(image, ax=ax, shrink=0.4, aspect=30, label=t("loading"), location="bottom")
    return fig


@styled
def factor_correlation_plot(
    result: EFAResult,
    factor_labels: dict[str, str] | None = None,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Heatmap of the factor correlations (lower triangle, values printed).

    For an orthogonal rotation the factors are uncorrelated by construction; the figure says so.
    """
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    factor_labels = factor_labels or {}
    phi = result.phi.to_numpy()
    k = phi.shape[0]
    names = [factor_labels.get(f, f) for f in result.phi.columns]
    masked = np.where(np.tril(np.ones_like(phi, dtype=bool), -1), phi, np.nan)[1:, :-1]
    fig, ax = new_figure(min(4.5 + 0.75 * k, 20))
    if k < 2:
        ax.set_axis_off()
        ax.text(0.5, 0.5, t("orthogonal_note"), ha="center", va="center", transform=ax.transAxes)
        return fig
    image = heatmap_cells(ax, masked)
    ax.set_aspect("equal")
    for (i, j), value in np.ndenumerate(masked):
        if np.isfinite(value):
            colour = "white" if abs(value) > 0.6 else "black"
            ax.text(j, i, _apa(value), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(k - 1), names[:-1], rotation=90)
    ax.set_yticks(range(k - 1), names[1:])
    ax.spines[:].set_visible(False)
    ax.tick_params(length=0)
    rotation = t(result.rotation) + ("" if result.oblique else "；" if language == "zh" else "; ")
    if not result.oblique:
        rotation += t("orthogonal_note")
    ax.set_title(title or t("factor_correlations_title", rotation=rotation))
    fig.colorbar(image, ax=ax, shrink=0.6, label="r")
    return fig
