"""A CJK font for figures, installed by the project itself, so Chinese labels never show boxes.

Matplotlib's default font (DejaVu Sans) has no Chinese glyphs: a label such as "工作负荷"
renders as empty boxes with a ``Glyph ... missing from font(s)`` warning. The project pins the
PyPI package ``pylopdf-fonts-zh-cn`` (a data-only wheel holding Noto Sans SC, SIL Open Font
License, from notofonts/noto-cjk), so every machine that installs the lock file has the same
font and the same figure bytes. :func:`use_cjk_font` registers it with matplotlib and puts it
after DejaVu Sans in the font fallback list: Latin text keeps the usual look, and the glyphs
DejaVu lacks (Chinese) come from Noto Sans SC.

When the package is missing (an environment not built from the lock file) the Debian
package ``fonts-noto-cjk`` is used if present, with a warning naming what to install; when
neither exists :func:`use_cjk_font` raises, because a figure full of boxes is worse than a
failed stage.

Examples
--------
>>> import matplotlib.pyplot as plt
>>> name = use_cjk_font()
>>> name
'Noto Sans SC'
>>> fig, ax = plt.subplots()
>>> _ = ax.set_title("关键事件风险 critical-incident risk")
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import matplotlib
from matplotlib import font_manager

# PyPI package holding the font; the lead pins it in requirements.in.
FONT_PACKAGE = "pylopdf-fonts-zh-cn"
# Where Debian's fonts-noto-cjk puts the Sans collection (fallback only).
DEBIAN_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc"),
)
LATIN_FAMILY = "DejaVu Sans"


class MissingFontError(RuntimeError):
    """No CJK font is available to matplotlib."""


def cjk_font_file() -> Path:
    """Path of the CJK font file: the pinned PyPI package first, then Debian's fonts-noto-cjk.

    Raises
    ------
    MissingFontError
        When neither is installed.
    """
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        pass
    else:
        return Path(pylopdf_fonts_zh_cn.sans_path())
    for path in DEBIAN_FONT_FILES:
        if path.is_file():
            warnings.warn(
                f"{FONT_PACKAGE} is not installed; using the system font {path}. "
                f"Install the pinned requirements (pip install {FONT_PACKAGE}) for identical figures.",
                stacklevel=2,
            )
            return path
    raise MissingFontError(
        f"no CJK font: install the Python package {FONT_PACKAGE} (pinned in requirements.lock) "
        "or the Debian package fonts-noto-cjk"
    )


def cjk_font_rc() -> dict:
    """The rc parameters that make the CJK font the fallback after DejaVu Sans.

    Registers the font file with matplotlib's font manager (a lookup table, no style) and
    returns the parameters without setting them: :func:`policestress.plots.style.figure_style`
    applies them to each figure only.
    """
    name = _register_cjk_font()
    # Matplotlib (>= 3.6) falls back glyph by glyph along the *explicit* families of
    # font.family (a generic name such as "sans-serif" resolves to one font only): DejaVu Sans
    # first keeps Latin text and the minus sign as elsewhere, the CJK font fills in the rest.
    families = [LATIN_FAMILY, name]
    rest = [f for f in matplotlib.rcParamsDefault["font.sans-serif"] if f not in families]
    return {"font.sans-serif": families + rest, "font.family": families}


@functools.cache
def _register_cjk_font() -> str:
    """Register the CJK font file with matplotlib's font manager, once per process; its name.

    ``addfont`` appends the font to the manager's list and empties its lookup cache on every
    call: registered for each figure (as each :func:`cjk_font_rc` did), the list grew by one
    entry a figure and every font lookup searched it afresh, a second of a stage's figures.
    """
    path = cjk_font_file()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def use_cjk_font() -> str:
    """Make the CJK font matplotlib's fallback after DejaVu Sans for everything drawn from now
    on (for one's own figures; the package's figures apply :func:`cjk_font_rc` themselves).

    Safe to call many times. Returns the family name of the CJK font (e.g. ``'Noto Sans SC'``).
    """
    rc = cjk_font_rc()
    matplotlib.rcParams.update(rc)
    return rc["font.family"][1]
