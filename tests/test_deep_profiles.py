"""Chapter 7's profiles: labels that match their settings (stored records included), the
early-stopping replay used to choose the CPU profile, and the settings summaries."""
from __future__ import annotations

import math

import pytest

from kdlib.chapters import deep_networks
from kdlib.experiments import deep, deep_settings
from kdlib.results import ResultStore
from kdlib.train_cnn import CNNTrainConfig, train_classifier


def test_make_config_labels_what_it_changes():
    for name in deep.PROFILES:
        c = deep.make_config(name, 0.1)
        assert c.profile == name and deep.profile_settings(name) == (name, deep.PROFILES[name] | {})
    t4 = deep.make_config("smoke", 0.2, extra_temperatures=(4.0,))
    assert t4.profile == "smoke+T4" and t4.extra_temperatures == (4.0,)
    assert deep.profile_settings("smoke+T4")[1]["extra_temperatures"] == (4.0,)
    assert deep.make_config("smoke", 0.2, extra_temperatures=(4.0,), runs=1).profile == "smoke+custom"
    assert deep.make_config("smoke", 0.2, runs=deep.PROFILES["smoke"]["runs"]).profile == "smoke"  # no change
    with pytest.raises(ValueError, match="distinct"):
        deep.make_config("smoke", 0.2, extra_temperatures=(1.0,))
    with pytest.raises(ValueError, match="extra_temperatures"):
        deep.make_config("smoke", 0.2, extra_temperatures=(-4.0,))
    with pytest.raises(ValueError, match="unknown parameters"):
        deep.make_config("smoke", 0.2, split=3)
    with pytest.raises(ValueError, match="unknown base profile"):
        deep.profile_settings("gpu+T4")


def test_stored_profile_labels_match_their_settings():
    """Every stored chapter-7 record: its label names a profile whose settings (and tags,
    e.g. +T4) are exactly its config's; a '+custom' label only for configs that differ."""
    records = ResultStore().records(deep.NAME)
    if not records:
        pytest.skip("no chapter-7 records stored")
    for rec in records:
        cfg = rec["config"]
        base, promised = deep.profile_settings(cfg["profile"])
        if cfg["profile"].endswith("+custom"):
            assert any(cfg.get(k) != (list(v) if isinstance(v, tuple) else v)
                       for k, v in deep.PROFILES[base].items()) or cfg.get("extra_temperatures"), rec["key"]
            continue
        promised.setdefault("extra_temperatures", ())
        for k, v in promised.items():
            assert cfg[k] == (list(v) if isinstance(v, tuple) else v), (rec["key"], k, cfg[k], v)
        # and the config rebuilt from the label hashes to the record's key
        again = deep.make_config(base, cfg["noise_variance"], extra_temperatures=tuple(cfg["extra_temperatures"]),
                                 first_run=cfg.get("first_run", 0))
        assert ResultStore().path(deep.NAME, again).stem == rec["key"]


def _curve_task():
    from tests.test_train_cnn import _blobs, _linear

    return _linear(1), _blobs(400, 0), _blobs(200, 1, flip=True)


def test_early_stopping_replay_matches_training():
    """Replaying the rule on the full validation curve gives the epoch train_classifier stops at."""
    from tests.test_train_cnn import _blobs, _linear

    train, val = _blobs(300, 0), _blobs(150, 1)
    long = train_classifier(_linear(3), train, val, CNNTrainConfig(lr=0.2, batch_size=30, max_epochs=12, patience=12,
                                                                    weight_decay=0.0))
    for max_epochs, patience in [(12, 1), (12, 2), (8, 3), (5, 5), (12, 12)]:
        res = train_classifier(_linear(3), train, val, CNNTrainConfig(lr=0.2, batch_size=30, max_epochs=max_epochs,
                                                                       patience=patience, weight_decay=0.0))
        assert deep_settings.early_stopping(long.val_acc, max_epochs, patience) == (res.best_epoch, res.epochs_run)
    assert deep_settings.early_stopping([0.5, 0.6, 0.6, 0.55, 0.7], 5, 2) == (2, 4)  # ties are not improvements
    assert deep_settings.early_stopping([0.5, 0.6, 0.6], 3, 5) == (2, 3)  # max_epochs first
    with pytest.raises(ValueError, match="cannot say"):
        deep_settings.early_stopping([0.5, 0.6, 0.7], 10, 5)


