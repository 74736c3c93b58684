"""Chapter 1 (``book/01_motivation.ipynb``): the tables and quoted values of the motivating chapter.

Reads the records of :mod:`kdlib.experiments.table1` (the paper's Table 1 setting: a
512-unit teacher and small students on hard or soft labels) and puts them beside the
paper's numbers (:data:`kdlib.paper.TABLE1`).

The prose's values: the chapter's markdown quotes every number with myst-nb's glue
(``{glue:text}`key:.2f```), so its sentences cannot drift from the tables beside them.
:func:`prose_values` returns the values (plain ``int``, ``float`` rounded to 4 decimals, or
``str``, so that the glued ``text/plain`` is short and the same on every machine);
:func:`claims` returns the qualitative statements of the prose ("hard labels ahead at
every width from 8 units on") as named booleans, which ``tests/test_prose_numbers.py``
checks against the stored records, so a claim that stops being true fails the tests.
Accuracies are test accuracy in percent; the *gap* is soft minus hard, paired by seed
(same initialisation, same minibatches); a run *fails* when it ends worse than a coin
flip (test accuracy below 50 %).
"""
from __future__ import annotations

import statistics
from typing import Any, Iterable, Sequence

import matplotlib.pyplot as plt

from kdlib.paper import TABLE1
from kdlib.plots import COLUMN_WIDTH_IN, MODE_COLORS, clipped_errors, legible, use_book_style

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
    fig, axes = plt.subplots(2, len(present), figsize=(min(4.2 * len(present), COLUMN_WIDTH_IN), 6.0),
                             squeeze=False, sharex=True,
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
    axes[0, 0].legend(loc="lower right")
    legible(fig)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the values the prose quotes

#: A run that ends below this test accuracy (%) did worse than a coin flip: it failed.
COIN_FLIP = 50.0
#: Sweep settings (labels of :func:`kdlib.experiments.table1.settings_sweep`) that the prose
#: groups as "the settings that do not change the picture".
NEUTRAL_SETTINGS = ("learning rate / 4", "3x the epochs", "pixel inputs in [0, 1]",
                    "softer teacher, T = 2", "softer teacher, T = 4")
#: Sweep settings the prose quotes one by one.
LR_X4 = "learning rate x 4"
FULL_BATCH = "full batch (100 steps)"
B1_LR1 = "B = 1, learning rate 1"
OUTER = "trained outer layer (not the paper's model)"
OUTER_LR4 = "trained outer layer, learning rate / 4"

_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    """``n`` in words up to ten ("no" for 0), digits above."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def _r(x: float) -> float:
    return round(float(x), 4)


def _students(records: Iterable[dict[str, Any]]) -> dict[tuple, list[float]]:
    """(dataset, width, mode) -> test accuracies over seeds, in seed order."""
    acc: dict[tuple, list[tuple[int, float]]] = {}
    for rec in records:
        for r in rec["rows"]:
            if r["model"] == "student":
                acc.setdefault((r["dataset"], r["width"], r["mode"]), []).append((r["seed"], r["test_acc"]))
    return {k: [a for _, a in sorted(v)] for k, v in acc.items()}


def _gaps(records: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(g["dataset"], g["width"]): g for g in paired_gaps([r for rec in records for r in rec["rows"]])}


def _means(records: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(s["dataset"], s["model"], s["mode"], s["width"]): s
            for s in summarize([r for rec in records for r in rec["rows"]])}


def paper_values() -> dict[str, Any]:
    """The paper's Table 1 as the prose quotes it (from :data:`kdlib.paper.TABLE1`)."""
    gaps = {k: v["soft"] - v["hard"] for k, v in TABLE1.items()}
    (task, width), top = max(gaps.items(), key=lambda kv: kv[1])
    wide = [g for (_, w), g in gaps.items() if w >= 6]
    return {
        "paper_gap_max": _r(top), "paper_gap_max_width": width, "paper_gap_max_task": task,
        "paper_gap_wide_min": _r(min(wide)), "paper_gap_wide_max": _r(max(wide)),
    }


def _where(value: float, runs: Sequence[float]) -> str:
    """Where the paper's single number lies against our runs: "inside", "below" or "above"."""
    return "inside" if min(runs) <= value <= max(runs) else ("below" if value < min(runs) else "above")


def table_values(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Values of the Table 1 comparison (the chapter's default records, one per task)."""
    out: dict[str, Any] = {}
    means, gaps, acc = _means(records), _gaps(records), _students(records)
    by_task = {rec["config"]["dataset"]: rec for rec in records}
    for task, rec in by_task.items():
        prov = rec["provenance"]
        out[f"n_train_{task}"] = int(prov["n_train"])
        out[f"n_test_{task}"] = int(prov["n_test"])
        out[f"confidence_{task}"] = _r(prov["soft_label_mean_confidence"])
        out[f"wall_s_{task}"] = _r(prov["wall_time_s"])
        out[f"seeds_{task}"] = int(rec["config"]["seeds"])
        out[f"students_{task}"] = sum(r["model"] == "student" for r in rec["rows"])
        teacher = means[(task, "teacher", "hard", rec["config"]["teacher_width"])]["mean"]
        if (task, 4) in TABLE1:
            out[f"teacher_{task}"] = _r(teacher)
            out[f"teacher_vs_paper_{task}"] = _r(teacher - TABLE1[(task, 4)]["teacher"])
    cells = [(d, w) for (d, w) in gaps if (d, w) in TABLE1]
    if not cells:
        return out
    ours = {(d, w, m): means[(d, "student", m, w)]["mean"] for d, w in cells for m in ("hard", "soft")}
    out["cells"] = len(cells)
    out["hard_above_paper"] = sum(ours[(d, w, "hard")] > TABLE1[(d, w)]["hard"] for d, w in cells)
    out["gap_below_paper"] = sum(
        gaps[(d, w)]["gap_mean"] < TABLE1[(d, w)]["soft"] - TABLE1[(d, w)]["hard"] for d, w in cells)
    soft_diff = {(d, w): ours[(d, w, "soft")] - TABLE1[(d, w)]["soft"] for d, w in cells}
    wide = [v for (_, w), v in soft_diff.items() if w >= 6]
    if wide:
        out["soft_vs_paper_wide_min"], out["soft_vs_paper_wide_max"] = _r(min(wide)), _r(max(wide))
        out["gap_wide_maxabs"] = _r(max(abs(gaps[(d, w)]["gap_mean"]) for d, w in cells if w >= 6))
    for (d, w), v in soft_diff.items():
        out[f"soft_wins_{d}_{w}"] = int(gaps[(d, w)]["soft_wins"])
        if w != 4:  # the prose looks closer only at the paper's smallest width
            continue
        out[f"soft_vs_paper_{d}_{w}"] = _r(v)
        out[f"gap_{d}_{w}"] = _r(gaps[(d, w)]["gap_mean"])
        hard, soft = acc[(d, w, "hard")], acc[(d, w, "soft")]
        if len(hard) < 2:  # a spread needs two seeds
            continue
        out[f"spread_ratio_{d}_{w}"] = _r(statistics.stdev(hard) / statistics.stdev(soft))
        low = sorted(hard)
        out[f"hard_lowest_{d}_{w}"], out[f"hard_next_lowest_{d}_{w}"] = _r(low[0]), _r(low[1])
    where = {(d, w, m): _where(TABLE1[(d, w)][m], acc[(d, w, m)]) for d, w in cells for m in ("hard", "soft")}
    out["paper_hard_inside_4"] = sum(where[(d, w, "hard")] == "inside" for d, w in cells if w == 4)
    out["paper_soft_above_full"] = sum(where[(d, w, "soft")] == "above" for d, w in cells if d == "full")
    out["widths_full"] = sum(d == "full" for d, _ in cells)
    ratios = [out[f"spread_ratio_{d}_4"] for d, w in cells if w == 4 and f"spread_ratio_{d}_4" in out]
    if ratios:
        out["spread_ratio_4_min"], out["spread_ratio_4_max"] = min(ratios), max(ratios)
    return out


def curve_values(curve: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Values of the width curve (widths 2 to 64, fewer seeds)."""
    if not curve:
        return {}
    gaps, acc = _gaps(curve), _students(curve)
    out: dict[str, Any] = {"curve_seeds": int(curve[0]["config"]["seeds"])}
    widths = sorted({w for _, w in gaps})
    for (d, w), g in gaps.items():
        if w != widths[0]:  # the prose looks closer only at the smallest width
            continue
        out[f"curve_gap_{d}_{w}"] = _r(g["gap_mean"])
        for mode in ("hard", "soft"):
            runs = acc[(d, w, mode)]
            fails = [a for a in runs if a < COIN_FLIP]
            out[f"curve_fails_{d}_{w}_{mode}"] = number_word(len(fails))
            out[f"curve_lowest_{d}_{w}_{mode}"] = _r(min(runs))
            ok = [a for a in runs if a >= COIN_FLIP]
            if ok:
                out[f"curve_lowest_ok_{d}_{w}_{mode}"] = _r(min(ok))
        both = sum(h < COIN_FLIP and s < COIN_FLIP for h, s in zip(acc[(d, w, "hard")], acc[(d, w, "soft")]))
        out[f"curve_fails_both_{d}_{w}"] = number_word(both)
    ahead = [-g["gap_mean"] for (_, w), g in gaps.items() if w >= 8]
    if ahead:
        out["curve_hard_ahead_min"], out["curve_hard_ahead_max"] = _r(min(ahead)), _r(max(ahead))
    # the smallest width from which hard labels win on every seed, at that width and every wider one
    every = [w for w in widths if all(g["soft_wins"] == 0 for (_, ww), g in gaps.items() if ww >= w)]
    if every:
        out["curve_every_seed_from"] = min(every)
    return out


def sweep_values(sweep: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Values of the settings sweep; ``sweep`` = (label, record) as the chapter builds it."""
    by_label = dict(sweep)
    out: dict[str, Any] = {}
    if sweep:
        out["sweep_seeds"] = int(sweep[0][1]["config"]["seeds"])
    neutral = [g for label in NEUTRAL_SETTINGS if label in by_label
               for g in paired_gaps(by_label[label]["rows"]) if g["width"] >= 6]
    if neutral:
        out["neutral_gap_min"] = _r(min(g["gap_mean"] for g in neutral))
        out["neutral_gap_max"] = _r(max(g["gap_mean"] for g in neutral))
    for label, prefix in ((LR_X4, "lr_x4"), (OUTER, "outer")):
        if label in by_label:
            runs = [r["test_acc"] for r in by_label[label]["rows"] if r["model"] == "student"]
            out[f"{prefix}_runs"] = len(runs)
            out[f"{prefix}_failed"] = sum(a < COIN_FLIP for a in runs)
            out[f"{prefix}_zero"] = sum(a == 0 for a in runs)
    if FULL_BATCH in by_label:
        rec = by_label[FULL_BATCH]
        out["full_batch_teacher"] = _r(next(r["test_acc"] for r in rec["rows"] if r["model"] == "teacher"))
        out["full_batch_confidence"] = _r(rec["provenance"]["soft_label_mean_confidence"])
    if B1_LR1 in by_label:
        rows = by_label[B1_LR1]["rows"]
        gaps = paired_gaps(rows)
        wins, n = sum(g["soft_wins"] for g in gaps), sum(g["n"] for g in gaps)
        out["b1_wins"], out["b1_pairs"] = wins, n
        out["b1_wins_phrase"] = ("on every seed at every width" if wins == n
                                 else f"on {wins} of {n} (seed, width) pairs")
        out["b1_gap_min"] = _r(min(g["gap_mean"] for g in gaps))
        out["b1_gap_max"] = _r(max(g["gap_mean"] for g in gaps))
        means = [s["mean"] for s in summarize(rows) if s["model"] == "student"]
        out["b1_acc_min"], out["b1_acc_max"] = _r(min(means)), _r(max(means))
    if OUTER_LR4 in by_label:
        for g in paired_gaps(by_label[OUTER_LR4]["rows"]):
            out[f"outer_lr4_wins_{g['width']}"] = int(g["soft_wins"])
            out["outer_lr4_seeds"] = int(g["n"])
    return out


def prose_values(records: Sequence[dict[str, Any]], curve: Sequence[dict[str, Any]] = (),
                 sweep: Sequence[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
    """Every value Chapter 1's prose quotes, by glue key.

    ``records``: the Table 1 records (one per task); ``curve``: the width-curve records;
    ``sweep``: (label, record) pairs of the settings sweep. Parts that are empty (a rerun
    with ``show_curve = False``) give no keys.
    """
    return {**paper_values(), **table_values(records), **curve_values(curve), **sweep_values(sweep)}


def claims(v: dict[str, Any]) -> dict[str, bool]:
    """The qualitative statements of Chapter 1's prose, each as a boolean over the values of
    :func:`prose_values` for the chapter's default records. All must hold."""
    tasks = ("reduced", "full")
    return {
        "paper: its largest gap is at 4 units": v["paper_gap_max_width"] == 4,
        "teacher: close to the paper's on reduced, about half a point below on full":
            abs(v["teacher_vs_paper_reduced"]) < 0.25 and -0.8 < v["teacher_vs_paper_full"] < -0.3,
        "soft labels are confident (mean max(p, 1 - p) close to 1)":
            all(v[f"confidence_{t}"] > 0.95 for t in tasks),
        "our gaps are smaller than the paper's in every cell": v["gap_below_paper"] == v["cells"],
        "at 4 units soft labels are ahead on average on both tasks": all(v[f"gap_{t}_4"] > 0 for t in tasks),
        "at 4 units the lowest full-task hard run is far below the rest":
            v["hard_next_lowest_full_4"] - v["hard_lowest_full_4"] > 5,
        "at 4 units soft labels shrink the spread over seeds several-fold": v["spread_ratio_4_min"] > 2,
        "paper's width-4 hard numbers inside the range of our hard runs, on both tasks":
            v["paper_hard_inside_4"] == 2,
        "paper's full-task soft numbers above all our runs at every width":
            v["paper_soft_above_full"] == v["widths_full"],
        "at 2 units soft labels are behind on average on the reduced task (one failed run)":
            v["curve_gap_reduced_2"] < 0 and v["curve_fails_reduced_2_soft"] == "one"
            and v["curve_fails_reduced_2_hard"] == "no",
        "at 2 units one full-task seed fails with both labels, and no other run fails":
            v["curve_fails_both_full_2"] == v["curve_fails_full_2_hard"] == v["curve_fails_full_2_soft"] == "one",
        "the curve: hard labels a little ahead on average at every width from 8 units on":
            0 < v["curve_hard_ahead_min"] and v["curve_hard_ahead_max"] < 1,
        "soft labels ahead by half a point or more only at 4 units (table and curve)":
            v["gap_wide_maxabs"] < 0.5 and all(v[f"curve_gap_{t}_2"] < 0.5 for t in tasks)
            and v["curve_hard_ahead_min"] > 0 and all(v[f"gap_{t}_4"] >= 0.5 for t in tasks),
        "the curve: from some width on, hard labels do better on every seed": "curve_every_seed_from" in v,
        "the paper's wide gaps exceed every gap of the neutral settings":
            v["neutral_gap_max"] < v["paper_gap_wide_min"],
        "B = 1 with learning rate 1: soft ahead on average at every width, both far below the paper's accuracy":
            v["b1_gap_min"] > 0 and v["b1_acc_max"] < 80,
        "trained outer layer at a quarter of the rate: soft wins on most seeds at 4 and 6 units":
            all(2 * v[f"outer_lr4_wins_{w}"] > v["outer_lr4_seeds"] for w in (4, 6)),
        "the full-batch teacher is poor (below every default teacher)":
            v["full_batch_teacher"] < min(v[f"teacher_{t}"] for t in tasks) - 5,
    }
