"""Figures of the measurement-invariance stage.

:func:`plot_latent_means` draws the table of :func:`policestress.invariance.latent_mean_differences`
(one or several grouping variables stacked); save it with :func:`policestress.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from policestress.plots.style import PALETTE, fit_text, new_figure, styled
from policestress.plots.text import figure_text


@styled
def plot_latent_means(
    table: pd.DataFrame,
    factor_labels: Mapping[str, str] | None = None,
    group_labels: Mapping[str, Mapping] | None = None,
    variable_labels: Mapping[str, str] | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    language: str = "en",
) -> plt.Figure:
    """Forest plot of latent mean differences with confidence intervals, one panel per
    grouping variable.

    Each factor is a row; each non-reference group a coloured point with its interval; the
    dashed line at 0 is the reference group (its latent means are fixed at 0).

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``group_var, factor, group, reference, n, diff, ci_low, ci_high`` (the output
        of ``latent_mean_differences``, possibly concatenated over grouping variables).
    factor_labels : mapping, optional
        ``{factor: label}``.
    group_labels : mapping, optional
        ``{group_var: {group value: label}}``.
    variable_labels : mapping, optional
        ``{group_var: label}`` for the panel titles.
    xlabel, title : str, optional
        The x label defaults to the latent mean difference's in ``language``.
    language : {'en', 'zh'}

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group_var": "school", "factor": ["visual", "textual"],
    ...                   "group": "Grant-White", "reference": "Pasteur", "n": 145,
    ...                   "diff": [-0.15, 0.58], "ci_low": [-0.39, 0.35], "ci_high": [0.09, 0.81]})
    >>> fig = plot_latent_means(t)
    >>> len(fig.axes)
    1
    """
    factor_labels = dict(factor_labels or {})
    group_labels = {k: dict(v) for k, v in (group_labels or {}).items()}
    variable_labels = dict(variable_labels or {})
    variables = list(dict.fromkeys(table["group_var"]))
    factors = list(dict.fromkeys(table["factor"]))
    heights = [max(2.5, 1.1 * len(factors)) + 1.4 for _ in variables]
    fig, axes = new_figure(
        sum(heights) + 1.2,
        nrows=len(variables),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    lo = float(np.nanmin(table["ci_low"].to_numpy(dtype=float)))
    hi = float(np.nanmax(table["ci_high"].to_numpy(dtype=float)))
    pad = 0.08 * max(hi - lo, 1e-6)
    for ax, var in zip(axes[:, 0], variables, strict=True):
        part = table[table["group_var"] == var]
        labels = group_labels.get(var, {})
        groups = list(dict.fromkeys(part["group"]))
        width = 0.6
        # first group on top within a factor's row, as in the legend
        offsets = ((len(groups) - 1) / 2 - np.arange(len(groups))) * (width / len(groups))
        y_of = {f: len(factors) - 1 - i for i, f in enumerate(factors)}
        for k, grp in enumerate(groups):
            rows = part[part["group"] == grp]
            y = rows["factor"].map(y_of).to_numpy() + offsets[k]
            x = rows["diff"].to_numpy(dtype=float)
            err = np.vstack(
                [
                    x - rows["ci_low"].to_numpy(dtype=float),
                    rows["ci_high"].to_numpy(dtype=float) - x,
                ]
            )
            n = int(rows["n"].iloc[0])
            ax.errorbar(
                x,
                y,
                xerr=err,
                fmt="o",
                color=PALETTE[k % len(PALETTE)],
                capsize=3,
                markersize=4,
                linewidth=1.1,
                label=f"{fit_text(labels.get(grp, grp), 3.5)} (n = {n})",
            )
        reference = part["reference"].iloc[0]
        ax.axvline(0.0, color="0.35", linestyle="--", linewidth=1)
        ax.set_yticks([y_of[f] for f in factors])
        ax.set_yticklabels([fit_text(factor_labels.get(f, f), 4.0) for f in factors])
        ax.set_ylim(-0.7, len(factors) - 0.3)
        ax.set_xlim(min(lo, 0.0) - pad, max(hi, 0.0) + pad)
        ref_n = part["n_reference"].iloc[0] if "n_reference" in part else None
        ref_text = f"{labels.get(reference, reference)}" + (f", n = {int(ref_n)}" if ref_n else "")
        panel = figure_text(language, "latent_panel", variable=variable_labels.get(var, var),
                            reference=ref_text)  # fmt: skip
        ax.set_title(panel, loc="left")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.grid(axis="x", color="0.9")
    axes[-1, 0].set_xlabel(xlabel or figure_text(language, "latent_x"))
    if title:
        fig.suptitle(title)
    return fig
