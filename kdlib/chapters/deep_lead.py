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


def _mean_se(v: list[float]) -> tuple[float, float]:
    m = statistics.fmean(v)
    return m, (statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else math.nan)


def lead_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stored noise level: runs, the teacher's lead and the soft student's gain (mean and
    standard error over the paired runs), and the paper's lead and gain (None where it has none)."""
    out = []
    for rec in records:
        runs = deep_networks.paired_runs(rec)
        v = float(rec["config"]["noise_variance"])
        lead, lead_se = _mean_se([d["lead"] for d in runs])
        gain, gain_se = _mean_se([d["gain"] for d in runs])
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
    hard and soft − hard (mean ± standard error, points); "not stored" where a level is missing;
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
        for label in shown:
            s = per[label].get(v)
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
    held = {(float(r["config"]["noise_variance"]), float(r["config"]["width_mult"])) for r in records}
    n = sum((c.noise_variance, c.width_mult) in held for c in want)
    rows = deep_lead.summary(records, "bf16")
    pick = deep_lead.choose(rows) if n == len(want) else None
    high = [s for s in rows if abs(s["noise_variance"] - 0.2) < 1e-9]
    best_high = max(high, key=lambda s: s["lead"]) if high else None
    return {"measured": n, "wanted": len(want), "pick": pick,
            "profile_matches": pick is not None and deep.PROFILES[deep_lead.PROFILE] == deep_lead.profile_values(pick),
            "best_high": best_high}


