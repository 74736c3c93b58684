"""Chapter 7's section on the ``cpu2`` profile, the one chosen for a teacher that leads
(:mod:`kdlib.experiments.deep_lead`): what is stored, the teacher's lead and soft minus hard
per noise level beside the small ``cpu`` profile and the paper, and the values its prose quotes.

Everything here reads the store and never computes a record, so the section works with
whatever exists: a profile whose noise levels are not all stored is shown as incomplete,
with the levels (and runs) that are in. Conventions of :mod:`kdlib.experiments.deep`: test
accuracy in percent; the teacher's *lead* is teacher minus hard student and the *gain* soft
minus hard student, both paired within a run (same noisy images; the two students share
their initialisation and batch order); mean ± standard error over the runs (sd / sqrt(n)).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from kdlib.chapters import deep_networks
from kdlib.experiments import deep, deep_lead, deep_lead_settings
from kdlib.fit import mean_se
from kdlib.results import ResultStore

#: Levels where the paper's gains are small (at most 1.3 points) and where they are large (about 8).
LOW_NOISE = (0.0, 0.01, 0.03, 0.05)
HIGH_NOISE = (0.10, 0.20)


def stored(profile: str, noise_variances: Sequence[float] = deep.NOISE_VARIANCES,
           store: ResultStore | None = None) -> tuple[list[deep.Config], list[dict[str, Any]]]:
    """The configs of ``profile`` as the chapter asks for them (:func:`kdlib.experiments.deep.sweep`,
    T = 4 variant included) and the records of those that the store holds, in noise order."""
    store = store or ResultStore()
    configs = deep.sweep(profile, noise_variances)
    records = [r for r in (store.load(deep.NAME, c) for c in configs) if r is not None]
    return configs, records


def lead_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stored noise level: runs, the teacher's lead and the soft student's gain (mean and
    standard error over the paired runs), and the paper's lead and gain (None where it has none)."""
    out = []
    for rec in records:
        runs = deep_networks.paired_runs(rec)
        v = float(rec["config"]["noise_variance"])
        lead, lead_se = mean_se([d["lead"] for d in runs])
        gain, gain_se = mean_se([d["gain"] for d in runs])
        paper = deep.PAPER_FIGURE.get(round(v, 4))
        out.append({"noise_variance": v, "runs": len(runs), "lead": lead, "lead_se": lead_se, "gain": gain,
                    "gain_se": gain_se, "paper_lead": None if paper is None else paper[0] - paper[1],
                    "paper_gain": None if paper is None else paper[2] - paper[1]})
    return sorted(out, key=lambda s: s["noise_variance"])


def status(profile: str, configs: Sequence[deep.Config], records: Sequence[dict[str, Any]]) -> str:
    """One line: how much of ``profile`` is stored, e.g. ``cpu2: 2 of 6 noise levels stored
    (0.00, 0.01; 5 runs each); missing 0.03, 0.05, 0.10, 0.20``."""
    have = sorted(float(r["config"]["noise_variance"]) for r in records)
    runs = sorted({int(r["config"]["runs"]) for r in records})
    missing = [c.noise_variance for c in configs if all(abs(c.noise_variance - h) > 1e-9 for h in have)]
    text = f"{profile}: {len(have)} of {len(configs)} noise levels stored"
    if have:
        text += f" ({', '.join(f'{v:.2f}' for v in have)}; {'/'.join(map(str, runs))} runs each)"
    if missing:
        text += f"; missing {', '.join(f'{v:.2f}' for v in missing)}"
    return text


