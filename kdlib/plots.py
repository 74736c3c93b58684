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


def clipped_errors(means, sds, low: float = 0.0, high: float = 100.0) -> list[list[float]]:
    """``[lower, upper]`` error-bar lengths for ``mean ± sd`` kept within ``[low, high]`` (an
    accuracy in % has no values above 100: a bar ``mean + sd > 100`` stops at 100)."""
    return [[min(sd, max(m - low, 0.0)) for m, sd in zip(means, sds)],
            [min(sd, max(high - m, 0.0)) for m, sd in zip(means, sds)]]


def plot_width_curve(records, paper: dict | None = None, datasets=("reduced", "full")):
    """Test accuracy (%) against student width for hard and soft labels, one panel per dataset,
    with the seeds' mean and ± one standard deviation, the teacher as a line and the paper's
    Table 1 points as open markers. A second row shows the paired soft-minus-hard gap."""
    from kdlib.experiments.table1 import paired_gaps, summarize

    rows = [r for rec in records for r in rec["rows"]]
    summary = summarize(rows)
    gaps = paired_gaps(rows)
    present = [d for d in datasets if any(s["dataset"] == d for s in summary)]
    use_book_style()
    fig, axes = plt.subplots(2, len(present), figsize=(4.2 * len(present), 6.0), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [2, 1]})
    for col, d in enumerate(present):
        ax, axg = axes[0, col], axes[1, col]
        for mode in ("hard", "soft"):
            pts = sorted((s["width"], s["mean"], s["std"]) for s in summary if s["dataset"] == d and s["model"] == "student" and s["mode"] == mode)
            w = [p[0] for p in pts]
            m = [p[1] for p in pts]
            sd = [0.0 if p[2] != p[2] else p[2] for p in pts]
            ax.errorbar(w, m, yerr=clipped_errors(m, sd), marker="o", ms=4, capsize=3, color=MODE_COLORS[mode], label=f"{mode} labels (ours)")
            if paper:
                pw = sorted(k[1] for k in paper if k[0] == d)
                ax.plot(pw, [paper[(d, x)][mode] for x in pw], linestyle="none", marker="s", mfc="none", ms=7,
                        color=MODE_COLORS[mode], label=f"{mode} labels (paper)")
        teach = [s["mean"] for s in summary if s["dataset"] == d and s["model"] == "teacher"]
        if teach:
            ax.axhline(teach[0], color=MODE_COLORS["teacher"], linestyle="--", linewidth=1, label="teacher, 512 units (ours)")
        ax.set_title(f"{d} task")
        ax.set_ylabel("test accuracy (%)")
        gp = sorted((g["width"], g["gap_mean"], g["gap_std"]) for g in gaps if g["dataset"] == d)
        axg.errorbar([p[0] for p in gp], [p[1] for p in gp], yerr=[0.0 if p[2] != p[2] else p[2] for p in gp],
                     marker="o", ms=4, capsize=3, color=MODE_COLORS["kernel"])
        axg.axhline(0, color="black", linewidth=0.8)
        axg.set_xscale("log", base=2)
        ticks = sorted({p[0] for p in gp})
        axg.set_xticks(ticks, [str(t) for t in ticks])
        axg.minorticks_off()
        axg.set_xlabel("student width m (hidden units, log scale)")
        axg.set_ylabel("soft − hard (points)")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
