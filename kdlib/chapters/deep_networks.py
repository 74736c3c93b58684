"""Chapter 7 (``book/07_deep_networks.ipynb``): the tables, figures and quoted values of the deep-network chapter.

Reads the records of :mod:`kdlib.experiments.deep` (teacher, hard and soft students per noise
level), :mod:`kdlib.experiments.deep_settings` (the measurements behind the CPU profile) and
:mod:`kdlib.experiments.deep_speed` (step timings, for the cost table).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import textwrap
from typing import Any, Iterable, Sequence

from kdlib.experiments.deep import (GPU_ASSUMED_FRACTION, GPU_PEAK_BF16_FLOPS, GPU_PEAK_SOURCE, PROFILES, STUDENT,
                                    TEACHER, Config, make_config, measured_rates, profile_cost)
from kdlib.fit import mean_sd
from kdlib.experiments.deep_settings import (PROFILE_BUDGET_S, PROFILE_RUNS, SETTINGS_CHOICES, choose_settings, profile_estimate,
                                             settings_summary)
from kdlib.paper import FIGURE_CIFAR as PAPER_FIGURE  # the paper's values, quoted
from kdlib.report import Table


_SETTING_KEYS = ("width_mult", "n_train", "max_epochs", "patience", "augment")


def _same_setting(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    return b is not None and all(a[k] == b[k] for k in _SETTING_KEYS)


def deciding_settings(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows :func:`choose_settings` decides between: those it compares (noise 0.01, enough
    runs, estimated profile within the budget) whose lead is within one point of the largest
    lead among them, cheapest first. The rule's choice is the first."""
    pick = choose_settings(list(summary))
    if pick is None:
        return []
    ok = [s for s in summary if s["runs"] >= 2 and profile_estimate(s) <= PROFILE_BUDGET_S
          and abs(s["noise_variance"] - 0.01) < 1e-9]
    top = max(s["lead"] for s in ok)
    return sorted((s for s in ok if s["lead"] >= top - 1.0), key=profile_estimate)


def format_settings(summary: list[dict[str, Any]], chosen: dict[str, Any] | None = None,
                    patience: Sequence[int] | None = (5,), digits: int = 1,
                    only: Sequence[dict[str, Any]] | None = None) -> "Table":
    """:func:`settings_summary` as a table: per width, training-set size and stopping rule, the
    mean test accuracy of teacher and hard student, the teacher's lead (mean ± sd over runs),
    the epochs each net runs, the CPU minutes of one run and the estimated hours of the whole
    profile (:func:`profile_estimate`). The rows of ``only`` if given (in its order), else those
    with a patience in ``patience`` (all if None); ``chosen`` always, marked."""
    from kdlib.report import Table

    rows = []
    shown = list(only) if only is not None else summary
    if only is not None and chosen is not None and not any(_same_setting(s, chosen) for s in shown):
        shown.append(chosen)
    top = max((s["lead"] for s in shown), default=math.nan)
    for s in shown:
        is_chosen = _same_setting(s, chosen)
        if only is None and patience is not None and s["patience"] not in patience and not is_chosen:
            continue
        lead = f"{s['lead']:.{digits}f}" + (f" ± {s['lead_sd']:.{digits}f}" if math.isfinite(s["lead_sd"]) else "")
        mark = "← chosen" if is_chosen else ""
        if only is not None and s["lead"] == top:
            mark = (mark + ", " if mark else "← ") + "largest lead"
        rows.append([f"×{s['width_mult']:g}", f"{s['n_train']:,d}", "yes" if s["augment"] else "no",
                     f"{s['max_epochs']} / {s['patience']}",
                     str(s["runs"]), f"{s['teacher']:.{digits}f}", f"{s['hard']:.{digits}f}", lead,
                     f"{s['teacher_epochs']:.0f} / {s['hard_epochs']:.0f}", f"{s['run_seconds'] / 60:.1f}",
                     f"{profile_estimate(s) / 3600:.1f}", mark])
    return Table(["width", "training images", "flips and shifts", "max epochs / patience", "runs", "teacher",
                  "hard student", "teacher − hard", "epochs run (teacher / student)", "min per run",
                  "profile h (est.)", ""],
                 rows, caption=(f"noise σ² = {summary[0]['noise_variance']:.2f}; test accuracy (%) at the epoch "
                                "early stopping picks; wall-clock times on the shared machine") if summary else None)


