"""Figures, one module per statistical topic; :func:`save_figure` writes them all.

Every figure is drawn in one style (:mod:`policestress.plots.style`: 15 cm wide, text of
8-10 pt, the CJK font as fallback) with its texts in the site's language
(:mod:`policestress.plots.text` and the codebook's labels), and written as PNG (300 dpi) and
SVG with software and date metadata removed, so reruns give identical bytes. Figures of a
simulated site carry a footnote saying so (``save_figure(..., simulated=cfg.simulated)``).
Importing the package changes no global setting: each figure function draws in
:func:`policestress.plots.style.figure_style`, and :func:`save_figure` saves in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg", force=False)

from policestress.timing import output_timer  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

# pyplot and the style are imported where a figure is saved, not here: the report reads
# the figures' fixed texts (policestress.plots.text) and draws nothing, and pyplot is half a
# second of its start. The figure modules import the style themselves.

# Bilingual on purpose: whoever reads the figure, in whichever language, sees it.
SIMULATED_FOOTNOTE = "模拟数据 · SIMULATED DATA"
PNG_DPI = 300
# Room (inches) around a figure's layout on the canvas it is drawn on, for what reaches past
# the layout (legends below narrow axes overhang by up to ~0.4 cm) and, under a simulated
# site's figure, the footnote (an 8 pt line 0.08 in under the tight box, and the padding).
SIDE_ROOM_IN = 0.5
FOOTNOTE_ROOM_IN = 0.3


class FigureSizeError(ValueError):
    """A figure would print wider than 16 cm or with text under 8 pt."""


def _add_footnote(fig: plt.Figure, text: str, box: Bbox) -> Text:
    """Write ``text`` right-aligned under ``box`` (inches), the tight box of everything the
    (drawn, frozen) figure holds, so never over a label."""
    from policestress.plots.style import MIN_FONT_PT

    width, height = fig.get_size_inches()
    return fig.text(
        min(box.x1, width) / width,
        (box.y0 - 0.08) / height,
        text,
        ha="right",
        va="top",
        fontsize=MIN_FONT_PT,
        color="0.45",
    )


def _keep_room(fig: plt.Figure, layout: ConstrainedLayoutEngine, bottom: float) -> None:
    """Widen the figure by :data:`SIDE_ROOM_IN` on either side and heighten it by ``bottom``
    (inches) below, keeping the layout out of that room: the figure is laid out as before,
    and what reaches past its edges (a legend wider than its axes, the footnote under it)
    is drawn on the canvas, so into the PNG's pixels."""
    width, height = fig.get_size_inches()
    left, low, w, h = layout.get()["rect"]
    total_w, total_h = width + 2 * SIDE_ROOM_IN, height + bottom
    fig.set_size_inches(total_w, total_h)
    layout.set(
        rect=(
            (left * width + SIDE_ROOM_IN) / total_w,
            (low * height + bottom) / total_h,
            w * width / total_w,
            h * height / total_h,
        )
    )


def _round_positions(fig: plt.Figure) -> None:
    """Round every axes' position (figure fractions) to 1e-10, about a nanometre.

    Constrained layout's solver returns positions that can differ in their last bits from
    one run to the next; the SVG's clip-path ids are hashes of the clip rectangles, so those
    bits would change the file's bytes (not its picture). Rounded, reruns give the same.
    """
    import numpy as np
    from matplotlib.transforms import Bbox

    for ax in fig.axes:
        in_layout = ax.get_in_layout()
        box = ax.get_position(original=True)
        ax.set_position(Bbox(np.round(box.get_points(), 10)))
        ax.set_in_layout(in_layout)  # set_position takes an axes out of layouts


