"""Figures: saved without volatile metadata, at thesis size, in the site's language.

The language check reads the figures back from their SVG files (:func:`svg_texts`): every
title, axis label, tick label, legend and note of a Chinese site's figure must be Chinese,
apart from statistical symbols, a few names and the codebook's item ids.
"""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.transforms import Bbox
from PIL import Image

from policestress import descriptives, efa, eri, groups, publication
from policestress.config import load_site
from policestress.plots import (
    SIMULATED_FOOTNOTE,
    FigureSizeError,
    _ink_box,
    _padded,
    save_figure,
    svg_texts,
)
from policestress.plots import cfa as cfa_plots
from policestress.plots import descriptives as dplots
from policestress.plots import efa as efa_plots
from policestress.plots import eri as eri_plots
from policestress.plots import invariance as inv_plots
from policestress.plots import synthesis as syn_plots
from policestress.plots.style import MAX_WIDTH_CM, MIN_FONT_PT, new_figure, print_problems
from policestress.plots.text import TEXT, model_label

# Latin words a Chinese figure may hold: statistical symbols and abbreviations, and names.
ALLOWED_LATIN = {
    "CFI", "TLI", "RMSEA", "SRMR", "CI", "ER", "KMO", "OR", "SD", "df",
    "Kaiser", "Wilson", "Welch", "Holm", "BH", "Bonferroni", "Chen",
}  # fmt: skip


def english_words(texts: list[str], item_ids: set[str]) -> list[str]:
    """Latin words of two or more letters that are neither allowed symbols nor item ids."""
    found = []
    for text in texts:
        text = text.replace(SIMULATED_FOOTNOTE, "")
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text):
            if len(word) > 1 and word not in ALLOWED_LATIN and word not in item_ids:
                found.append(f"{word!r} in {text!r}")
    return found


def test_english_words_catches_english():
    assert english_words(["Parallel analysis"], set()) == [
        "'Parallel' in 'Parallel analysis'",
        "'analysis' in 'Parallel analysis'",
    ]
    assert english_words(["特征值", "RMSEA（90% CI）", "OCC_WL1", "n = 3"], {"OCC_WL1"}) == []


def test_figures_of_a_simulated_site_carry_a_footnote(tmp_path):
    simulated = load_site("y-subbureau-sim").simulated
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    png, svg = save_figure(fig, tmp_path, "line", simulated=simulated, close=False)
    assert [t.get_text() for t in fig.texts] == [SIMULATED_FOOTNOTE]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg.exists()
    assert SIMULATED_FOOTNOTE in svg_texts(svg)
    plt.close(fig)
    fig, ax = plt.subplots()
    _, svg = save_figure(fig, tmp_path, "real", simulated=False)
    assert SIMULATED_FOOTNOTE not in svg_texts(svg)


@pytest.mark.parametrize("layout", ["constrained", None])
def test_the_png_is_the_print_box_of_the_figure(tmp_path, layout):
    """save_figure's PNG (the canvas drawn at 300 dpi cut to the print box, with room kept
    around a constrained layout for a legend wider than its axes and for the footnote; drawn
    again by savefig when the box leaves the canvas) is the picture savefig gives for the box."""
    from matplotlib.patches import Patch

    from policestress.plots.style import figure_style, legend_below

    with figure_style():
        fig, ax = new_figure(6, layout=layout)
        ax.plot([0, 1], [0, 1])
        ax.set_title("突发事件风险 critical-incident risk")
        if layout:  # narrow axes beside long labels, as a Likert figure's
            ax.set_yticks([0, 1], ["一个很长的条目标签 a long item label", "短"])
        entries = [Patch(color=c, label=f"legend entry {c}") for c in ("C0", "C1", "C2", "C3")]
        legend_below(ax, handles=entries, ncol=4)  # wider than the axes: past their edges
        png, _ = save_figure(fig, tmp_path, "figure", simulated=True, close=False)
        # save_figure's print box: what the canvas shows, the footnote's box, the padding
        # (drawn again: a PNG beyond the canvas was drawn by savefig, on a canvas of its own)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        note = fig.texts[-1].get_window_extent(renderer).transformed(fig.dpi_scale_trans.inverted())
        drawn = _ink_box(fig, renderer) if layout else fig.get_tightbbox(renderer)
        box = _padded(fig, Bbox.union([drawn, note]))
        fig.savefig(tmp_path / "savefig.png", dpi=300, bbox_inches=box)
    plt.close(fig)
    with Image.open(png) as ours, Image.open(tmp_path / "savefig.png") as reference:
        assert ours.info["dpi"] == pytest.approx((300, 300), abs=0.1)
        # the canvas's pixels (RGB: opaque) with the layout's room; savefig's (RGBA) without
        assert ours.mode == ("RGB" if layout else "RGBA")
        if layout:
            assert ours.width > 15.5 / 2.54 * 300  # the legend reaches past the 15 cm figure
        ours, reference = np.asarray(ours.convert("L"), float), np.asarray(reference.convert("L"))
    assert abs(ours.shape[0] - reference.shape[0]) <= 1
    assert abs(ours.shape[1] - reference.shape[1]) <= 1
    rows, cols = min(ours.shape[0], reference.shape[0]), min(ours.shape[1], reference.shape[1])
    # the same picture up to where whole pixels cut it (at most half a pixel's shift)
    assert np.abs(ours[:rows, :cols] - reference[:rows, :cols]).mean() < 3
    assert (ours[-60:, -400:] < 128).any()  # the footnote, bottom right, is in the pixels
    assert (ours[-60:, :300] == 255).all()