def noise_key(v: float) -> str:
    """``0.01`` -> ``"001"``: a noise variance as part of a glue key."""
    return f"{round(v * 100):03d}"


def choice_values(settings: Sequence[dict[str, Any]], profile: str = "cpu") -> dict[str, Any]:
    """The quoted values of the profile choice: what :func:`choose_settings` picks from the
    settings measurements at noise 0.01 (``choice_*``), its estimated cost for
    :data:`PROFILE_RUNS` runs and for ``profile``'s runs, the budget, and the largest lead
    measured at any cost (``largest_*``). ``choice_is_profile`` is "are" when ``profile``'s
    settings are the rule's choice, else "are not"."""
    summary = [s for s in settings_summary(settings, SETTINGS_CHOICES) if abs(s["noise_variance"] - 0.01) < 1e-9]
    pick = choose_settings(summary)
    if pick is None:
        raise ValueError("no measured setting fits the budget: the chapter's choice cannot be stated")
    p = PROFILES[profile]
    same = (p["width_mult"] == pick["width_mult"] and (p["train_limit"] or 9600) == pick["n_train"]
            and p["max_epochs"] == pick["max_epochs"] and p["patience"] == pick["patience"])
    best = max(summary, key=lambda s: s["lead"])
    return {
        "choice_budget_h": PROFILE_BUDGET_S / 3600, "measured_profile_runs": PROFILE_RUNS,
        "choice_width": pick["width_mult"], "choice_max_epochs": pick["max_epochs"],
        "choice_patience": pick["patience"], "choice_teacher": pick["teacher"], "choice_hard": pick["hard"],
        "choice_lead": pick["lead"], "choice_est_h": profile_estimate(pick) / 3600,
        "choice_is_profile": "are" if same else "are not", "cpu_profile_runs": p["runs"],
        "profile_est_h": profile_estimate(pick, runs=p["runs"]) / 3600,
        "deciding_count": len(deciding_settings(summary)),
        "largest_lead": best["lead"], "largest_lead_sd": best["lead_sd"], "largest_width": best["width_mult"],
        "largest_max_epochs": best["max_epochs"], "largest_patience": best["patience"],
        "largest_est_h": profile_estimate(best) / 3600,
    }