def lead_table(shown: dict[str, tuple[Sequence[deep.Config], Sequence[dict[str, Any]]]]) -> "Table":
    """Per noise level, for each profile of ``shown`` (label -> configs, records): runs, teacher −
    hard and soft − hard (mean ± standard error, points); "not stored" where a level is missing,
    "—" where the profile does not ask for it (the held-out runs, at one level);
    the paper's lead and gain (read off its figure) at the right."""
    from kdlib.report import Table

    def pm(m: float, se: float) -> str:
        return f"{m:+.1f} ± {se:.1f}" if math.isfinite(se) else f"{m:+.1f}"

    levels = sorted({float(c.noise_variance) for cfgs, _ in shown.values() for c in cfgs})
    per = {label: {s["noise_variance"]: s for s in lead_rows(recs)} for label, (_, recs) in shown.items()}
    header = ["noise σ²"]
    for label in shown:
        header += [f"{label}: runs", f"{label}: teacher − hard", f"{label}: soft − hard"]
    header += ["paper: teacher − hard", "paper: soft − hard"]
    rows = []
    for v in levels:
        row = [f"{v:.2f}"]
        for label, (cfgs, _) in shown.items():
            s = per[label].get(v)
            if s is None and all(abs(c.noise_variance - v) > 1e-9 for c in cfgs):
                row += ["—", "—", "—"]  # a level this profile does not ask for
                continue
            row += ["0", "not stored", "not stored"] if s is None else [
                str(s["runs"]), pm(s["lead"], s["lead_se"]), pm(s["gain"], s["gain_se"])]
        paper = deep.PAPER_FIGURE.get(round(v, 4))
        row += ["—", "—"] if paper is None else [f"{paper[0] - paper[1]:+.1f}", f"{paper[2] - paper[1]:+.1f}"]
        rows.append(row)
    return Table(header, rows, caption="test accuracy differences in points, paired within runs; "
                                        "mean ± standard error over the runs")