def test_the_ink_box_is_the_drawn_pixels_about_the_tight_box():
    """_ink_box: the box of the pixels unlike the background, within a few pixels of
    matplotlib's tight box (a text's box holds room below its glyphs; CJK glyphs reach past
    the ascent where it ends); the tight box itself when the ink reaches the canvas's edge."""
    from policestress.plots.style import figure_style

    with figure_style():
        fig, ax = new_figure(6)
        ax.plot([0, 1], [0, 1])
        ax.set_title("突发事件风险 critical-incident risk")
        fig.set_layout_engine(None)
        fig.set_size_inches(8, 4)  # room around the layout: the ink lies inside the canvas
        ax.set_position([0.2, 0.2, 0.6, 0.6])
        fig.set_dpi(300)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ink, tight = _ink_box(fig, renderer), fig.get_tightbbox(renderer)
        pixels = np.asarray(renderer.buffer_rgba())[..., :3].min(axis=2)
        rows = np.flatnonzero((pixels < 255).any(axis=1))
        cols = np.flatnonzero((pixels < 255).any(axis=0))
        assert ink.x0 * 300 == cols[0] and ink.x1 * 300 == cols[-1] + 1
        assert ink.y1 * 300 == pixels.shape[0] - rows[0]
        assert ink.y0 * 300 == pixels.shape[0] - rows[-1] - 1
        # a line's half width and its antialiasing reach past its path too: a few pixels
        step = 6 / 300
        assert tight.x0 - step <= ink.x0 and ink.x1 <= tight.x1 + step
        assert tight.y0 - step <= ink.y0 and ink.y1 <= tight.y1 + step
        assert max(ink.x0 - tight.x0, tight.y1 - ink.y1, tight.x1 - ink.x1) < 0.1  # inches
        # the padding is cut at the canvas's edge only when the box lies on the canvas
        on_canvas = Bbox([[0.01, 0.01], [7.99, 3.99]])
        assert _padded(fig, on_canvas).bounds == pytest.approx((0, 0, 8, 4))
        beyond = Bbox([[-0.5, 0.01], [7.99, 3.99]])
        assert _padded(fig, beyond).x0 == pytest.approx(-0.54)

        ax.set_position([-0.1, 0.2, 1.2, 0.6])  # the line now leaves the canvas
        fig.canvas.draw()
        assert _ink_box(fig, renderer).bounds == fig.get_tightbbox(renderer).bounds
    plt.close(fig)


def test_the_png_writer_keeps_every_pixel_and_the_resolution():
    import io

    from policestress.plots import _png_bytes

    rng = np.random.default_rng(1)
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        # a view with gaps between its pixels, as the canvas's RGB part is
        pixels = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)[..., :channels]
        with Image.open(io.BytesIO(_png_bytes(pixels, 300))) as image:
            assert image.mode == mode
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.001)
            assert (np.asarray(image) == pixels).all()


