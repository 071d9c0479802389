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

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

matplotlib.use("Agg", force=False)

from policestress.timing import output_timer  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import RendererAgg
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
# site's figure, the footnote (an 8 pt line 0.08 in under the print box, and the padding).
SIDE_ROOM_IN = 0.5
FOOTNOTE_ROOM_IN = 0.3


class FigureSizeError(ValueError):
    """A figure would print wider than 16 cm or with text under 8 pt."""


def _add_footnote(fig: plt.Figure, text: str, box: Bbox) -> Text:
    """Write ``text`` right-aligned under ``box`` (inches), the box of everything the
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
    from matplotlib.transforms import Bbox

    for ax in fig.axes:
        in_layout = ax.get_in_layout()
        box = ax.get_position(original=True)
        ax.set_position(Bbox(np.round(box.get_points(), 10)))
        ax.set_in_layout(in_layout)  # set_position takes an axes out of layouts


def _freeze_ticks(fig: plt.Figure) -> None:
    """Fix every axis's ticks and their labels as the laid-out figure has them.

    Each draw locates and formats the ticks afresh (an eighth of the time the 24 small
    multiples take to save); with the layout frozen they can only come out the same, so the
    draw and the SVG use the ticks computed here.
    """
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    for ax in fig.axes:
        if ax.name != "rectilinear":
            continue
        for axis in (ax.xaxis, ax.yaxis):
            for which in (axis.major, axis.minor):
                if isinstance(which.locator, NullLocator):
                    continue
                locs = which.locator()
                labels = which.formatter.format_ticks(locs)
                offset = which.formatter.get_offset()
                which.locator = FixedLocator(locs)
                which.formatter = FixedFormatter(labels)
                which.formatter.set_offset_string(offset)


def _ink_box(fig: plt.Figure, renderer: RendererAgg) -> Bbox:
    """The box (inches) of the pixels the figure, just drawn by ``renderer``, shows unlike
    its background (the corner's colour): what prints, ink to ink.

    A scan of the canvas rather than measuring every text and axis again (a tenth of a
    figure's output). It sees only what is on the canvas, so it serves figures laid out with
    room around them (:func:`_keep_room`); when the ink reaches the canvas's edge, so perhaps
    beyond it, the box is matplotlib's tight box.
    """
    from matplotlib.transforms import Bbox

    # one 32-bit word per RGBA pixel: a single comparison each
    pixels = np.asarray(renderer.buffer_rgba()).view(np.uint32)[..., 0]
    ink = pixels != pixels[0, 0]
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    height, width = ink.shape
    if not rows.size or 0 in (rows[0], cols[0]) or rows[-1] == height - 1 or cols[-1] == width - 1:
        return fig.get_tightbbox(renderer)  # nothing drawn, or ink at the edge
    dpi = fig.dpi
    return Bbox(
        [
            [cols[0] / dpi, (height - rows[-1] - 1) / dpi],
            [(cols[-1] + 1) / dpi, (height - rows[0]) / dpi],
        ]
    )


def _padded(fig: plt.Figure, box: Bbox) -> Bbox:
    """``box`` (inches) with ``savefig.pad_inches`` around it; when the box lies on the
    canvas, the padding is cut at the canvas's edge (a suptitle sits closer to the top than
    the padding): what lies beyond is background, and the box stays on the drawn pixels."""
    from matplotlib.transforms import Bbox

    padded = box.padded(matplotlib.rcParams["savefig.pad_inches"])
    # the canvas's whole pixels (Agg drops a last partial one), in inches
    canvas = Bbox.from_bounds(0, 0, *(int(size) / fig.dpi for size in fig.bbox.size))
    inside = (
        canvas.x0 <= box.x0 and box.x1 <= canvas.x1 and canvas.y0 <= box.y0 and box.y1 <= canvas.y1
    )
    return Bbox.intersection(padded, canvas) if inside else padded


def _png_bytes(pixels: np.ndarray, dpi: int) -> bytes:
    """A PNG of 8-bit RGB or RGBA ``pixels`` (rows, columns, channels) at ``dpi``.

    Written here rather than by Pillow, whose encoder tries all five PNG row filters on every
    row: on figures (flat colours, mostly white) that search is two thirds of its time and
    gains nothing; unfiltered rows at zlib level 3 give files no larger in 40% of the time
    (measured on the descriptives stage's figures). The chunks are the PNG specification's
    (IHDR, pHYs, IDAT, IEND), with nothing that changes between runs.
    """
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows, cols, channels = pixels.shape
    colour_type = {3: 2, 4: 6}[channels]  # truecolour, truecolour with alpha
    scanlines = np.empty((rows, 1 + cols * channels), dtype=np.uint8)
    scanlines[:, 0] = 0  # each row's filter byte: none
    scanlines[:, 1:].reshape(rows, cols, channels)[...] = pixels  # one copy, in place
    per_metre = round(dpi / 0.0254)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)),
            chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            chunk(b"IDAT", zlib.compress(scanlines, 3)),
            chunk(b"IEND", b""),
        ]
    )


def _png_pixels(fig: plt.Figure, box: Bbox) -> np.ndarray | None:
    """The pixels of the ``box`` (inches) of the figure just drawn, or None when the box
    reaches beyond the canvas.

    They are the drawn canvas's, cut to the box (rounded to whole pixels; RGB when the
    canvas is opaque, as a figure on its white background is). A box beyond the canvas (a
    figure without constrained layout gets no room around it, and its footnote falls below
    it) has to be drawn again for the box, by ``savefig``.
    """
    pixels = np.asarray(fig.canvas.buffer_rgba())
    rows, cols = pixels.shape[:2]
    scale = fig.dpi
    left, right = round(box.x0 * scale), round(box.x1 * scale)
    top, bottom = rows - round(box.y1 * scale), rows - round(box.y0 * scale)
    if left < 0 or top < 0 or right > cols or bottom > rows:
        return None
    crop = pixels[top:bottom, left:right]
    return crop[..., :3] if (crop[..., 3] == 255).all() else crop


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
        Close the figure after saving (default) to free memory in long notebooks. A figure
        kept open stays as saved: laid out at print size, without its layout engine, its
        ticks fixed (drawn again, it gives the same picture; resized, it is not laid out
        anew).

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
        laid_out = isinstance(layout, ConstrainedLayoutEngine)
        if laid_out:
            _keep_room(fig, layout, FOOTNOTE_ROOM_IN if simulated else 0.0)
        # Laid out once at print resolution, then frozen, so the footnote, the checks and both
        # files see the same positions and no format lays the figure out again; one draw,
        # whose pixels are the PNG's.
        fig.set_dpi(PNG_DPI)
        if layout is not None:
            layout.execute(fig)
            _round_positions(fig)
        _freeze_ticks(fig)
        fig.set_layout_engine(None)
        # What the bench times as figure output: the one draw (whose pixels are the PNG's),
        # the footnote, the checks and both files; the layout above is the figure's own.
        with output_timer():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            # With the footnote the box is the union of the box before and the footnote's, as a
            # second measurement would give.
            box = _ink_box(fig, renderer) if laid_out else fig.get_tightbbox(renderer)
            if simulated:
                note = _add_footnote(fig, SIMULATED_FOOTNOTE, box)
                note.draw(renderer)  # onto the pixels already drawn
                extent = note.get_window_extent(renderer).transformed(
                    fig.dpi_scale_trans.inverted()
                )
                box = Bbox.union([box, extent])
            box = _padded(fig, box)
            problems = print_problems(fig, renderer, box)
            if problems:
                raise FigureSizeError(f"figure {stem}: " + "; ".join(problems))
            folder.mkdir(parents=True, exist_ok=True)
            png = folder / f"{stem}.png"
            svg = folder / f"{stem}.svg"
            # The PNG holds no metadata but its resolution (either way): reruns, identical bytes.
            pixels = _png_pixels(fig, box)
            with ThreadPoolExecutor(max_workers=1) as background:
                if pixels is None:
                    fig.savefig(png, dpi=PNG_DPI, bbox_inches=box, metadata={"Software": None})
                    png_written = None
                else:
                    # zlib lets go of the GIL: the PNG is compressed while the SVG is drawn
                    # (by its own renderer, so the canvas's pixels stay as they are)
                    png_written = background.submit(
                        lambda: png.write_bytes(_png_bytes(pixels, PNG_DPI))
                    )
                fig.savefig(svg, bbox_inches=box, metadata={"Date": None, "Creator": None})
                if png_written is not None:
                    png_written.result()  # raises what writing it raised
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
