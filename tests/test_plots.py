"""save_figure: PNG and SVG without volatile metadata, and the simulated-data footnote."""

import matplotlib.pyplot as plt

from policestress.config import load_site
from policestress.plots import SIMULATED_FOOTNOTE, save_figure


def test_figures_of_a_simulated_site_carry_a_footnote(tmp_path):
    load_site("y-subbureau-sim")
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    png, svg = save_figure(fig, tmp_path, "line", close=False)
    assert [t.get_text() for t in fig.texts] == [SIMULATED_FOOTNOTE]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg.exists()
    plt.close(fig)


def test_same_figure_same_bytes(tmp_path):
    paths = []
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.bar(["x", "y"], [3, 4])
        paths.append(save_figure(fig, tmp_path, name))
    (png_a, svg_a), (png_b, svg_b) = paths
    assert png_a.read_bytes() == png_b.read_bytes()
    assert svg_a.read_bytes() == svg_b.read_bytes()
    assert b"Software" not in png_a.read_bytes()
    assert b"<dc:date>" not in svg_a.read_bytes()
