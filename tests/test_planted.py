"""Planted-margin data (kdlib.planted): closed form, margins, certified gamma, bad input."""
import math

import pytest
import torch

from kdlib.margin import estimate_gamma
from kdlib.planted import (monte_carlo_logit, planted_dataset, planted_direction, planted_logit)


@pytest.mark.parametrize("aligned", [True, False])
def test_closed_form_matches_monte_carlo(aligned):
    dr = planted_direction(6, 3, seed=4, aligned=aligned)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    exact = planted_logit(dr, x)
    mc, se = monte_carlo_logit(dr, x, n_z=400_000, seed=2)
    assert torch.all((exact - mc).abs() <= 5 * se + 1e-12), (exact - mc).abs() / se
    # and the estimate is not trivially zero: the check has power
    assert float(exact.abs().max()) > 20 * float(se.max())


def test_direction_is_admissible():
    dr = planted_direction(5, 7, seed=1, aligned=False)
    z = torch.randn(5000, 5, dtype=torch.float64)
    assert float(dr(z).norm(dim=1).max()) <= 1.0 + 1e-12


@pytest.mark.parametrize("t", [0.005, 0.03])
def test_every_point_has_margin_t(t):
    d = planted_dataset(8, 200, t, J=4, seed=3, aligned=False)
    assert len(d) == 200
    assert float((d.y * d.z).min()) >= t
    assert torch.allclose(d.x.norm(dim=1), torch.ones(200, dtype=torch.float64))
    assert torch.allclose(d.z, planted_logit(d.direction, d.x))
    assert set(d.y.tolist()) == {-1.0, 1.0}


def test_certified_gamma_reaches_t():
    t = 0.03
    d = planted_dataset(6, 120, t, J=2, seed=0, aligned=False)
    e = estimate_gamma(d.x.float(), d.y.float(), n_z=2048, steps=200)
    lo, hi = e.interval(3.0)
    # weak duality: v* is admissible with margin >= t, so gamma >= t; the upper end must see it
    assert hi >= t
    # and the estimate is a real interval around gamma (lower end within the interval's error of gamma)
    assert lo <= hi


@pytest.mark.parametrize("kw, msg", [
    (dict(d=5, n=10, t=0.0), "t must be"),
    (dict(d=5, n=10, t=-0.1), "t must be"),
    (dict(d=5, n=10, t=0.6), "unreachable"),
    (dict(d=1, n=10, t=0.01), "d \\(the input dimension\\)"),
    (dict(d=5, n=0, t=0.01), "n \\(the number of points\\)"),
])
def test_bad_parameters(kw, msg, tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path))
    with pytest.raises(ValueError, match=msg):
        planted_dataset(**kw)
    assert list(tmp_path.iterdir()) == []


def test_threshold_above_reach_says_so():
    with pytest.raises(ValueError, match="largest \\|z\\*\\| seen"):
        planted_dataset(20, 50, 0.3, J=8, seed=0, max_draws=20000)


def test_single_class_is_an_error():
    # J = 1, aligned: z* = a (pi - theta) / (2 pi) cos(theta) is positive only on one side of r;
    # near its maximum 1/2 only the side a cos > 0 survives
    with pytest.raises(ValueError, match="same label"):
        planted_dataset(3, 20, 0.4, J=1, seed=0)
