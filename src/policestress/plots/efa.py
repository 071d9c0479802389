"""Figures of the exploratory factor analysis: scree/parallel plot, loadings, factor correlations.

Each function returns a matplotlib Figure; write it with :func:`policestress.plots.save_figure`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from policestress.efa import efa, parallel_analysis
>>> rng = np.random.default_rng(0)
>>> f = rng.standard_normal((300, 2))
>>> x = pd.DataFrame(np.repeat(f, 3, axis=1) * 0.7 + rng.standard_normal((300, 6)) * 0.7)
>>> fig = scree_plot(parallel_analysis(x, n_iter=100, seed=0))
>>> fig = loading_heatmap(efa(x, 2))
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from policestress.efa import EFAResult, ParallelAnalysis


def scree_plot(
    result: ParallelAnalysis, max_position: int | None = None, title: str | None = None
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
    """
    table = result.table if max_position is None else result.table.head(max_position)
    pct = f"{result.percentile:g}th percentile"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = table["position"]
    ax.plot(
        x,
        table["component_observed"],
        "o-",
        color="tab:blue",
        ms=4,
        label=f"components, observed (retain {result.n_components})",
    )
    ax.plot(
        x,
        table["component_random_pct"],
        "--",
        color="tab:blue",
        alpha=0.7,
        label=f"components, random data ({pct})",
    )
    ax.plot(
        x,
        table["factor_observed"],
        "^-",
        color="tab:red",
        ms=4,
        label=f"factors, observed (retain {result.n_factors})",
    )
    ax.plot(
        x,
        table["factor_random_pct"],
        "--",
        color="tab:red",
        alpha=0.7,
        label=f"factors, random data ({pct})",
    )
    ax.axhline(
        1.0,
        color="grey",
        lw=1,
        ls=":",
        label=f"Kaiser criterion, eigenvalue 1 ({result.n_kaiser} components)",
    )
    ax.set_xlabel("factor or component number")
    ax.set_ylabel("eigenvalue")
    ax.set_xlim(0.5, x.max() + 0.5)
    ax.set_title(
        title or f"Parallel analysis ({result.n_iter} random data sets, n = {result.n_obs})"
    )
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
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


def loading_heatmap(
    result: EFAResult,
    labels: dict[str, str] | None = None,
    annotate_above: float = 0.20,
    title: str | None = None,
) -> plt.Figure:
    """Heatmap of the pattern loadings, items sorted by factor; values of note printed.

    Parameters
    ----------
    result : EFAResult
    labels : dict, optional
        Item id -> label for the y axis (item ids by default).
    annotate_above : float
        Print loadings whose absolute value is at least this.
    title : str, optional
    """
    order = sorted_items(result.loadings)
    matrix = result.loadings.loc[order]
    n_items, n_factors = matrix.shape
    fig, ax = plt.subplots(figsize=(1.6 + 0.8 * n_factors, 1.2 + 0.24 * n_items))
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if abs(value) >= annotate_above:
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if abs(value) > 0.6 else "black",
            )
    ax.set_xticks(range(n_factors), matrix.columns)
    ax.set_yticks(range(n_items), [(labels or {}).get(item, item) for item in order], fontsize=7)
    ax.xaxis.tick_top()
    kind = "pattern" if result.oblique else "loading"
    ax.set_title(title or f"{result.extraction}, {result.rotation}: {kind} matrix", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.5, label="loading")
    fig.tight_layout()
    return fig


def factor_correlation_plot(result: EFAResult, title: str | None = None) -> plt.Figure:
    """Heatmap of the factor correlations (lower triangle, values printed).

    For an orthogonal rotation the factors are uncorrelated by construction; the figure says so.
    """
    phi = result.phi.to_numpy()
    k = phi.shape[0]
    masked = np.where(np.tril(np.ones_like(phi, dtype=bool)), phi, np.nan)
    fig, ax = plt.subplots(figsize=(1.8 + 0.7 * k, 1.4 + 0.6 * k))
    image = ax.imshow(masked, cmap="RdBu_r", vmin=-1, vmax=1)
    for (i, j), value in np.ndenumerate(phi):
        if j <= i:
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(value) > 0.6 else "black",
            )
    ax.set_xticks(range(k), result.phi.columns)
    ax.set_yticks(range(k), result.phi.index)
    ax.spines[:].set_visible(False)
    ax.tick_params(length=0)
    note = "" if result.oblique else " (orthogonal rotation: uncorrelated by construction)"
    ax.set_title(title or f"Factor correlations, {result.rotation}{note}", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.7, label="r")
    fig.tight_layout()
    return fig
