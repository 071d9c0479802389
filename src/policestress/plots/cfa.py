"""Figures of the confirmatory factor analysis: path diagram and fit comparison.

Drawn with matplotlib only (no Graphviz), so they render on a fresh machine.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle

from policestress.plots.style import CM, PALETTE, TEXT_WIDTH_CM, new_figure, styled, text_width_cm
from policestress.plots.text import figure_text, model_label

__all__ = ["path_diagram", "path_diagrams", "fit_comparison"]


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


def _wrap(text: str, max_cm: float) -> str:
    """Break a label into lines of at most ``max_cm`` at 8 pt (CJK anywhere, Latin at spaces)."""
    if text_width_cm(text) <= max_cm:
        return text
    if any(ord(ch) >= 0x2E80 for ch in text):
        lines, line = [], ""
        for ch in text:
            if line and text_width_cm(line + ch) > max_cm:
                lines.append(line)
                line = ""
            line += ch
        return "\n".join([*lines, line])
    return textwrap.fill(text, max(8, int(max_cm / text_width_cm("n"))))


def _bulge(i: int, j: int) -> float:
    """Reach (cm) of the correlation arc between top factors i < j: nested arcs, wider for
    factors further apart and shifted per start, so no two labels share a place."""
    return 0.5 + 0.8 * (abs(j - i) - 1) + 0.25 * min(i, j)


@styled
def path_diagram(
    estimates: pd.DataFrame,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    show_correlations: str = "top",
    decimals: int = 2,
    language: str = "en",
    latent_leaves: bool = False,
) -> plt.Figure:
    """Path diagram of a CFA model with standardized (``std_all``) estimates, 15 cm wide.

    Observed items (rectangles) on the left, first-order factors (ellipses) in the middle,
    higher-order factors on the right; arrows carry standardized loadings, the number left
    of an item is its standardized residual variance, the number under a lower-order factor
    its disturbance. Correlations among the top-level factors are drawn as arcs on the
    right when there are at most 8 of them. Values out of range (a loading above 1 in
    absolute value, a variance at or below 0) are red. Everything is laid out in
    centimetres at print size, text at 8 pt; :func:`path_diagrams` splits a large model.

    Parameters
    ----------
    estimates : DataFrame
        :func:`policestress.cfa.parameter_estimates` of one model (or a part of it).
    labels : dict, optional
        Display names of latent variables (e.g. Chinese construct labels).
    title : str, optional
    show_correlations : {"top", "none"}
    decimals : int
    language : {'en', 'zh'}
    latent_leaves : bool
        The leftmost column holds latent variables (the factors-only overview), drawn as
        ellipses with their labels.

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

    def number(value: float) -> str:  # no leading zero: standardized values are bounded by 1
        return fmt.format(value).replace("0.", ".", 1)

    grey, red = "0.3", "#C0392B"
    n_obs = len(observed)
    leaf_text = {v: _wrap(labels.get(v, v), 3.6) if latent_leaves else v for v in observed}
    leaf_lines = max((t.count("\n") + 1 for t in leaf_text.values()), default=1)
    leaf_w = max(max(text_width_cm(line) for line in t.split("\n")) for t in leaf_text.values())
    leaf_w += 0.9 if latent_leaves else 0.35
    leaf_h = 0.16 + 0.34 * leaf_lines
    pitch = leaf_h + (0.22 if latent_leaves else 0.12)
    factor_text = {f: _wrap(labels.get(f, f), 2.6) for layer in layers for f in layer}
    layer_w = [
        max(max(text_width_cm(x) for x in factor_text[f].split("\n")) for f in layer) + 0.8
        for layer in layers
    ]
    top = layers[-1] if layers else []
    arcs = show_correlations == "top" and 1 < len(top) <= 8
    arc_room = _bulge(0, len(top) - 1) + 0.9 if arcs else 0.0
    resid_room = 0.95
    fixed = resid_room + leaf_w + sum(layer_w) + arc_room + 0.2
    gaps = max(len(layers), 1)
    gap = min(3.4, max(1.6, (TEXT_WIDTH_CM - fixed) / gaps))
    width = min(TEXT_WIDTH_CM, fixed + gap * gaps)
    title_room = 1.0 if title else 0.3
    height = n_obs * pitch + title_room + 0.8
    fig = plt.figure(figsize=(width * CM, height * CM))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")

    pos: dict[str, tuple[float, float]] = {}
    x_leaf = resid_room + leaf_w / 2
    for k, v in enumerate(observed):
        pos[v] = (x_leaf, height - title_room - (k + 0.5) * pitch)
    x = resid_room + leaf_w
    half_w = {v: leaf_w / 2 for v in observed}
    for depth, layer in enumerate(layers):
        x += gap + layer_w[depth] / 2
        for f in layer:
            ys = [pos[c][1] for c in children[f] if c in pos]
            pos[f] = (x, float(np.mean(ys)))
            half_w[f] = layer_w[depth] / 2
        x += layer_w[depth] / 2

    for v in observed:
        vx, vy = pos[v]
        if latent_leaves:
            ax.add_patch(Ellipse((vx, vy), leaf_w, leaf_h + 0.15, fc="#e8f0f8", ec="0.2", lw=0.8))
        else:
            ax.add_patch(Rectangle((vx - leaf_w / 2, vy - leaf_h / 2), leaf_w, leaf_h,
                                   fc="white", ec="0.2", lw=0.7))  # fmt: skip
        ax.text(vx, vy, leaf_text[v], ha="center", va="center", fontsize=8)
        resid = std.get((v, "~~", v))
        if resid is not None and np.isfinite(resid):
            ax.text(vx - leaf_w / 2 - 0.08, vy, number(resid), ha="right", va="center",
                    fontsize=8, color=red if resid <= 0 else "0.35")  # fmt: skip
    for depth, layer in enumerate(layers):
        for f in layer:
            fx, fy = pos[f]
            lines = factor_text[f].count("\n") + 1
            ell_h = 0.5 + 0.34 * lines
            ax.add_patch(Ellipse((fx, fy), layer_w[depth], ell_h, fc="#e8f0f8", ec="0.2", lw=0.8))
            ax.text(fx, fy, factor_text[f], ha="center", va="center", fontsize=8)
            if depth < len(layers) - 1:
                dist = std.get((f, "~~", f))
                if dist is not None and np.isfinite(dist):
                    ax.text(fx, fy - ell_h / 2 - 0.05, number(dist), ha="center", va="top",
                            fontsize=8, color=red if dist <= 0 else "0.35")  # fmt: skip
            for c in children[f]:
                if c not in pos:
                    continue
                cx, cy = pos[c]
                start = (fx - layer_w[depth] / 2, fy)
                end = (cx + half_w[c], cy)
                value = std.get((f, "=~", c), np.nan)
                bad = bool(np.isfinite(value) and abs(value) > 1)
                ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=6,
                                             lw=0.6, color=red if bad else grey))  # fmt: skip
                if c in observed and not latent_leaves:
                    # beside the arrowhead, on the item's row: readable however many arrows fan
                    tx, ty = end[0] + 0.5, end[1]
                else:
                    tx = end[0] + 0.3 * (start[0] - end[0])
                    ty = end[1] + 0.3 * (start[1] - end[1])
                ax.text(tx, ty, number(value), fontsize=8, ha="center", va="center",
                        bbox={"fc": "white", "ec": "none", "pad": 0.4},
                        color=red if bad else "black")  # fmt: skip
    if arcs:
        x_right = max(pos[f][0] + half_w[f] for f in top)
        t = np.linspace(0, 1, 60)
        for a, b in [(a, b) for k, a in enumerate(top) for b in top[k + 1 :]]:
            r = std.get((a, "~~", b), std.get((b, "~~", a)))
            if r is None:
                continue
            ya, yb = pos[a][1], pos[b][1]
            # nested arcs: wider for factors further apart, so their labels do not overlap
            bulge = _bulge(top.index(a), top.index(b))
            xs, ys = x_right + 0.1 + bulge * np.sin(np.pi * t), ya + (yb - ya) * t
            ax.plot(xs, ys, lw=0.5, color="0.45")
            for k0, k1 in ((2, 0), (-3, -1)):
                ax.add_patch(FancyArrowPatch((xs[k0], ys[k0]), (xs[k1], ys[k1]),
                                             arrowstyle="-|>", mutation_scale=5, lw=0.5,
                                             color="0.45"))  # fmt: skip
            ax.text(x_right + 0.1 + bulge, (ya + yb) / 2, number(r), fontsize=8, ha="center",
                    va="center", color="0.2",
                    bbox={"fc": "white", "ec": "none", "pad": 0.2})  # fmt: skip
    if title:
        ax.text(width / 2, height - 0.15, title, ha="center", va="top", fontsize=9.5)
    note = "path_note_structure" if latent_leaves else "path_note"
    ax.text(0.1, 0.1, figure_text(language, note), ha="left", va="bottom", fontsize=8,
            color="0.35")  # fmt: skip
    return fig


