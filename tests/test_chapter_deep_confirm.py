"""Chapter 7's cpu3 section (kdlib.chapters.deep_confirm): the second rule's candidates and pick from
settings curves whose outcome is worked out by hand, the held-out runs kept apart from the chosen ones,
and the gain at 0.01 pooled over both."""
from __future__ import annotations

import math

import pytest

from kdlib.chapters import deep_confirm as ch
from kdlib.experiments import deep, deep_lead
from tests.test_chapter_deep_lead import _rec


def _settings(width: float, runs: int, leads: list[float], epochs: int = 40) -> dict:
    """A bf16 settings record whose validation curves rise to their last epoch (so every stopping rule
    stops at its cap) and whose test accuracy is flat: the teacher at 70 + lead, the student at 70."""
    rows = []
    for r in range(runs):
        for model, acc in (("teacher", 70.0 + leads[r]), ("student", 70.0)):
            rows.append(dict(model=model, run=r, n_train=9600, val_acc=[50.0 + e for e in range(epochs)],
                             test_acc=[acc] * epochs, epoch_seconds=[9.0] * epochs,
                             epoch_cpu_seconds=[1.0 if model == "teacher" else 0.5] * epochs))
    cfg = dict(noise_variance=0.01, width_mult=width, epochs=epochs, batch_size=128, augment=True, runs=runs)
    return {"config": cfg, "rows": rows, "provenance": {"precision": "bf16"}}


def test_the_second_rule_picks_by_the_lower_end_on_five_runs():
    settings = [_settings(0.25, 3, [6.0, 6.0, 6.0]), _settings(0.125, 3, [1.0, 1.0, 1.0]),
                _settings(0.25, 5, [6.0, 6.0, 6.0, 5.0, 5.0])]
    v = ch.prose_values(settings, [], deep.sweep("cpu2"), None)
    assert (v["confirm_wanted"], v["confirm_measured"]) == (1, 1)  # x1/8 never reached 5 on 3 runs
    assert v["confirm_candidates"] == len(deep_lead.CHOICES)
    # leads 6, 6, 6, 5, 5: mean 5.6, sd sqrt(0.3), se sqrt(0.06): lower end 5.36 at every stopping rule
    assert (v["c_pick_lead"], v["c_pick_lead_se"], v["c_pick_lower"], v["c_pick_lead3"]) == (5.6, 0.2, 5.4, 6.0)
    # all cost the same per epoch: the cheapest is the shortest cap, 15 epochs (patience never stops it)
    assert (v["c_pick_width"], v["c_pick_max_epochs"]) == (0.25, 15)
    run_s = 15 * (1.0 + 2 * 0.5)
    assert v["c_pick_profile_h"] == round(deep_lead.RUNS * (6 * run_s + 2 * 15 * 0.5) / 3600, 2)
    assert v["confirm_qualifying"] == v["confirm_candidates"]  # every one: 40 epochs cost 0.7 CPU-h
    table = str(ch.confirm_table(settings))
    assert "picked" in table and "+5.6 ± 0.2" in table and "+6.0" in table and "largest lower end" in table
    # runs 3 and 4 leading by 4 and 2 instead: mean 4.8, nothing qualifies
    worse = settings[:2] + [_settings(0.25, 5, [6.0, 6.0, 6.0, 4.0, 2.0])]
    v = ch.prose_values(worse, [], deep.sweep("cpu2"), None)
    assert v["c_pick_width"] == "—" and v["confirm_qualifying"] == 0


def test_held_out_runs_stay_apart_and_the_gain_pools_all_runs():
    chosen = _rec(0.01, [(80.0, 72.0, 73.0), (78.0, 74.0, 77.0)])
    held = _rec(0.01, [(75.0, 74.0, 74.0), (77.0, 73.0, 75.0)])
    for row in held["rows"]:
        row["run"] += 5
    v = ch.prose_values([], [chosen], deep.sweep("cpu2"), held)
    # chosen leads 8, 4 (mean 6, se 2); held-out leads 1, 4 (mean 2.5, se 1.5), gains 0, 2 (1, 1)
    assert (v["cpu3_lead_001"], v["cpu3_lead_001_se"]) == (6.0, 2.0)
    assert (v["c3_held_lead_001"], v["c3_held_lead_001_se"], v["c3_held_runs"]) == (2.5, 1.5, 2)
    assert (v["c3_held_gain_001"], v["c3_held_gain_001_se"], v["c3_held_word_001"]) == (1.0, 1.0, "no clear difference")
    # gains 1, 3, 0, 2: mean 1.5, sd sqrt(5/3), se sqrt(5/12)
    assert v["c3_all_runs"] == 4 and v["c3_all_gain_001"] == 1.5
    assert v["c3_all_gain_001_se"] == round(math.sqrt(5 / 12), 1)
    assert v["cpu3_levels"] == 1 and v["cpu3_lead_020"] == "—" and v["cpu3_word_020"] == "—"
    none = ch.prose_values([], [], [], None)
    assert none["c3_held_lead_001"] == "—" and none["c3_all_gain_001"] == "—" and none["cpu3_cpu_h"] == "—"


def test_a_profile_asking_one_level_shows_dashes_elsewhere():
    from kdlib.chapters import deep_lead as lead_section

    configs = deep.sweep("cpu2")
    one = [c for c in configs if c.noise_variance == 0.01]
    held = _rec(0.01, [(75.0, 74.0, 74.0), (77.0, 73.0, 75.0)])
    table = str(lead_section.lead_table({"cpu2": (configs, []), "held out": (one, [held])}))
    assert table.count("not stored") == 2 * 6 and "+2.5 ± 1.5" in table