def result_values(records: Sequence[dict[str, Any]], seen: Sequence[int] = (0, 1), at: float = 0.01) -> dict[str, Any]:
    """The quoted values of the results: the teacher's lead at noise ``at`` over all runs
    (``lead_001``, ``lead_001_sd``, ``lead_runs``; the key names 0.01) and over the runs other
    than ``seen`` (``held_*``, the runs the settings measurements never used); per noise level
    ``gain_<v>`` and ``gain_<v>_se`` (soft − hard, mean and standard error sd/sqrt(n) of the paired
    runs); the teacher's largest lead over the levels and its lead at the noisiest one, the
    paper's range of leads and of low-noise gains (σ² ≤ 0.05), the levels where the soft
    student is ahead (a phrase), and the largest |gain| / se."""
    rec = next((r for r in records if abs(float(r["config"]["noise_variance"]) - at) < 1e-9), None)
    if rec is None:
        raise ValueError(f"no record at noise variance {at}")
    runs = paired_runs(rec)
    lead, sd = mean_sd([d["lead"] for d in runs])
    held_runs = [d["run"] for d in runs if d["run"] not in seen]
    hm, hs = mean_sd([d["lead"] for d in runs if d["run"] not in seen])
    out: dict[str, Any] = {"lead_001": lead, "lead_001_sd": sd, "lead_runs": len(runs),
                           "held_first": held_runs[0], "held_last": held_runs[-1], "held_lead_001": hm,
                           "held_lead_001_sd": hs}
    summary = summarize(records)
    z = []
    for s in summary:
        se = s["gap_sd"] / math.sqrt(s["runs"])
        out[f"gain_{noise_key(s['noise_variance'])}"] = s["gap"]
        out[f"gain_{noise_key(s['noise_variance'])}_se"] = se
        z.append(abs(s["gap"]) / se)
    leads = [s["teacher"] - s["hard"] for s in summary]
    out["lead_max"] = max(leads)
    out["lead_lowest"] = min(leads)
    out["lead_noisiest"] = leads[-1]
    out["noisiest"] = summary[-1]["noise_variance"]
    paper_leads = [t - h for t, h, _ in PAPER_FIGURE.values()]
    out["paper_lead_min"], out["paper_lead_max"] = min(paper_leads), max(paper_leads)
    low = [sft - h for v, (_, h, sft) in PAPER_FIGURE.items() if v <= 0.05]
    out["paper_low_gain_min"], out["paper_low_gain_max"] = min(low), max(low)
    ahead = [f"σ² = {s['noise_variance']:.2f}" for s in summary if s["gap"] > 0]
    out["soft_ahead_at"] = ", ".join(ahead) if ahead else "no level"
    out["soft_behind_count"] = sum(s["gap"] < 0 for s in summary)
    out["gain_z_max"] = max(z)
    return out


def _within_level(runs: list[dict[str, Any]], key: str) -> list[float]:
    """``key`` of each run minus its noise level's mean (so that levels do not drive a correlation)."""
    means = {v: statistics.fmean(d[key] for d in runs if d["noise_variance"] == v)
             for v in {d["noise_variance"] for d in runs}}
    return [d[key] - means[d["noise_variance"]] for d in runs]


