"""kdlib.bounds against the formulas evaluated by hand, and monotonicity.

Reference values below were evaluated independently of kdlib (by hand from the
printed formulas, with a calculator's precision); tolerance: relative 1e-6.
"""
from __future__ import annotations

import math

import pytest

from kdlib import bounds

REL = 1e-6


def test_constants():
    # C1 = 96 / (1 + e^2) = 96 / 8.38905609... = 11.44348...
    assert bounds.C1 == pytest.approx(11.443480514, rel=REL)
    assert bounds.C2 == pytest.approx(366.191376452, rel=REL)


def test_theorem2_by_hand():
    # n=50, delta=0.1: ln(1000) = 6.907755; bracket = 0.797885 + 3 * 2.628261 = 8.682667
    r = bounds.theorem2(50, 1.0, 0.5, 0.1)
    assert bounds.soft_bracket(50, 1.0, 0.1) == pytest.approx(8.682667215, rel=REL)
    assert r.width == pytest.approx(1725.418467, rel=REL)  # (11.44348 / 0.5) * 8.682667^2
    assert r.min_width == 1726
    assert r.lr == pytest.approx(0.5 / 3)
    assert r.steps == pytest.approx(36.0)  # 9 / 0.25
    assert r.radius == 1.0
    assert r.confidence == pytest.approx(0.7)


def test_theorem2_steps_corrected_vs_printed():
    # at eta = beta/3 both forms ask for 9/beta^2; for a smaller step only the corrected one grows
    beta = 0.1
    assert bounds.theorem2(10, 1.0, beta, 0.1, form="printed").steps == pytest.approx(900.0)
    assert bounds.theorem2(10, 1.0, beta, 0.1, form="corrected").steps == pytest.approx(900.0)
    small = beta / 30
    assert bounds.theorem2(10, 1.0, beta, 0.1, eta=small, form="printed").steps == pytest.approx(900.0)
    assert bounds.theorem2(10, 1.0, beta, 0.1, eta=small, form="corrected").steps == pytest.approx(9000.0)
    with pytest.raises(ValueError, match="beta/3"):
        bounds.theorem2(10, 1.0, beta, 0.1, eta=0.05)


def test_theorem2_our_proof_is_smaller_than_printed():
    for n in (10, 1000, 60000):
        for beta in (0.5, 0.01):
            ours = bounds.theorem2_width_our_proof(n, 1.0, beta, 0.1)
            assert ours < bounds.theorem2(n, 1.0, beta, 0.1).width
    # by hand: n=50, beta=0.5: (3/2) * (0.797885 + 2 * 2.628261)^2 = 1.5 * 6.054407^2 = 54.98375
    assert bounds.theorem2_width_our_proof(50, 1.0, 0.5, 0.1) == pytest.approx(54.983754, rel=1e-6)


def test_corollary4_by_hand():
    # gamma = 0.5, eps = 0.2 -> beta = 0.25 * 0.2 / 32 = 1/640
    cor = bounds.corollary4(50, 1.0, 0.5, 0.2, 0.1)
    assert cor.loss_target == pytest.approx(1 / 640)
    assert cor.width == pytest.approx(552133.90949, rel=REL)
    assert cor.lr == pytest.approx(0.000520833333, rel=REL)  # gamma^2 eps / 96
    assert cor.steps == pytest.approx(3686400.0, rel=REL)  # 9216 / (gamma^4 eps^2)
    pr = bounds.corollary4(50, 1.0, 0.5, 0.2, 0.1, form="printed")
    assert pr.width == pytest.approx(cor.width, rel=REL)
    assert pr.lr == pytest.approx(0.05 / 3, rel=REL)
    assert pr.steps == pytest.approx(3600.0, rel=REL)
    # the corrected form is Theorem 2 at beta = gamma^2 eps / 32
    th = bounds.theorem2(50, 1.0, 1 / 640, 0.1)
    assert (th.width, th.lr, th.steps) == pytest.approx((cor.width, cor.lr, cor.steps), rel=1e-9)


