"""Chapter 7's section on the ``cpu3`` profile, the pick of the second rule
(:func:`kdlib.experiments.deep_lead.choose_confirmed`: chosen on five runs, by the lead's mean minus
one standard error), and on its held-out runs (runs 5-9 at noise 0.01, which no choice has seen).

As :mod:`kdlib.chapters.deep_lead`, everything here reads the store and never computes a record, so
the section shows whatever exists (a level not stored says so). Conventions as there: test
accuracy in percent; the *lead* is teacher minus hard student and the *gain* soft minus hard
student, paired within a run; mean ± standard error over the runs (sd / sqrt(n)).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from kdlib.chapters import deep_lead as lead_section
from kdlib.chapters.deep_networks import noise_key, paired_runs
from kdlib.experiments import deep, deep_lead
from kdlib.fit import mean_se, standard_error
from kdlib.results import ResultStore

DASH = "—"


def measurements(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second rule's measurements: :func:`kdlib.experiments.deep_lead.summary` of the bf16 settings
    records of :data:`~kdlib.experiments.deep_lead.CONFIRM_RUNS` runs of the settings the rules choose from
    (:func:`~kdlib.experiments.deep_lead_settings.is_candidate`: not the longer :data:`HORIZON` one)."""
    from kdlib.experiments.deep_lead_settings import is_candidate

    return deep_lead.summary([r for r in records if is_candidate(r)], "bf16", runs=deep_lead.CONFIRM_RUNS)


def stored(noise_variances: Sequence[float] = deep.NOISE_VARIANCES, store: ResultStore | None = None
           ) -> tuple[list[deep.Config], list[dict[str, Any]], deep.Config | None, dict[str, Any] | None]:
    """``(configs, records, held-out config, held-out record)`` of the ``cpu3`` profile; all empty
    (and None) while the second rule has picked nothing (``cpu3`` not in ``PROFILES``)."""
    if deep_lead.CONFIRMED_PROFILE not in deep.PROFILES:
        return [], [], None, None
    store = store or ResultStore()
    configs, records = lead_section.stored(deep_lead.CONFIRMED_PROFILE, noise_variances, store)
    held = deep_lead.held_out_config()
    return configs, records, held, store.load(deep.NAME, held)


def confirm_table(records: Sequence[dict[str, Any]], patience: Sequence[int] = (5, 8)) -> "Table":
    """The second rule's candidates at noise :data:`~kdlib.experiments.deep_lead.AT` (5-run records), with a
    patience in ``patience`` (and the pick, the largest mean lead and the largest lower end, marked): the
    teacher's and the hard student's test accuracy, the
    lead (mean ± standard error over the 5 runs), its lower end, the lead the same setting and stopping rule
    showed on runs 0-2 (the first rule's measurements), the estimated CPU-hours of the profile, and whether
    the candidate qualifies (lower end at least :data:`~kdlib.experiments.deep_lead.LEAD_MIN`, profile within
    :data:`~kdlib.experiments.deep_lead.BUDGET_S`)."""
    from kdlib.report import Table

    rows5 = [s for s in measurements(records) if abs(s["noise_variance"] - deep_lead.AT) < 1e-9]
    pick = deep_lead.choose_confirmed(rows5)
    keys = ("width_mult", "max_epochs", "patience")
    rows3 = {tuple(s[k] for k in keys): s for s in deep_lead.summary(records, "bf16", runs=deep_lead.MEASURED_RUNS)
             if abs(s["noise_variance"] - deep_lead.AT) < 1e-9}
    marks = {}
    if rows5:
        marks[id(max(rows5, key=deep_lead.lower_end))] = "largest lower end"
        marks[id(max(rows5, key=lambda s: s["lead"]))] = "largest mean" + (
            ", largest lower end" if id(max(rows5, key=lambda s: s["lead"])) in marks else "")
    out = []
    for s in rows5:
        chosen = pick is not None and all(s[k] == pick[k] for k in keys)
        if s["patience"] not in patience and not chosen and id(s) not in marks:
            continue
        ok = deep_lead.lower_end(s) >= deep_lead.LEAD_MIN and s["profile_s"] <= deep_lead.BUDGET_S
        verdict = ("picked" if chosen else "yes") if ok else "no"
        if id(s) in marks:
            verdict += f" ({marks[id(s)]})"
        three = rows3.get(tuple(s[k] for k in keys))
        out.append([f"×{s['width_mult']:g}", f"{s['max_epochs']} / {s['patience']}", f"{s['teacher']:.1f}",
                    f"{s['hard']:.1f}", f"{s['lead']:+.1f} ± {standard_error(s['lead_sd'], s['runs']):.1f}",
                    f"{deep_lead.lower_end(s):+.1f}", DASH if three is None else f"{three['lead']:+.1f}",
                    f"{s['profile_s'] / 3600:.2f}", verdict])
    return Table(["width", "max epochs / patience", "teacher", "hard", "lead (runs 0-4)", "lower end",
                  "lead (runs 0-2)", "profile CPU-h", "qualifies"], out,
                 caption=f"σ² = {deep_lead.AT:g}, {deep_lead.CONFIRM_RUNS} runs: test accuracy (%) at the epoch "
                         "early stopping picks; leads in points, mean ± standard error; lower end = mean − "
                         "one standard error")