def test_frozen_ticks_are_the_ones_the_layout_gave():
    """save_figure fixes each axis's ticks once the figure is laid out: a draw after shows the
    same tick positions, labels and offset as a draw before (so as the locators would)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator

    from policestress.plots import _freeze_ticks
    from policestress.plots.style import figure_style

    def shown(fig):
        fig.canvas.draw()
        return [
            (
                list(axis.get_ticklocs()),
                [t.get_text() for t in axis.get_ticklabels()],
                axis.get_offset_text().get_text(),
            )
            for ax in fig.axes
            for axis in (ax.xaxis, ax.yaxis)
        ]

    with figure_style():
        fig, axes = new_figure(8, ncols=2)
        axes[0].plot([1e5, 1.00004e5], [0, 1])  # the x axis needs an offset
        axes[1].bar(["一", "二"], [3, 4])  # categories
        fig.set_dpi(300)
        before = shown(fig)
        fig.set_layout_engine(None)
        _freeze_ticks(fig)
        after = shown(fig)
    plt.close(fig)
    assert after == before
    assert before[0][2] != ""  # the offset text is kept
    assert isinstance(axes[0].xaxis.get_major_locator(), FixedLocator)
    assert isinstance(axes[1].xaxis.get_major_formatter(), FixedFormatter)


def test_importing_plots_or_loading_a_site_changes_no_global_state():
    import subprocess
    import sys

    code = (
        "import os, matplotlib; before = dict(matplotlib.rcParams); env = dict(os.environ)\n"
        "import policestress.plots, policestress.plots.descriptives, policestress.plots.cfa\n"
        "from policestress.config import load_site; load_site('y-subbureau-sim')\n"
        "changed = [k for k, v in matplotlib.rcParams.items() if before.get(k) != v and not k.startswith('backend')]\n"
        "assert changed == [], changed\n"
        "assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_same_figure_same_bytes(tmp_path):
    paths = []
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.bar(["x", "y"], [3, 4])
        paths.append(save_figure(fig, tmp_path, name, simulated=False))
    (png_a, svg_a), (png_b, svg_b) = paths
    assert png_a.read_bytes() == png_b.read_bytes()
    assert svg_a.read_bytes() == svg_b.read_bytes()
    assert b"Software" not in png_a.read_bytes()
    assert b"<dc:date>" not in svg_a.read_bytes()


def test_save_figure_refuses_small_text_and_wide_figures(tmp_path):
    fig, ax = new_figure(5)
    ax.set_title("small", fontsize=6)
    with pytest.raises(FigureSizeError, match="'small' is 6 pt"):
        save_figure(fig, tmp_path, "small", simulated=False)
    fig, ax = plt.subplots(figsize=(10, 3))  # 25 cm
    ax.plot([1, 2])
    with pytest.raises(FigureSizeError, match="cm wide"):
        save_figure(fig, tmp_path, "wide", simulated=False)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.fixture(scope="module")
def zh_figures(default_site_analysis, tmp_path_factory):
    """Every figure function drawn in Chinese on the default (zh) site, saved to SVG and PNG."""
    cfg = load_site("y-subbureau-sim")
    assert cfg.language == "zh"
    lang, cb, data = "zh", cfg.codebook, default_site_analysis
    folder = tmp_path_factory.mktemp("zh_figures")
    scales = cb.scales("stress_sources")
    domains = cb.domains("stress_sources")
    label = {name: cb.label(name, lang) for name in [*scales, *domains, *cfg.grouping]}
    items = cb.item_ids("stress_sources")
    first = next(iter(domains))
    figures = {}

    sets = {c: scales[c] for c in domains[first]}
    figures["likert"] = dplots.likert_diverging(
        data, sets, cb.value_labels(items[0], lang),
        {i: cb.label(i, lang) for i in items}, label, title=label[first], language=lang,
    )  # fmt: skip
    cols = [f"score_{c}" for c in scales]
    score_labels = {f"score_{c}": label[c] for c in scales}
    figures["distributions"] = dplots.score_distributions(data, cols, score_labels, language=lang)
    corr = descriptives.score_correlations(data, cols)
    figures["correlations"] = dplots.correlation_heatmap(corr, cols, score_labels, language=lang)
    grouping = cfg.grouping[0]
    value_labels = {grouping: cb.value_labels(grouping, lang)}
    means = groups.group_means(data, cols, [grouping], value_labels=value_labels)
    comparisons = groups.group_comparisons(data, cols, [grouping])
    figures["groups"] = dplots.group_differences(
        means, grouping, cols, score_labels, comparisons, title=label[grouping], language=lang
    )

    x = efa.complete_cases(data, items)
    pa = efa.parallel_analysis(x, n_iter=20, seed=1, progress=False)
    figures["scree"] = efa_plots.scree_plot(pa, language=lang)
    result = efa.efa(x, len(scales))
    names = publication.factor_names(result.loadings_long(), cb, lang)
    assert set(names.values()) & {label[c] for c in scales}  # construct labels, not MR1
    figures["loadings"] = efa_plots.loading_heatmap(result, factor_labels=names, language=lang)
    figures["factor_correlations"] = efa_plots.factor_correlation_plot(result, names, language=lang)

    # CFA figures from the model's structure (the values do not matter for their texts).
    rows = [(c, "=~", i, 0.7) for c, its in scales.items() for i in its]
    rows += [(d, "=~", c, 0.8) for d, cs in domains.items() for c in cs]
    rows += [(i, "~~", i, 0.51) for its in scales.values() for i in its]
    rows += [(a, "~~", b, 0.4) for k, a in enumerate(domains) for b in list(domains)[k + 1 :]]
    estimates = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "std_all"])
    parts = {d: [d, *cs] for d, cs in domains.items()}
    diagrams = cfa_plots.path_diagrams(
        estimates, model_label("second_order", lang), parts, label, language=lang
    )
    assert set(diagrams) == {*domains, "structure"}  # 46 items: one diagram per domain
    figures.update({f"path_{k}": v for k, v in diagrams.items()})
    fit = pd.DataFrame({"model": ["one_factor", "second_order"], "cfi": [0.4, 0.97],
                        "tli": [0.35, 0.96], "rmsea": [0.1, 0.02], "rmsea_ci_low": [0.09, 0.01],
                        "rmsea_ci_high": [0.11, 0.03], "srmr": [0.1, 0.05]})  # fmt: skip
    figures["fit"] = cfa_plots.fit_comparison(fit, language=lang)

    latent = pd.DataFrame({"group_var": grouping, "factor": list(domains), "group": 2,
                           "reference": 1, "n": 100, "n_reference": 120, "diff": 0.1,
                           "ci_low": -0.1, "ci_high": 0.3})  # fmt: skip
    figures["latent_means"] = inv_plots.plot_latent_means(
        latent, label, {grouping: value_labels[grouping]}, {grouping: label[grouping]},
        language=lang,
    )  # fmt: skip

    figures["ratio"] = eri_plots.plot_ratio_distribution(data, language=lang)
    figures["effort_reward"] = eri_plots.plot_effort_reward(data, c=6 / 11, language=lang)
    prev = eri.prevalence(data, [grouping], labels=value_labels)
    figures["prevalence"] = eri_plots.plot_prevalence(prev, label, language=lang)
    odds = eri.eri_logistic(data)
    figures["odds"] = eri_plots.plot_odds_ratios(odds, language=lang)

    ranking = pd.DataFrame({"label": [label[d] for d in domains], "weight": 0.1,
                            "ci_low": 0.05, "ci_high": 0.15, "rank": range(1, len(domains) + 1),
                            "rank_ci_low": 1, "rank_ci_high": 2, "method": "dominance"})  # fmt: skip
    figures["importance"] = syn_plots.plot_importance(ranking, language=lang)
    regression = pd.DataFrame({"predictor": list(domains), "beta": 0.2, "ci_low": 0.1,
                               "ci_high": 0.3, "r2": 0.4, "n": 300})  # fmt: skip
    figures["coefficients"] = syn_plots.plot_coefficients(regression, label, language=lang)

    problems = {name: print_problems(fig) for name, fig in figures.items()}
    saved = {name: save_figure(fig, folder, name, simulated=False) for name, fig in figures.items()}
    return saved, problems, set(cb.item_ids())


def test_zh_site_figures_have_no_english_text(zh_figures):
    saved, _, item_ids = zh_figures
    for name, (_, svg) in saved.items():
        texts = svg_texts(svg)
        assert texts, name
        assert english_words(texts, item_ids) == [], name


def test_zh_figures_fit_the_text_width_with_8_pt_text(zh_figures):
    saved, problems, _ = zh_figures
    assert problems == {name: [] for name in saved}  # text >= 8 pt, width <= 16 cm
    for name, (png, _) in saved.items():
        with Image.open(png) as image:
            width_cm = image.width / 300 * 2.54
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.1), name
        assert 12.0 <= width_cm <= MAX_WIDTH_CM, (name, width_cm)


def test_every_figure_text_key_exists_in_both_languages():
    assert set(TEXT["en"]) == set(TEXT["zh"])
    assert MIN_FONT_PT == 8.0


def test_path_diagram_of_a_small_model_is_one_figure():
    est = pd.DataFrame({"lhs": ["f"] * 3, "op": ["=~"] * 3, "rhs": ["x1", "x2", "x3"],
                        "std_all": [0.8, 0.7, np.nan]})  # fmt: skip
    assert list(cfa_plots.path_diagrams(est, "m", {"d": ["f"]})) == [""]