def settings_status(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The cpu2 settings measurements (bf16 records of :data:`kdlib.experiments.deep_lead.NAME`):
    how many of :func:`~kdlib.experiments.deep_lead_settings.configs` are stored, the rule's pick (None when
    nothing qualifies or nothing is measured), whether ``PROFILES["cpu2"]`` holds it, and the
    largest teacher lead measured at noise 0.2 (any stopping rule) with its setting."""
    want = deep_lead_settings.configs()
    held = {(float(r["config"]["noise_variance"]), float(r["config"]["width_mult"])) for r in records
            if r["config"]["runs"] == deep_lead.MEASURED_RUNS}
    n = sum((c.noise_variance, c.width_mult) in held for c in want)
    rows = deep_lead.summary(records, "bf16", runs=deep_lead.MEASURED_RUNS)
    pick = deep_lead.choose(rows) if n == len(want) else None
    high = [s for s in rows if abs(s["noise_variance"] - 0.2) < 1e-9]
    best_high = max(high, key=lambda s: s["lead"]) if high else None
    return {"measured": n, "wanted": len(want), "pick": pick,
            "profile_matches": pick is not None and deep.PROFILES[deep_lead.PROFILE] == deep_lead.profile_values(pick),
            "best_high": best_high}


def row_at(rows: Sequence[dict[str, Any]], v: float) -> dict[str, Any] | None:
    """The row of :func:`lead_rows` at noise ``v`` (None: not stored)."""
    return next((s for s in rows if abs(s["noise_variance"] - v) < 1e-9), None)


def record_at(records: Sequence[dict[str, Any]], v: float) -> dict[str, Any] | None:
    """The record at noise ``v`` (None: not stored)."""
    return next((r for r in records if abs(float(r["config"]["noise_variance"]) - v) < 1e-9), None)


def gain_word(gain: float, se: float) -> str:
    """How the prose names a soft-minus-hard difference: ``"a gain"`` or ``"a loss"`` beyond two
    standard errors of zero, else ``"no clear difference"`` (``"one run"`` without an error bar)."""
    if not math.isfinite(se):
        return "one run"
    return "a gain" if gain > 2 * se else "a loss" if gain < -2 * se else "no clear difference"


def prose_values(cpu: Sequence[dict[str, Any]], cpu2: Sequence[dict[str, Any]], cpu2_configs: Sequence[deep.Config],
                 settings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The values the section's prose quotes (glued; ``"—"`` where the records lack them), as
    ``float``/``int``/``str``:

    - the small ``cpu`` profile's lead at 0.01 (``cpu_lead_001``, ``_se``, ``cpu_runs``) and the paper's;
    - what is stored (``settings_measured`` of ``settings_wanted``, ``cpu2_levels`` of ``cpu2_levels_wanted``);
    - the rule (``lead_min``, ``budget_h``, ``profile_runs``) and its pick on the measurements
      (``pick_width``, ``pick_max_epochs``, ``pick_patience``, ``pick_lead``, ``pick_lead_sd``,
      ``pick_runs``, ``pick_profile_h``), the largest lead measured at 0.2 (``high_best_*``) and the
      largest at 0.01 at the widest width measured (``widest_width``, ``widest_lead_001_max``);
    - per noise level ``<k>`` (0.01 -> ``001``) of ``cpu2``: the teacher's lead and the soft student's
      gain, mean and standard error over the paired runs (``cpu2_lead_<k>``, ``cpu2_lead_<k>_se``,
      ``cpu2_gain_<k>``, ``cpu2_gain_<k>_se``), and :func:`gain_word` of the gain (``cpu2_word_<k>``);
    - the paper's lead and gain per level (``paper_lead_<k>``, ``paper_gain_<k>``, read off its figure);
    - the lead at 0.01 over the runs the settings measurements used (``cpu2_seen_lead_001``) and over
      those they never used (``cpu2_held_*``), and the
      number of runs at which the paper's gain at 0.01 would lie two standard errors from zero at the
      spread of the gains measured there (``cpu2_runs_to_resolve_001`` = ceil((2 sd / gain_paper)^2));
    - counts over the levels: gains and losses beyond two standard errors (``cpu2_gains``,
      ``cpu2_losses``), levels where the teacher leads by more than two standard errors
      (``cpu2_leading``), the smallest lead (``cpu2_lead_min``) and the measured CPU-hours of its
      records (``cpu2_cpu_h``, the sum of their nets' training CPU time);
    - its teachers (``cpu2_teachers``): how many were still improving at the epoch cap (best epoch the
      last allowed, ``cpu2_teachers_capped``) and how many the patience stopped before it
      (``cpu2_teachers_stopped``)."""
    from kdlib.chapters.deep_networks import noise_key, paired_runs
    from kdlib.experiments import deep_lead_settings

    dash = "—"
    small = row_at(lead_rows(cpu), 0.01)
    rows = lead_rows(cpu2)
    st = settings_status(settings)
    paper = deep.PAPER_FIGURE[0.01]
    out: dict[str, Any] = {
        "cpu_lead_001": dash if small is None else round(small["lead"], 1),
        "cpu_lead_001_se": dash if small is None else round(small["lead_se"], 1),
        "cpu_runs": dash if small is None else small["runs"],
        "paper_lead_001": round(paper[0] - paper[1], 1),
        "cpu2_levels": len(cpu2),
        "cpu2_levels_wanted": len(cpu2_configs),
        "settings_measured": st["measured"],
        "settings_wanted": st["wanted"],
        "lead_min": deep_lead.LEAD_MIN,
        "budget_h": round(deep_lead.BUDGET_S / 3600, 1),
        "profile_runs": deep_lead.RUNS,
    }
    pick = st["pick"]
    for k, f in (("width", "width_mult"), ("max_epochs", "max_epochs"), ("patience", "patience"), ("lead", "lead"),
                 ("lead_sd", "lead_sd"), ("runs", "runs")):
        out[f"pick_{k}"] = dash if pick is None else (round(pick[f], 1) if k.startswith("lead") else pick[f])
    out["pick_profile_h"] = dash if pick is None else round(pick["profile_s"] / 3600, 2)
    # the widest net measured: its largest lead at 0.01 over every stopping rule
    rows_all = deep_lead.summary(settings, "bf16", runs=deep_lead.MEASURED_RUNS)
    widest = max((r["width_mult"] for r in rows_all), default=None)
    at_widest = [r["lead"] for r in rows_all if r["width_mult"] == widest and abs(r["noise_variance"] - 0.01) < 1e-9]
    out["widest_width"] = dash if not at_widest else widest
    out["widest_lead_001_max"] = dash if not at_widest else round(max(at_widest), 1)
    b = st["best_high"]
    for k, f in (("lead", "lead"), ("lead_sd", "lead_sd"), ("width", "width_mult"), ("max_epochs", "max_epochs"),
                 ("patience", "patience")):
        out[f"high_best_{k}"] = dash if b is None else (round(b[f], 1) if k.startswith("lead") else b[f])
    for v in deep.NOISE_VARIANCES:
        s, k = row_at(rows, v), noise_key(v)
        out[f"cpu2_lead_{k}"] = dash if s is None else round(s["lead"], 1)
        out[f"cpu2_lead_{k}_se"] = dash if s is None else round(s["lead_se"], 1)
        out[f"cpu2_gain_{k}"] = dash if s is None else round(s["gain"], 1)
        out[f"cpu2_gain_{k}_se"] = dash if s is None else round(s["gain_se"], 1)
        out[f"cpu2_word_{k}"] = dash if s is None else gain_word(s["gain"], s["gain_se"])
        fig = deep.PAPER_FIGURE.get(round(v, 4))
        out[f"paper_lead_{k}"] = dash if fig is None else round(fig[0] - fig[1], 1)
        out[f"paper_gain_{k}"] = dash if fig is None else round(fig[2] - fig[1], 1)
    rec = record_at(cpu2, 0.01)
    runs_001 = [] if rec is None else paired_runs(rec)
    held = [d for d in runs_001 if d["run"] >= deep_lead_settings.MEASURED_RUNS]
    seen = [d["lead"] for d in runs_001 if d["run"] < deep_lead_settings.MEASURED_RUNS]
    out["cpu2_seen_lead_001"] = round(statistics.fmean(seen), 1) if seen else dash
    if held:
        m, se = mean_se([d["lead"] for d in held])
        out.update(cpu2_held_lead_001=round(m, 1), cpu2_held_lead_001_se=round(se, 1) if math.isfinite(se) else dash,
                   cpu2_held_first=held[0]["run"], cpu2_held_last=held[-1]["run"])
    else:
        out.update(cpu2_held_lead_001=dash, cpu2_held_lead_001_se=dash, cpu2_held_first=dash, cpu2_held_last=dash)
    out["cpu2_runs"] = dash if not rows else min(s["runs"] for s in rows)
    # runs that would put the paper's gain at 0.01 two standard errors from zero, at the spread measured there
    s = row_at(rows, 0.01)
    if s is not None and math.isfinite(s["gain_se"]) and deep.PAPER_FIGURE[0.01][2] > deep.PAPER_FIGURE[0.01][1]:
        sd = s["gain_se"] * math.sqrt(s["runs"])
        out["cpu2_runs_to_resolve_001"] = math.ceil((2 * sd / (deep.PAPER_FIGURE[0.01][2] - deep.PAPER_FIGURE[0.01][1])) ** 2)
    else:
        out["cpu2_runs_to_resolve_001"] = dash
    words = [gain_word(s["gain"], s["gain_se"]) for s in rows]
    out["cpu2_gains"], out["cpu2_losses"] = words.count("a gain"), words.count("a loss")
    out["cpu2_leading"] = sum(math.isfinite(s["lead_se"]) and s["lead"] > 2 * s["lead_se"] for s in rows)
    out["cpu2_lead_min"] = dash if not rows else round(min(s["lead"] for s in rows), 1)
    teachers = [(row, int(r["config"]["max_epochs"])) for r in cpu2 for row in r["rows"] if row["model"] == "teacher"]
    out["cpu2_teachers"] = len(teachers)
    # still improving at the epoch cap (best epoch = the last allowed), and stopped early by the patience
    out["cpu2_teachers_capped"] = sum(row.get("best_epoch") == cap for row, cap in teachers)
    out["cpu2_teachers_stopped"] = sum(row.get("epochs_run", cap) < cap for row, cap in teachers)
    secs = sum(row.get("train_cpu_seconds", row["train_seconds"]) for r in cpu2 for row in r["rows"])
    out["cpu2_cpu_h"] = dash if not cpu2 else round(secs / 3600, 2)
    return out


