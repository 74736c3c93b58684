"""One figure style for the book."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

#: Colours per training mode, used by every chapter.
MODE_COLORS = {"hard": "#c0392b", "soft": "#2471a3", "teacher": "#444444", "kernel": "#7d3c98"}


def use_book_style() -> None:
    """Small, readable figures with a light grid."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "legend.frameon": False,
        }
    )


def new_figure(ncols: int = 1, width: float = 6.4, height: float = 3.6, **kw):
    """``plt.subplots`` in the book's style."""
    use_book_style()
    return plt.subplots(1, ncols, figsize=(width, height), **kw)
