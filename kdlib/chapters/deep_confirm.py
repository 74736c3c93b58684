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
from typing import Any, Sequence

from kdlib.chapters import deep_lead as lead_section
from kdlib.chapters.deep_networks import _key, paired_runs
from kdlib.experiments import deep, deep_lead
from kdlib.results import ResultStore

DASH = "—"


def measurements(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second rule's measurements: :func:`kdlib.experiments.deep_lead.summary` of the bf16 settings
    records of :data:`~kdlib.experiments.deep_lead.CONFIRM_RUNS` runs."""
    return deep_lead.summary(records, "bf16", runs=deep_lead.CONFIRM_RUNS)


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


def _se(sd: float, n: int) -> float:
    return sd / math.sqrt(n) if n > 1 and math.isfinite(sd) else math.nan


def confirm_table(records: Sequence[dict[str, Any]], patience: Sequence[int] = (5, 8)) -> "Table":
    """The second rule's candidates at noise :data:`~kdlib.experiments.deep_lead.AT` (5-run records), with a
    patience in ``patience`` (and the pick, marked): the teacher's and the hard student's test accuracy, the
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
    out = []
    for s in rows5:
        chosen = pick is not None and all(s[k] == pick[k] for k in keys)
        if s["patience"] not in patience and not chosen:
            continue
        ok = deep_lead.lower_end(s) >= deep_lead.LEAD_MIN and s["profile_s"] <= deep_lead.BUDGET_S
        three = rows3.get(tuple(s[k] for k in keys))
        out.append([f"×{s['width_mult']:g}", f"{s['max_epochs']} / {s['patience']}", f"{s['teacher']:.1f}",
                    f"{s['hard']:.1f}", f"{s['lead']:+.1f} ± {_se(s['lead_sd'], s['runs']):.1f}",
                    f"{deep_lead.lower_end(s):+.1f}", DASH if three is None else f"{three['lead']:+.1f}",
                    f"{s['profile_s'] / 3600:.2f}", ("picked" if chosen else "yes") if ok else "no"])
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
        s, k = lead_section._at(rows, v), _key(v)
        for name in ("lead", "gain"):
            for suffix in ("", "_se"):
                val = math.nan if s is None else s[name + suffix]
                out[f"{prefix}_{name}_{k}{suffix}"] = round(val, 1) if math.isfinite(val) else DASH
        out[f"{prefix}_word_{k}"] = DASH if s is None else lead_section.gain_word(s["gain"], s["gain_se"])
    return out


def prose_values(settings: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                 configs: Sequence[deep.Config], held: dict[str, Any] | None) -> dict[str, Any]:
    """The values the section's prose quotes (glued; ``"—"`` where the records lack them):

    - the rule: ``confirm_runs``, ``c3_held_first`` and ``c3_held_last`` (the held-out runs),
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
    out: dict[str, Any] = {"confirm_runs": deep_lead.CONFIRM_RUNS, "c3_held_first": deep_lead.HELD_OUT_FROM,
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
        out.update(c_pick_lead=round(pick["lead"], 1), c_pick_lead_se=round(_se(pick["lead_sd"], pick["runs"]), 1),
                   c_pick_lower=round(deep_lead.lower_end(pick), 1), c_pick_profile_h=round(pick["profile_s"] / 3600, 2),
                   c_pick_lead3=DASH if three is None else round(three["lead"], 1))
    first = deep.PROFILES[deep_lead.PROFILE]
    f5 = next((s for s in rows5 if s["width_mult"] == first["width_mult"] and s["max_epochs"] == first["max_epochs"]
               and s["patience"] == first["patience"]), None)
    out["first_pick_lead5"] = DASH if f5 is None else round(f5["lead"], 1)
    out["first_pick_lead5_se"] = DASH if f5 is None else round(_se(f5["lead_sd"], f5["runs"]), 1)
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
    at = lead_section._record_at(records, deep_lead.AT)
    pooled = [d["gain"] for r in ([at] if at else []) + ([held] if held else []) for d in paired_runs(r)]
    if len(pooled) > 1:
        m, se = lead_section._mean_se(pooled)
        out.update(c3_all_gain_001=round(m, 1), c3_all_gain_001_se=round(se, 1),
                   c3_all_word_001=lead_section.gain_word(m, se))
    else:
        out.update(c3_all_gain_001=DASH, c3_all_gain_001_se=DASH, c3_all_word_001=DASH)
    out["c3_all_runs"] = len(pooled)
    return out
