"""The teacher-leads profile (kdlib.experiments.deep_lead): the rule, the CPU-time summary, and
commands that compute exactly the records the chapter asks for."""
from __future__ import annotations

import shlex

import pytest

from kdlib.experiments import deep, deep_lead, deep_lead_settings, deep_settings
from kdlib.results import ResultStore, config_key
from kdlib.sweep import _parse_set, product_configs


def _row(lead: float, profile_h: float, v: float = 0.01, runs: int = 3, **kw):
    return dict(noise_variance=v, runs=runs, lead=lead, lead_sd=0.5, profile_s=profile_h * 3600, width_mult=0.25,
                max_epochs=30, patience=8, n_train=9600, batch_size=128, augment=True, **kw)


def test_rule_takes_the_cheapest_teacher_that_leads_by_five_within_budget():
    rows = [_row(7.0, 2.9), _row(5.2, 2.0), _row(4.9, 1.0), _row(9.0, 3.5), _row(8.0, 0.5, v=0.2),
            _row(8.0, 0.6, runs=1), _row(5.0, 2.0)]
    pick = deep_lead.choose(rows)
    assert (pick["lead"], pick["profile_s"]) == (5.2, 2.0 * 3600)  # cheapest; of equal cost, the larger lead
    assert deep_lead.choose([_row(4.99, 1.0), _row(9.0, 3.01)]) is None
    assert deep_lead.choose([_row(5.0, 3.0)])["lead"] == 5.0  # bounds included


def test_summary_is_timed_by_cpu_seconds_and_filtered_by_precision():
    def rec(prec, cpu):
        rows = []
        for r in range(2):
            for model, val in (("teacher", [60.0, 70.0, 71.0]), ("student", [60.0, 65.0, 64.0])):
                row = dict(model=model, run=r, n_train=9600, val_acc=val, test_acc=[x + r for x in val],
                           epoch_seconds=[10.0] * 3)
                if cpu:
                    row["epoch_cpu_seconds"] = [2.0 if model == "teacher" else 1.0] * 3
                rows.append(row)
        cfg = dict(noise_variance=0.01, width_mult=0.25, epochs=3, batch_size=128, augment=True)
        prov = {"precision": prec} if prec else {}
        return {"config": cfg, "rows": rows, "provenance": prov}

    (s,) = deep_lead.summary([rec("bf16", True), rec(None, False)], "bf16", choices=((3, 1),))
    # teacher: best epoch 3 of 3 -> 71 (+run), 3 epochs x 2 s; student: best epoch 2, stops at 3 -> 65, 3 x 1 s
    assert (s["teacher"], s["hard"], s["lead"]) == (71.5, 65.5, 6.0)
    assert s["run_seconds"] == 6.0 + 2 * 3.0
    assert s["profile_s"] == deep_settings.profile_estimate(s, runs=deep_lead.RUNS)
    assert deep_lead.summary([rec(None, False)], "bf16", choices=((3, 1),)) == []
    (w,) = deep_lead.summary([rec(None, False)], None, choices=((3, 1),))
    assert w["run_seconds"] == 30.0 + 2 * 30.0  # no CPU times: the wall clock
    assert deep_lead.precision_of(rec(None, False)) == "float32"


def _configs_of(command: str, experiment):
    args = shlex.split(command)
    sets = [_parse_set(args[i + 1]) for i, a in enumerate(args) if a == "--set"]
    return product_configs(experiment, sets)


def test_commands_compute_the_records_the_chapter_and_the_rule_read():
    store = ResultStore("/nonexistent")
    want = {store.path(deep.NAME, c).name for c in deep.sweep(deep_lead.PROFILE)}
    got = {store.path(deep.NAME, c).name for cmd in deep_lead.profile_commands() for c in _configs_of(cmd, deep)}
    assert got == want and len(want) == len(deep.NOISE_VARIANCES)
    want = {config_key(deep_lead.NAME, c) for c in deep_lead_settings.configs()}
    got = {config_key(deep_lead.NAME, c) for cmd in deep_lead_settings.commands()
           for c in _configs_of(cmd, deep_lead_settings)}
    assert got == want and len(want) == len(deep_lead_settings.GRID) * len(deep_lead_settings.NOISE)