def claims(values: dict[str, Any]) -> dict[str, bool]:
    """The qualitative statements of the section's prose about the stored ``cpu2`` records, as checks
    on its glued ``values`` (of :func:`prose_values` and, prefixed ``cpu2_``,
    :func:`kdlib.chapters.deep_networks.knowledge_values`): each must hold, or the prose is wrong."""
    v = values
    return {
        # "less than the 5 points the profile was chosen for, and less than the paper's"
        "lead at 0.01 below the rule's minimum": v["cpu2_lead_001"] < v["lead_min"],
        # "the widest net measured does not help: no stopping rule gives a lead of <max> or more"
        "the widest width leads by less": v["widest_lead_001_max"] < v["lead_min"] and v["widest_width"] > v["pick_width"],
        "lead at 0.01 below the paper's": v["cpu2_lead_001"] < v["paper_lead_001"],
        # "though more than the small profile's"
        "lead at 0.01 above the small profile's": v["cpu2_lead_001"] > v["cpu_lead_001"],
        # "The runs the rule saw repeat its measurement" (same seeds and data; rounded to 0.1)
        "the seen runs repeat the measurement": abs(v["cpu2_seen_lead_001"] - v["pick_lead"]) <= 0.1,
        # "runs ..., which it never saw, lead by <less>"
        "the unseen runs lead by less": v["cpu2_held_lead_001"] < v["pick_lead"],
        # "<n> were stopped by the patience before the epoch cap, and <n> were still improving at the cap"
        "teachers stopped both ways": v["cpu2_teachers_capped"] > 0 and v["cpu2_teachers_stopped"] > 0,
        # "... at sigma^2 = 0 and ... at 0.01: no clear difference"
        "no clear difference at low noise": v["cpu2_word_000"] == v["cpu2_word_001"] == "no clear difference",
        # "Under heavy noise the teacher leads by only ...": under a quarter of the paper's lead
        "high-noise leads a fraction of the paper's": all(v[f"cpu2_lead_{k}"] < v[f"paper_lead_{k}"] / 4
                                                           for k in ("010", "020")),
        # "the soft student's gain at 0.2 is far below the paper's": more than two standard errors below
        "gain at 0.2 far below the paper's": v["cpu2_gain_020"] + 2 * v["cpu2_gain_020_se"] < v["paper_gain_020"],
        # "the one gain, at sigma^2 = 0.2, ..., just past two standard errors"
        "the one gain is at 0.2": v["cpu2_gains"] == 1 and v["cpu2_word_020"] == "a gain"
                                  and v["cpu2_gain_020"] < 3 * v["cpu2_gain_020_se"],
        # "a weak hard student makes the gain large, but so, less strongly, does a strong teacher"
        "within levels the gain goes against the hard student, with the teacher":
            v["cpu2_gain_hard_r"] < 0 < v["cpu2_gain_teacher_r"] < abs(v["cpu2_gain_hard_r"]),
        "the gain follows the lead": v["cpu2_gain_lead_r"] > 0,
        # "A temperature of 4 again adds nothing": T=4 - T=1 within one sd of zero or below
        "T = 4 adds nothing": all(v[f"cpu2_t4_vs_t1_{k}"] < v[f"cpu2_t4_vs_t1_{k}_sd"] for k in ("010", "020")),
    }


