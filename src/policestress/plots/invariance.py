"""Figures of the measurement-invariance stage.

:func:`plot_latent_means` draws the table of :func:`policestress.invariance.latent_mean_differences`
(one or several grouping variables stacked); save it with :func:`policestress.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

# Colour-blind-safe qualitative palette (Okabe-Ito), reference group excluded.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def plot_latent_means(
    table: pd.DataFrame,
    factor_labels: Mapping[str, str] | None = None,
    group_labels: Mapping[str, Mapping] | None = None,
    variable_labels: Mapping[str, str] | None = None,
    xlabel: str = "Latent mean difference from the reference group (95% CI)",
    title: str | None = None,
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
    heights = [max(1.2, 0.55 * len(factors)) + 0.8 for _ in variables]
    fig, axes = plt.subplots(
        len(variables),
        1,
        figsize=(7.0, sum(heights)),
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
                markersize=5,
                linewidth=1.3,
                label=f"{labels.get(grp, grp)} (n = {n})",
            )
        reference = part["reference"].iloc[0]
        ax.axvline(0.0, color="0.35", linestyle="--", linewidth=1)
        ax.set_yticks([y_of[f] for f in factors])
        ax.set_yticklabels([factor_labels.get(f, f) for f in factors])
        ax.set_ylim(-0.7, len(factors) - 0.3)
        ax.set_xlim(min(lo, 0.0) - pad, max(hi, 0.0) + pad)
        ref_n = part["n_reference"].iloc[0] if "n_reference" in part else None
        ref_text = f"{labels.get(reference, reference)}" + (f", n = {int(ref_n)}" if ref_n else "")
        ax.set_title(f"{variable_labels.get(var, var)} (reference = 0: {ref_text})", fontsize=10)
        ax.legend(fontsize=8, loc="best", frameon=False)
        ax.grid(axis="x", color="0.9")
    axes[-1, 0].set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
