"""Tests for kdlib.ntk: the closed-form limiting kernel against independent computations."""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.nets import symmetric_init
from kdlib.ntk import angle_from_gram, empirical_ntk, limit_kernel


def _points(n: int = 12, d: int = 6, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype)


def test_hand_values() -> None:
    # unit vectors at 0, 60, 90, 180 degrees: K = cos * (pi - theta) / (2 pi)
    e1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    at60 = torch.tensor([0.5, math.sqrt(3) / 2], dtype=torch.float64)
    e2 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x = torch.stack([e1, at60, e2, -e1])
    K = limit_kernel(x)
    assert K[0, 0] == 0.5
    assert abs(float(K[0, 1]) - 0.5 * (2 / 3) / 2) < 1e-15  # cos 60 = 1/2, (pi - pi/3)/(2 pi) = 1/3
    assert abs(float(K[0, 2])) < 1e-15  # orthogonal
    assert abs(float(K[0, 3])) < 1e-15  # opposite: the half-spaces do not overlap


def test_against_monte_carlo_over_z() -> None:
    """E_z[1(z.x>0) 1(z.x'>0)] <x,x'> by plain Monte Carlo (float64), within 5 standard errors."""
    x = _points(6, 5)
    K = limit_kernel(x)
    g = torch.Generator().manual_seed(1)
    n_z = 200_000
    z = torch.randn(n_z, 5, generator=g, dtype=torch.float64)
    m = (z @ x.T > 0).to(torch.float64)
    both = m.T @ m / n_z  # fraction of draws where both are active
    se = (both * (1 - both) / n_z).sqrt() * (x @ x.T).abs()
    err = (K - both * (x @ x.T)).abs()
    assert bool((err <= 5 * se + 1e-12).all()), float((err / (se + 1e-12)).max())


def test_symmetric_psd_exact_diagonal() -> None:
    x = _points(40, 8, dtype=torch.float32) * 3.0
    K = limit_kernel(x)
    assert torch.allclose(K, K.T, rtol=0, atol=1e-5)  # fp32: x @ x.T is symmetric up to round-off
    assert torch.equal(K.diagonal(), 0.5 * (x * x).sum(1))  # exactly ||x||^2 / 2
    ev = torch.linalg.eigvalsh(K.double())
    assert float(ev.min()) >= -1e-5 * float(ev.max())
    # passing the same tensor as x2 keeps the exact diagonal too
    assert torch.equal(limit_kernel(x, x).diagonal(), K.diagonal())


def test_near_parallel_angles() -> None:
    """Nearly parallel inputs (angle ~1e-4 rad).

    fp64: the Gram-based atan2 angle matches an independent angle computed from the
    vector differences ``2 atan2(||u - v||, ||u + v||)`` to 1e-9 relative.
    fp32: the angle resolution through a Gram matrix is ``sqrt(eps_32) ~ 2.4e-4`` rad,
    so the kernel's error is at most ~``sqrt(eps_32)/pi`` relative (1e-4); the
    diagonal (angle 0) stays exact."""
    x = _points(20, 30)
    x2 = x + 1e-4 * _points(20, 30, seed=5)
    u = x / x.norm(dim=1, keepdim=True)
    v = x2 / x2.norm(dim=1, keepdim=True)
    theta = 2 * torch.atan2((u - v).norm(dim=1), (u + v).norm(dim=1))
    ref = (x * x2).sum(1) * (math.pi - theta) / (2 * math.pi)
    k64 = limit_kernel(x, x2).diagonal()
    assert float(((k64 - ref).abs() / ref.abs()).max()) < 1e-9
    k32 = limit_kernel(x.float(), x2.float()).diagonal().double()
    assert float(((k32 - ref).abs() / ref.abs()).max()) < 1.5e-4
    # the angle of a vector with itself is exactly 0
    assert float(angle_from_gram(torch.ones(3))[0]) == 0.0


def test_cross_kernel_matches_square_block() -> None:
    x = _points(10, 4)
    K = limit_kernel(x)
    Kc = limit_kernel(x[:6], x[4:])
    assert torch.allclose(Kc, K[:6, 4:], rtol=0, atol=1e-7)  # diagonal entries: angle ~1e-8 instead of exactly 0


def test_chunking_does_not_change_result() -> None:
    x = _points(50, 7, dtype=torch.float32)
    K7 = limit_kernel(x, chunk=7)
    assert torch.allclose(K7, limit_kernel(x), rtol=0, atol=1e-5)
    assert torch.equal(K7.diagonal(), 0.5 * (x * x).sum(1))


def test_empirical_ntk_converges_like_one_over_sqrt_m() -> None:
    """Finite-width NTK at the symmetric initialisation -> limit, error ~ 1/sqrt(m)."""
    x = _points(8, 10)
    x = x / x.norm(dim=1, keepdim=True)
    K = limit_kernel(x)
    errs = {}
    for m in (100, 10_000):
        e = []
        for seed in range(8):
            W0, _ = symmetric_init(m, 10, seed=seed, dtype=torch.float64)
            e.append(float((empirical_ntk(W0, x) - K).pow(2).mean().sqrt()))
        errs[m] = sum(e) / len(e)
    ratio = errs[100] / errs[10_000]  # expect sqrt(100) = 10
    assert 5 < ratio < 20, (errs, ratio)


def test_empirical_ntk_equals_formula() -> None:
    """(1/m) sum_j 1(W_j.x>0) 1(W_j.x'>0) <x,x'> written out with a loop."""
    x = _points(4, 3)
    W = _points(6, 3, seed=9)
    K = empirical_ntk(W, x)
    ref = torch.zeros(4, 4, dtype=torch.float64)
    for j in range(6):
        a = (x @ W[j] > 0).to(torch.float64)
        ref += torch.outer(a, a) * (x @ x.T) / 6
    assert torch.allclose(K, ref, atol=1e-14)


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([[1.0, float("nan")]]),
        torch.tensor([[1.0, float("inf")]]),
        torch.zeros(2, 3),
        torch.ones(3),
    ],
)
def test_bad_inputs_rejected(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError):
        limit_kernel(bad)


def test_dimension_mismatch_rejected() -> None:
    with pytest.raises(ValueError):
        limit_kernel(torch.ones(2, 3), torch.ones(2, 4))


def test_kernel_config_rejects_bad_parameters() -> None:
    from kdlib.experiments import kernel

    for bad in (dict(n_train=1), dict(n_conv=1), dict(task="x"), dict(widths=(3,)), dict(seeds=0),
                dict(ridge=0.0), dict(ridge=float("inf"))):
        with pytest.raises(ValueError):
            kernel.Config(**bad)


def test_stored_kernel_record_regenerates() -> None:
    """The convergence rows of the stored reduced-task record recompute exactly (float64, fixed seeds)."""
    from kdlib.data import DataUnavailableError, binary_mnist
    from kdlib.experiments import kernel
    from kdlib.results import ResultStore

    cfg = kernel.Config(task="reduced")
    rec = ResultStore().load(kernel.NAME, cfg)
    if rec is None:
        pytest.skip("no stored record for this configuration")
    try:
        x = binary_mnist("reduced", limit=cfg.n_train, subset_seed=cfg.subset_seed).x[: cfg.n_conv]
    except DataUnavailableError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    rows = kernel.convergence_rows(x, (16, 1024), cfg.seeds)
    stored = {(r["width"], r["seed"]): r["rel_error"] for r in rec["rows"] if r["kind"] == "convergence"}
    for r in rows:
        assert abs(r["rel_error"] - stored[(r["width"], r["seed"])]) < 1e-9
