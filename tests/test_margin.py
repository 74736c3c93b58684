"""Tests for kdlib.margin: gamma against cases known exactly, invariants, the witness, bad input.

Exact two-point cases (derived in Chapter 3). Two unit inputs at angle theta. Only the
plane of the two matters. With opposite labels,
``||g_p(z)||`` is ``p`` (only x_1 active, probability theta/2pi), ``1-p`` (only x_2,
theta/2pi), ``||p x_1 - (1-p) x_2||`` (both, (pi-theta)/2pi) or 0; the function is
convex and symmetric under ``p <-> 1-p``, so the minimum is at ``p = 1/2``:

    gamma_opp(theta) = theta/(2pi) + (pi - theta)/(2pi) sin(theta/2).
"""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.margin import (
    estimate_gamma,
    teacher_logits,
    witness,
    witness_margins,
)
from kdlib.margin_2d import exact_gamma_2d


def gamma_opp(theta: float) -> float:
    return theta / (2 * math.pi) + (math.pi - theta) / (2 * math.pi) * math.sin(theta / 2)


def two_points(theta: float, d: int = 2) -> torch.Tensor:
    x = torch.zeros(2, d, dtype=torch.float64)
    x[0, 0] = 1.0
    x[1, 0], x[1, 1] = math.cos(theta), math.sin(theta)
    return x


@pytest.mark.parametrize("theta", [math.pi / 6, math.pi / 2, 2.5])
def test_exact_2d_quadrature_matches_hand_formula(theta: float) -> None:
    x = two_points(theta)
    assert abs(exact_gamma_2d(x, torch.tensor([1.0, -1.0])) - gamma_opp(theta)) < 1e-7


@pytest.mark.parametrize("theta,labels", [(math.pi / 3, (1.0, -1.0)), (2.0, (1.0, -1.0)), (1.0, (-1.0, 1.0))])
def test_estimate_brackets_two_point_gamma(theta: float, labels: tuple[float, float]) -> None:
    """Monte-Carlo estimator in d = 5 (extra dimensions do not matter): the certified
    interval (3 standard errors) holds the exact value and is narrow."""
    x = two_points(theta, d=5)
    y = torch.tensor(labels)
    exact = gamma_opp(theta)
    e = estimate_gamma(x, y, n_z=4096, n_eval=40_000, seed=3, steps=100, dtype=torch.float64)
    lo, hi = e.certified_interval()
    assert lo <= exact <= hi, (lo, exact, hi)
    assert hi - lo < 0.05 * exact
    assert abs(float(e.p[0]) - 0.5) < 0.05  # the dual optimum is p = (1/2, 1/2)


def test_three_points_2d_against_quadrature() -> None:
    x = torch.tensor([[1.0, 0.2], [0.3, 1.0], [-0.8, 0.5]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0])
    exact = exact_gamma_2d(x, y)
    e = estimate_gamma(x, y, n_z=4096, n_eval=40_000, seed=0, steps=200, dtype=torch.float64)
    lo, hi = e.certified_interval()
    assert lo <= exact <= hi, (lo, exact, hi)
    assert e.lower <= e.upper + 3 * e.upper_se
    assert e.upper <= e.svm_upper + 3 * e.upper_se  # Jensen: E||g|| <= sqrt(E||g||^2)


def _random_data(n: int = 30, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0)
    return x, y


def test_scaling_scales_gamma() -> None:
    """x -> s x: the masks are unchanged and every quantity scales by s (same draws)."""
    x, y = _random_data()
    a = estimate_gamma(x, y, n_z=1024, n_eval=4096, seed=1, steps=50, dtype=torch.float64)
    b = estimate_gamma(2.5 * x, y, n_z=1024, n_eval=4096, seed=1, steps=50, dtype=torch.float64)
    assert math.isclose(b.upper, 2.5 * a.upper, rel_tol=1e-6)
    assert math.isclose(b.lower, 2.5 * a.lower, rel_tol=1e-6)
    assert math.isclose(b.svm_upper, 2.5 * a.svm_upper, rel_tol=1e-9)


