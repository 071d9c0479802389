"""One style for every figure: sized for a thesis's 15 cm text width, text at least 8 pt.

A figure is drawn at the size it is printed: 15 cm wide (:data:`TEXT_WIDTH_CM`), never more
than 16 cm (:data:`MAX_WIDTH_CM`), so the 8-10 pt of its text stay 8-10 pt when the PNG or
SVG is placed in the thesis at its natural size. :func:`figure_style` applies the rc
parameters (:data:`RC` and the CJK font fallback) while a figure is drawn and saved, and
:func:`styled` wraps every figure function of :mod:`policestress.plots` in it, so importing
the package changes no global setting; :func:`new_figure` makes a
figure of that width with constrained layout; :func:`print_problems` lists what would print
too small or too wide, and :func:`policestress.plots.save_figure` refuses such a figure.

Examples
--------
>>> fig, ax = styled(new_figure)(6)
>>> float(round(fig.get_figwidth() * 2.54, 1))
15.0
>>> print_problems(fig)
[]
>>> _ = ax.set_title("tiny", fontsize=6)
>>> print_problems(fig)
["text 'tiny' is 6 pt (at least 8 pt)"]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation

from policestress.fonts import cjk_font_rc

CM = 1 / 2.54  # inches per centimetre
TEXT_WIDTH_CM = 15.0
MAX_WIDTH_CM = 16.0
MIN_FONT_PT = 8.0
# The tallest figure that still fits an A4 page's text block with its caption.
MAX_HEIGHT_CM = 22.0

# Okabe-Ito: distinguishable with every common colour-vision deficiency, and in grey print.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

RC = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 10,
    "axes.titleweight": "normal",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "legend.frameon": False,
    "figure.figsize": (TEXT_WIDTH_CM * CM, 9 * CM),
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.pad_inches": 0.04,
    # SVG text as paths: files render the same wherever they are opened (each text's string
    # stays in the file as an XML comment); the hash salt fixed so element ids do not change.
    "svg.fonttype": "path",
    "svg.hashsalt": "policestress",
    # a stage holds all of its figures until it publishes them (25 for the descriptives)
    "figure.max_open_warning": 0,
}


def style_rc() -> dict:
    """The rc parameters of every figure: :data:`RC` and the CJK font fallback."""
    return {**RC, **cjk_font_rc()}


@contextmanager
def figure_style() -> Iterator[None]:
    """Draw (and save) figures in the project's style; rc parameters are restored after."""
    with matplotlib.rc_context(style_rc()):
        yield