def runs_table(records: Sequence[dict[str, Any]], at: float = 0.01) -> "Table":
    """Every run of the record at noise ``at``: test accuracy of the teacher and of both students, the
    teacher's lead and the soft student's gain (points), the epochs each net ran and its best epoch, and
    whether the settings measurements saw the run (runs below
    :data:`kdlib.experiments.deep_lead_settings.MEASURED_RUNS`, same seeds and data)."""
    from kdlib.chapters.deep_networks import paired_runs
    from kdlib.experiments import deep_lead_settings
    from kdlib.report import Table

    rec = record_at(records, at)
    if rec is None:
        return Table(["run"], [], caption=f"no record at σ² = {at:g}")
    epochs = {(r["run"], "teacher" if r["model"] == "teacher" else r["mode"]): (r.get("epochs_run", "?"), r.get("best_epoch", "?"))
              for r in rec["rows"]}
    rows = []
    for d in paired_runs(rec):
        ep = [epochs.get((d["run"], k), ("?", "?")) for k in ("teacher", "hard", "soft")]
        rows.append([str(d["run"]), f"{d['teacher']:.1f}", f"{d['hard']:.1f}", f"{d['soft']:.1f}",
                     f"{d['lead']:+.1f}", f"{d['gain']:+.1f}", " / ".join(f"{e} ({b})" for e, b in ep),
                     "yes" if d["run"] < deep_lead_settings.MEASURED_RUNS else "no"])
    return Table(["run", "teacher", "hard", "soft", "teacher − hard", "soft − hard",
                  "epochs run (best): teacher / hard / soft", "seen by the rule"], rows,
                 caption=f"σ² = {at:.2f}: test accuracy (%) at the epoch early stopping picks, per run")