def test_label_flip_changes_nothing() -> None:
    x, y = _random_data()
    a = estimate_gamma(x, y, n_z=1024, n_eval=4096, seed=1, steps=50, dtype=torch.float64)
    b = estimate_gamma(x, -y, n_z=1024, n_eval=4096, seed=1, steps=50, dtype=torch.float64)
    assert math.isclose(a.upper, b.upper, rel_tol=1e-9)
    assert math.isclose(a.lower, b.lower, rel_tol=1e-9)


def test_duplicate_point_changes_nothing() -> None:
    x = torch.tensor([[1.0, 0.2], [0.3, 1.0], [-0.8, 0.5]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0])
    g = exact_gamma_2d(x, y)
    gd = exact_gamma_2d(torch.cat([x, x[1:2]]), torch.cat([y, y[1:2]]))
    assert abs(g - gd) < 1e-8
    # the Monte-Carlo intervals agree too
    a = estimate_gamma(x, y, n_z=2048, n_eval=20_000, seed=2, steps=200, dtype=torch.float64)
    b = estimate_gamma(
        torch.cat([x, x[1:2]]), torch.cat([y, y[1:2]]), n_z=2048, n_eval=20_000, seed=2, steps=200, dtype=torch.float64
    )
    (la, ha), (lb, hb) = a.certified_interval(), b.certified_interval()
    assert la <= hb and lb <= ha


def test_witness_is_admissible_and_teacher_logits_match_margins() -> None:
    x, y = _random_data(20, 5)
    e = estimate_gamma(x, y, n_z=2048, n_eval=8192, seed=0, steps=200, dtype=torch.float64)
    z = torch.randn(500, 5, dtype=torch.float64)
    v = witness(e, z)
    norms = v.norm(dim=1)
    assert bool(((norms - 1).abs() < 1e-9).logical_or(norms == 0).all())
    zl = teacher_logits(e, x, n_z=8192, seed=7).double()
    # y_i z_i are the witness margins; two independent Monte-Carlo estimates agree
    assert bool(((y * zl - e.margins).abs() <= 5 * (e.margins_se * 2**0.5) + 1e-6).all())
    assert float(zl.abs().max()) <= 1.0  # |z_i| <= ||x_i|| = 1


def test_control_variate_is_unbiased_and_smaller() -> None:
    x, y = _random_data(20, 5)
    p = torch.full((20,), 1 / 20, dtype=torch.float64)
    plain = witness_margins(p, x, y, n_z=40_000, seed=4)
    cv = witness_margins(p, x, y, n_z=40_000, seed=4, c=0.3)
    diff = (plain["mean"] - cv["mean"]).abs()
    assert bool((diff <= 5 * (plain["se"] + cv["se"])).all())