def _subtree(estimates: pd.DataFrame, roots: list[str]) -> pd.DataFrame:
    """Rows of ``estimates`` about ``roots`` and everything they measure (down to the items)."""
    load = estimates[estimates["op"] == "=~"]
    keep, frontier = set(), list(roots)
    while frontier:
        v = frontier.pop()
        if v in keep:
            continue
        keep.add(v)
        frontier += load.loc[load["lhs"] == v, "rhs"].tolist()
    rows = (estimates["op"] == "=~") & estimates["lhs"].isin(keep)
    rows |= (estimates["op"] == "~~") & estimates["lhs"].isin(keep) & estimates["rhs"].isin(keep)
    return estimates[rows]


@styled
def path_diagrams(
    estimates: pd.DataFrame,
    model: str,
    parts: dict[str, list[str]] | None = None,
    labels: dict[str, str] | None = None,
    language: str = "en",
    max_items: int = 24,
) -> dict[str, plt.Figure]:
    """Path diagrams of a model that fit a page: one figure, or one per part plus an overview.

    A model with at most ``max_items`` items, or whose factors no part names (a single general
    factor), is one figure (key ``""``). A larger one is drawn
    once per part (``parts``: part name -> the latent variables it holds, e.g. a domain and
    its constructs, from ``cfg.codebook.domains``), keyed by the part name, and, when the
    model has higher-order factors, once more as the latent structure only
    (key ``"structure"``): lower-order factors, their loadings on the higher-order ones and
    the correlations of the top-level factors.

    Parameters
    ----------
    estimates : DataFrame
        :func:`policestress.cfa.parameter_estimates` of one model.
    model : str
        The model's display name (:func:`policestress.plots.text.model_label`), for titles.
    parts : dict, optional
        Part name -> latent variables (names not in the model are ignored).
    labels : dict, optional
        Display names of latent variables and parts.
    language : {'en', 'zh'}
    max_items : int

    Examples
    --------
    >>> est = pd.DataFrame({"lhs": ["f", "f", "g", "g"], "op": ["=~"] * 4,
    ...     "rhs": ["x1", "x2", "x3", "x4"], "std_all": [0.8, 0.7, 0.6, 0.7]})
    >>> sorted(path_diagrams(est, "m", {"a": ["f"], "b": ["g"]}, max_items=2))
    ['a', 'b']
    >>> second = pd.concat([est, pd.DataFrame({"lhs": ["h", "h"], "op": ["=~"] * 2,
    ...     "rhs": ["f", "g"], "std_all": [0.9, 0.8]})])
    >>> sorted(path_diagrams(second, "m", {"a": ["f"], "b": ["g"]}, max_items=2))
    ['a', 'b', 'structure']
    """
    labels = labels or {}
    t = lambda key, **v: figure_text(language, key, **v)  # noqa: E731
    observed, layers, children = _levels(estimates)
    latents = {f for layer in layers for f in layer}
    covered = {m for members in (parts or {}).values() for m in members} & latents
    # One figure when the model fits a page, or when no part names its factors (one_factor).
    if len(observed) <= max_items or not covered:
        return {
            "": path_diagram(estimates, labels, t("path_title", model=model), language=language)
        }
    figures = {}
    for part, members in parts.items():
        roots = [m for m in members if m in latents]
        if not roots:
            continue
        sub = _subtree(estimates, roots)
        title = t("path_title_part", model=model, part=labels.get(part, part))
        figures[part] = path_diagram(sub, labels, title, show_correlations="none",
                                     language=language)  # fmt: skip
    structure = estimates[
        ((estimates["op"] == "=~") & estimates["rhs"].isin(latents))
        | ((estimates["op"] == "~~") & estimates["lhs"].isin(latents)
           & estimates["rhs"].isin(latents))
    ]  # fmt: skip
    if (structure["op"] == "=~").any():
        title = t("path_title_part", model=model, part=t("path_overview"))
        figures["structure"] = path_diagram(structure, labels, title, language=language,
                                            latent_leaves=True)  # fmt: skip
    return figures


