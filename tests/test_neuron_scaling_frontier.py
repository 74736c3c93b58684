"""Chapter 6's presentation of the frontier (kdlib.chapters.neuron_scaling) on hand-made records."""
import math

from kdlib.chapters import neuron_scaling as ns

W = [2, 4, 8]


def _row(mode, seed, first, lr, cap=100, rule="converged", kernel=5):
    return {"dataset": "toy", "kind": "planted", "regime": "theory", "mode": mode, "eps": 0.1, "seed": seed,
            "lr": lr, "B": 1.0, "widths": W, "first_step": first, "cap": cap, "caps": [cap // 4, cap], "rule": rule,
            "final_error": [0.5, 0.2, 0.1], "kernel_first": kernel, "kernel_steps": kernel,
            "kernel_bind_step": None, "gamma": 0.01, "gamma_lo": 0.01, "teacher_error": 0.0}


def _records():
    # soft (step 0.5): seed 0 needs 8 neurons from step 10 and 4 from step 60; seed 1 needs 2 from step 40
    # hard (step 1): seed 0 needs 2 neurons from step 30; seed 1 needs 8 from step 10, never fewer
    rows = [_row("soft", 0, [-1, 60, 10], 0.5), _row("soft", 1, [40, None, None], 0.5),
            _row("hard", 0, [30, None, None], 1.0), _row("hard", 1, [-1, -1, 10], 1.0)]
    return [{"rows": rows}]


def test_paired_counts_follow_the_budget():
    recs = _records()
    # at the final caps: seed 0 soft 4 vs hard 2 (more), seed 1 soft 2 vs hard 8 (fewer)
    assert ns.paired_final(recs, "theory") == {"fewer": 1, "same": 0, "more": 1, "neither": 0}
    rows = ns.paired_rows(recs, "theory", 0.1, time=False, points=100)
    at = {int(r["budget"]): r for r in rows}
    # budget 10 steps: seed 0 soft 8 vs hard none -> fewer; seed 1 soft none vs hard 8 -> more
    b = min(k for k in at if k >= 10 and k < 30)
    assert (at[b]["fewer"], at[b]["more"]) == (1, 1)
    # budget >= 60 steps: seed 0 soft 4 vs hard 2 -> more; seed 1 soft 2 vs hard 8 -> fewer
    b = max(at)
    assert (at[b]["fewer"], at[b]["same"], at[b]["more"], at[b]["neither"]) == (1, 0, 1, 0)
    # in gradient-flow time the soft student gets twice the steps of the hard one
    rows_t = ns.paired_rows(recs, "theory", 0.1, time=True, points=3)
    assert rows_t[0]["budget"] == 1.0 and rows_t[-1]["budget"] == 50.0


def test_medians_rules_and_censoring():
    recs = _records()
    ser = ns.series(recs)
    soft = ser[("theory", "soft", 0.1, "toy")]
    assert ns.median_at(soft, 100) == 3.0 and ns.median_at(soft, 20) == math.inf  # [4, 2] and [8, None]
    assert ns.rule_counts(recs) == {"converged": 2}
    assert ns.censored_medians(recs) == 0
    c = ns.final_comparison(recs, "theory")
    assert c == {"soft fewer": 1, "equal": 0, "hard fewer": 0, "censored": 0}  # medians 3 against 5


def test_paired_outcome_counts_each_case():
    """Soft against hard on one seed: fewer, same, more, and the censored cases."""
    from kdlib.chapters.neuron_scaling import paired_outcome
    assert paired_outcome(8, 16) == "fewer"
    assert paired_outcome(8, None) == "fewer"      # only soft reaches the target
    assert paired_outcome(None, 8) == "more"       # only hard reaches it
    assert paired_outcome(16, 16) == "same"
    assert paired_outcome(32, 16) == "more"
    assert paired_outcome(None, None) == "neither"


def test_claims_are_strict_only_for_the_default_run():
    """The prose's claims stop the default run when the records contradict them; a rerun with
    other parameters gets the list of claims that do not hold for it (Chapter 6 with only the
    practice regime used to stop with a bare ValueError)."""
    import pytest

    from kdlib.chapters.neuron_scaling import check_claims, is_default_run
    from kdlib.experiments import frontier
    assert is_default_run(frontier.sweep_configs())
    assert not is_default_run(frontier.sweep_configs(regimes=["practice"]))
    values = {"a": 1}
    claims = {"holds": lambda: values["a"] == 1, "fails": lambda: values["a"] == 2,
              "cannot be evaluated": lambda: values["missing"] > 0}
    assert check_claims(claims, strict=False) == ["fails", "cannot be evaluated"]
    with pytest.raises(AssertionError, match="fails; cannot be evaluated"):
        check_claims(claims, strict=True)
    assert check_claims({"holds": claims["holds"]}, strict=True) == []