def _level_values(prefix: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per noise level ``<k>`` (0.01 -> ``001``): ``<prefix>_lead_<k>``, ``_se``, ``<prefix>_gain_<k>``,
    ``_se`` and :func:`~kdlib.chapters.deep_lead.gain_word` (``<prefix>_word_<k>``), rounded to 0.1."""
    out: dict[str, Any] = {}
    for v in deep.NOISE_VARIANCES:
        s, k = lead_section.row_at(rows, v), noise_key(v)
        for name in ("lead", "gain"):
            for suffix in ("", "_se"):
                val = math.nan if s is None else s[name + suffix]
                out[f"{prefix}_{name}_{k}{suffix}"] = round(val, 1) if math.isfinite(val) else DASH
        out[f"{prefix}_word_{k}"] = DASH if s is None else lead_section.gain_word(s["gain"], s["gain_se"])
    return out


def prose_values(settings: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                 configs: Sequence[deep.Config], held: dict[str, Any] | None) -> dict[str, Any]:
    """The values the section's prose quotes (glued; ``"—"`` where the records lack them):

    - the rule: ``confirm_runs`` (runs 0 to ``confirm_last``), ``c3_held_first`` and ``c3_held_last``
      (the held-out runs),
      ``confirm_measured`` of ``confirm_wanted`` (the 5-run measurements of
      :func:`~kdlib.experiments.deep_lead.remeasure`), ``confirm_candidates`` (stopping rules and settings
      at 0.01 on 5 runs) and ``confirm_qualifying`` (those that pass);
    - the pick (``c_pick_width``, ``c_pick_max_epochs``, ``c_pick_patience``, ``c_pick_lead``,
      ``c_pick_lead_se``, ``c_pick_lower``, ``c_pick_profile_h``) and its lead on runs 0-2 alone
      (``c_pick_lead3``); the first rule's pick on 5 runs (``first_pick_lead5``, ``_se``);
    - per noise level of ``cpu3`` (runs 0-4), as :func:`kdlib.chapters.deep_lead.prose_values` does for
      ``cpu2``: ``cpu3_lead_<k>``, ``cpu3_gain_<k>`` with ``_se`` and ``cpu3_word_<k>``; ``cpu3_levels`` of
      ``cpu3_levels_wanted``, ``cpu3_runs``, ``cpu3_gains``, ``cpu3_losses``, ``cpu3_leading``, ``cpu3_cpu_h``;
    - the held-out runs at 0.01: ``c3_held_lead_001``, ``c3_held_gain_001`` (with ``_se``, ``c3_held_word_001``),
      ``c3_held_runs``; and all ten runs at 0.01 pooled for the gain, which no rule looked at
      (``c3_all_gain_001``, ``_se``, ``c3_all_word_001``, ``c3_all_runs``)."""
    out: dict[str, Any] = {"confirm_runs": deep_lead.CONFIRM_RUNS, "confirm_last": deep_lead.CONFIRM_RUNS - 1,
                           "c3_held_first": deep_lead.HELD_OUT_FROM,
                           "c3_held_last": deep_lead.HELD_OUT_FROM + deep_lead.RUNS - 1}
    rows3 = deep_lead.summary(settings, "bf16", runs=deep_lead.MEASURED_RUNS)
    want = deep_lead.remeasure(rows3)
    rows5 = [s for s in measurements(settings) if abs(s["noise_variance"] - deep_lead.AT) < 1e-9]
    have = {float(s["width_mult"]) for s in rows5}
    out["confirm_wanted"] = len(want)
    out["confirm_measured"] = sum(float(c.width_mult) in have for c in want)
    out["confirm_candidates"] = len(rows5)
    out["confirm_qualifying"] = sum(deep_lead.lower_end(s) >= deep_lead.LEAD_MIN
                                    and s["profile_s"] <= deep_lead.BUDGET_S for s in rows5)
    pick = deep_lead.choose_confirmed(rows5)
    keys = ("width_mult", "max_epochs", "patience")
    for k, f in (("width", "width_mult"), ("max_epochs", "max_epochs"), ("patience", "patience")):
        out[f"c_pick_{k}"] = DASH if pick is None else pick[f]
    if pick is None:
        out.update(c_pick_lead=DASH, c_pick_lead_se=DASH, c_pick_lower=DASH, c_pick_profile_h=DASH, c_pick_lead3=DASH)
    else:
        three = next((s for s in rows3 if abs(s["noise_variance"] - deep_lead.AT) < 1e-9
                      and all(s[k] == pick[k] for k in keys)), None)
        out.update(c_pick_lead=round(pick["lead"], 1),
                   c_pick_lead_se=round(standard_error(pick["lead_sd"], pick["runs"]), 1),
                   c_pick_lower=round(deep_lead.lower_end(pick), 1),
                   c_pick_profile_h=round(pick["profile_s"] / 3600, 2),
                   c_pick_lead3=DASH if three is None else round(three["lead"], 1))
    first = deep.PROFILES[deep_lead.PROFILE]
    f5 = next((s for s in rows5 if s["width_mult"] == first["width_mult"] and s["max_epochs"] == first["max_epochs"]
               and s["patience"] == first["patience"]), None)
    out["first_pick_lead5"] = DASH if f5 is None else round(f5["lead"], 1)
    out["first_pick_lead5_se"] = DASH if f5 is None else round(standard_error(f5["lead_sd"], f5["runs"]), 1)
    # the profile, runs 0-4
    rows = lead_section.lead_rows(records)
    out.update(_level_values("cpu3", rows))
    out["cpu3_levels"], out["cpu3_levels_wanted"] = len(records), len(configs)
    out["cpu3_runs"] = DASH if not rows else min(s["runs"] for s in rows)
    words = [lead_section.gain_word(s["gain"], s["gain_se"]) for s in rows]
    out["cpu3_gains"], out["cpu3_losses"] = words.count("a gain"), words.count("a loss")
    out["cpu3_leading"] = sum(math.isfinite(s["lead_se"]) and s["lead"] > 2 * s["lead_se"] for s in rows)
    recs = list(records) + ([held] if held is not None else [])
    secs = sum(row.get("train_cpu_seconds", row["train_seconds"]) for r in recs for row in r["rows"])
    out["cpu3_cpu_h"] = DASH if not recs else round(secs / 3600, 2)
    # the held-out runs at 0.01, and all runs at 0.01 for the gain
    (h,) = lead_section.lead_rows([held]) if held is not None else (None,)
    for name in ("lead", "gain"):
        out[f"c3_held_{name}_001"] = DASH if h is None else round(h[name], 1)
        se = math.nan if h is None else h[name + "_se"]
        out[f"c3_held_{name}_001_se"] = round(se, 1) if math.isfinite(se) else DASH
    out["c3_held_word_001"] = DASH if h is None else lead_section.gain_word(h["gain"], h["gain_se"])
    out["c3_held_runs"] = 0 if h is None else h["runs"]
    at = lead_section.record_at(records, deep_lead.AT)
    pooled = [d["gain"] for r in ([at] if at else []) + ([held] if held else []) for d in paired_runs(r)]
    if len(pooled) > 1:
        m, se = mean_se(pooled)
        out.update(c3_all_gain_001=round(m, 1), c3_all_gain_001_se=round(se, 1),
                   c3_all_word_001=lead_section.gain_word(m, se))
    else:
        out.update(c3_all_gain_001=DASH, c3_all_gain_001_se=DASH, c3_all_word_001=DASH)
    out["c3_all_runs"] = len(pooled)
    return out


def horizon_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`kdlib.experiments.deep_lead.lead_by_horizon` of the bf16 settings records at noise 0.01 with
    :data:`~kdlib.experiments.deep_lead.CONFIRM_RUNS` runs, per width and first run the longest record only
    (its first epochs are the shorter record's: same seeds, data and constant learning rate)."""
    longest: dict[tuple[float, int], dict[str, Any]] = {}
    for r in records:
        c = r["config"]
        key = (c["width_mult"], c.get("first_run", 0))
        if (c["runs"] == deep_lead.CONFIRM_RUNS and abs(c["noise_variance"] - deep_lead.AT) < 1e-9
                and deep_lead.precision_of(r) == "bf16"
                and c["epochs"] > longest.get(key, {"config": {"epochs": 0}})["config"]["epochs"]):
            longest[key] = r
    return deep_lead.lead_by_horizon([longest[k] for k in sorted(longest)])


def plot_lead_by_horizon(rows: Sequence[dict[str, Any]]):
    """The teacher's lead over the hard student (mean ± standard error over the runs, points) against the
    epochs both nets train, each kept at its best validation epoch within them; one line per width and
    block of runs (dashed: runs neither rule saw), the rules' target and the paper's lead at noise 0.01 as
    horizontal lines."""
    from kdlib.plots import legible, new_figure, series_style

    fig, ax = new_figure(width=7.5, height=4.2)
    for i, (w, first) in enumerate(sorted({(s["width_mult"], s["first_run"]) for s in rows})):
        pts = [s for s in rows if (s["width_mult"], s["first_run"]) == (w, first)]
        st = series_style(i)
        ax.errorbar([s["epochs"] for s in pts], [s["lead"] for s in pts], yerr=[s["lead_se"] for s in pts],
                    color=st["color"], marker=st["marker"], capsize=3, ls="-" if first == 0 else "--",
                    label=f"width ×{w:g}, runs {first}-{first + pts[0]['runs'] - 1}")
    ax.axhline(deep_lead.LEAD_MIN, color="#444444", lw=1, ls="--", label="the rules' target")
    paper = deep.PAPER_FIGURE[deep_lead.AT]
    ax.axhline(paper[0] - paper[1], color="#444444", lw=1, ls=":", label="the paper (full width, 100 epochs)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("epochs trained (each net kept at its best validation epoch)")
    ax.set_ylabel("teacher − hard student (points)")
    ax.set_title(f"σ² = {deep_lead.AT:g}: the teacher's lead against the training horizon")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.tight_layout()
    return legible(fig)


def finding_values(settings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the 5-run measurements show (glued; ``"—"`` where none is stored):

    - the largest mean lead among the candidates at 0.01 (``best5_lead``, ``best5_lead_se``, its
      ``best5_width``, ``best5_max_epochs``, ``best5_patience``) and the largest lower end (``best5_lower``);
    - the candidates whose lead on runs 0-2 reached the target (``leaders3``, as (setting, stopping rule)
      pairs), their mean lead there (``leaders3_lead3``) and on runs 0-4 (``leaders3_lead5``);
    - the lead against the horizon (:func:`horizon_rows`) at the widest width: its range over the
      horizons (``h_low``, ``h_high``), at the longest horizon (``h_long_epochs``, ``h_long_lead``,
      ``h_long_lead_se``), how much the teacher and the hard student rise from the shortest horizon
      (``h_first_epochs``) to the longest (``h_teacher_rise``, ``h_hard_rise``, points), and the largest
      lead at any width and horizon (``h_max_lead``);
    - early stopping against the best epoch within the same cap, for the widest width's candidate with the
      largest mean (``es_max_epochs``, ``es_patience``): the teacher's and the hard student's test accuracy
      under the stopping rule (``es_teacher``, ``es_hard``), at their best epoch within the cap
      (``es_teacher_best``, ``es_hard_best``), and the differences (``es_teacher_gap``, ``es_hard_gap``)."""
    rows5 = [s for s in measurements(settings) if abs(s["noise_variance"] - deep_lead.AT) < 1e-9]
    rows3 = [s for s in deep_lead.summary(settings, "bf16", runs=deep_lead.MEASURED_RUNS)
             if abs(s["noise_variance"] - deep_lead.AT) < 1e-9]
    out: dict[str, Any] = {}
    best = max(rows5, key=lambda s: s["lead"], default=None)
    out.update({k: DASH for k in ("best5_lead", "best5_lead_se", "best5_width", "best5_max_epochs",
                                  "best5_patience", "best5_lower")})
    if best is not None:
        out.update(best5_lead=round(best["lead"], 1),
                   best5_lead_se=round(standard_error(best["lead_sd"], best["runs"]), 1),
                   best5_width=best["width_mult"], best5_max_epochs=best["max_epochs"],
                   best5_patience=best["patience"], best5_lower=round(max(map(deep_lead.lower_end, rows5)), 1))
    keys = ("width_mult", "max_epochs", "patience")
    five = {tuple(s[k] for k in keys): s for s in rows5}
    pairs = [(s, five[tuple(s[k] for k in keys)]) for s in rows3
             if s["lead"] >= deep_lead.LEAD_MIN and tuple(s[k] for k in keys) in five]
    out["best5_at_target"] = sum(s["lead"] >= deep_lead.LEAD_MIN for s in rows5)
    out["leaders3"] = len(pairs)
    out["leaders3_lead3"] = DASH if not pairs else round(statistics.fmean(a["lead"] for a, _ in pairs), 1)
    out["leaders3_lead5"] = DASH if not pairs else round(statistics.fmean(b["lead"] for _, b in pairs), 1)
    h = [s for s in horizon_rows(settings) if s["first_run"] == 0]
    widest = max((s["width_mult"] for s in h), default=None)
    hw = [s for s in h if s["width_mult"] == widest]
    if hw:
        long, first = max(hw, key=lambda s: s["epochs"]), min(hw, key=lambda s: s["epochs"])
        out.update(h_first_epochs=first["epochs"], h_teacher_rise=round(long["teacher"] - first["teacher"], 1),
                   h_hard_rise=round(long["hard"] - first["hard"], 1))
        out.update(h_width=widest, h_low=round(min(s["lead"] for s in hw), 1),
                   h_high=round(max(s["lead"] for s in hw), 1), h_long_epochs=long["epochs"],
                   h_long_lead=round(long["lead"], 1), h_long_lead_se=round(long["lead_se"], 1),
                   h_max_lead=round(max(s["lead"] for s in h), 1))
    # early stopping against keeping the best epoch within the same cap: the widest width's largest mean
    cands = [s for s in rows5 if s["width_mult"] == widest]
    top = max(cands, key=lambda s: s["lead"], default=None)
    same = None if top is None else next((s for s in hw if s["epochs"] == top["max_epochs"]), None)
    if same is None:
        out.update({k: DASH for k in ("es_max_epochs", "es_patience", "es_teacher", "es_hard", "es_teacher_best",
                                      "es_hard_best", "es_teacher_gap", "es_hard_gap")})
    else:
        out.update(es_max_epochs=top["max_epochs"], es_patience=top["patience"], es_teacher=round(top["teacher"], 1),
                   es_hard=round(top["hard"], 1), es_teacher_best=round(same["teacher"], 1),
                   es_hard_best=round(same["hard"], 1), es_teacher_gap=round(same["teacher"] - top["teacher"], 1),
                   es_hard_gap=round(same["hard"] - top["hard"], 1))
    if not hw:
        out.update({k: DASH for k in ("h_first_epochs", "h_teacher_rise", "h_hard_rise", "h_width", "h_low",
                                      "h_high", "h_long_epochs", "h_long_lead", "h_long_lead_se", "h_max_lead")})
    return out


def claims(values: dict[str, Any]) -> dict[str, bool]:
    """The qualitative statements of the section's prose, as checks on its glued ``values`` (of
    :func:`prose_values`, :func:`finding_values` and :func:`held_out_values`): each must hold, or the prose
    is wrong."""
    v = values
    return {
        "the second rule picks nothing": v["confirm_qualifying"] == 0 and v["c_pick_width"] == DASH,
        "every candidate measured on five runs": v["confirm_measured"] == v["confirm_wanted"] > 0,
        "no lower end on five runs reaches the target": v["best5_lower"] < v["lead_min"],
        # "the one mean at the target ... its neighbours lead by less": an isolated stopping rule
        "at most one candidate's mean reaches the target": v["best5_at_target"] <= 1,
        "the 3-run leaders lead by less on five runs": v["leaders3"] > 0 and v["leaders3_lead5"] < v["leaders3_lead3"],
        "the first rule's pick leads by less than the target on five runs": v["first_pick_lead5"] < v["lead_min"],
        "no horizon gives the target lead": v["h_max_lead"] < v["lead_min"],
        "the longest horizon leads by less than the target": v["h_long_lead"] < v["lead_min"],
        # "the shallow student rises about as much as the deep teacher": within a point of it
        # "Training longer lifts the shallow student more than the deep teacher", and the lead shrinks
        "the student rises more than the teacher": v["h_hard_rise"] > v["h_teacher_rise"],
        "the lead at the longest horizon is the smallest": v["h_long_lead"] == v["h_low"],
        # "early stopping leaves that candidate's students further below their best than its teachers"
        "early stopping costs the student more": v["es_hard_gap"] > v["es_teacher_gap"] >= 0,
        # "Runs neither rule saw": every candidate width measured there
        "later runs at every candidate width": v["ho_widths"] == v["confirm_wanted"],
        "on later runs the candidates lead by less": v["ho_all_lead_ho"] < v["ho_all_lead5"],
        "most candidates lead by less on later runs": 2 * v["ho_fewer"] > v["ho_pairs"],
        "the best candidate leads by less on later runs": v["ho_best_lead_ho"] < v["ho_best_lead5"],
        "no candidate reaches the target on later runs": v["ho_max_lead_ho"] < v["lead_min"],
    }


def _held_out_pairs(settings: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each candidate at noise 0.01 (setting and stopping rule) with its summary on runs 0-4 and on the
    runs of a measurement that starts later (``first_run`` > 0: runs neither rule saw), where both exist."""
    from kdlib.experiments.deep_lead_settings import is_candidate

    later = [r for r in settings if is_candidate(r) and r["config"].get("first_run", 0) > 0
             and abs(r["config"]["noise_variance"] - deep_lead.AT) < 1e-9]
    keys = ("width_mult", "max_epochs", "patience")
    seen = {tuple(s[k] for k in keys): s for s in measurements(settings)
            if abs(s["noise_variance"] - deep_lead.AT) < 1e-9}
    return [(seen[tuple(s[k] for k in keys)], s) for s in deep_lead.summary(later, "bf16")
            if tuple(s[k] for k in keys) in seen]


def held_out_table(settings: Sequence[dict[str, Any]]) -> "Table":
    """Per width with runs neither rule saw: the candidate with the largest mean lead on runs 0-4, and the
    mean over all the width's candidates, each with its lead on runs 0-4 and on the later runs (mean ±
    standard error, points)."""
    from kdlib.report import Table

    pairs = _held_out_pairs(settings)
    out = []
    for w in sorted({a["width_mult"] for a, _ in pairs}):
        pw = [(a, b) for a, b in pairs if a["width_mult"] == w]
        a, b = max(pw, key=lambda p: p[0]["lead"])
        first = min(r["run"] for r in _later_runs(settings, w))
        span = f"{first}-{first + b['runs'] - 1}"
        out.append([f"×{w:g}", f"largest mean on runs 0-4: {a['max_epochs']} / {a['patience']}",
                    f"{a['lead']:+.1f} ± {standard_error(a['lead_sd'], a['runs']):.1f}",
                    f"{b['lead']:+.1f} ± {standard_error(b['lead_sd'], b['runs']):.1f}", span])
        out.append([f"×{w:g}", f"mean of its {len(pw)} candidates",
                    f"{statistics.fmean(p[0]['lead'] for p in pw):+.1f}",
                    f"{statistics.fmean(p[1]['lead'] for p in pw):+.1f}", span])
    return Table(["width", "candidate (max epochs / patience)", "lead, runs 0-4", "lead, later runs", "later runs"],
                 out, caption=f"σ² = {deep_lead.AT:g}: the teacher's lead over the hard student (points), on the "
                              "runs the second rule chose on and on runs neither rule saw")


def _later_runs(settings: Sequence[dict[str, Any]], width: float) -> list[dict[str, Any]]:
    return [row for r in settings if r["config"].get("first_run", 0) > 0 and r["config"]["width_mult"] == width
            and abs(r["config"]["noise_variance"] - deep_lead.AT) < 1e-9 for row in r["rows"]]


def held_out_values(settings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The held-out check of the second rule's candidates (glued; ``"—"`` where none is stored):
    ``ho_widths`` (widths with later runs) of ``confirm_wanted``; over all candidates, the mean lead on
    runs 0-4 (``ho_all_lead5``) and on the later runs (``ho_all_lead_ho``) and how many candidates lead by
    less there (``ho_fewer``) of ``ho_pairs``; the candidate with the largest mean on runs 0-4
    (``ho_best_width``, ``ho_best_max_epochs``, ``ho_best_patience``, ``ho_best_lead5``): its lead on the
    later runs (``ho_best_lead_ho``, ``_se``); and the largest lead any candidate shows on the later runs
    (``ho_max_lead_ho``), itself the largest of many and so an overstatement."""
    pairs = _held_out_pairs(settings)
    out: dict[str, Any] = {"ho_widths": len({a["width_mult"] for a, _ in pairs}), "ho_pairs": len(pairs)}
    if not pairs:
        return out | {k: DASH for k in ("ho_all_lead5", "ho_all_lead_ho", "ho_fewer", "ho_best_width",
                                        "ho_best_max_epochs", "ho_best_patience", "ho_best_lead5",
                                        "ho_best_lead_ho", "ho_best_lead_ho_se", "ho_max_lead_ho")}
    a, b = max(pairs, key=lambda p: p[0]["lead"])
    return out | {
        "ho_all_lead5": round(statistics.fmean(p[0]["lead"] for p in pairs), 1),
        "ho_all_lead_ho": round(statistics.fmean(p[1]["lead"] for p in pairs), 1),
        "ho_fewer": sum(q["lead"] < p["lead"] for p, q in pairs),
        "ho_best_width": a["width_mult"], "ho_best_max_epochs": a["max_epochs"], "ho_best_patience": a["patience"],
        "ho_best_lead5": round(a["lead"], 1), "ho_best_lead_ho": round(b["lead"], 1),
        "ho_best_lead_ho_se": round(standard_error(b["lead_sd"], b["runs"]), 1),
        "ho_max_lead_ho": round(max(p[1]["lead"] for p in pairs), 1),
    }