@styled
def fit_comparison(fit: pd.DataFrame, title: str | None = None, language: str = "en") -> plt.Figure:
    """CFI, TLI, RMSEA (90% CI) and SRMR of competing models side by side.

    Dashed lines mark conventional cut-offs (CFI/TLI .90 and .95, RMSEA .06 and .08,
    SRMR .08), drawn for orientation, not as verdicts. Models are labelled with
    :func:`policestress.plots.text.model_label`.

    Parameters
    ----------
    fit : DataFrame
        :func:`policestress.cfa.fit_table` output.
    title : str, optional
    language : {'en', 'zh'}

    Examples
    --------
    >>> tab = pd.DataFrame({"model": ["a", "b"], "cfi": [0.9, 0.95], "tli": [0.88, 0.94],
    ...     "rmsea": [0.08, 0.05], "rmsea_ci_low": [0.07, 0.04], "rmsea_ci_high": [0.09, 0.06],
    ...     "srmr": [0.07, 0.05]})
    >>> fig = fit_comparison(tab)
    """
    models = [model_label(m, language) for m in fit["model"]]
    y = np.arange(len(models))[::-1]
    fig, axes = new_figure(0.7 * len(models) + 3.4, ncols=3, sharey=True)
    ax = axes[0]
    ax.plot(fit["cfi"], y, "o", label="CFI", color=PALETTE[0])
    ax.plot(fit["tli"], y, "s", label="TLI", color=PALETTE[1], mfc="none")
    for cut in (0.90, 0.95):
        ax.axvline(cut, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("CFI / TLI")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.1)
    ax = axes[1]
    err = np.vstack([fit["rmsea"] - fit["rmsea_ci_low"], fit["rmsea_ci_high"] - fit["rmsea"]])
    ax.errorbar(fit["rmsea"], y, xerr=err, fmt="o", color=PALETTE[2], capsize=3)
    for cut in (0.06, 0.08):
        ax.axvline(cut, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("RMSEA（90% CI）" if language == "zh" else "RMSEA (90% CI)")
    ax = axes[2]
    ax.plot(fit["srmr"], y, "D", color=PALETTE[3])
    ax.axvline(0.08, ls="--", lw=0.7, color="0.5")
    ax.set_xlabel("SRMR")
    axes[0].set_yticks(y, models)
    for a in axes:
        a.grid(axis="x", lw=0.3, alpha=0.5)
        a.xaxis.set_major_formatter(lambda v, _: f"{v:.2f}".replace("0.", ".", 1))
        a.xaxis.set_major_locator(plt.MaxNLocator(3))
    fig.suptitle(title or figure_text(language, "fit_title"))
    return fig