def knowledge_values(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The quoted values of "What the teacher knows": over all paired runs, Pearson's r of the
    soft student's gain and the teacher's lead (``gain_lead_r``, slope ``gain_lead_slope``,
    ``paired_runs``); within each noise level (each run minus its level's mean, so that the
    levels do not drive it), r of the gain with the teacher's own accuracy (``gain_teacher_r``,
    which shares no term with the gain) and with the hard student's (``gain_hard_r``); and per
    level with a T = 4 student, soft (T=4) − hard and soft (T=4) − soft (T=1), mean and sd over
    the paired runs (``t4_gain_<v>``, ``t4_vs_t1_<v>``, with ``_sd``)."""
    runs = [d for rec in records for d in paired_runs(rec)]
    x = [d["lead"] for d in runs]
    y = [d["gain"] for d in runs]
    slope, _ = statistics.linear_regression(x, y)
    tw, gw, hw = (_within_level(runs, k) for k in ("teacher", "gain", "hard"))
    out: dict[str, Any] = {"paired_runs": len(runs), "gain_lead_r": statistics.correlation(x, y),
                           "gain_lead_slope": slope, "gain_teacher_r": statistics.correlation(tw, gw),
                           "gain_hard_r": statistics.correlation(hw, gw)}
    for v in sorted({d["noise_variance"] for d in runs if "gain T=4" in d}):
        at = [d for d in runs if "gain T=4" in d and d["noise_variance"] == v]
        out[f"t4_gain_{noise_key(v)}"], out[f"t4_gain_{noise_key(v)}_sd"] = mean_sd([d["gain T=4"] for d in at])
        out[f"t4_vs_t1_{noise_key(v)}"], out[f"t4_vs_t1_{noise_key(v)}_sd"] = mean_sd([d["gain T=4"] - d["gain"] for d in at])
    return out


def cost_values(records: Sequence[dict[str, Any]], speed: dict[str, Any]) -> dict[str, Any]:
    """The quoted values of the cost section: the CPU time the shown profile's records took
    (``profile_cpu_h``, the sum of their nets' training CPU seconds), the share of it the step
    timings predict (``step_share``), and the assumed GPU utilisation and peak."""
    rows = cost_rows(records, speed)
    mine = [r for r in rows if r["measured_seconds"] is not None]
    step = next((r for r in mine if "step timings" in r["where"]), None)
    return {"profile_cpu_h": mine[0]["measured_seconds"] / 3600,
            "step_share": step["seconds"] / step["measured_seconds"] if step else math.nan,
            "gpu_fraction": GPU_ASSUMED_FRACTION, "gpu_peak_tflops": GPU_PEAK_BF16_FLOPS / 1e12}


def claims(values: dict[str, Any]) -> dict[str, bool]:
    """The qualitative statements of the chapter's prose about the ``cpu`` records, as checks on
    the glued ``values`` (of :func:`choice_values`, :func:`result_values` and
    :func:`knowledge_values` together): each must hold, or the prose is wrong."""
    levels = [k[5:-3] for k in values if k.startswith("gain_") and k.endswith("_se")]
    t4 = [k[9:] for k in values if k.startswith("t4_vs_t1_") and not k.endswith("_sd")]
    return {
        # "Our teacher is better than the hard student at every noise level"
        "teacher ahead at every level": values["lead_lowest"] > 0,
        # "... the paper's is <min> to <max> points better": ours is below the paper's everywhere
        "teacher's lead below the paper's": values["lead_max"] < values["paper_lead_min"],
        # "the soft student is *not* better than the hard one": no gain beyond two standard errors
        "soft never significantly ahead": all(values[f"gain_{v}"] < 2 * values[f"gain_{v}_se"] for v in levels),
        # "ahead only at <levels>, and behind at the <n> other levels"
        "ahead and behind cover every level": (values["soft_behind_count"]
                                               + len(values["soft_ahead_at"].split(", ")) == len(levels)),
        # "gives the student nothing more than T = 1 does": T=4 - T=1 within one sd of zero or below
        "T = 4 adds nothing": all(values[f"t4_vs_t1_{v}"] < values[f"t4_vs_t1_{v}_sd"] for v in t4),
        # "the gain goes with the hard student's accuracy much more than with the teacher's"
        "gain follows the hard student": abs(values["gain_hard_r"]) > 2 * abs(values["gain_teacher_r"]),
        # "These are the settings of the `cpu` profile ... which runs <n> runs ... for tighter error bars"
        "cpu profile is the rule's choice": values["choice_is_profile"] == "are",
        "cpu profile runs more runs": values["cpu_profile_runs"] > values["measured_profile_runs"],
    }


def format_speed(record: dict[str, Any]) -> "Table":
    """A :data:`SPEED` record as a table: per net and width, forward MACs per image, seconds per
    training step and the sustained FLOP rate."""
    from kdlib.report import Table

    rows = [[r["net"], f"×{r['width_mult']:g}", f"{r['forward_macs'] / 1e6:,.2f}", f"{r['seconds_per_step']:.3f}",
             f"{r['images_per_s']:,.0f}", f"{r['gflop_per_s']:.1f}"] for r in record["rows"]]
    c = record["config"]
    return Table(["net", "width", "forward MMACs per image", "s per step", "images / s", "GFLOP/s"], rows,
                 caption=f"training steps of {c['batch_size']} images, {c['threads']} CPU thread(s), "
                         f"median of {c['steps']} (CPU time); {record['provenance']['device']}")


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per noise variance: mean and sample sd over runs of teacher, hard and soft test accuracy,
    and of the paired soft-minus-hard gap; the paper's values beside them (None where it has none)."""
    out = []
    for rec in records:
        rows = rec["rows"]
        v = float(rec["config"]["noise_variance"])
        acc = {k: {row["run"]: row["test_acc"] for row in rows if (row["model"], row["mode"]) == k}
               for k in (("teacher", "hard"), ("student", "hard"), ("student", "soft"))}
        runs = sorted(acc[("student", "hard")])
        gap = [acc[("student", "soft")][r] - acc[("student", "hard")][r] for r in runs]
        paper = PAPER_FIGURE.get(round(v, 4))
        s = {"noise_variance": v, "runs": len(runs), "profile": rec["config"]["profile"]}
        for name, k in (("teacher", ("teacher", "hard")), ("hard", ("student", "hard")), ("soft", ("student", "soft"))):
            s[name], s[name + "_sd"] = mean_sd(list(acc[k].values()))
        s["gap"], s["gap_sd"] = mean_sd(gap)
        s["paper_teacher"], s["paper_hard"], s["paper_soft"] = paper if paper else (None, None, None)
        s["paper_gap"] = None if paper is None else paper[2] - paper[1]
        out.append(s)
    return sorted(out, key=lambda s: s["noise_variance"])


def format_table(summary: list[dict[str, Any]], digits: int = 1) -> "Table":
    """Ours (mean ± sd over runs, test accuracy in %) beside the paper's values, one row per
    noise variance σ², as a :class:`kdlib.report.Table` (text and HTML)."""
    from kdlib.report import Table

    def ms(m: float, sd: float) -> str:
        return f"{m:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{m:.{digits}f}"

    def pv(x: float | None) -> str:
        return f"{x:.1f}" if x is not None else "—"

    header = ["noise σ²", "teacher", "hard", "soft", "soft − hard",
              "paper: teacher", "paper: hard", "paper: soft", "paper: soft − hard"]
    rows = [[f"{s['noise_variance']:.2f}", ms(s["teacher"], s["teacher_sd"]), ms(s["hard"], s["hard_sd"]),
             ms(s["soft"], s["soft_sd"]), ms(s["gap"], s["gap_sd"]),
             pv(s["paper_teacher"]), pv(s["paper_hard"]), pv(s["paper_soft"]), pv(s["paper_gap"])]
            for s in summary]
    return Table(header, rows)


def plot_figure(summary: list[dict[str, Any]], label: str):
    """Left: test accuracy vs noise variance (ours with sd error bars, the paper's dashed).
    Right: the soft-minus-hard gap vs noise variance. Returns the figure."""
    from kdlib.plots import MODE_COLORS, legible, new_figure

    fig, (ax, ax2) = new_figure(ncols=2, width=10.0, height=4.8)
    v = [s["noise_variance"] for s in summary]
    for key, name in (("teacher", "teacher VGG 8+3"), ("hard", "student VGG 2+3, hard"), ("soft", "student VGG 2+3, soft")):
        c = MODE_COLORS[key]
        ax.errorbar(v, [s[key] for s in summary], yerr=[s[key + "_sd"] for s in summary], color=c, marker="o",
                    capsize=3, label=f"{name} (ours)")
        pv = [(s["noise_variance"], s["paper_" + key]) for s in summary if s["paper_" + key] is not None]
        if pv:
            ax.plot(*zip(*pv), color=c, ls="--", marker="s", mfc="none", alpha=0.8, label=f"{name} (paper)")
    ax.set_xlabel("noise variance σ² (pixels in [0, 1])")
    ax.set_ylabel("test accuracy (%)")
    fig.suptitle("\n".join(textwrap.wrap(f"ours: {label}", 90)))
    ax2.errorbar(v, [s["gap"] for s in summary], yerr=[s["gap_sd"] for s in summary], color=MODE_COLORS["soft"],
                 marker="o", capsize=3, label="ours (mean ± sd of paired runs)")
    pg = [(s["noise_variance"], s["paper_gap"]) for s in summary if s["paper_gap"] is not None]
    ax2.plot(*zip(*pg), color="#444444", ls="--", marker="s", mfc="none", label="paper")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xlabel("noise variance σ² (pixels in [0, 1])")
    ax2.set_ylabel("soft − hard test accuracy (points)")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(handles + h2, labels + ["soft − hard: " + t for t in l2], loc="lower center", ncol=2,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.24, 1, 1))
    return legible(fig)