def prose_values(cpu: Sequence[dict[str, Any]], cpu2: Sequence[dict[str, Any]], cpu2_configs: Sequence[deep.Config],
                 settings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The values the section's prose quotes (glued): the small profile's lead at 0.01, the paper's
    lead there, how much of cpu2 and of its measurements is stored, and cpu2's lead at 0.01 when stored
    ("—" when not). Numbers are rounded to 1 decimal (points) and returned as ``float``/``int``/``str``."""
    def at(rows: list[dict[str, Any]], v: float) -> dict[str, Any] | None:
        return next((s for s in rows if abs(s["noise_variance"] - v) < 1e-9), None)

    small = at(lead_rows(cpu), 0.01)
    big = at(lead_rows(cpu2), 0.01)
    st = settings_status(settings)
    paper = deep.PAPER_FIGURE[0.01]
    return {
        "cpu_lead_001": "—" if small is None else round(small["lead"], 1),
        "cpu_lead_001_se": "—" if small is None else round(small["lead_se"], 1),
        "cpu_runs": "—" if small is None else small["runs"],
        "paper_lead_001": round(paper[0] - paper[1], 1),
        "cpu2_levels": len(cpu2),
        "cpu2_levels_wanted": len(cpu2_configs),
        "cpu2_lead_001": "—" if big is None else round(big["lead"], 1),
        "cpu2_lead_001_se": "—" if big is None else round(big["lead_se"], 1),
        "settings_measured": st["measured"],
        "settings_wanted": st["wanted"],
        "lead_min": deep_lead.LEAD_MIN,
        "budget_h": round(deep_lead.BUDGET_S / 3600, 1),
        "profile_runs": deep_lead.RUNS,
    }


def verdict(cpu2: Sequence[dict[str, Any]], cpu2_configs: Sequence[deep.Config],
            settings: Sequence[dict[str, Any]]) -> str:
    """Markdown: what the stored cpu2 records say, and only that. The claim at low noise is
    tested if the teacher leads by at least the rule's 5 points at 0.01; a soft-minus-hard
    gain counts as a gain or a loss only when it is more than two standard errors from zero.
    At high noise the records can speak only where the teacher leads by more than two standard
    errors there too. Incomplete records are named as such."""
    st = settings_status(settings)
    parts = []
    if st["measured"] < st["wanted"]:
        parts.append(f"The settings measurements for this profile are incomplete ({st['measured']} of "
                     f"{st['wanted']} stored), so its settings are not yet the rule's choice but a provisional guess.")
    elif st["pick"] is None:
        parts.append(f"No measured setting has a teacher that leads by {deep_lead.LEAD_MIN:g} points at σ² = 0.01 "
                     f"within {deep_lead.BUDGET_S / 3600:g} CPU-hours: this profile has no basis on this machine.")
    elif not st["profile_matches"]:
        parts.append("The rule's choice differs from the settings of the `cpu2` profile in the code; "
                     "the records below do not follow the rule.")
    else:
        p = st["pick"]
        parts.append(f"The rule chose width ×{p['width_mult']:g}, at most {p['max_epochs']} epochs with patience "
                     f"{p['patience']} (teacher lead {p['lead']:.1f} ± {p['lead_sd']:.1f} points on runs 0-"
                     f"{p['runs'] - 1} at σ² = 0.01; estimated {p['profile_s'] / 3600:.1f} CPU-hours).")
    if st["best_high"] is not None:
        b = st["best_high"]
        parts.append(f"At σ² = 0.20 the largest teacher lead measured is {b['lead']:.1f} ± {b['lead_sd']:.1f} points "
                     f"(width ×{b['width_mult']:g}, at most {b['max_epochs']} epochs, patience {b['patience']}).")
    if not cpu2:
        parts.append(f"No `cpu2` record is stored yet (0 of {len(cpu2_configs)} noise levels): this section has "
                     "nothing to conclude.")
        return " ".join(parts)
    rows = lead_rows(cpu2)
    if len(cpu2) < len(cpu2_configs):
        parts.append(f"Only {len(cpu2)} of {len(cpu2_configs)} noise levels are stored; what follows covers those.")
    first = next((s for s in rows if abs(s["noise_variance"] - 0.01) < 1e-9), None)
    if first is not None:
        ok = first["lead"] >= deep_lead.LEAD_MIN
        parts.append(f"At σ² = 0.01 the teacher leads the hard student by {first['lead']:.1f} ± "
                     f"{first['lead_se']:.1f} points over {first['runs']} runs (paper {first['paper_lead']:.1f}), "
                     + ("so at low noise it knows more than the labels and the claim can be tested there."
                        if ok else f"less than the {deep_lead.LEAD_MIN:g} points the profile was chosen for."))

    def say(s: dict[str, Any]) -> str:
        g, se = s["gain"], s["gain_se"]
        word = ("a gain" if g > 2 * se else "a loss" if g < -2 * se else "within two standard errors of zero") \
            if math.isfinite(se) else "one run, no error bar"
        return f"{s['noise_variance']:.2f}: {g:+.1f} ± {se:.1f} ({word})"

    low = [s for s in rows if any(abs(s["noise_variance"] - v) < 1e-9 for v in LOW_NOISE)]
    high = [s for s in rows if any(abs(s["noise_variance"] - v) < 1e-9 for v in HIGH_NOISE)]
    if low:
        parts.append("Soft minus hard at low noise, per σ²: " + "; ".join(say(s) for s in low) + ".")
    if high:
        leads = [s for s in high if math.isfinite(s["lead_se"]) and s["lead"] > 2 * s["lead_se"]]
        parts.append("At high noise: " + "; ".join(say(s) for s in high) + ". "
                     + ("The teacher leads there by more than two standard errors at "
                        + ", ".join(f"{s['noise_variance']:.2f} ({s['lead']:.1f} ± {s['lead_se']:.1f})" for s in leads)
                        + ", so these levels speak to the paper's large gains too."
                        if leads else "The teacher does not lead by more than two standard errors there, so these "
                        "levels cannot test the paper's large high-noise gains."))
    return " ".join(parts)


def settings_table(records: Sequence[dict[str, Any]], patience: Sequence[int] = (8,)) -> "Table":
    """The cpu2 settings measurements (bf16 records): per noise level, width and stopping rule with a
    patience in ``patience`` (plus the rule's pick, marked): runs, teacher and hard student (test
    accuracy, %), the teacher's lead (mean ± sd over the runs), epochs each net runs, and the estimated
    CPU-hours of the whole profile (:data:`kdlib.experiments.deep_lead.RUNS` runs, six levels)."""
    from kdlib.report import Table

    rows_in = deep_lead.summary(records, "bf16")
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
