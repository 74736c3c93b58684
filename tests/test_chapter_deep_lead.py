"""Chapter 7's cpu2 section (kdlib.chapters.deep_lead): paired leads and gains with standard
errors computed by hand, and a profile that is incomplete shown as such."""
from __future__ import annotations

import math

from kdlib.chapters import deep_lead as ch
from kdlib.experiments import deep


def _rec(v: float, accs: list[tuple[float, float, float]]) -> dict:
    rows = []
    for r, (t, h, s) in enumerate(accs):
        rows += [dict(run=r, model="teacher", mode="hard", test_acc=t, train_seconds=90.0, train_cpu_seconds=60.0),
                 dict(run=r, model="student", mode="hard", test_acc=h, train_seconds=90.0, train_cpu_seconds=60.0),
                 dict(run=r, model="student", mode="soft", test_acc=s, train_seconds=90.0, train_cpu_seconds=60.0)]
    return {"rows": rows, "config": {"noise_variance": v, "runs": len(accs), "profile": "cpu2", "max_epochs": 40}}


def test_lead_and_gain_are_paired_means_with_standard_errors():
    (s,) = ch.lead_rows([_rec(0.01, [(80.0, 72.0, 73.0), (78.0, 74.0, 77.0), (79.0, 70.0, 70.0)])])
    # leads 8, 4, 9: mean 7, sd sqrt(7), se sqrt(7/3); gains 1, 3, 0: mean 4/3, sd sqrt(7/3), se sqrt(7/9)
    assert s["runs"] == 3 and s["lead"] == 7.0 and math.isclose(s["lead_se"], math.sqrt(7 / 3))
    assert math.isclose(s["gain"], 4 / 3) and math.isclose(s["gain_se"], math.sqrt(7 / 9))
    p = deep.PAPER_FIGURE[0.01]
    assert math.isclose(s["paper_lead"], p[0] - p[1]) and math.isclose(s["paper_gain"], p[2] - p[1])


def test_an_incomplete_profile_is_shown_as_such():
    configs = deep.sweep("cpu2")
    recs = [_rec(0.01, [(80.0, 72.0, 73.0), (78.0, 74.0, 77.0)])]
    line = ch.status("cpu2", configs, recs)
    assert line.startswith("cpu2: 1 of 6 noise levels stored (0.01; 2 runs each); missing 0.00, 0.03")
    table = str(ch.lead_table({"cpu2": (configs, recs), "cpu": (configs, [])}))
    assert table.count("not stored") == 2 * 5 + 2 * 6
    vals = ch.prose_values([], recs, configs, [])
    assert vals["cpu_lead_001"] == "—" and vals["cpu2_levels"] == 1 and vals["settings_measured"] == 0
    # leads 8 and 4: mean 6, se 2; gains 1 and 3: mean 2, se 1 -> exactly two standard errors: no gain
    assert (vals["cpu2_lead_001"], vals["cpu2_lead_001_se"]) == (6.0, 2.0)
    assert (vals["cpu2_gain_001"], vals["cpu2_gain_001_se"], vals["cpu2_word_001"]) == (2.0, 1.0, "no clear difference")
    assert vals["cpu2_lead_020"] == "—" and vals["cpu2_word_020"] == "—" and vals["pick_width"] == "—"
    assert vals["cpu2_held_lead_001"] == "—"  # runs 0 and 1 are both runs the measurements saw