def profile_label(records: list[dict[str, Any]]) -> str:
    """E.g. ``cpu profile: width x0.125, 8 runs, <= 12 epochs (patience 5), 9600 training images,
    flips and shifts; + T = 4 student at 0.10, 0.20 (cpu+T4)``."""
    c = records[0]["config"]
    n = c["train_limit"] if c["train_limit"] is not None else 9600
    base = c["profile"].split("+")[0]
    label = (f"{base} profile: width x{c['width_mult']:g}, {c['runs']} runs, <= {c['max_epochs']} epochs "
             f"(patience {c['patience']}), {n} training images")
    if c.get("augment"):
        label += ", flips and shifts"
    extra = [r["config"] for r in records if r["config"].get("extra_temperatures")]
    if extra:
        temps = sorted({t for e in extra for t in e["extra_temperatures"]})
        levels = ", ".join(f"{e['noise_variance']:.2f}" for e in extra)
        label += f"; + T = {', '.join(f'{t:g}' for t in temps)} student at {levels} ({extra[0]['profile']})"
    return label


def paired_runs(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per run of a record: the test accuracies of the teacher (``teacher``), the hard
    student (``hard``), the soft student (``soft``) and of every extra soft student
    (``"soft T=4"``...), the teacher's ``lead`` (teacher - hard) and the ``gain`` of each soft
    student over the hard one of the same run (``gain``, ``"gain T=4"``...), in points,
    the teacher's training accuracy and ``confidence`` (mean max softmax on the training set)."""
    by: dict[int, dict[str, Any]] = {}
    for row in rec["rows"]:
        d = by.setdefault(row["run"], {"run": row["run"], "noise_variance": float(rec["config"]["noise_variance"])})
        name = "teacher" if row["model"] == "teacher" else row["mode"]
        d[name] = row["test_acc"]
        if row["model"] == "teacher":
            d["confidence"] = row.get("train_confidence")
            d["teacher_train_acc"] = row.get("train_acc")
        elif "label_confidence" in row and row["mode"] != "soft":
            d["confidence " + row["mode"].split(" ", 1)[1]] = row["label_confidence"]
    out = []
    for r in sorted(by):
        d = by[r]
        d["lead"] = d["teacher"] - d["hard"]
        for k in [k for k in d if isinstance(k, str) and k.startswith("soft")]:
            d["gain" + k[4:]] = d[k] - d["hard"]
        out.append(d)
    return out


def teacher_knowledge(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per noise variance: mean and sd over runs of the teacher's lead over the hard student,
    of the soft student's paired gain over it (and of each extra temperature's gain), of the
    teacher's training accuracy and of its confidence on the training set; the paper's lead
    and gain beside them."""
    out = []
    for rec in records:
        runs = paired_runs(rec)
        v = float(rec["config"]["noise_variance"])
        s: dict[str, Any] = {"noise_variance": v, "runs": len(runs)}
        keys = sorted({k for d in runs for k in d if k.startswith(("gain", "confidence")) or k in ("lead",
                                                                                               "teacher_train_acc")})
        for k in keys:
            vals = [d[k] for d in runs if d.get(k) is not None]
            if vals:
                s[k], s[k + "_sd"] = mean_sd(vals)
        paper = PAPER_FIGURE.get(round(v, 4))
        s["paper_lead"] = None if paper is None else paper[0] - paper[1]
        s["paper_gain"] = None if paper is None else paper[2] - paper[1]
        out.append(s)
    return sorted(out, key=lambda s: s["noise_variance"])


def format_knowledge(knowledge: list[dict[str, Any]], digits: int = 1) -> "Table":
    """:func:`teacher_knowledge` as a table (points of test accuracy; confidence as a probability)."""
    from kdlib.report import Table

    def ms(s: dict[str, Any], k: str, d: int = digits) -> str:
        if k not in s:
            return "—"
        sd = s.get(k + "_sd", math.nan)
        return f"{s[k]:.{d}f} ± {sd:.{d}f}" if math.isfinite(sd) else f"{s[k]:.{d}f}"

    temps = sorted({k[5:] for s in knowledge for k in s if k.startswith("gain ") and not k.endswith("_sd")})
    header = ["noise σ²", "runs", "teacher − hard", "soft − hard", "teacher train acc.", "teacher confidence"]
    for t in temps:
        header += [f"soft ({t}) − hard", f"confidence at {t}"]
    header += ["paper: teacher − hard", "paper: soft − hard"]
    rows = []
    for s in knowledge:
        row = [f"{s['noise_variance']:.2f}", str(s["runs"]), ms(s, "lead"), ms(s, "gain"),
               ms(s, "teacher_train_acc"), ms(s, "confidence", 3)]
        for t in temps:
            row += [ms(s, f"gain {t}"), ms(s, f"confidence {t}", 3)]
        row += ["—" if s["paper_lead"] is None else f"{s['paper_lead']:.1f}",
                "—" if s["paper_gain"] is None else f"{s['paper_gain']:.1f}"]
        rows.append(row)
    return Table(header, rows)


def plot_gain_vs_lead(records: Sequence[dict[str, Any]]):
    """Every run as a point: the soft student's gain over the hard one (paired, points) against
    the teacher's lead over the hard student, coloured by noise variance; extra temperatures as
    open squares. The least-squares line and Pearson's r of the T = 1 points are in the legend."""
    from kdlib.plots import legible, new_figure, series_style

    fig, ax = new_figure(width=8.5, height=5.2)
    runs = [d for rec in records for d in paired_runs(rec)]
    variances = sorted({d["noise_variance"] for d in runs})
    style = {v: series_style(i) for i, v in enumerate(variances)}
    color = {v: style[v]["color"] for v in variances}
    for v in variances:
        pts = [(d["lead"], d["gain"]) for d in runs if d["noise_variance"] == v]
        ax.scatter(*zip(*pts), color=color[v], marker=style[v]["marker"], s=22, label=f"σ² = {v:.2f}, T = 1")
    extra = sorted({k for d in runs for k in d if k.startswith("gain ")})
    for k in extra:
        pts = [(d["lead"], d[k], d["noise_variance"]) for d in runs if k in d]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], facecolors="none",
                   edgecolors=[color[p[2]] for p in pts], marker="s", s=40, label=f"{k[5:]} (same runs)")
    x = [d["lead"] for d in runs]
    y = [d["gain"] for d in runs]
    if len(x) > 2 and statistics.pstdev(x) > 0 and statistics.pstdev(y) > 0:
        slope, icpt = statistics.linear_regression(x, y)
        r = statistics.correlation(x, y)
        xs = [min(x), max(x)]
        ax.plot(xs, [icpt + slope * t for t in xs], color="#444444", lw=1,
                label=f"least squares, T = 1: slope {slope:.2f}, r = {r:.2f}")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("teacher − hard student, test accuracy (points)")
    ax.set_ylabel("soft − hard student (points)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    fig.tight_layout()
    return legible(fig)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cost_rows(records: Sequence[dict[str, Any]], speed: dict[str, Any],
              paper_epochs: Sequence[int] = (40, 100)) -> list[dict[str, Any]]:
    """The time model: what the shown profile cost (measured epochs and FLOP rates of its
    records, against the sum of their ``train_seconds``), and what the ``paper`` profile would
    cost on this CPU (rates of the full-width nets in the ``speed`` record) and on an H200
    (:data:`GPU_PEAK_BF16_FLOPS` x :data:`GPU_ASSUMED_FRACTION`), if every net ran each of
    ``paper_epochs`` epochs (40: a best epoch near 20 plus patience 20; 100: the cap)."""
    out = []
    cfgs = [Config(**r["config"]) for r in records]
    rates = measured_rates(records)
    epochs = {TEACHER: [], STUDENT: []}
    seconds = 0.0
    for rec in records:
        for row in rec["rows"]:
            epochs[TEACHER if row["model"] == "teacher" else STUDENT].append(row["epochs_run"])
            seconds += row.get("train_cpu_seconds", row["train_seconds"])
    mean_epochs = {n: statistics.fmean(v) for n, v in epochs.items()}
    flops = sum(profile_cost(c, rates, mean_epochs, levels=1)["flops"] for c in cfgs)
    width = cfgs[0].width_mult
    step = {r["net"]: r["gflop_per_s"] * 1e9 for r in speed["rows"] if r["width_mult"] == width}
    name = cfgs[0].profile.split("+")[0]
    if set(step) == {TEACHER, STUDENT}:
        est = sum(profile_cost(c, step, mean_epochs, levels=1)["seconds"] for c in cfgs)
        out.append({"profile": name, "where": "this CPU, 1 thread (step timings)", "rate": step,
                    "epochs": mean_epochs, "flops": flops, "seconds": est, "measured_seconds": seconds})
    out.append({"profile": name, "where": "this CPU, 1 thread (its records)", "rate": rates,
                "epochs": mean_epochs, "flops": flops, "seconds": seconds, "measured_seconds": seconds})
    paper = make_config("paper", 0.1)
    cpu_rate = {r["net"]: r["gflop_per_s"] * 1e9 for r in speed["rows"] if r["width_mult"] == 1.0}
    gpu = GPU_PEAK_BF16_FLOPS * GPU_ASSUMED_FRACTION
    for where, rate in (("this CPU, 1 thread (step timings)", cpu_rate), ("H200 (assumed rate)", {TEACHER: gpu, STUDENT: gpu})):
        if set(rate) != {TEACHER, STUDENT}:
            continue
        for e in paper_epochs:
            ep = {TEACHER: float(e), STUDENT: float(e)}
            # the chapter's variant: one extra soft student at two of the six levels
            base = profile_cost(paper, rate, ep)
            extra = profile_cost(dataclasses.replace(paper, extra_temperatures=(4.0,)), rate, ep, levels=2)
            plain2 = profile_cost(paper, rate, ep, levels=2)
            out.append({"profile": "paper", "where": where, "rate": rate, "epochs": ep,
                        "flops": base["flops"] + extra["flops"] - plain2["flops"],
                        "seconds": base["seconds"] + extra["seconds"] - plain2["seconds"], "measured_seconds": None})
    return out


def format_cost(records: Sequence[dict[str, Any]], speed: dict[str, Any]) -> "Table":
    """:func:`cost_rows` as a table (rates in GFLOP/s, teacher / student)."""
    from kdlib.report import Table

    rows = []
    for r in cost_rows(records, speed):
        rate = f"{r['rate'][TEACHER] / 1e9:,.0f} / {r['rate'][STUDENT] / 1e9:,.0f}"
        ep = r["epochs"]
        rows.append([r["profile"], r["where"], rate, f"{ep[TEACHER]:.0f} / {ep[STUDENT]:.0f}",
                     f"{r['flops'] / 1e15:,.2f}", _duration(r["seconds"]),
                     "—" if r["measured_seconds"] is None else _duration(r["measured_seconds"])])
    return Table(["profile", "where", "GFLOP/s (teacher / student)", "epochs per net (teacher / student)",
                  "PFLOP", "estimated time", "measured CPU time"], rows,
                 caption=f"all six noise levels, T = 4 variant included; H200 rate = "
                         f"{GPU_ASSUMED_FRACTION:.0%} of {GPU_PEAK_BF16_FLOPS / 1e12:,.0f} TFLOP/s ({GPU_PEAK_SOURCE})")