def test_profile_is_the_rules_pick_on_the_stored_measurements():
    records = ResultStore().records(deep_lead.NAME)
    if not any(abs(r["config"]["noise_variance"] - deep_lead.AT) < 1e-9 for r in records):
        pytest.skip("no cpu2 settings measurement at the rule's noise level is stored")
    pick = deep_lead.choose(deep_lead.summary(records, "bf16", runs=deep_lead.MEASURED_RUNS))
    assert pick is not None, "no measured setting qualifies: cpu2 has no basis"
    assert deep.PROFILES[deep_lead.PROFILE] == deep_lead.profile_values(pick)


def test_second_rule_takes_the_cheapest_lower_end_of_five_within_budget():
    def row(lead, sd, h, runs=5, v=0.01):
        return _row(lead, h, v=v, runs=runs) | {"lead_sd": sd}

    # lower ends: 6 - 2/sqrt(5) = 5.11; 5.5 - 2/sqrt(5) = 4.61; 5.2 - 0.2/sqrt(5) = 5.11
    rows = [row(6.0, 2.0, 2.5), row(5.5, 2.0, 1.0), row(5.2, 0.2, 2.0), row(9.0, 0.1, 1.5, runs=3),
            row(9.0, 0.1, 1.5, v=0.2), row(9.0, 0.1, 3.2)]
    pick = deep_lead.choose_confirmed(rows)
    assert (pick["lead"], pick["profile_s"]) == (5.2, 2.0 * 3600)
    assert deep_lead.lower_end(pick) == pytest.approx(5.2 - 0.2 / 5 ** 0.5)
    assert deep_lead.choose_confirmed([row(5.5, 2.0, 1.0)]) is None
    assert deep_lead.choose_confirmed([row(5.0, 0.0, 3.0)])["lead"] == 5.0  # bounds included


def test_remeasure_takes_the_settings_whose_three_runs_reached_the_lead():
    rows = [_row(5.1, 1.0) | {"width_mult": 0.125}, _row(4.0, 1.0) | {"width_mult": 0.5},
            _row(9.0, 1.0, v=0.2) | {"width_mult": 0.5}]
    (c,) = deep_lead.remeasure(rows)
    g = next(g for g in deep_lead_settings.GRID if g["width_mult"] == 0.125)
    assert (c.width_mult, c.epochs, c.runs, c.noise_variance, c.augment) == (0.125, g["epochs"], 5, 0.01, True)
    assert config_key(deep_lead.NAME, c) != config_key(deep_lead.NAME, deep_lead_settings.configs()[0])


def test_held_out_command_computes_the_held_out_config(monkeypatch):
    profile = deep_lead.CONFIRMED_PROFILE
    if profile not in deep.PROFILES:  # not chosen: stand in the cpu2 settings
        monkeypatch.setitem(deep.PROFILES, profile, dict(deep.PROFILES[deep_lead.PROFILE]))
    *plain, held = deep_lead.profile_commands(profile, held_out=True)
    (c,) = _configs_of(held, deep)
    want = deep_lead.held_out_config()
    assert config_key(deep.NAME, c) == config_key(deep.NAME, want)
    assert want.profile == f"{profile}+from{deep_lead.HELD_OUT_FROM}" and want.first_run == deep_lead.HELD_OUT_FROM
    assert plain == deep_lead.profile_commands(profile)


def test_confirmed_profile_is_the_second_rules_pick_on_the_stored_measurements():
    records = ResultStore().records(deep_lead.NAME)
    rows = deep_lead.summary(filter(deep_lead_settings.is_candidate, records), "bf16", runs=deep_lead.CONFIRM_RUNS)
    if not rows:
        pytest.skip("no 5-run settings measurement is stored")
    pick = deep_lead.choose_confirmed(rows)
    if pick is None:
        assert deep_lead.CONFIRMED_PROFILE not in deep.PROFILES, "the second rule picks nothing"
        return
    assert deep.PROFILES[deep_lead.CONFIRMED_PROFILE] == deep_lead.profile_values(pick)