def test_proposition5_by_hand():
    # gamma = 0.5, beta = 0.1, c = 0.5, n = 50, delta = 0.1: L = ln(2 / (0.0693147)) = 3.3622452
    r = bounds.proposition5(50, 0.5, 0.5, 0.1, 0.1)
    assert bounds.proposition5_log(0.1) == pytest.approx(3.362245194, rel=REL)
    assert r.radius == pytest.approx(13.44898078, rel=REL)
    assert r.steps == pytest.approx(5218.951732, rel=REL)
    assert r.width == pytest.approx(88713.590987, rel=REL)
    assert r.error_target == pytest.approx(0.1 / math.log(2))
    e = bounds.proposition5_for_error(50, 0.5, 0.5, 0.1 / math.log(2), 0.1)
    assert e.width == pytest.approx(r.width, rel=1e-9)


def test_lemma3_and_lemma6():
    assert bounds.lemma3_factor(0.1) == pytest.approx(3200.0)
    assert bounds.lemma3_error_bound(1e-5, 0.1) == pytest.approx(0.032)
    assert bounds.lemma3_error_bound(1.0, 0.1) == 1.0
    # ln(2 * 50 / 0.1) = ln(1000): sqrt(2 * 6.907755 / 100) in both forms (the printed radius holds);
    # Hoeffding over m/2 rows gives sqrt(4 * 6.907755 / 100)
    assert bounds.lemma6_radius(50, 100, 0.1) == pytest.approx(0.371692, rel=1e-5)
    assert bounds.lemma6_radius(50, 100, 0.1, form="printed") == pytest.approx(0.371692, rel=1e-5)
    assert bounds.lemma6_hoeffding_radius(50, 100, 0.1) == pytest.approx(0.525652, rel=1e-5)


def _three_point_tail(k: int, s: float, a: float = 0.0) -> float:
    """Exact ``P(|mean of k i.i.d. T - E T| >= s)`` for the three-point law T on {-1, 0, 1} with
    ``P(0) = 1/2``, ``P(+-1) = (1 +- a)/4`` (the extremal law of Lemma 6's proof), by convolution."""
    import numpy as np

    law = np.array([(1 - a) / 4, 0.5, (1 + a) / 4])  # values -1, 0, 1
    dist = np.array([1.0])
    for _ in range(k):
        dist = np.convolve(dist, law)
    sums = np.arange(-k, k + 1)
    return float(dist[np.abs(sums / k - a / 2) >= s - 1e-12].sum())