@pytest.mark.parametrize(
    "x,y,msg",
    [
        (torch.ones(1, 3), torch.tensor([1.0]), "n = 2"),
        (torch.eye(3), torch.tensor([1.0, 1.0, 1.0]), "single class"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), torch.tensor([1.0, -1.0]), "non-finite"),
        (torch.eye(2), torch.tensor([1.0, 0.0]), "-1 or \\+1"),
    ],
)
def test_bad_data_rejected(x: torch.Tensor, y: torch.Tensor, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        estimate_gamma(x, y, n_z=16)


def test_bad_sample_sizes_rejected() -> None:
    x, y = _random_data(6, 3)
    with pytest.raises(ValueError, match="n_z"):
        estimate_gamma(x, y, n_z=0)
    with pytest.raises(ValueError, match="steps"):
        estimate_gamma(x, y, n_z=16, steps=-1)


def test_small_mnist_interval_is_ordered() -> None:
    from kdlib.data import DataUnavailableError, binary_mnist

    try:
        d = binary_mnist("reduced", limit=200, subset_seed=0)
    except DataUnavailableError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    e = estimate_gamma(d.x, d.y, n_z=2048, n_eval=16_384, steps=200, seed=0)
    lo, hi = e.certified_interval()
    assert 0 < lo <= e.lower <= e.upper <= hi
    assert e.upper <= e.svm_upper + 3 * e.upper_se


# --------------------------------------------------------------------------- experiment configs and records


def test_margin_config_rejects_bad_parameters() -> None:
    from kdlib.experiments import margin as M

    for bad in (dict(n=1), dict(task="cifar"), dict(noise_variance=-0.1), dict(noise_variance=float("nan")),
                dict(n_z=0), dict(n_eval=1), dict(steps=-1)):
        with pytest.raises(ValueError):
            M.Config(**bad)


@pytest.mark.slow
def test_stored_margin_record_regenerates() -> None:
    """The stored record of the noisiest full-task configuration (fast to solve) recomputes within tolerance."""
    from kdlib.data import DataUnavailableError
    from kdlib.experiments import margin as M
    from kdlib.results import ResultStore

    cfg = M.Config(task="full", n=500, noise_variance=0.2)
    rec = ResultStore().load(M.NAME, cfg)
    if rec is None:
        pytest.skip("no stored record for this configuration")
    try:
        out = M.run(cfg)
    except DataUnavailableError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    old, new = rec["rows"][0], out.rows[0]
    # same seeds, same code: equal up to float32 round-off across machines. A record from before the
    # finite-sample certificate holds the asymptotic interval in ci_lo/ci_hi.
    pairs = [(k, k) for k in ("lower", "upper", "svm_upper")]
    if old.get("confidence") is not None:
        pairs += [("ci_lo", "ci_lo"), ("ci_hi", "ci_hi")]
    else:
        pairs += [("ci_lo", "asymptotic_lo"), ("ci_hi", "asymptotic_hi")]
    for k_old, k_new in pairs:
        assert abs(old[k_old] - new[k_new]) <= 2e-4 * abs(old[k_old]), k_old


# --------------------------------------------------------------------------- mirrored (antithetic) draws, early stop


def _direct_margins(p, x, y, z, q):
    """Independent reference: per draw, ``v = g/||g||`` built in R^d, then the masked inner products."""
    G = ((z @ x.T > 0).double() * (p * y)) @ x
    r = G.norm(dim=1, keepdim=True)
    V = torch.where(r > 0, G / r.clamp_min(1e-300), torch.zeros_like(G))
    return ((z @ q.T > 0).double() * (V @ q.T)), r.flatten()


@pytest.mark.parametrize("support,d", [(4, 8), (30, 6)])  # support <= d (Gram path) and > d (R^d path)
@pytest.mark.parametrize("antithetic", [False, True])
def test_witness_margins_equal_a_direct_computation_on_the_same_draws(support: int, d: int, antithetic: bool) -> None:
    x, y = _random_data(30, d, seed=5)
    q = torch.randn(7, d, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    p = torch.zeros(30, dtype=torch.float64)
    p[:support] = torch.rand(support, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    p = p / p.sum()
    n_z = 3000
    z = torch.randn(n_z, d, generator=torch.Generator().manual_seed(11), dtype=torch.float32).double()
    A, r = _direct_margins(p, x, y, z, q)
    h = r
    if antithetic:
        Am, rm = _direct_margins(p, x, y, -z, q)
        A, h = 0.5 * (A + Am), 0.5 * (r + rm)
    out = witness_margins(p, x, y, n_z=n_z, seed=11, queries=q, chunk=1000, antithetic=antithetic)
    assert torch.allclose(out["mean"], A.mean(0), atol=1e-12)
    assert torch.allclose(out["se"], A.std(0) / n_z**0.5, atol=1e-12)
    assert math.isclose(out["norm_mean"], float(h.mean()), rel_tol=1e-12)
    assert math.isclose(out["norm_se"], float(h.std()) / n_z**0.5, rel_tol=1e-9)


@pytest.mark.parametrize("c", [None, 0.3])
def test_mirrored_draws_are_unbiased_and_lower_the_error(c: float | None) -> None:
    """Against plain Monte Carlo with many draws: agreement within 5 standard errors; and, per
    pair, the two halves are negatively correlated (``1(<z,q> > 0) 1(<-z,q> > 0) = 0``), so
    ``n`` pairs beat ``n`` independent draws by more than ``sqrt(2)`` on the margins."""
    x, y = _random_data(20, 5)
    p = torch.full((20,), 1 / 20, dtype=torch.float64)
    plain = witness_margins(p, x, y, n_z=400_000, seed=4, c=c)
    anti = witness_margins(p, x, y, n_z=20_000, seed=5, c=c, antithetic=True)
    same = witness_margins(p, x, y, n_z=20_000, seed=5, c=c)
    z = (plain["mean"] - anti["mean"]).abs() / (plain["se"] ** 2 + anti["se"] ** 2).sqrt()
    assert float(z.max()) < 5, z
    assert abs(plain["norm_mean"] - anti["norm_mean"]) < 5 * math.hypot(plain["norm_se"], anti["norm_se"])
    assert float((anti["se"] / same["se"]).median()) < 0.75


def test_mirrored_solver_equals_the_plain_solver_on_both_draws() -> None:
    """The mirrored solver's bookkeeping (masks 1 - M, ``g(-z) = w - g(z)``) against the plain
    solver given the 2K draws ``z`` and ``-z`` explicitly: same path, same value."""
    from kdlib.margin import _pairwise_fw, _pairwise_fw_mirror
    from kdlib.ntk import limit_kernel

    x, y = _random_data(40, 6, seed=2)
    z = torch.randn(400, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    p0 = torch.rand(40, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    p0[::3] = 0
    p0 = p0 / p0.sum()
    Q = (y[:, None] * y[None, :]) * limit_kernel(x)
    for c in (None, 0.3):
        kw = dict(steps=25, tol=0.0, refresh=7, progress=False, Q=Q if c else None, c=c)
        pa, Fa, _, na, _ = _pairwise_fw_mirror(x, y, p0.clone(), z, slack=None, pairs=1, **kw)
        pb, Fb, _, nb, _ = _pairwise_fw(x, y, p0.clone(), torch.cat([z, -z]), **kw)
        assert na == nb == 25
        assert math.isclose(Fa, Fb, rel_tol=1e-9)
        assert torch.allclose(pa, pb, atol=1e-8)


def test_early_stop_only_below_the_gap_tolerance() -> None:
    """The solver stops before its step budget only once the sample duality gap is <= tol * value;
    with tol = 0 it uses every step, and a tighter tol never stops earlier."""
    x, y = _random_data(40, 6, seed=1)
    kw = dict(n_z=1024, n_eval=4096, seed=0, dtype=torch.float64)
    loose = estimate_gamma(x, y, steps=2000, tol=1e-3, **kw)
    assert loose.steps < 2000
    assert loose.train_gap <= 1e-3 * loose.train_value
    tight = estimate_gamma(x, y, steps=2000, tol=1e-6, **kw)
    assert tight.steps >= loose.steps
    assert tight.steps == 2000 or tight.train_gap <= 1e-6 * tight.train_value
    capped = estimate_gamma(x, y, steps=3, tol=0.0, **kw)
    assert capped.steps == 3 and capped.train_gap > 0


def test_independent_draws_option_still_brackets_two_point_gamma() -> None:
    theta = 1.2
    x, y = two_points(theta, d=4), torch.tensor([1.0, -1.0])
    e = estimate_gamma(x, y, n_z=4096, n_eval=40_000, seed=1, steps=100, dtype=torch.float64, antithetic=False)
    lo, hi = e.certified_interval()
    assert lo <= gamma_opp(theta) <= hi


def test_working_set_reaches_the_same_optimum() -> None:
    """Steps restricted to the support and the near-minimal points, with full evaluations between:
    the stopping rule is checked on all points, so the result solves the same sample problem."""
    from kdlib.margin import _pairwise_fw_mirror
    from kdlib.ntk import limit_kernel

    x, y = _random_data(80, 6, seed=6)
    z = torch.randn(600, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    p0 = torch.full((80,), 1 / 80, dtype=torch.float64)
    Q = (y[:, None] * y[None, :]) * limit_kernel(x)
    kw = dict(steps=5000, tol=1e-7, refresh=20, progress=False, Q=Q, c=0.2)
    pw, Fw, gw, nw, _ = _pairwise_fw_mirror(x, y, p0.clone(), z, slack=0.05, pairs=1, **kw)
    pa, Fa, ga, na, _ = _pairwise_fw_mirror(x, y, p0.clone(), z, slack=None, pairs=1, **kw)
    assert nw < 5000 and na < 5000
    assert gw <= 1e-7 * Fw and ga <= 1e-7 * Fa
    assert abs(Fw - Fa) <= 2e-7 * Fa


def test_blocks_of_pairs_reach_the_same_optimum_and_always_descend() -> None:
    """Several disjoint pairs per pass over the state (margins from the block's start, exact line
    search on the exact current state): every step lowers the sample objective, and the method
    solves the same sample problem as one pair per pass, to the duality-gap tolerance."""
    import kdlib.margin as margin
    from kdlib.margin import _disjoint_pairs, _pairwise_fw_mirror
    from kdlib.ntk import limit_kernel

    x, y = _random_data(256, 6, seed=6)
    z = torch.randn(300, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    p0 = torch.full((256,), 1 / 256, dtype=torch.float64)
    Q = (y[:, None] * y[None, :]) * limit_kernel(x)
    kw = dict(steps=20000, tol=1e-7, refresh=20, progress=False, Q=Q, c=0.2, slack=None)
    sizes: list[int] = []

    def spy(m, on_support, j):
        out = _disjoint_pairs(m, on_support, j)
        sizes.append(len(out))
        return out

    margin._disjoint_pairs = spy
    try:
        pb, Fb, gb, nb, hb = _pairwise_fw_mirror(x, y, p0.clone(), z, pairs=8, **kw)
    finally:
        margin._disjoint_pairs = _disjoint_pairs
    p1, F1, g1, n1, _ = _pairwise_fw_mirror(x, y, p0.clone(), z, pairs=1, **kw)
    assert max(sizes) == 4  # 256 points: one pair per 64 points of the working set
    assert sum(k > 1 for k in sizes) > len(sizes) / 2  # most passes took a block of several pairs
    assert nb < 20000 and gb <= 1e-7 * Fb
    assert abs(Fb - F1) <= 2e-7 * F1
    values = [h[1] for h in hb]  # the sample objective at every full evaluation
    assert all(b <= a * (1 + 1e-12) for a, b in zip(values, values[1:]))
    # the pairs of a block: distinct indices, sources on the support, each pair descending
    m = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.8, 0.2])
    sup = torch.tensor([True, False, True, True, True, False])
    pairs = _disjoint_pairs(m, sup, 4)
    assert pairs == [(1, 2), (5, 4), (3, 0)]
    assert all(bool(sup[a]) and m[a] > m[s] for s, a in pairs)


def test_exact_2d_gamma_is_below_the_dual_value_of_any_weights() -> None:
    """Weak duality on a planted circle set where minimising the arc sum by Frank-Wolfe stalled
    (it returned 0.110): the exact value is at most F(p) for the kernel-SVM dual and for random
    dual weights, and at least the smallest margin of each one's witness."""
    from kdlib.margin import kernel_svm_dual
    from kdlib.margin_2d import certify_gamma_2d
    from kdlib.ntk import limit_kernel
    from kdlib.planted import planted_dataset

    d = planted_dataset(2, 60, 0.01, J=2, seed=0, aligned=False)
    x, y = d.x.double(), d.y.double()
    g = exact_gamma_2d(x, y, sides=1024)
    Q = (y[:, None] * y[None, :]) * limit_kernel(x)
    weights = [kernel_svm_dual(Q)] + [torch.rand(60, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
                                      for s in range(20)]
    for p in weights:
        c = certify_gamma_2d(x, y, p)
        assert c.lower <= g <= c.upper
    assert g < certify_gamma_2d(x, y, weights[0]).upper - 0.005  # well below the kernel-SVM start


def test_dual_weights_rebuilds_the_stored_support() -> None:
    """The gamma record's reader puts each stored weight back at its index, zero elsewhere, and
    renormalises (a record stores the support of p rounded to float: its sum may be off 1)."""
    from kdlib.margin import dual_weights

    p = dual_weights({"support_idx": [3, 0], "support_p": [0.3, 0.9]}, 5)
    assert p.dtype == torch.float64
    assert torch.allclose(p, torch.tensor([0.75, 0.0, 0.0, 0.25, 0.0], dtype=torch.float64))


# --------------------------------------------------------------------------- the finite-sample certificate


def test_empirical_bernstein_radius_against_its_formula_and_hoeffding() -> None:
    """(EB) of kdlib.concentration, checked against the formula written out, and against Hoeffding:
    for samples of small variance it is the narrower one, for a two-point law of variance R^2/4 the wider."""
    from kdlib.concentration import empirical_bernstein_radius, hoeffding_radius

    n, a = 10_000, 0.005
    lg = math.log(2 / a)
    assert math.isclose(empirical_bernstein_radius(0.01, n, 1.0, a), math.sqrt(2 * 0.01 * lg / n) + 7 * lg / (3 * (n - 1)))
    assert empirical_bernstein_radius(0.001, n, 1.0, a) < hoeffding_radius(n, 1.0, a)
    assert empirical_bernstein_radius(0.25, n, 1.0, a) > hoeffding_radius(n, 1.0, a)
    with pytest.raises(ValueError, match="alpha"):
        empirical_bernstein_radius(0.1, n, 1.0, 1.5)
    with pytest.raises(ValueError, match="range"):
        empirical_bernstein_radius(0.1, n, -1.0, 0.1)


def test_certified_interval_covers_the_exact_circle_gamma_over_many_repeats() -> None:
    """Coverage on a case with gamma known exactly: planted points on the circle, where the linear program
    of :func:`solve_gamma_2d` gives gamma and :func:`certify_gamma_2d` the exact targets of each end for
    fixed weights p, ``min_i m_i(p)`` (the lower end's) and ``F(p)`` (the upper end's). Over independent
    fresh draws, each end may miss its target with probability at most (1 - confidence)/2; with 300 repeats
    at confidence 0.9, a binomial(300, 0.05) count exceeds 27 with probability below 1e-4."""
    from kdlib.coverage import certificate_coverage
    from kdlib.margin_2d import certify_gamma_2d, solve_gamma_2d
    from kdlib.planted import planted_dataset

    d = planted_dataset(2, 100, 0.05, J=2, seed=0, aligned=False)
    x, y = d.x.to(torch.float64), d.y.to(torch.float64)
    e = estimate_gamma(x, y, n_z=512, n_eval=1024, steps=100, seed=0, dtype=torch.float64)
    exact = certify_gamma_2d(x, y, e.p)
    gamma = solve_gamma_2d(x, y, sides=1024).gamma
    assert exact.lower <= gamma <= exact.upper
    cov = certificate_coverage(x, y, e.p, n_eval=2048, repeats=300, confidence=0.9)
    assert cov.gamma == pytest.approx(gamma)
    assert cov.lower_misses <= 27 and cov.upper_misses <= 27 and cov.gamma_misses <= 54, cov
    # and not vacuous: at 2,048 mirrored draws the interval is well under gamma wide
    assert cov.max_width < 1.0, cov


def test_certified_interval_is_wider_than_the_asymptotic_one_only_by_its_constants() -> None:
    """Same draws: the certificate's lower end is below the plain-sample point estimate by at least the
    empirical Bernstein radius, and both intervals bracket the two-point gamma."""
    theta = math.pi / 3
    x, y = two_points(theta, d=5), torch.tensor([1.0, -1.0])
    e = estimate_gamma(x, y, n_z=4096, n_eval=40_000, seed=3, steps=100, dtype=torch.float64)
    lo, hi = e.certified_interval(0.99)
    alo, ahi = e.asymptotic_interval(3.0)
    assert lo <= gamma_opp(theta) <= hi and alo <= gamma_opp(theta) <= ahi
    assert lo < float(e.plain_margins.min()) and hi > e.plain_upper
    with pytest.raises(ValueError, match="confidence"):
        e.certified_interval(1.0)
