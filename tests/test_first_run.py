"""Runs counted from ``first_run`` (kdlib.experiments.deep.Config): the held-out runs of a profile are
the very nets its larger run counts train (same seeds, same data), records made before the field
existed keep their keys, and the labels say which runs a record holds."""
from __future__ import annotations

import dataclasses

import pytest

from kdlib.experiments import deep
from kdlib.grouped import run_configs
from kdlib.results import KEY_OMITTED_AT, ResultStore, config_key, key_fields


def _smoke(**kw):
    cfg = deep.make_config("smoke", 0.05, device="cpu", progress=False, precision="float32", **kw)
    return dataclasses.replace(cfg, runs=kw.get("runs", cfg.runs))


def _comparable(row):
    return {k: v for k, v in row.items() if k not in ("train_seconds", "train_cpu_seconds")}


def _or_skip(fn, *a, **kw):
    from kdlib.data import DataUnavailableError

    try:
        return fn(*a, **kw)
    except DataUnavailableError as exc:
        pytest.skip(f"CIFAR data not available: {exc}")


def test_runs_from_one_are_run_one_of_two_runs():
    both = _or_skip(deep.run, _smoke())  # runs 0 and 1
    second = _or_skip(deep.run, _smoke(first_run=1, runs=1))
    assert {r["run"] for r in second.rows} == {1} and second.seeds == [1, 1001, 2001]
    want = [_comparable(r) for r in both.rows if r["run"] == 1]
    assert [_comparable(r) for r in second.rows] == want


def test_grouped_trainer_counts_runs_from_first_run_too():
    cfg = _smoke(first_run=3, runs=1)
    (out,) = _or_skip(run_configs, [cfg], teacher=deep.TEACHER, student=deep.STUDENT, device="cpu",
                      progress=False)
    assert {r["run"] for r in out.rows} == {3} and out.seeds == [3, 1003, 2003]


def test_first_run_zero_is_left_out_of_the_key():
    cfg = deep.make_config("cpu2", 0.01)
    assert cfg.first_run == 0 and "first_run" not in key_fields(cfg) and KEY_OMITTED_AT["first_run"] == 0
    legacy = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "first_run"}  # a record from before
    assert config_key(deep.NAME, legacy) == config_key(deep.NAME, cfg)
    later = deep.make_config("cpu2", 0.01, first_run=5)
    assert key_fields(later)["first_run"] == 5 and config_key(deep.NAME, later) != config_key(deep.NAME, cfg)
    for rec in ResultStore().records(deep.NAME):  # the stored records' keys are unchanged
        assert ResultStore().path(deep.NAME, deep.Config(**rec["config"])).stem == rec["key"]


def test_labels_say_which_runs():
    c = deep.make_config("smoke", 0.1, first_run=5)
    assert c.profile == "smoke+from5" and deep.profile_settings("smoke+from5")[1]["first_run"] == 5
    both = deep.make_config("smoke", 0.2, first_run=5, extra_temperatures=(4.0,))
    assert both.profile == "smoke+T4+from5"
    assert deep.profile_settings("smoke+T4+from5")[1] | {} == deep.PROFILES["smoke"] | {
        "extra_temperatures": (4.0,), "first_run": 5}
    assert deep.make_config("smoke", 0.1, first_run=0).profile == "smoke"  # no change
    assert deep.make_config("smoke", 0.1, first_run=5, runs=1).profile == "smoke+custom"
    for bad in ("smoke+fromx", "smoke+from5+from6", "smoke+Tx"):
        with pytest.raises(ValueError, match="profile label"):
            deep.profile_settings(bad)
    with pytest.raises(ValueError, match="first_run"):
        deep.make_config("smoke", 0.1, first_run=-1)


def test_settings_runs_from_first_run_are_the_same_nets():
    from kdlib.experiments import deep_settings

    tiny = dict(width_mult=1 / 16, train_limit=64, epochs=2, batch_size=32, device="cpu", progress=False,
                precision="float32")
    both = _or_skip(deep_settings.run, deep_settings.Config(runs=2, **tiny))
    second = deep_settings.run(deep_settings.Config(runs=1, first_run=1, **tiny))
    assert second.seeds == [1, 1001, 2001] and {r["run"] for r in second.rows} == {1}
    strip = lambda r: {k: v for k, v in r.items() if k not in ("epoch_seconds", "epoch_cpu_seconds")}  # noqa: E731
    assert [strip(r) for r in second.rows] == [strip(r) for r in both.rows if r["run"] == 1]
    assert "first_run" not in key_fields(deep_settings.Config(**tiny))
