"""Chapter 1 (``book/01_motivation.ipynb``): the tables and quoted values of the motivating chapter.

Reads the records of :mod:`kdlib.experiments.table1` (the paper's Table 1 setting: a
512-unit teacher and small students on hard or soft labels) and puts them beside the
paper's numbers (:data:`kdlib.paper.TABLE1`).
"""
from __future__ import annotations

import statistics
from typing import Any, Iterable

import matplotlib.pyplot as plt

from kdlib.plots import MODE_COLORS, use_book_style

#: The tasks (:data:`kdlib.validate.TASKS`) in the order of the paper's Table 1: reduced first.
TABLE1_ORDER = ("reduced", "full")


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of test accuracy per (dataset, model, mode, width)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["model"], r["mode"], r["width"]), []).append(r["test_acc"])
    out = []
    for (dataset, model, mode, width), accs in groups.items():
        out.append(
            {
                "dataset": dataset,
                "model": model,
                "mode": mode,
                "width": width,
                "n": len(accs),
                "mean": statistics.fmean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else float("nan"),
            }
        )
    return out


def paired_gaps(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Soft minus hard test accuracy per (dataset, width), paired by seed (same initialisation).

    Returns mean, sample std and the count of seeds where soft beat hard.
    """
    acc: dict[tuple, float] = {}
    for r in rows:
        if r["model"] == "student":
            acc[(r["dataset"], r["width"], r["seed"], r["mode"])] = r["test_acc"]
    keys = sorted({(d, w) for (d, w, _, _) in acc})
    out = []
    for d, w in keys:
        diffs = [
            acc[(d, w, s, "soft")] - acc[(d, w, s, "hard")]
            for (dd, ww, s, m) in acc
            if dd == d and ww == w and m == "soft" and (d, w, s, "hard") in acc
        ]
        out.append(
            {
                "dataset": d,
                "width": w,
                "n": len(diffs),
                "gap_mean": statistics.fmean(diffs),
                "gap_std": statistics.stdev(diffs) if len(diffs) > 1 else float("nan"),
                "soft_wins": sum(x > 0 for x in diffs),
            }
        )
    return out


def comparison_rows(records: Iterable[dict[str, Any]], digits: int = 2) -> list[dict[str, Any]]:
    """The paper's Table 1 beside ours: one row per (dataset, width), strings ready to print.

    Ours: mean ± sample standard deviation of test accuracy (%) over seeds; the gap is
    soft minus hard, paired by seed, with the count of seeds where soft was better.
    """
    from kdlib.paper import TABLE1
    from kdlib.report import fmt, mean_std

    all_rows = [r for rec in records for r in rec["rows"]]
    summary = {(s["dataset"], s["model"], s["mode"], s["width"]): s for s in summarize(all_rows)}
    gaps = {(g["dataset"], g["width"]): g for g in paired_gaps(all_rows)}
    teachers = {d: s for (d, m, _, _), s in summary.items() if m == "teacher"}
    out = []
    for (dataset, width) in sorted(gaps, key=lambda k: (TABLE1_ORDER.index(k[0]), -k[1])):
        paper = TABLE1.get((dataset, width), {})
        hard, soft, gap = summary[(dataset, "student", "hard", width)], summary[(dataset, "student", "soft", width)], gaps[(dataset, width)]
        out.append(
            {
                "dataset": dataset,
                "width": width,
                "paper teacher": fmt(paper.get("teacher"), 2),
                "our teacher": fmt(teachers[dataset]["mean"], digits) if dataset in teachers else "—",
                "paper hard": fmt(paper.get("hard"), 2),
                "our hard": mean_std(hard["mean"], hard["std"], digits),
                "paper soft": fmt(paper.get("soft"), 2),
                "our soft": mean_std(soft["mean"], soft["std"], digits),
                "paper gap": fmt(paper["soft"] - paper["hard"], 2) if paper else "—",
                "our gap (paired)": mean_std(gap["gap_mean"], gap["gap_std"], digits),
                "soft better": f"{gap['soft_wins']}/{gap['n']}",
            }
        )
    return out


def sweep_rows(labelled: Iterable[tuple[str, dict[str, Any]]], digits: int = 2) -> list[dict[str, Any]]:
    """One row per (setting, width): hard, soft and the paired gap; ``labelled`` = (label, record)."""
    from kdlib.report import fmt, mean_std

    out = []
    for label, rec in labelled:
        summary = {(s["model"], s["mode"], s["width"]): s for s in summarize(rec["rows"])}
        teacher = next(s for (m, _, _), s in summary.items() if m == "teacher")
        for g in paired_gaps(rec["rows"]):
            w = g["width"]
            out.append(
                {
                    "setting": label,
                    "width": w,
                    "teacher": fmt(teacher["mean"], digits),
                    "soft-label confidence": fmt(rec["provenance"].get("soft_label_mean_confidence"), 3),
                    "hard": mean_std(summary[("student", "hard", w)]["mean"], summary[("student", "hard", w)]["std"], digits),
                    "soft": mean_std(summary[("student", "soft", w)]["mean"], summary[("student", "soft", w)]["std"], digits),
                    "gap (paired)": mean_std(g["gap_mean"], g["gap_std"], digits),
                    "soft better": f"{g['soft_wins']}/{g['n']}",
                }
            )
    return out


def seed_ranges(records: Iterable[dict[str, Any]], digits: int = 2) -> list[dict[str, Any]]:
    """Lowest and highest test accuracy over seeds per (dataset, width, mode), beside the paper's
    single number: is the paper's value inside the range of our runs?"""
    from kdlib.paper import TABLE1
    from kdlib.report import fmt

    acc: dict[tuple, list[float]] = {}
    for rec in records:
        for r in rec["rows"]:
            if r["model"] == "student":
                acc.setdefault((r["dataset"], r["width"], r["mode"]), []).append(r["test_acc"])
    out = []
    for (d, w, m) in sorted(acc, key=lambda k: (TABLE1_ORDER.index(k[0]), -k[1], k[2])):
        paper = TABLE1.get((d, w), {}).get(m)
        lo, hi = min(acc[(d, w, m)]), max(acc[(d, w, m)])
        inside = "—" if paper is None else ("yes" if lo <= paper <= hi else ("below" if paper < lo else "above"))
        out.append({"dataset": d, "width": w, "labels": m, "runs": len(acc[(d, w, m)]), "lowest": fmt(lo, digits),
                    "highest": fmt(hi, digits), "paper": fmt(paper, 2), "paper inside our range": inside})
    return out


def plot_width_curve(records, paper: dict | None = None, datasets=("reduced", "full")):
    """Test accuracy (%) against student width for hard and soft labels, one panel per dataset,
    with the seeds' mean and ± one standard deviation, the teacher as a line and the paper's
    Table 1 points as open markers. A second row shows the paired soft-minus-hard gap."""
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
            ax.errorbar(w, m, yerr=sd, marker="o", ms=4, capsize=3, color=MODE_COLORS[mode], label=f"{mode} labels (ours)")
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
