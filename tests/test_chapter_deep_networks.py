"""Chapter 7's glued values and the claims its prose makes, against the stored ``cpu`` records."""
from __future__ import annotations

import math
import statistics

import pytest

from kdlib.chapters import deep_networks as chapter
from kdlib.experiments import deep, deep_settings, deep_speed
from kdlib.paper import FIGURE_CIFAR
from kdlib.results import ResultStore

VARIANCES = (0.0, 0.01, 0.03, 0.05, 0.10, 0.20)


@pytest.fixture(scope="module")
def stored():
    store = ResultStore()
    configs = deep.sweep("cpu", VARIANCES, {0.10: (4.0,), 0.20: (4.0,)})
    records = [store.load(deep.NAME, c) for c in configs]
    settings = [store.load(deep_settings.NAME, c) for c in deep_settings.sweep_configs()[: len(deep_settings.SETTINGS_GRID)]]
    speed = store.load(deep_speed.NAME, deep_speed.Config())
    if any(r is None for r in records + settings) or speed is None:
        pytest.fail("Chapter 7's cpu records are not all in the store")
    return records, settings, speed


def _values(stored):
    records, settings, speed = stored
    return {**chapter.choice_values(settings), **chapter.result_values(records),
            **chapter.knowledge_values(records), **chapter.cost_values(records, speed)}


def test_claims_hold_on_the_records(stored):
    failed = [name for name, ok in chapter.claims(_values(stored)).items() if not ok]
    assert not failed, f"Chapter 7's prose states what the records no longer show: {failed}"


def test_glued_values_match_the_rows(stored):
    """Independent reading of the rows: per run, teacher − hard and soft − hard."""
    records, _, _ = stored
    v = _values(stored)
    for rec in records:
        acc: dict[tuple[str, int], float] = {}
        for r in rec["rows"]:
            acc[("teacher" if r["model"] == "teacher" else r["mode"], r["run"])] = r["test_acc"]
        runs = sorted({run for (_, run) in acc})
        gains = [acc[("soft", r)] - acc[("hard", r)] for r in runs]
        key = f"{round(float(rec['config']['noise_variance']) * 100):03d}"
        assert v[f"gain_{key}"] == pytest.approx(statistics.fmean(gains), abs=1e-9)
        assert v[f"gain_{key}_se"] == pytest.approx(statistics.stdev(gains) / math.sqrt(len(gains)), abs=1e-9)
        if key == "001":
            leads = [acc[("teacher", r)] - acc[("hard", r)] for r in runs]
            assert v["lead_001"] == pytest.approx(statistics.fmean(leads), abs=1e-9)
            assert v["lead_runs"] == len(runs)
    assert v["paper_lead_max"] == pytest.approx(max(t - h for t, h, _ in FIGURE_CIFAR.values()))
    # the profile's cost: the sum of its nets' training CPU seconds
    cpu = sum(r.get("train_cpu_seconds", r["train_seconds"]) for rec in records for r in rec["rows"])
    assert v["profile_cpu_h"] == pytest.approx(cpu / 3600)


def test_the_choice_is_the_cheapest_deciding_row(stored):
    """The rows shown as deciding: all within a point of the largest lead within the budget, and
    the rule's choice is the cheapest of them (checked here without choose_settings)."""
    _, settings, _ = stored
    summary = deep_settings.settings_summary(settings, deep_settings.SETTINGS_CHOICES)
    rows = chapter.deciding_settings(summary)
    fits = [s for s in summary if s["runs"] >= 2 and abs(s["noise_variance"] - 0.01) < 1e-9
            and deep_settings.profile_estimate(s) <= deep_settings.PROFILE_BUDGET_S]
    top = max(s["lead"] for s in fits)
    assert {id(s) for s in rows} == {id(s) for s in fits if s["lead"] >= top - 1.0}
    assert any(s["lead"] == top for s in rows)
    cheapest = min(deep_settings.profile_estimate(s) for s in rows)
    assert deep_settings.profile_estimate(rows[0]) == cheapest
    assert rows[0] is deep_settings.choose_settings(summary)