def _write_png(fig: plt.Figure, path: Path, box: Bbox) -> None:
    """Write the ``box`` (inches) of the figure just drawn at :data:`PNG_DPI` as a PNG.

    The pixels are the drawn canvas's, cut to the box (rounded to whole pixels; RGB when the
    canvas is opaque, as a figure on its white background is); a box reaching beyond the
    canvas (a figure without constrained layout, which gets no room around it, whose
    footnote falls below it) is drawn again for the box by ``savefig``. Either way the file
    holds no metadata but its resolution, so reruns give identical bytes.
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(fig.canvas.buffer_rgba())
    rows, cols = pixels.shape[:2]
    scale = fig.dpi
    left, right = round(box.x0 * scale), round(box.x1 * scale)
    top, bottom = rows - round(box.y1 * scale), rows - round(box.y0 * scale)
    if left < 0 or top < 0 or right > cols or bottom > rows:
        fig.savefig(path, dpi=PNG_DPI, bbox_inches=box, metadata={"Software": None})
        return
    crop = pixels[top:bottom, left:right]
    if (crop[..., 3] == 255).all():
        crop = crop[..., :3]
    # zlib level 3: a quarter less CPU than the default 6 for files 0.6% larger (measured on
    # the descriptives stage's figures)
    Image.fromarray(np.ascontiguousarray(crop)).save(
        path, format="png", dpi=(PNG_DPI, PNG_DPI), compress_level=3
    )


def save_figure(
    fig: plt.Figure, folder: Path, stem: str, *, simulated: bool, close: bool = True
) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` (300 dpi) and ``<stem>.svg`` in ``folder``.

    Parameters
    ----------
    fig : matplotlib Figure
    folder : Path
        Usually ``SitePaths.output_dir("figures")``.
    stem : str
        File name without extension.
    simulated : bool
        The site's data are simulated (``cfg.simulated``): a footnote says so on the figure.
    close : bool
        Close the figure after saving (default) to free memory in long notebooks.

    Raises
    ------
    FigureSizeError
        When the figure would print wider than 16 cm or holds text under 8 pt
        (:func:`policestress.plots.style.print_problems`); nothing is written.
    """
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.transforms import Bbox

    from policestress.plots.style import figure_style, print_problems

    folder = Path(folder)
    with figure_style():
        layout = fig.get_layout_engine()
        if isinstance(layout, ConstrainedLayoutEngine):
            _keep_room(fig, layout, FOOTNOTE_ROOM_IN if simulated else 0.0)
        # Laid out once at print resolution, then frozen, so the footnote, the checks and both
        # files see the same positions and no format lays the figure out again; one draw,
        # whose pixels are the PNG's.
        fig.set_dpi(PNG_DPI)
        if layout is not None:
            layout.execute(fig)
            _round_positions(fig)
        fig.set_layout_engine(None)
        # What the bench times as figure output: the one draw (whose pixels are the PNG's),
        # the footnote, the checks and both files; the layout above is the figure's own.
        with output_timer():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            # The tight box is measured once (every text laid out again): with the footnote it is
            # the union of the box before and the footnote's, as a second measurement would give.
            box = fig.get_tightbbox(renderer)
            if simulated:
                note = _add_footnote(fig, SIMULATED_FOOTNOTE, box)
                note.draw(renderer)  # onto the pixels already drawn
                extent = note.get_window_extent(renderer).transformed(
                    fig.dpi_scale_trans.inverted()
                )
                box = Bbox.union([box, extent])
            box = box.padded(matplotlib.rcParams["savefig.pad_inches"])
            problems = print_problems(fig, renderer, box)
            if problems:
                raise FigureSizeError(f"figure {stem}: " + "; ".join(problems))
            folder.mkdir(parents=True, exist_ok=True)
            png = folder / f"{stem}.png"
            svg = folder / f"{stem}.svg"
            _write_png(fig, png, box)
            fig.savefig(svg, bbox_inches=box, metadata={"Date": None, "Creator": None})
    if close:
        plt.close(fig)
    return [png, svg]


def svg_texts(path: Path) -> list[str]:
    """Every text of a figure written by :func:`save_figure`, read back from its SVG.

    The SVG draws text as paths (same look wherever it is opened); matplotlib keeps each
    string as an XML comment before its glyphs, which is what this returns, so a figure's
    titles, labels and legends can be checked from the file alone.

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.set_title("突发事件风险")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _, svg = save_figure(fig, Path(tmp), "t", simulated=False)
    ...     "突发事件风险" in svg_texts(svg)
    True
    """
    import html
    import re

    text = Path(path).read_text(encoding="utf-8")
    return [html.unescape(s) for s in re.findall(r"<!-- (.*?) -->", text, flags=re.S)]