def test_settings_summary_on_hand_made_curves():
    rows = []
    for r, (t_val, t_test, s_val, s_test) in enumerate([
        ([50, 60, 70, 65, 66], [51, 61, 71, 64, 66], [50, 55, 54, 53, 52], [50, 56, 55, 54, 53]),
        ([50, 70, 60, 61, 62], [50, 72, 60, 61, 62], [60, 59, 58, 57, 56], [62, 58, 57, 56, 55]),
    ]):
        rows.append(dict(model="teacher", run=r, n_train=100, val_acc=t_val, test_acc=t_test, epoch_seconds=[2.0] * 5))
        rows.append(dict(model="student", run=r, n_train=100, val_acc=s_val, test_acc=s_test, epoch_seconds=[1.0] * 5))
    rec = {"config": {"noise_variance": 0.01, "width_mult": 0.25, "batch_size": 128, "epochs": 5}, "rows": rows}
    (a, b) = deep_settings.settings_summary([rec], [(5, 2), (2, 5)])
    assert (b["max_epochs"], b["patience"]) == (5, 2)
    # patience 2: teacher picks epochs 3 and 2 (tests 71, 72), runs 5 and 4; student epochs 2 and 1 (56, 62)
    assert b["teacher"] == 71.5 and b["hard"] == 59.0
    assert b["lead"] == 12.5 and math.isclose(b["lead_sd"], math.sqrt(2 * 2.5 ** 2))
    assert b["teacher_epochs"] == 4.5 and b["hard_epochs"] == 3.5
    assert b["run_seconds"] == 2.0 * 4.5 + 2 * 1.0 * 3.5
    # max_epochs 2: teacher epoch 2 (61, 72), student epochs 2 and 1 (56, 62)
    assert (a["teacher"], a["hard"]) == (66.5, 59.0)


def test_teacher_knowledge_pairs_runs():
    rows = []
    for r, (t, h, s, s4, conf) in enumerate([(80.0, 70.0, 74.0, 75.0, 0.9), (82.0, 74.0, 73.0, 77.0, 0.8)]):
        rows += [dict(run=r, model="teacher", mode="hard", test_acc=t, train_acc=99.0, train_confidence=conf),
                 dict(run=r, model="student", mode="hard", test_acc=h),
                 dict(run=r, model="student", mode="soft", test_acc=s, temperature=1.0, label_confidence=conf),
                 dict(run=r, model="student", mode="soft T=4", test_acc=s4, temperature=4.0, label_confidence=0.6)]
    rec = {"rows": rows, "config": {"noise_variance": 0.1}}
    runs = deep_networks.paired_runs(rec)
    assert [d["lead"] for d in runs] == [10.0, 8.0] and [d["gain"] for d in runs] == [4.0, -1.0]
    assert [d["gain T=4"] for d in runs] == [5.0, 3.0] and runs[0]["confidence T=4"] == 0.6
    (k,) = deep_networks.teacher_knowledge([rec])
    assert (k["lead"], k["gain"], k["gain T=4"]) == (9.0, 1.5, 4.0) and k["confidence"] == pytest.approx(0.85)
    assert math.isclose(k["lead_sd"], math.sqrt(2)) and math.isclose(k["gain_sd"], math.sqrt(12.5))
    assert k["paper_lead"] == pytest.approx(77.7 - 67.2) and k["paper_gain"] == pytest.approx(75.0 - 67.2)
    table = deep_networks.format_knowledge([k])
    assert "9.0 ± 1.4" in table and "soft (T=4) − hard" in table


def test_cost_model_adds_up():
    cfg = deep.make_config("smoke", 0.1)
    f = deep.profile_epoch_flops(cfg)
    rate = {deep.TEACHER: 1e9, deep.STUDENT: 2e9}
    c = deep.profile_cost(cfg, rate, {deep.TEACHER: 3, deep.STUDENT: 4}, levels=6)
    runs = cfg.runs
    assert c["flops"] == pytest.approx(6 * runs * (3 * f[deep.TEACHER] + 2 * 4 * f[deep.STUDENT]))
    assert c["seconds"] == pytest.approx(6 * runs * (3 * f[deep.TEACHER] / 1e9 + 2 * 4 * f[deep.STUDENT] / 2e9))


def test_settings_replay_predicts_the_profile_runs():
    """The stored settings curves, replayed with the cpu profile's stopping rule, give the stopping
    epochs and test accuracies of the profile's own runs 0 and 1 at noise 0.01 (same seeds, same
    data, same code path; within 0.5 points where float rounding differs between processes)."""
    store = ResultStore()
    cfg = deep.sweep("cpu", (0.01,))[0]
    rec = store.load(deep.NAME, cfg)
    s_cfg = deep_settings.Config(width_mult=cfg.width_mult, train_limit=cfg.train_limit, augment=cfg.augment,
                                epochs=next(g["epochs"] for g in deep_settings.SETTINGS_GRID
                                            if g["width_mult"] == cfg.width_mult and g.get("augment") == cfg.augment))
    settings = store.load(deep_settings.NAME, s_cfg)
    if rec is None or settings is None:
        pytest.skip("the cpu profile's record at 0.01 or its settings measurement is not stored")
    by = {(r["model"], r["run"]): r for r in settings["rows"]}
    for row in rec["rows"]:
        if row["run"] not in (0, 1) or row["mode"] != "hard":
            continue
        curve = by[(row["model"], row["run"])]
        best, stop = deep_settings.early_stopping(curve["val_acc"], cfg.max_epochs, cfg.patience)
        assert (best, stop) == (row["best_epoch"], row["epochs_run"]), row
        assert abs(curve["test_acc"][best - 1] - row["test_acc"]) <= 0.5, row