def test_lead_by_horizon_keeps_each_net_at_its_best_epoch_within_the_horizon():
    # teacher: validation best at epoch 2 within 2 epochs, at 4 within 4; test 70, 74, 71, 80
    # student: best at 1 within 2, at 3 within 4; test 68, 60, 72, 50 (run 1: two points higher)
    rows = []
    for r in range(2):
        rows += [dict(model="teacher", run=r, val_acc=[1.0, 2.0, 1.5, 3.0], test_acc=[70.0, 74.0, 71.0, 80.0]),
                 dict(model="student", run=r, val_acc=[2.0, 1.0, 3.0, 0.0],
                      test_acc=[68.0 + 2 * r, 60.0, 72.0 + 2 * r, 50.0])]
    rec = {"config": dict(noise_variance=0.01, width_mult=0.25, epochs=4), "rows": rows}
    two, four = deep_lead.lead_by_horizon([rec], step=2)
    assert (two["epochs"], two["teacher"], two["hard"], two["lead"]) == (2, 74.0, 69.0, 5.0)
    assert two["lead_se"] == pytest.approx(1.0)  # leads 6 and 4: sd sqrt(2), se 1
    assert (four["epochs"], four["teacher"], four["hard"], four["lead"]) == (4, 80.0, 73.0, 7.0)


def test_only_the_grid_settings_are_candidates():
    grid = [{"config": dict(width_mult=g["width_mult"], epochs=g["epochs"])} for g in deep_lead_settings.GRID]
    horizon = {"config": dict(deep_lead_settings.HORIZON)}
    assert all(map(deep_lead_settings.is_candidate, grid)) and not deep_lead_settings.is_candidate(horizon)


def test_the_rules_read_runs_counted_from_zero_only():
    def rec(first_run):
        rows = [dict(model=m, run=first_run + r, n_train=9600, val_acc=[60.0, 70.0], test_acc=[60.0, 70.0 + d],
                     epoch_seconds=[1.0, 1.0]) for r in range(5) for m, d in (("teacher", 5.0), ("student", 0.0))]
        cfg = dict(noise_variance=0.01, width_mult=0.25, epochs=2, batch_size=128, augment=True, runs=5,
                   first_run=first_run)
        return {"config": cfg, "rows": rows, "provenance": {"precision": "bf16"}}

    assert len(deep_lead.summary([rec(0), rec(5)], "bf16", choices=((2, 1),), runs=5)) == 1
    assert len(deep_lead.summary([rec(0), rec(5)], "bf16", choices=((2, 1),))) == 2


def test_second_commands_compute_the_stored_second_rule_measurements():
    rows = [_row(5.1, 1.0) | {"width_mult": 0.25}]
    configs = deep_lead.second_configs(rows)
    assert [(c.width_mult, c.runs, c.first_run, c.epochs) for c in configs] == [
        (0.25, 5, 0, 40), (0.25, 5, deep_lead.HELD_OUT_FROM, 40), (0.25, 5, 0, 80)]
    for c in configs:
        (again,) = _configs_of(deep_lead.config_command(c), deep_lead_settings)
        assert config_key(deep_lead.NAME, again) == config_key(deep_lead.NAME, c)
    # the stored ones are exactly those the commands make (where the 3-run measurements are stored)
    stored = {r["key"] for r in ResultStore().records(deep_lead.NAME) if r["config"]["runs"] == deep_lead.CONFIRM_RUNS}
    if stored:
        three = deep_lead.summary(ResultStore().records(deep_lead.NAME), "bf16", runs=deep_lead.MEASURED_RUNS)
        want = {config_key(deep_lead.NAME, c) for c in deep_lead.second_configs(three)}
        assert stored <= want
