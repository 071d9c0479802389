"""Figures, one module per statistical topic; :func:`save_figure` writes them all.

Every figure is written as PNG (300 dpi) and SVG with software and date metadata removed,
so reruns give identical bytes. Figures of a simulated site carry a footnote saying so:
:func:`policestress.config.load_site` records whether the site is simulated in
``$POLICESTRESS_SIMULATED``, which :func:`save_figure` reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

from policestress.fonts import use_cjk_font  # noqa: E402
from policestress.timing import output_timer  # noqa: E402

# Chinese labels (and the simulated-data footnote) need a CJK font in every figure.
use_cjk_font()

# SVG text as paths: files render the same wherever they are opened, and the hash salt fixed
# so element ids do not change between runs.
matplotlib.rcParams["svg.fonttype"] = "path"
matplotlib.rcParams["svg.hashsalt"] = "policestress"

SIMULATED_ENV = "POLICESTRESS_SIMULATED"
SIMULATED_FOOTNOTE = "SIMULATED DATA · 模拟数据"


def save_figure(fig: plt.Figure, folder: Path, stem: str, close: bool = True) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` (300 dpi) and ``<stem>.svg`` in ``folder``.

    Parameters
    ----------
    fig : matplotlib Figure
    folder : Path
        Usually ``SitePaths.output_dir("figures")``.
    stem : str
        File name without extension.
    close : bool
        Close the figure after saving (default) to free memory in long notebooks.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if os.environ.get(SIMULATED_ENV) == "1":
        fig.text(
            0.995, 0.002, SIMULATED_FOOTNOTE, ha="right", va="bottom", fontsize=7, color="0.45"
        )
    png = folder / f"{stem}.png"
    svg = folder / f"{stem}.svg"
    with output_timer():
        fig.savefig(png, dpi=300, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    if close:
        plt.close(fig)
    return [png, svg]
