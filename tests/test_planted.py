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
    lo, hi = e.certified_interval()
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


# ---------------------------------------------------------------- exact gamma in two dimensions
def _two_points(theta: float):
    x = torch.tensor([[1.0, 0.0], [math.cos(theta), math.sin(theta)]], dtype=torch.float64)
    return x, torch.tensor([1.0, -1.0], dtype=torch.float64)


@pytest.mark.parametrize("theta", [0.02, 0.3, 1.5])
def test_two_points_gamma_by_hand(theta):
    """Two unit inputs at angle theta with opposite labels. By the symmetry that swaps them (and the
    labels) the dual optimum is p = (1/2, 1/2); over the direction of z both masks are on with
    probability (pi - theta)/(2 pi) (||g|| = sin(theta/2)) and exactly one with probability
    theta/pi (||g|| = 1/2), so gamma = ((pi - theta) sin(theta/2) + theta) / (2 pi)."""
    from kdlib.margin_2d import certify_gamma_2d, solve_gamma_2d

    x, y = _two_points(theta)
    by_hand = ((math.pi - theta) * math.sin(theta / 2) + theta) / (2 * math.pi)
    c = certify_gamma_2d(x, y, torch.tensor([0.5, 0.5]))
    assert c.upper == pytest.approx(by_hand, rel=1e-12)
    assert c.lower == pytest.approx(by_hand, rel=1e-12)  # both margins equal F: zero duality gap
    s = solve_gamma_2d(x, y, sides=256)
    assert s.lower <= by_hand * (1 + 1e-9) and s.upper >= by_hand * (1 - 1e-9)
    assert s.relative_width() < 2e-4


def test_exact_certificate_matches_monte_carlo():
    """F(p) and every witness margin m_i(p) summed over the arcs against plain Monte Carlo over z."""
    from kdlib.margin_2d import certify_gamma_2d

    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.where(torch.rand(40, generator=g) > 0.5, 1.0, -1.0).to(torch.float64)
    p = torch.rand(40, generator=g, dtype=torch.float64)
    c = certify_gamma_2d(x, y, p)
    z = torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    M = (z @ x.T > 0).to(torch.float64)
    G = (M * (c.p * y)) @ x
    nr = G.norm(dim=1)
    assert abs(float(nr.mean()) - c.upper) <= 5 * float(nr.std()) / math.sqrt(len(nr))
    vals = y * (M * ((G / nr[:, None]) @ x.T))
    se = vals.std(0) / math.sqrt(len(nr))
    assert torch.all((vals.mean(0) - c.margins).abs() <= 5 * se)
    assert float((c.margins.max() - c.margins.min())) > 20 * float(se.max())  # the check has power


def test_exact_interval_on_planted_data():
    """On planted 2-D data: the exact interval is narrow, reaches t or above (v* is admissible with
    margin >= t, so gamma >= t), and agrees with kdlib.margin.estimate_gamma's Monte-Carlo interval."""
    from kdlib.margin_2d import solve_gamma_2d

    t = 0.02
    d = planted_dataset(2, 80, t, J=2, seed=0, aligned=False)
    s = solve_gamma_2d(d.x, d.y, sides=256)
    assert s.upper >= float((d.y * d.z).min()) >= t
    assert s.lower <= s.upper and s.relative_width() < 1e-3
    e = estimate_gamma(d.x.float(), d.y.float(), n_z=1024, n_eval=4096, steps=200)
    lo, hi = e.certified_interval()
    assert lo <= s.upper and s.lower <= hi


@pytest.mark.parametrize("kw, msg", [
    (dict(x=torch.ones(3, 3)), "n x 2"),
    (dict(sides=2), "sides must be"),
])
def test_exact_2d_bad_input(kw, msg):
    from kdlib.margin_2d import solve_gamma_2d

    x, y = _two_points(0.5)
    args = {"x": x, "y": y, **kw}
    if args["x"].shape[0] != args["y"].shape[0]:
        args["y"] = torch.ones(args["x"].shape[0])
    with pytest.raises(ValueError, match=msg):
        solve_gamma_2d(args.pop("x"), args.pop("y"), **args)
