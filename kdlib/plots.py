"""One figure style for the book, sized for the width a figure is shown at.

A figure is drawn at ``DPI`` and shown in the book's text column, which is ``COLUMN_PX``
CSS pixels wide on a desktop (1400 px window); a figure drawn wider is scaled down, and on
a phone the page's script (``_static/kdlib.js``) keeps every figure at least
``MIN_SHOWN_SCALE`` of its drawn width (scrolling sideways beyond that). So text drawn at
``SMALLEST_FONT_PT`` is shown at ``SMALLEST_FONT_PT * DPI / 72`` px (13.75 px, 10.3 pt) on a
desktop when the figure is at most ``COLUMN_WIDTH_IN`` wide, and never under
``SMALLEST_FONT_PT * DPI / 72 * MIN_SHOWN_SCALE`` px (8.25 px), the floor the browser test
checks. Chapters should size figures with :func:`figure_size` and take fonts from the
style (no ``fontsize=`` below ``SMALLEST_FONT_PT``); where colours run out, :func:`series_style`
gives each series a colour *and* a marker and line style.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

#: Colours per training mode, used by every chapter.
MODE_COLORS = {"hard": "#c0392b", "soft": "#2471a3", "teacher": "#444444", "kernel": "#7d3c98"}

#: Resolution every figure is drawn at (dots per inch).
DPI = 110
#: The text column at a 1400 px window, in CSS px (measured in the built book).
COLUMN_PX = 840
#: The widest figure shown unscaled on a desktop, in inches.
COLUMN_WIDTH_IN = COLUMN_PX / DPI
#: The smallest text any figure draws (tick labels, legends), in points.
SMALLEST_FONT_PT = 9.0
#: On a phone a figure is never shown below this fraction of its drawn width (kdlib.js).
MIN_SHOWN_SCALE = 0.6

#: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
#: Markers (seven, so that colour and marker repeat together only every 56 series) and dash
#: patterns (a new one every eight series) that keep series apart where colours run out.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", ":", "-.")

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": SMALLEST_FONT_PT,
    "ytick.labelsize": SMALLEST_FONT_PT,
    "legend.fontsize": SMALLEST_FONT_PT,
    "legend.title_fontsize": SMALLEST_FONT_PT,
    "figure.titlesize": 11,
    "legend.frameon": False,
    "lines.markersize": 5,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
}


def use_book_style() -> None:
    """The book's style (``STYLE``): fonts of at least ``SMALLEST_FONT_PT``, a light grid,
    Okabe-Ito colours."""
    mpl.rcParams.update(STYLE)


def figure_size(ncols: int = 1, nrows: int = 1, panel_height: float = 3.0) -> tuple[float, float]:
    """(width, height) in inches for ``nrows`` x ``ncols`` panels that fit the column:
    ``COLUMN_WIDTH_IN`` wide for two or more columns, 6.4 in for one."""
    width = min(COLUMN_WIDTH_IN, 6.4 if ncols == 1 else COLUMN_WIDTH_IN)
    return width, panel_height * nrows


def series_style(i: int) -> dict:
    """Colour, marker and line style of the ``i``-th series: beyond the palette's eight
    colours the marker and the dash pattern keep series apart (``plot(..., **series_style(i))``)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)]}


def smallest_font_pt(fig) -> float:
    """The smallest size of any visible, non-empty text of ``fig``, in points."""
    sizes = [t.get_fontsize() for t in fig.findobj(mpl.text.Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else float("inf")


def legible(fig):
    """``fig`` with every text smaller than ``SMALLEST_FONT_PT`` raised to it (an explicit
    ``fontsize=7`` included), laid out again if it uses a layout engine; returns ``fig``."""
    for t in fig.findobj(mpl.text.Text):
        if t.get_fontsize() < SMALLEST_FONT_PT:
            t.set_fontsize(SMALLEST_FONT_PT)
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)
    return fig


def new_figure(ncols: int = 1, width: float = 6.4, height: float = 3.6, **kw):
    """``plt.subplots`` in the book's style; ``width`` is capped at ``COLUMN_WIDTH_IN`` (a
    wider figure would be shown scaled down, its text below the floor)."""
    use_book_style()
    return plt.subplots(1, ncols, figsize=(min(width, COLUMN_WIDTH_IN), height), **kw)


def clipped_errors(means, sds, low: float = 0.0, high: float = 100.0) -> list[list[float]]:
    """``[lower, upper]`` error-bar lengths for ``mean ± sd`` kept within ``[low, high]`` (an
    accuracy in % has no values above 100: a bar ``mean + sd > 100`` stops at 100)."""
    return [[min(sd, max(m - low, 0.0)) for m, sd in zip(means, sds)],
            [min(sd, max(high - m, 0.0)) for m, sd in zip(means, sds)]]
