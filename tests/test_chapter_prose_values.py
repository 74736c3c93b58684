"""The values Chapters 3, 4 and 5 glue into their prose, against independent computations."""
from __future__ import annotations

import math

import pytest

from kdlib.chapters import hard_labels, margin, soft_labels


def test_hard_constant_gaps_match_the_closed_forms():
    gaps = hard_labels.constant_gaps()
    # (3/2) ln 2 = 1.0397...; ln 2 / (2 (1 - ln 2)) = 0.69315 / 0.61371 = 1.12945
    assert gaps["hard_loss_overshoot_pct"] == pytest.approx(3.972, abs=1e-3)
    assert gaps["hard_steps_extra_pct"] == pytest.approx(12.945, abs=1e-3)


def _theory_record(z_abs_max, init_kl, ratios):
    rows = [{"kind": "teacher", "z_abs_max": z_abs_max, "init_kl": init_kl}]
    rows += [{"kind": "train", "mode": "soft", "width": 16, "seed": s, "lemma3_max_ratio": r} for s, r in enumerate(ratios)]
    rows += [{"kind": "train", "mode": "hard", "width": 16, "seed": 0, "lemma3_max_ratio": 9.0}]
    return {"config": {}, "rows": rows}


def test_soft_prose_values_take_extremes_over_tasks_and_soft_runs_only():
    v = soft_labels.prose_values([_theory_record(0.05, 1e-4, [0.1, 0.2]), _theory_record(0.07, 3e-4, [0.05])])
    assert v == {"soft_z_abs_max": 0.07, "soft_init_kl_max": 3e-4, "soft_lemma3_lo": 0.05, "soft_lemma3_hi": 0.2}
    with pytest.raises(ValueError):
        soft_labels.prose_values([])


def _margin_record(task, n, gamma, noise=0.0):
    return {"config": {"task": task, "n": n}, "rows": [{"task": task, "n": n, "gamma": gamma, "noise_variance": noise}]}


def test_margin_prose_values_recover_a_power_law():
    k = 0.4
    size = [_margin_record(t, n, c * n ** -k) for t, c in (("full", 1.0), ("reduced", 1.2)) for n in (500, 1000, 2000)]
    size.append(_margin_record("full", 500, 0.5, noise=0.1))  # noisy records are ignored
    support = {"rows": [{"support_p": [0.5, 0.3, 0.2]}]}
    teacher = {"rows": [{"p_kernel": p, "p_512": q, "z_kernel": math.log(p / (1 - p)), "y": y}
                        for p, q, y in ((0.49, 0.1, -1.0), (0.505, 0.9, 1.0), (0.51, 0.95, 1.0), (0.495, 0.2, -1.0))]}
    v = margin.prose_values(size, support, teacher, n_top=2)
    assert v["margin_n_exponent"] == pytest.approx(k)
    assert v["margin_doubling_lo"] == pytest.approx(2 ** -k) and v["margin_doubling_hi"] == pytest.approx(2 ** -k)
    assert v["margin_reduced_gain_lo"] == pytest.approx(0.2) and v["margin_reduced_gain_hi"] == pytest.approx(0.2)
    assert v["margin_gamma_largest_full"] == pytest.approx(2000 ** -k)
    assert v["margin_gamma_inv4"] == pytest.approx(2000 ** (4 * k))
    assert v["margin_top1_weight"] == pytest.approx(0.5) and v["margin_top_weight"] == pytest.approx(0.8)
    assert v["margin_kernel_p_dev_max"] == pytest.approx(0.01)
    assert v["margin_teacher_agreement"] == 1.0 and v["margin_teacher_spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        margin.prose_values([r for r in size if r["config"]["task"] == "full"], support, teacher)