def test_the_stored_section_is_empty_until_the_rule_picks():
    configs, records, held_cfg, held = ch.stored()
    if deep_lead.CONFIRMED_PROFILE not in deep.PROFILES:
        assert (configs, records, held_cfg, held) == ([], [], None, None)
    else:
        assert held_cfg.first_run == deep_lead.HELD_OUT_FROM and len(configs) == len(deep.NOISE_VARIANCES)
        assert all(r["config"]["profile"].startswith(deep_lead.CONFIRMED_PROFILE) for r in records)




def test_findings_compare_the_three_run_leaders_on_five_runs_and_read_the_longest_horizon():
    settings = [_settings(0.25, 3, [6.0, 6.0, 6.0]), _settings(0.25, 5, [6.0, 6.0, 6.0, 2.0, 2.0]),
                _settings(0.125, 5, [1.0] * 5)]
    v = ch.finding_values(settings)
    # every stopping rule of x1/4 led by 6 on runs 0-2 and leads by 4.4 on runs 0-4
    assert (v["leaders3"], v["leaders3_lead3"], v["leaders3_lead5"]) == (len(deep_lead.CHOICES), 6.0, 4.4)
    assert (v["best5_lead"], v["best5_width"], v["best5_at_target"]) == (4.4, 0.25, 0)
    assert v["best5_lower"] == round(4.4 - math.sqrt(4.8 / 5), 1)  # sd sqrt(4.8), se sqrt(4.8 / 5)
    assert (v["h_width"], v["h_long_epochs"], v["h_long_lead"], v["h_low"], v["h_high"]) == (0.25, 40, 4.4, 4.4, 4.4)
    # a longer record of the same width replaces the shorter one in the horizon
    longer = _settings(0.25, 5, [3.0] * 5, epochs=80)
    v = ch.finding_values(settings + [longer])
    assert (v["h_long_epochs"], v["h_long_lead"], v["h_max_lead"]) == (80, 3.0, 3.0)
    assert v["leaders3_lead5"] == 4.4  # the longer record is no candidate
    later = _settings(0.25, 5, [3.0] * 5)
    later["config"]["first_run"] = 5
    for row in later["rows"]:
        row["run"] += 5
    both = settings + [later]
    checks = ch.claims(ch.prose_values(both, [], [], None) | ch.finding_values(both) | ch.held_out_values(both)
                       | {"lead_min": deep_lead.LEAD_MIN})
    # flat curves: no net improves with training, and early stopping costs neither net anything
    assert {k for k, ok in checks.items() if not ok} == {"the student rises more than the teacher",
                                                         "early stopping costs the student more"}
    es = ch.finding_values(settings)  # the 40-epoch curves hold the candidates' nets themselves
    assert (es["es_max_epochs"], es["es_teacher_gap"], es["es_hard_gap"]) == (15, 0.0, 0.0)
    assert ch.finding_values([])["h_long_lead"] == "—" and ch.finding_values([])["leaders3"] == 0


def test_claims_hold_on_the_stored_measurements():
    """The section's prose against the stored 5-run measurements (both must be stored)."""
    from kdlib.results import ResultStore

    settings = ResultStore().records(deep_lead.NAME)
    configs, records, _, held = ch.stored()
    values = ch.prose_values(settings, records, configs, held) | ch.finding_values(settings)
    values |= ch.held_out_values(settings)
    assert values["confirm_measured"] == values["confirm_wanted"], "the 5-run measurements are not all stored"
    values |= {"lead_min": deep_lead.LEAD_MIN, "budget_h": deep_lead.BUDGET_S / 3600}
    failed = [name for name, ok in ch.claims(values).items() if not ok]
    assert not failed, f"Chapter 7's second-rule prose states what the records no longer show: {failed}"


def test_held_out_runs_are_compared_candidate_by_candidate():
    later = _settings(0.25, 5, [3.0, 4.0, 5.0, 3.0, 5.0])
    later["config"]["first_run"] = 5
    for row in later["rows"]:
        row["run"] += 5
    settings = [_settings(0.25, 5, [6.0, 6.0, 6.0, 5.0, 5.0]), later]
    v = ch.held_out_values(settings)
    # every stopping rule: 5.6 on runs 0-4, leads 3, 4, 5, 3, 5 on runs 5-9: mean 4, sd 1, se 1/sqrt(5)
    assert (v["ho_widths"], v["ho_pairs"], v["ho_fewer"]) == (1, len(deep_lead.CHOICES), len(deep_lead.CHOICES))
    assert (v["ho_all_lead5"], v["ho_all_lead_ho"], v["ho_best_lead5"], v["ho_best_lead_ho"]) == (5.6, 4.0, 5.6, 4.0)
    assert v["ho_best_lead_ho_se"] == round(1 / math.sqrt(5), 1) and v["ho_max_lead_ho"] == 4.0
    table = str(ch.held_out_table(settings))
    assert "+5.6 ± 0.2" in table and "+4.0 ± 0.4" in table and "5-9" in table
    # the later runs are no measurement of either rule, and are drawn dashed beside runs 0-4
    assert ch.prose_values(settings, [], [], None)["c_pick_lead"] == 5.6
    assert {(s["first_run"], s["runs"]) for s in ch.horizon_rows(settings)} == {(0, 5), (5, 5)}
    assert ch.held_out_values(settings[:1])["ho_best_lead_ho"] == "—"