def test_gain_words_and_counts_follow_two_standard_errors():
    assert ch.gain_word(2.1, 1.0) == "a gain" and ch.gain_word(-2.1, 1.0) == "a loss"
    assert ch.gain_word(2.0, 1.0) == "no clear difference" and ch.gain_word(1.0, math.nan) == "one run"
    configs = deep.sweep("cpu2")
    recs = [_rec(0.2, [(76.0, 70.0, 73.0), (77.0, 71.0, 74.0), (75.0, 70.0, 72.0), (76.0, 70.0, 73.0)]),
            _rec(0.01, [(80.0, 79.0, 77.0), (81.0, 80.0, 78.0), (80.0, 80.0, 77.0), (79.0, 78.0, 76.0)])]
    vals = ch.prose_values([], recs, configs, [])
    assert vals["cpu2_gains"] == 1 and vals["cpu2_losses"] == 1 and vals["cpu2_word_020"] == "a gain"
    # leads at 0.01: 1, 1, 0, 1 (mean 0.75, se 0.25: more than two se); at 0.2: 6, 6, 5, 6
    assert vals["cpu2_leading"] == 2 and vals["cpu2_lead_min"] == 0.8
    # runs 3 on are those the settings measurements never used
    assert (vals["cpu2_held_first"], vals["cpu2_held_last"], vals["cpu2_held_lead_001"]) == (3, 3, 1.0)
    assert vals["cpu2_held_lead_001_se"] == "—"
    # gains at 0.01: -2, -2, -3, -2: sd 1/2; the paper's gain there g: ceil((2 * 0.5 / g)^2) runs
    p = deep.PAPER_FIGURE[0.01]
    assert vals["cpu2_runs_to_resolve_001"] == math.ceil((2 * 0.5 / (p[2] - p[1])) ** 2)
    assert vals["paper_lead_020"] == round(deep.PAPER_FIGURE[0.2][0] - deep.PAPER_FIGURE[0.2][1], 1)
    assert vals["paper_gain_000"] == "—"  # the paper plots no point for the noise-free set
    assert vals["cpu2_cpu_h"] == round(2 * 4 * 3 * 60.0 / 3600, 2)  # CPU time, not the wall clock
    assert vals["cpu2_teachers"] == 8 and vals["cpu2_teachers_capped"] == 0 and vals["cpu2_teachers_stopped"] == 0
    recs[0]["config"]["max_epochs"] = 20
    recs[0]["rows"][0].update(epochs_run=20, best_epoch=20)
    recs[0]["rows"][3].update(epochs_run=11, best_epoch=6)
    vals = ch.prose_values([], recs, configs, [])
    assert vals["cpu2_teachers_capped"] == 1 and vals["cpu2_teachers_stopped"] == 1


def test_runs_table_marks_the_runs_the_rule_saw():
    from kdlib.experiments import deep_lead_settings

    accs = [(80.0, 72.0, 73.0)] * (deep_lead_settings.MEASURED_RUNS + 2)
    table = str(ch.runs_table([_rec(0.01, accs)]))
    lines = [ln.split() for ln in table.splitlines()[2:]]
    assert [ln[0] for ln in lines] == [str(r) for r in range(len(accs))]
    assert [ln[-1] for ln in lines] == ["yes"] * deep_lead_settings.MEASURED_RUNS + ["no", "no"]
    assert all(ln[4] == "+8.0" and ln[5] == "+1.0" for ln in lines)
    assert "no record" in str(ch.runs_table([_rec(0.2, accs)]))


def test_claims_hold_on_the_stored_records():
    """The section's prose against the stored cpu2 records and settings measurements (all must be stored)."""
    from kdlib.chapters import deep_networks
    from kdlib.experiments import deep_lead
    from kdlib.results import ResultStore

    cpu2_configs, cpu2 = ch.stored(deep_lead.PROFILE)
    _, small = ch.stored("cpu")
    settings = ResultStore().records(deep_lead.NAME)
    assert len(cpu2) == len(cpu2_configs), "Chapter 7's cpu2 records are not all in the store"
    values = ch.prose_values(small, cpu2, cpu2_configs, settings)
    values.update({"cpu2_" + k: v for k, v in deep_networks.knowledge_values(cpu2).items()})
    failed = [name for name, ok in ch.claims(values).items() if not ok]
    assert not failed, f"Chapter 7's cpu2 prose states what the records no longer show: {failed}"