@pytest.mark.parametrize("delta", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("a", [0.0, 0.5])
def test_lemma6_printed_radius_holds_for_the_extremal_three_point_law(delta: float, a: float) -> None:
    """The proof's extremal case, one point (n = 1): f_i^0(U) is the mean of m/2 independent terms that
    vanish on half the directions. At the printed radius the exact tail probability stays below delta for
    every even m up to 200; the Hoeffding radius is sqrt 2 larger and its tail far smaller still.
    A radius 40 % below the printed one fails for some m (so the check can fail)."""
    worst = worst_small = 0.0
    for m in range(2, 201, 2):
        r = bounds.lemma6_radius(1, m, delta)
        p = _three_point_tail(m // 2, r, a)
        assert p <= delta, (m, p)
        assert _three_point_tail(m // 2, bounds.lemma6_hoeffding_radius(1, m, delta), a) <= p
        worst = max(worst, p / delta)
        worst_small = max(worst_small, _three_point_tail(m // 2, 0.6 * r, a) / delta)
    assert worst <= 0.35  # exact tails at most about a third of delta here
    assert worst_small > 1.0 or delta > 0.1


def test_lemma6_subgaussian_proxy_of_the_three_point_law_is_one_half() -> None:
    """The key step: for every mean, ln E exp(lambda (T - E T)) <= lambda^2 / 4 (variance proxy 1/2)."""
    import numpy as np

    lam = np.linspace(1e-3, 40.0, 20001)
    for a in np.linspace(-1.0, 1.0, 81):
        mu = a / 2
        mgf = 0.5 * np.exp(-lam * mu) + (1 + a) / 4 * np.exp(lam * (1 - mu)) + (1 - a) / 4 * np.exp(-lam * (1 + mu))
        assert bool((np.log(mgf) <= lam**2 / 4 + 1e-12).all()), a


@pytest.mark.parametrize("form", bounds.FORMS)
def test_monotone_in_gamma_and_eps(form):
    """Smaller gamma or eps never asks for fewer neurons (nor fewer steps)."""
    gammas = [1.0, 0.5, 0.2, 0.1, 0.03, 0.01, 0.001]
    epss = [0.5, 0.2, 0.1, 0.03, 0.01, 0.001]
    for eps in epss:
        for fn in (bounds.corollary4, bounds.proposition5_for_error):
            widths = [fn(1000, 1.0, g, eps, 0.05, form=form).width for g in gammas]
            steps = [fn(1000, 1.0, g, eps, 0.05, form=form).steps for g in gammas]
            assert all(b >= a for a, b in zip(widths, widths[1:]))
            assert all(b >= a for a, b in zip(steps, steps[1:]))
    for g in gammas:
        for fn in (bounds.corollary4, bounds.proposition5_for_error):
            widths = [fn(1000, 1.0, g, e, 0.05, form=form).width for e in epss]
            assert all(b >= a for a, b in zip(widths, widths[1:]))
    betas = [0.9, 0.5, 0.1, 0.01, 1e-4]
    w = [bounds.theorem2(1000, 1.0, b, 0.05, form=form).width for b in betas]
    assert all(b >= a for a, b in zip(w, w[1:]))


def test_monotone_in_n_delta_c():
    assert bounds.theorem2(10, 1.0, 0.1, 0.1).width < bounds.theorem2(10_000, 1.0, 0.1, 0.1).width
    assert bounds.theorem2(10, 1.0, 0.1, 0.2).width < bounds.theorem2(10, 1.0, 0.1, 0.01).width
    assert bounds.proposition5(10, 1.0, 0.1, 0.1, 0.1).width < bounds.proposition5(10, 0.5, 0.1, 0.1, 0.1).width


def test_soft_wins_when_gamma_below_eps():
    # the headline: soft needs fewer neurons on hard-to-separate data (gamma << eps)
    assert bounds.soft_wins(1000, 1.0, 0.01, 0.1, 0.1)
    assert not bounds.soft_wins(1000, 1.0, 0.5, 0.01, 0.1)
    assert bounds.headline_order("hard", 0.1, math.exp(-3)) == pytest.approx(9 / 1e-4)
    assert bounds.headline_order("hard", 0.1, math.exp(-3), form="printed") == pytest.approx(3 / 1e-4)
    assert bounds.headline_order("soft", 0.1, 0.5) == pytest.approx(200.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: bounds.theorem2(0, 1.0, 0.1, 0.1),
        lambda: bounds.theorem2(10, 0.0, 0.1, 0.1),
        lambda: bounds.theorem2(10, 1.0, 1.5, 0.1),
        lambda: bounds.theorem2(10, 1.0, 0.1, 0.4),
        lambda: bounds.theorem2(10, 1.0, 0.1, 0.1, form="typo"),
        lambda: bounds.corollary4(10, 1.0, 0.0, 0.1, 0.1),
        lambda: bounds.corollary4(10, 1.0, 2.0, 0.1, 0.1),
        lambda: bounds.proposition5(10, 1.0, 0.1, 0.1, 0.1, eta=2.0),
        lambda: bounds.lemma6_radius(10, 1, 0.1),
        lambda: bounds.headline_order("mixed", 0.1, 0.1),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()


def test_even_ceil():
    assert bounds.even_ceil(0.3) == 2
    assert bounds.even_ceil(3.0) == 4
    assert bounds.even_ceil(4.0) == 4
    assert bounds.even_ceil(4.01) == 6


def _kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _sigmoid(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u))


def test_corollary4_iterations_grow_as_the_step_shrinks_against_slip8():
    """Corollary 4 as corrected asks for T >= 96 / (eta gamma^2 eps), 9216 / (gamma^4 eps^2) at the largest
    step, so eta T is the same for every step. Slip 8's example shows why T cannot stay fixed: every
    gradient of the soft loss has Frobenius norm <= 1 and the projection does not move W(0), so
    ||W(t) - W(0)||_F <= eta t, and |f(x; W) - f(x; W(0))| <= ||W - W(0)||_F ||x|| with f(x; W(0)) = 0.
    A point with teacher logit z_i >= gamma then keeps a KL of at least KL(sigma(gamma) || sigma(eta T)) on
    every iterate, so the averaged KL of the first T steps exceeds beta = gamma^2 eps / 32 once eta T is
    small: with T fixed at the largest step's count, the printed form's promise fails for small steps."""
    n, c, gamma, eps, delta = 1000, 1.0, 0.1, 0.1, 0.1
    top = bounds.corollary4(n, c, gamma, eps, delta)
    beta = top.loss_target
    assert beta == pytest.approx(gamma**2 * eps / 32)
    assert top.lr == pytest.approx(gamma**2 * eps / 96)
    assert top.steps == pytest.approx(9216 / (gamma**4 * eps**2))
    previous = top.steps
    for k in (2.0, 10.0, 1e3, 1e8):
        r = bounds.corollary4(n, c, gamma, eps, delta, eta=top.lr / k)
        assert r.steps == pytest.approx(96 / (r.lr * gamma**2 * eps)) and r.steps > previous
        assert r.lr * r.steps == pytest.approx(top.lr * top.steps)  # the same distance budget eta T
        assert r.width == top.width
        previous = r.steps
        # T held at the largest step's count: the iterates cannot leave a ball of radius eta T
        reach = (top.lr / k) * top.steps
        kl_floor = _kl(_sigmoid(gamma), _sigmoid(min(reach, gamma)))
        if k >= 1e8:  # eta T = 96 / (gamma^2 eps k) < gamma / 100
            assert kl_floor > beta, (k, kl_floor, beta)  # learns nothing: the fixed T is wrong
    # the printed form keeps T whatever the step, which the floor above refutes
    pr = [bounds.corollary4(n, c, gamma, eps, delta, eta=e, form="printed").steps for e in (1e-4, 1e-9)]
    assert pr[0] == pr[1] == pytest.approx(9 / (gamma**4 * eps**2))
    with pytest.raises(ValueError, match="step size"):
        bounds.corollary4(n, c, gamma, eps, delta, eta=2 * top.lr)


def test_lemma3_our_factor_against_the_printed_one():
    """32/gamma^2 over 2/tanh^2(gamma/2) is 16 tanh^2(gamma/2)/gamma^2: 4 as gamma -> 0, decreasing,
    16 tanh^2(1/2) = 3.42 at gamma = 1 (so at least 3.4 over (0, 1]) and 64 tanh^2(1/4) = 3.84 at 1/2."""
    ratio = [bounds.lemma3_factor(g) / bounds.lemma3_factor_our_proof(g) for g in (1e-4, 0.1, 0.5, 1.0)]
    assert ratio[0] == pytest.approx(4.0, rel=1e-6)
    assert ratio == sorted(ratio, reverse=True)
    assert ratio[2] == pytest.approx(64 * math.tanh(0.25) ** 2) and ratio[3] == pytest.approx(16 * math.tanh(0.5) ** 2)
    assert 3.4 < ratio[3] < 3.45


def test_proposition5_terms_and_where_the_square_dominates():
    """The terms add up to the width's bracket; at n = 3e4, delta = 0.1 the ln^2 term passes the constant
    term near eps = 0.0044 and the cross term only near eps = 5e-6 (a L = b and a L = 2 b)."""
    n, delta = 30_000, 0.1
    for eps in (0.1, 1e-3, 1e-7):
        t = bounds.proposition5_terms(n, 1.0, eps, delta)
        width = bounds.proposition5_for_error(n, 1.0, 0.5, eps, delta).width
        assert width == pytest.approx(16 / 0.5**4 * (t["square"] + t["cross"] + t["constant"]))
    e1 = bounds.proposition5_eps_where(n, 1.0, delta, ratio=1.0)
    e2 = bounds.proposition5_eps_where(n, 1.0, delta, ratio=2.0)
    assert 0.004 < e1 < 0.005 and 4e-6 < e2 < 6e-6
    at = bounds.proposition5_terms(n, 1.0, e1, delta)
    assert at["square"] == pytest.approx(at["constant"]) and at["log_slope"] == pytest.approx(1.0)
    at2 = bounds.proposition5_terms(n, 1.0, e2, delta)
    assert at2["square"] == pytest.approx(at2["cross"])
