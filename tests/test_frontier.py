"""Chapter 6's frontier (kdlib.experiments.frontier): m*(T) from T*(m), the cap rule, the parameters, a record."""
import dataclasses
import math

import pytest

from kdlib.experiments import frontier
from kdlib.experiments.scaling import GammaConfig
from kdlib.results import ResultStore, config_key
from kdlib.sweep import run_sweep

WIDTHS = [2, 4, 8, 16, 32]


def test_mstar_from_a_hand_made_table():
    # T*(m): width 2 censored, 4 at step 500, 8 at 120, 16 not needed (None), 32 at 40
    first = [-1, 500, 120, None, 40]
    want = {0: None, 39: None, 40: 32, 119: 32, 120: 8, 499: 8, 500: 4, 10**6: 4}
    for T, m in want.items():
        assert frontier.mstar_at(WIDTHS, first, T) == m
    assert frontier.frontier_curve(WIDTHS, first) == [(40, 32), (120, 8), (500, 4)]
    assert frontier.envelope(WIDTHS, first) == [None, 500, 120, 120, 40]
    # every budget: the curve's m* is mstar_at's
    for T in range(0, 700, 7):
        steps = [m for t, m in frontier.frontier_curve(WIDTHS, first) if t <= T]
        assert (steps[-1] if steps else None) == frontier.mstar_at(WIDTHS, first, T)
    with pytest.raises(ValueError, match="widths"):
        frontier.mstar_at(WIDTHS, first[:3], 10)


def test_cap_rule_on_a_hand_made_sequence():
    inf = math.inf
    assert frontier.cap_rule([inf, inf, inf]) is None          # censored medians never converge
    assert frontier.cap_rule([inf, 64, 32, 32, 16]) == 3       # the first repeat of a finite median
    assert frontier.cap_rule([64, 32, 16]) is None
    assert frontier.cap_rule([8]) is None
    assert [frontier.next_cap(c, 4.0) for c in (900, 3600, 1)] == [3600, 14400, 4]
    assert frontier.next_cap(10, 1.01) == 11


@pytest.mark.parametrize("bad, match", [
    (dict(cap=0), "cap"), (dict(cap=900, max_cap=100), "max_cap"), (dict(growth=1.0), "growth"),
    (dict(growth=0.5), "growth"), (dict(eps=(0.05, 1.0)), "eps"), (dict(eps=(0.0,)), "eps"),
    (dict(gamma=GammaConfig(dataset="mnist", digits=(3, 5)), cap=900, max_cap=3600), "budget"),
])
def test_bad_parameters_write_nothing(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        frontier.Config(**bad)
    store = ResultStore(tmp_path)
    good = frontier.Config(gamma=GammaConfig(t=0.032), regime="practice", widths=(2, 4), seeds=(0,))
    with pytest.raises(ValueError, match=match):
        run_sweep(frontier, [good, {**dataclasses.asdict(good), **bad}], executor="serial", store=store,
                  progress=False)
    assert not list(tmp_path.rglob("*.json"))


def test_one_stored_record_regenerates():
    """The practice-regime record of the planted set t = 0.032 regenerates: the same T*(m) at every width,
    seed, label kind and target, within one step (float64 on the same CPU gives the same steps; another
    BLAS may round a sum differently), the same caps and rule, the same T*(inf)."""
    cfg = [c for c in frontier.sweep_configs() if c.circle and c.regime == "practice" and c.gamma.t == 0.032][0]
    rec = ResultStore().load(frontier.NAME, cfg)
    if rec is None:
        pytest.skip(f"record {config_key(frontier.NAME, cfg)} not in the store")
    out = frontier.run(cfg)
    assert len(out.rows) == len(rec["rows"])
    for a, b in zip(out.rows, rec["rows"]):
        assert (a["mode"], a["eps"], a["seed"], a["caps"], a["rule"]) == (b["mode"], b["eps"], b["seed"], b["caps"],
                                                                          b["rule"])
        assert a["kernel_first"] == b["kernel_first"]
        for x, y in zip(a["first_step"], b["first_step"]):
            assert (x is None) == (y is None)
            if x is not None:
                assert (x < 0) == (y < 0) and abs(x - y) <= 1
