"""Figures of the confirmatory factor analysis: path diagram and fit comparison.

Drawn with matplotlib only (no Graphviz), so they render on a fresh machine.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle

__all__ = ["path_diagram", "fit_comparison"]


def _levels(estimates: pd.DataFrame) -> tuple[list[str], list[list[str]], dict[str, list[str]]]:
    """Observed variables and the latent layers (first order, second order, ...)."""
    load = estimates[estimates["op"] == "=~"]
    children: dict[str, list[str]] = {}
    for lhs, rhs in zip(load["lhs"], load["rhs"], strict=True):
        children.setdefault(lhs, []).append(rhs)
    latents = list(children)
    observed = list(dict.fromkeys(r for r in load["rhs"] if r not in children))
    layers: list[list[str]] = []
    placed: set[str] = set()
    current = [f for f in latents if all(c not in children for c in children[f])]
    while current:
        layers.append(current)
        placed.update(current)
        current = [
            f
            for f in latents
            if f not in placed and all(c in placed or c in observed for c in children[f])
        ]
    return observed, layers, children


def path_diagram(
    estimates: pd.DataFrame,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    show_correlations: str = "top",
    decimals: int = 2,
) -> plt.Figure:
    """Path diagram of a CFA model with standardized (``std_all``) estimates.

    Observed items (rectangles) on the left, first-order factors (ellipses) in the middle,
    higher-order factors on the right; arrows carry standardized loadings, the small number
    left of an item is its standardized residual variance. Correlations among the top-level
    factors are drawn as arcs on the right when there are at most 8 of them.

    Parameters
    ----------
    estimates : DataFrame
        :func:`policestress.cfa.parameter_estimates` of one model.
    labels : dict, optional
        Display names of latent variables (e.g. Chinese construct labels).
    title : str, optional
    show_correlations : {"top", "none"}
    decimals : int

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> est = pd.DataFrame({"lhs": ["f", "f", "x1", "x2"], "op": ["=~", "=~", "~~", "~~"],
    ...     "rhs": ["x1", "x2", "x1", "x2"], "std_all": [0.8, 0.7, 0.36, 0.51]})
    >>> fig = path_diagram(est)
    """
    labels = labels or {}
    observed, layers, children = _levels(estimates)
    std = {
        (r.lhs, r.op, r.rhs): r.std_all
        for r in estimates[["lhs", "op", "rhs", "std_all"]].itertuples(index=False)
    }
    fmt = f"{{:.{decimals}f}}"
    n_obs = len(observed)
    height = max(4.0, 0.28 * n_obs + 1.2)
    n_layers = len(layers)
    width = 6.6 + 3.6 * n_layers
    fig, ax = plt.subplots(figsize=(width, height))
    y_obs = {v: n_obs - 1 - k for k, v in enumerate(observed)}
    pos: dict[str, tuple[float, float]] = {}
    x_item = 0.9
    for v in observed:
        pos[v] = (x_item, y_obs[v])
    for depth, layer in enumerate(layers):
        x = 4.6 + 3.8 * depth
        for f in layer:
            ys = [pos[c][1] for c in children[f] if c in pos]
            pos[f] = (x, float(np.mean(ys)))
    font = 7 if n_obs > 20 else 8

    box_w, box_h = 1.3, 0.62
    for v in observed:
        x, y = pos[v]
        ax.add_patch(
            Rectangle((x - box_w / 2, y - box_h / 2), box_w, box_h, fc="white", ec="0.2", lw=0.8)
        )
        ax.text(x, y, v, ha="center", va="center", fontsize=font)
        resid = std.get((v, "~~", v))
        if resid is not None and np.isfinite(resid):
            colour = "firebrick" if resid <= 0 else "0.35"
            ax.text(
                x - box_w / 2 - 0.08,
                y,
                fmt.format(resid),
                ha="right",
                va="center",
                fontsize=font - 1,
                color=colour,
            )
    ell_w, ell_h = 3.0, 0.9
    for layer in layers:
        for f in layer:
            x, y = pos[f]
            ax.add_patch(Ellipse((x, y), ell_w, ell_h, fc="#e8f0f8", ec="0.2", lw=0.9))
            text = textwrap.fill(labels.get(f, f), 24)
            ax.text(x, y, text, ha="center", va="center", fontsize=font - (text.count("\n") > 0))
            for c in children[f]:
                if c not in pos:
                    continue
                cx, cy = pos[c]
                start = (x - ell_w / 2, y)
                end = (cx + (box_w / 2 if c in y_obs else ell_w / 2), cy)
                value = std.get((f, "=~", c), np.nan)
                bad = np.isfinite(value) and abs(value) > 1
                ax.add_patch(
                    FancyArrowPatch(
                        start,
                        end,
                        arrowstyle="-|>",
                        mutation_scale=7,
                        lw=0.6,
                        color="firebrick" if bad else "0.3",
                    )
                )
                if c in y_obs:
                    # beside the arrowhead, on the item's row: readable however many arrows fan
                    tx, ty = end[0] + 0.3, end[1]
                else:
                    tx = end[0] + 0.28 * (start[0] - end[0])
                    ty = end[1] + 0.28 * (start[1] - end[1])
                ax.text(
                    tx,
                    ty,
                    fmt.format(value),
                    fontsize=font - 1,
                    ha="center",
                    va="center",
                    bbox={"fc": "white", "ec": "none", "pad": 0.3},
                    color="firebrick" if bad else "black",
                )
    top = layers[-1] if layers else []
    x_right = max((pos[f][0] for f in top), default=x_item) + ell_w / 2
    if show_correlations == "top" and 1 < len(top) <= 8:
        pairs = [(a, b) for k, a in enumerate(top) for b in top[k + 1 :]]
        widest = 0.0
        t = np.linspace(0, 1, 60)
        for a, b in pairs:
            r = std.get((a, "~~", b), std.get((b, "~~", a)))
            if r is None:
                continue
            ya, yb = pos[a][1], pos[b][1]
            # nested arcs in data coordinates: wider for factors further apart
            bulge = 0.5 + 0.55 * abs(top.index(a) - top.index(b)) + 0.12 * top.index(a)
            xs, ys = x_right + bulge * np.sin(np.pi * t), ya + (yb - ya) * t
            ax.plot(xs, ys, lw=0.5, color="0.45")
            for k0, k1 in ((2, 0), (-3, -1)):
                ax.add_patch(
                    FancyArrowPatch(
                        (xs[k0], ys[k0]),
                        (xs[k1], ys[k1]),
                        arrowstyle="-|>",
                        mutation_scale=6,
                        lw=0.5,
                        color="0.45",
                    )
                )
            ax.text(
                x_right + bulge + 0.05,
                ya + (yb - ya) * 0.5 - 0.25,
                fmt.format(r),
                fontsize=font - 1,
                va="center",
                color="0.25",
                bbox={"fc": "white", "ec": "none", "pad": 0.2},
            )
            widest = max(widest, bulge)
        x_right += widest + 0.8
    for layer in layers[:-1] if len(layers) > 1 else []:
        for f in layer:
            dist = std.get((f, "~~", f))
            if dist is not None and np.isfinite(dist):
                x, y = pos[f]
                ax.text(
                    x,
                    y - ell_h / 2 - 0.12,
                    fmt.format(dist),
                    ha="center",
                    va="top",
                    fontsize=font - 2,
                    color="firebrick" if dist <= 0 else "0.35",
                )
    ax.set_xlim(-0.2, x_right + 0.4)
    ax.set_ylim(-1, n_obs)
    ax.set_aspect("auto")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def fit_comparison(fit: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """CFI, TLI, RMSEA (90% CI) and SRMR of competing models side by side.

    Dashed lines mark conventional cut-offs (CFI/TLI .90 and .95, RMSEA .06 and .08,
    SRMR .08), drawn for orientation, not as verdicts.

    Parameters
    ----------
    fit : DataFrame
        :func:`policestress.cfa.fit_table` output.

    Examples
    --------
    >>> tab = pd.DataFrame({"model": ["a", "b"], "cfi": [0.9, 0.95], "tli": [0.88, 0.94],
    ...     "rmsea": [0.08, 0.05], "rmsea_ci_low": [0.07, 0.04], "rmsea_ci_high": [0.09, 0.06],
    ...     "srmr": [0.07, 0.05]})
    >>> fig = fit_comparison(tab)
    """
    models = fit["model"].tolist()
    y = np.arange(len(models))[::-1]
    fig, axes = plt.subplots(1, 3, figsize=(10, 0.5 * len(models) + 1.6), sharey=True)
    ax = axes[0]
    ax.plot(fit["cfi"], y, "o", label="CFI", color="C0")
    ax.plot(fit["tli"], y, "s", label="TLI", color="C1", mfc="none")
    for cut in (0.90, 0.95):
        ax.axvline(cut, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("CFI / TLI")
    ax.legend(fontsize=8, loc="center left")
    ax = axes[1]
    err = np.vstack([fit["rmsea"] - fit["rmsea_ci_low"], fit["rmsea_ci_high"] - fit["rmsea"]])
    ax.errorbar(fit["rmsea"], y, xerr=err, fmt="o", color="C2", capsize=3)
    for cut in (0.06, 0.08):
        ax.axvline(cut, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("RMSEA (90% CI)")
    ax = axes[2]
    ax.plot(fit["srmr"], y, "D", color="C3")
    ax.axvline(0.08, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("SRMR")
    axes[0].set_yticks(y, models)
    for a in axes:
        a.grid(axis="x", lw=0.3, alpha=0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
