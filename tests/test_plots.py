"""The book's figure style keeps text legible at the size figures are shown (kdlib.plots)."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from kdlib import plots  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_every_text_of_a_styled_figure_is_at_least_the_floor():
    plots.use_book_style()
    fig, axes = plots.new_figure(2, *plots.figure_size(2))
    for i, ax in enumerate(axes):
        for k in range(3):
            ax.plot([1, 10, 100], [k, k + 1, k + 3], label=f"series {k}", **plots.series_style(k))
        ax.set_xscale("log")
        ax.set_title("a title")
        ax.set_xlabel("width m (hidden units)")
        ax.set_ylabel("steps")
        ax.legend(title="labels")
        ax.annotate("note", (10, 1))
    fig.suptitle("suptitle")
    fig.canvas.draw()
    assert plots.smallest_font_pt(fig) >= plots.SMALLEST_FONT_PT
    ax.legend(fontsize=6)
    assert plots.smallest_font_pt(fig) == 6   # the check sees an override below the floor


def test_shown_text_stays_above_8_px():
    """The floor the browser test checks, from the style's own numbers, and the page's script
    uses the same smallest scale as the style assumes."""
    px = plots.SMALLEST_FONT_PT * plots.DPI / 72
    assert px * plots.MIN_SHOWN_SCALE >= 8.0
    js = (ROOT / "_static" / "kdlib.js").read_text()
    assert float(re.search(r"MIN_FIGURE_SCALE = ([0-9.]+)", js).group(1)) == plots.MIN_SHOWN_SCALE
    w, _ = plots.figure_size(3)
    assert w * plots.DPI <= plots.COLUMN_PX   # shown unscaled on a desktop


def test_series_stay_apart_beyond_the_palette():
    styles = [tuple(sorted(plots.series_style(i).items())) for i in range(len(plots.PALETTE) * len(plots.LINESTYLES))]
    assert len(set(styles)) == len(styles)
    # series 0 and 8 share a colour but neither marker nor dash pattern
    a, b = plots.series_style(0), plots.series_style(len(plots.PALETTE))
    assert a["color"] == b["color"] and a["marker"] != b["marker"] and a["linestyle"] != b["linestyle"]


def test_legible_raises_small_text_and_new_figure_fits_the_column():
    fig, ax = plots.new_figure(2, width=10)
    assert fig.get_figwidth() == plots.COLUMN_WIDTH_IN
    ax[0].plot([0, 1], label="a")
    ax[0].legend(fontsize=6)
    ax[1].set_title("t", fontsize=7)
    assert plots.smallest_font_pt(fig) == 6
    assert plots.smallest_font_pt(plots.legible(fig)) == plots.SMALLEST_FONT_PT
