"""Chapter 7's cpu2 section (kdlib.chapters.deep_lead): paired leads and gains with standard
errors computed by hand, and a profile that is incomplete shown as such."""
from __future__ import annotations

import math

from kdlib.chapters import deep_lead as ch
from kdlib.experiments import deep


def _rec(v: float, accs: list[tuple[float, float, float]]) -> dict:
    rows = []
    for r, (t, h, s) in enumerate(accs):
        rows += [dict(run=r, model="teacher", mode="hard", test_acc=t),
                 dict(run=r, model="student", mode="hard", test_acc=h),
                 dict(run=r, model="student", mode="soft", test_acc=s)]
    return {"rows": rows, "config": {"noise_variance": v, "runs": len(accs), "profile": "cpu2"}}


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
    text = ch.verdict(recs, configs, [])
    assert "incomplete (0 of 6 stored)" in text and "Only 1 of 6 noise levels" in text
    assert "leads the hard student by 6.0 ± 2.0 points over 2 runs" in text
    # gains 1 and 3: mean 2, se 1 -> exactly two standard errors: not called a gain
    assert "0.01: +2.0 ± 1.0 (within two standard errors of zero)" in text
    assert "No `cpu2` record" in ch.verdict([], configs, [])
    vals = ch.prose_values([], recs, configs, [])
    assert vals["cpu_lead_001"] == "—" and vals["cpu2_lead_001"] == 6.0 and vals["cpu2_levels"] == 1


def test_high_noise_speaks_only_where_the_teacher_leads():
    configs = deep.sweep("cpu2")
    flat = [_rec(0.2, [(70.0, 70.0, 71.0), (70.0, 71.0, 70.0), (71.0, 70.0, 70.0)])]
    assert "cannot test the paper's large high-noise gains" in ch.verdict(flat, configs, [])
    lead = [_rec(0.2, [(76.0, 70.0, 71.0), (77.0, 71.0, 70.0), (75.0, 70.0, 70.0)])]
    assert "speak to the paper's large gains too" in ch.verdict(lead, configs, [])
