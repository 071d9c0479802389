"""Figures of the power study: power and convergence by sample size.

:func:`plot_power_curves` draws the tables of :func:`policestress.power.parameter_table`
and :func:`policestress.power.convergence_table`; save it with
:func:`policestress.plots.save_figure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from policestress.plots.style import PALETTE, legend_below, new_figure, styled
from policestress.plots.text import figure_text

# parameter classes drawn, by lavaan operator (variances are left out: they are always
# "significant" and say nothing about the sample size a study needs)
_CLASSES = (("=~", "power_loadings"), ("~", "power_regressions"), ("~~", "power_covariances"))


def _targets(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["lhs"] != table["rhs"]) & (table["population"].abs() > 1e-12)]


@styled
def plot_power_curves(
    parameters: pd.DataFrame,
    convergence: pd.DataFrame,
    target_power: float = 0.80,
    target_convergence: float = 0.95,
    language: str = "en",
) -> plt.Figure:
    """Power by sample size per parameter class (median and range over the parameters),
    the analytic power where the study has it, and convergence with proper solutions, each
    with its target.

    Parameters
    ----------
    parameters : DataFrame
        :func:`policestress.power.parameter_table`.
    convergence : DataFrame
        :func:`policestress.power.convergence_table`.
    target_power, target_convergence : float
        Drawn as dashed lines.
    language : {'en', 'zh'}

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"n": [100, 200], "parameter": "f=~x2", "lhs": "f", "op": "=~",
    ...                   "rhs": "x2", "population": 0.5, "power": [0.6, 0.9],
    ...                   "power_mcse": [0.05, 0.03], "analytic_power": [0.62, 0.88]})
    >>> c = pd.DataFrame({"n": [100, 200], "replications": 100, "convergence": [0.97, 1.0],
    ...                   "convergence_mcse": [0.017, 0.0], "improper_share": [0.02, 0.0]})
    >>> len(plot_power_curves(p, c).axes)
    2
    """
    fig, (left, right) = new_figure(7.5, ncols=2)
    table = _targets(parameters)
    colors = iter(PALETTE)
    for op, key in _CLASSES:
        sub = table[table["op"] == op]
        if sub.empty:
            continue
        color = next(colors)
        by_n = sub.groupby("n")["power"]
        n = np.array(sorted(sub["n"].unique()))
        left.fill_between(
            n, by_n.min().to_numpy(), by_n.max().to_numpy(), color=color, alpha=0.2, lw=0
        )
        left.plot(n, by_n.median().to_numpy(), "o-", color=color, label=figure_text(language, key))
    loadings = table[(table["op"] == "=~") & table["analytic_power"].notna()]
    if not loadings.empty:
        analytic = loadings.groupby("n")["analytic_power"].median()
        left.plot(
            analytic.index,
            analytic.to_numpy(),
            ":",
            color="0.3",
            label=figure_text(language, "power_analytic"),
        )
    conv = convergence.sort_values("n")
    proper = conv["convergence"] * (1 - conv["improper_share"].fillna(0))
    right.errorbar(
        conv["n"],
        conv["convergence"],
        yerr=1.96 * conv["convergence_mcse"],
        fmt="o-",
        color=PALETTE[0],
        capsize=2,
        label=figure_text(language, "converged"),
    )
    right.plot(conv["n"], proper, "s--", color=PALETTE[1], label=figure_text(language, "proper"))
    replications = int(conv["replications"].max()) if len(conv) else 0
    _finish_panel(
        left,
        target_power,
        0,
        figure_text(language, "power_y"),
        figure_text(language, "power_title", replications=replications),
        language,
    )
    _finish_panel(
        right,
        target_convergence,
        min(0.5, float(proper.min()) - 0.05),
        figure_text(language, "convergence_y"),
        figure_text(language, "convergence_title"),
        language,
    )
    return fig


def _finish_panel(
    ax: plt.Axes, target: float, y_low: float, ylabel: str, title: str, language: str
) -> None:
    """The target as a dashed line, a share axis up to 1, sample size on x, legend below."""
    ax.axhline(
        target, ls="--", lw=0.8, color="0.5", label=figure_text(language, "target", value=target)
    )
    ax.set_ylim(y_low, 1.02)
    ax.set_xlabel(figure_text(language, "power_x"))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend_below(ax, ncols=1)