def styled(function: Callable) -> Callable:
    """Run a figure function in :func:`figure_style` (text and ticks take their style when
    created, so the whole function runs inside it)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with figure_style():
            return function(*args, **kwargs)

    return wrapper


def new_figure(
    height_cm: float,
    width_cm: float = TEXT_WIDTH_CM,
    nrows: int = 1,
    ncols: int = 1,
    **kwargs,
):
    """``plt.subplots`` at print size (centimetres) with constrained layout.

    The height is capped at :data:`MAX_HEIGHT_CM`, the width at :data:`MAX_WIDTH_CM`.
    Extra keyword arguments go to :func:`matplotlib.pyplot.subplots`.
    """
    width_cm = min(width_cm, MAX_WIDTH_CM)
    height_cm = min(height_cm, MAX_HEIGHT_CM)
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width_cm * CM, height_cm * CM), **kwargs)


def _in_view(text: Text, renderer) -> bool:
    axes = text.axes
    if axes is not None and not axes.get_visible():
        return False
    # Tick labels outside the view limits are kept by matplotlib but not drawn.
    return text.get_window_extent(renderer).width > 0


def print_box(fig: plt.Figure, renderer=None):
    """The area (inches, a Bbox) a figure prints: the tight bounding box with
    ``savefig.pad_inches`` around it (:func:`policestress.plots.save_figure` cuts a figure it
    laid out closer, to the pixels drawn inside this box); ``renderer``: that of a figure
    already drawn (without it the figure is drawn here: tick labels exist only once it is)."""
    if renderer is None:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
    pad = matplotlib.rcParams["savefig.pad_inches"]
    return fig.get_tightbbox(renderer).padded(pad)


def print_problems(fig: plt.Figure, renderer=None, box=None) -> list[str]:
    """What would print too small (text under 8 pt) or too wide (over 16 cm); empty when fine.

    ``renderer``: that of a figure already drawn (then it is not drawn again); ``box``: its
    :func:`print_box`, when already known (then it is not measured again)."""
    if renderer is None:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
    # Sizes first: only a small text needs the (costly) extent that says whether it is drawn.
    small = [t for t in fig.findobj(Text) if t.get_fontsize() < MIN_FONT_PT - 1e-9]
    problems = [
        f"text {t.get_text()!r} is {t.get_fontsize():g} pt (at least {MIN_FONT_PT:g} pt)"
        for t in small
        if t.get_visible() and t.get_text().strip() and _in_view(t, renderer)
    ]
    box = print_box(fig, renderer) if box is None else box
    width, height = box.width / CM, box.height / CM
    if width > MAX_WIDTH_CM + 0.05:
        problems.append(f"figure is {width:.1f} cm wide (at most {MAX_WIDTH_CM:g} cm)")
    if height > MAX_HEIGHT_CM + 1.0:
        problems.append(f"figure is {height:.1f} cm tall (at most {MAX_HEIGHT_CM:g} cm)")
    return problems


def text_width_cm(text: str, size: float = 8.0) -> float:
    """Printed width (cm) of ``text`` at ``size`` pt, estimated: a CJK glyph is one em wide,
    a Latin one about 0.55 em (DejaVu Sans)."""
    em = size / 72 * 2.54
    return sum(em * (1.0 if ord(ch) >= 0x2E80 else 0.55) for ch in str(text))


def fit_text(text: str, max_cm: float, size: float = 8.0) -> str:
    """``text`` cut (with an ellipsis) so it prints at most ``max_cm`` wide at ``size`` pt.

    Examples
    --------
    >>> fit_text("工作任务繁重，经常需要加班加点", 2.0)
    '工作任务繁重…'
    >>> fit_text("short", 2.0)
    'short'
    """
    text = str(text)
    if text_width_cm(text, size) <= max_cm:
        return text
    while text and text_width_cm(text + "…", size) > max_cm:
        text = text[:-1]
    return text.rstrip() + "…"


def heatmap_cells(ax: plt.Axes, values: np.ndarray):
    """A heatmap of ``values`` (-1 to 1; NaN left empty), cell (i, j) centred on x = j, y = i,
    row 0 at the top, as ``imshow`` lays it out.

    Drawn as a mesh of flat cells, not an image: an image is resampled and colour-mapped
    pixel by pixel at the PNG's 300 dpi (a third of the time the 45-item loading heatmap took
    to save); the mesh gives the same pixels (within one colour level) and vector cells in
    SVG.
    """
    rows, cols = values.shape
    mesh = ax.pcolormesh(
        np.arange(cols + 1) - 0.5,
        np.arange(rows + 1) - 0.5,
        np.ma.masked_invalid(values),
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        # a hairline in each cell's colour: SVG viewers otherwise show seams between cells
        edgecolors="face",
        linewidth=0.2,
    )
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    return mesh


def bars(ax: plt.Axes, base, length, start=0.0, width=0.8, *, horizontal=False, **kwargs):
    """Bars as one collection of rectangles: ``ax.bar`` (``ax.barh`` when ``horizontal``)
    drawn with one artist instead of a patch per bar, for the same picture (the descriptives
    stage's charts of many bars, Likert and score distributions, save a seventh faster).

    ``base``: the bars' centres along the category axis; ``length`` and ``start``: where
    each bar ends and begins along the value axis; ``width``: across. Keyword arguments go to
    :class:`matplotlib.collections.PolyCollection` (``facecolors``, ``edgecolors``,
    ``linewidths``, ``alpha``). As with ``ax.bar``, the value axis keeps no margin below a
    bar's start at 0.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> cells = bars(ax, [1, 2], [3, 4], width=0.5, facecolors="C0")
    >>> float(ax.get_ylim()[0])
    0.0
    >>> plt.close(fig)
    """
    from matplotlib.collections import PolyCollection

    base, length, start, width = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (base, length, start, width))
    )
    low, high = base - width / 2, base + width / 2
    end = start + length
    corners = [(start, low), (start, high), (end, high), (end, low)]
    verts = np.stack([np.column_stack(c) for c in corners], axis=1)  # (bar, corner, xy)
    if not horizontal:
        verts = verts[..., ::-1]
    cells = PolyCollection(verts, **kwargs)
    sticky = cells.sticky_edges.x if horizontal else cells.sticky_edges.y
    sticky.append(0.0)
    ax.add_collection(cells)
    ax.autoscale_view()
    return cells


def legend_below(ax, **kwargs):
    """A legend centred under the axes' tick labels and x label, drawn as part of the axes.

    A figure-level "outside" legend is laid out in the figure's margin, where the simulated-
    data footnote and a tight bounding box move it; as a child of the axes it stays where it
    is drawn and constrained layout makes room for it.
    """
    fig = ax.figure
    # Laid out once before the legend exists (constrained layout starts from the axes'
    # current positions: from there the final layout leaves the legend its room; from scratch
    # the figure comes out ~0.4 cm wider). The layout alone, not a draw: the axes' tight box
    # updates its ticks and x label itself.
    layout = fig.get_layout_engine()
    if layout is not None:
        layout.execute(fig)
    renderer = fig.canvas.get_renderer()
    drop = (ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0) / fig.dpi
    below = ax.transAxes + ScaledTranslation(0, -(drop + 0.06), fig.dpi_scale_trans)
    kwargs.setdefault("loc", "upper center")
    return ax.legend(bbox_to_anchor=(0.5, 0), bbox_transform=below, **kwargs)
