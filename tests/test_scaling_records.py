"""Chapter 6's stored records (results/scaling_gamma/, results/scaling/) that the chapter's frontier
reads: every dataset's certified gamma, and for the MNIST pairs (whose frontier records read their
``scaling`` record) every m* against the per-width outcomes it was read from."""
from __future__ import annotations

import math

import pytest

from kdlib.experiments import frontier, scaling, scaling_gamma
from kdlib.results import ResultStore, config_key

FRONTIER = frontier.sweep_configs()
#: the scaling records the frontier reads: those of its MNIST pairs (planted sets run on the circle)
CONFIGS = [c.scaling_config() for c in FRONTIER if not c.circle]


@pytest.fixture(scope="module")
def store():
    """The repository's store (whatever KDLIB_RESULTS says)."""
    from pathlib import Path

    return ResultStore(Path(__file__).resolve().parent.parent / "results")


def test_the_frontier_reads_the_mnist_pairs_scaling_records_of_the_default_sweep():
    """scaling.sweep_configs() (what ``python -m kdlib.experiments.scaling`` computes) is exactly
    what the frontier reads: one record per MNIST pair and regime, none for planted data."""
    assert CONFIGS and all(c.gamma.dataset == "mnist" for c in CONFIGS)
    assert len(CONFIGS) == len(scaling.DEFAULT_PAIRS) * len(scaling.REGIMES)
    assert sorted(config_key(scaling.NAME, c) for c in scaling.sweep_configs()) == \
        sorted(config_key(scaling.NAME, c) for c in CONFIGS)


@pytest.mark.parametrize("g", scaling.gamma_configs(FRONTIER), ids=lambda g: g.label)
def test_every_dataset_has_a_certified_gamma_within_ten_percent(store, g):
    rec = store.load(scaling_gamma.NAME, g)
    assert rec is not None, f"no stored gamma record for {g.label}"
    r = rec["rows"][0]
    assert 0 < r["ci_lo"] <= r["ci_hi"]
    assert r["rel_width"] <= 0.10, (g.label, r["rel_width"])
    assert r["rel_width"] == pytest.approx((r["ci_hi"] - r["ci_lo"]) / (0.5 * (r["ci_lo"] + r["ci_hi"])))
    if g.dataset == "planted":
        # every point has y z* >= t, and v* is admissible: gamma >= t, so the upper end reaches t
        assert r["planted_min_margin"] >= g.t
        assert r["ci_hi"] >= r["planted_min_margin"]
        assert r["method"].startswith("exact") == (g.d == 2)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.regime}-{c.gamma.label}")
def test_every_m_star_is_the_smallest_width_that_reached(store, cfg):
    rec = store.load(scaling.NAME, cfg)
    assert rec is not None, f"no stored record for {cfg.regime} {cfg.gamma.label}"
    grow = store.load(scaling_gamma.NAME, cfg.gamma)["rows"][0]
    assert rec["provenance"]["gamma_record"] == store.path(scaling_gamma.NAME, cfg.gamma).stem
    widths = list(cfg.widths)
    seen = set()
    for r in rec["rows"]:
        seen.add((r["mode"], r["eps"], r["seed"]))
        assert r["gamma_lo"] == grow["ci_lo"] and r["gamma_hi"] == grow["ci_hi"]
        ok = [None if v is None else v >= 0 for v in r["first_step"]]
        assert ok == r["success"]
        assert r["m_star"] == scaling.smallest_width(widths, ok)
        assert r["censored"] == (r["m_star"] is None)
        if r["m_star"] is not None:
            k = widths.index(r["m_star"])
            assert 0 <= r["steps_at_m_star"] <= cfg.max_steps
            assert all(s is not True for s in ok[:k])  # no smaller width reached
        if r["regime"] == "theory" and r["mode"] == "hard":
            L = math.log(2 / (math.log(2) ** 2 * r["eps"]))
            assert r["B"] == pytest.approx(2 * L / min(grow["ci_lo"], 1.0))
    assert seen == {(m, e, s) for m in scaling.MODES for e in cfg.eps for s in cfg.seeds}