def settings_table(records: Sequence[dict[str, Any]], patience: Sequence[int] = (8,)) -> "Table":
    """The cpu2 settings measurements (bf16 records): per noise level, width and stopping rule with a
    patience in ``patience`` (plus the rule's pick, marked): runs, teacher and hard student (test
    accuracy, %), the teacher's lead (mean ± sd over the runs), epochs each net runs, and the estimated
    CPU-hours of the whole profile (:data:`kdlib.experiments.deep_lead.RUNS` runs, six levels)."""
    from kdlib.report import Table

    rows_in = deep_lead.summary(records, "bf16", runs=deep_lead.MEASURED_RUNS)
    st = settings_status(records)
    pick = st["pick"]
    keys = ("noise_variance", "width_mult", "max_epochs", "patience")
    rows = []
    for s in rows_in:
        chosen = pick is not None and all(s[k] == pick[k] for k in keys)
        if s["patience"] not in patience and not chosen:
            continue
        sd = f" ± {s['lead_sd']:.1f}" if math.isfinite(s["lead_sd"]) else ""
        rows.append([f"{s['noise_variance']:.2f}", f"×{s['width_mult']:g}", f"{s['max_epochs']} / {s['patience']}",
                     str(s["runs"]), f"{s['teacher']:.1f}", f"{s['hard']:.1f}", f"{s['lead']:+.1f}{sd}",
                     f"{s['teacher_epochs']:.0f} / {s['hard_epochs']:.0f}", f"{s['profile_s'] / 3600:.1f}",
                     "← the rule's pick" if chosen else ""])
    return Table(["noise σ²", "width", "max epochs / patience", "runs", "teacher", "hard student", "teacher − hard",
                  "epochs run (teacher / student)", "profile CPU-h (est.)", ""], rows,
                 caption=f"{st['measured']} of {st['wanted']} measurements stored; flips and shifts; bf16; "
                         "test accuracy (%) at the epoch early stopping picks; CPU time of one thread")
