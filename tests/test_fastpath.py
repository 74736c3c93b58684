"""The hand-derived training engine of kdlib.train equals the autograd reference.

Tolerances (absolute and relative, on weights, outer weights and logged losses):
float32 2e-5 after one step and 1e-4 after a few epochs (the two engines sum the same
products in a different order, so they differ by a few ulps per step, and the
differences grow slowly over steps); float64 1e-12 after one step and 1e-10 after a
few epochs.
"""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.nets import StudentBank, StudentSpec
from kdlib.train import PGDConfig, train_students

ONE_STEP_TOL = {torch.float32: 2e-5, torch.float64: 1e-12}
RUN_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}
MIXES = {
    "hard": ["hard", "hard", "hard", "hard"],
    "soft": ["soft", "soft", "soft", "soft"],
    "mixed": ["hard", "soft", "soft", "hard"],
}


def _data(n: int, d: int, dtype: torch.dtype, seed: int = 0):
    """Unit-norm inputs with one all-zero column (the fast path leaves such columns out)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x[:, 2] = 0.0
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.where(x[:, 0] - 0.5 * x[:, 1] > 0, 1.0, -1.0).to(torch.float64)
    p = torch.sigmoid(4 * x[:, 0] + torch.randn(n, generator=g, dtype=torch.float64))
    return x.to(dtype), y.to(dtype), p.to(dtype)


def _bank(modes, d, dtype, train_outer):
    """Students of mixed widths (2, 4, 6, 8) in one bank."""
    specs = [StudentSpec(w, seed=10 + i, tag=m) for i, (w, m) in enumerate(zip((4, 8, 2, 6), modes))]
    return StudentBank(specs, d, train_outer=train_outer).to(dtype)


def _train(engine, modes, pgd, dtype, train_outer, n=48, d=7):
    x, y, p = _data(n, d, dtype)
    bank = _bank(modes, d, dtype, train_outer)
    log = train_students(bank, x, y, modes=modes, pgd=pgd, soft_targets=p, engine=engine)
    return bank, log


def _assert_same(fast, ref, tol):
    (bf, lf), (br, lr) = fast, ref
    torch.testing.assert_close(bf.W, br.W, atol=tol, rtol=tol)
    torch.testing.assert_close(bf.a, br.a, atol=tol, rtol=tol)
    torch.testing.assert_close(lf.step_loss, lr.step_loss, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("train_outer", [False, True], ids=["fixed-a", "trained-a"])
@pytest.mark.parametrize("B", [math.inf, 0.05], ids=["no-projection", "projection"])
@pytest.mark.parametrize("mix", sorted(MIXES))
def test_one_step_equals_the_autograd_step(mix, B, train_outer, dtype):
    modes = MIXES[mix]
    pgd = PGDConfig(lr=4.0, epochs=1, batch_size=0, B=B)  # one full-batch step
    fast = _train("fast", modes, pgd, dtype, train_outer)
    ref = _train("autograd", modes, pgd, dtype, train_outer)
    _assert_same(fast, ref, ONE_STEP_TOL[dtype])
    bank = fast[0]
    moved = (bank.W.detach() - bank.W0).norm(dim=1)
    assert float(moved.min()) > 0  # every row took a step
    if train_outer:
        assert not torch.equal(bank.a, bank.a0)
    else:
        assert torch.equal(bank.a, bank.a0)
    if math.isfinite(B):  # the projection is active on some rows and they sit on their sphere
        ratio = bank.distance_ratio()
        assert float(ratio.max()) == pytest.approx(B, rel=1e-5)
        unprojected = _train("fast", modes, PGDConfig(lr=4.0, epochs=1, batch_size=0), dtype, train_outer)[0]
        assert float(unprojected.distance_ratio().max()) > 1.5 * B


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("train_outer", [False, True], ids=["fixed-a", "trained-a"])
@pytest.mark.parametrize("B", [math.inf, 0.5], ids=["no-projection", "projection"])
def test_a_few_epochs_agree(B, train_outer, dtype):
    """Minibatches (the last one smaller: 50 = 3 x 16 + 2) over 4 epochs, mixed modes and widths."""
    modes = MIXES["mixed"]
    pgd = PGDConfig(lr=2.0, epochs=4, batch_size=16, B=B, order_seed=3)
    fast = _train("fast", modes, pgd, dtype, train_outer, n=50)
    ref = _train("autograd", modes, pgd, dtype, train_outer, n=50)
    assert fast[1].step_loss.shape == (16, 4)
    _assert_same(fast, ref, RUN_TOL[dtype])
    torch.testing.assert_close(fast[1].epoch_loss, ref[1].epoch_loss, atol=RUN_TOL[dtype], rtol=RUN_TOL[dtype])
    assert fast[1].max_distance_ratio == pytest.approx(ref[1].max_distance_ratio, rel=RUN_TOL[dtype])


def test_every_neuron_stays_in_its_ball_after_every_fast_step():
    """Full-batch steps one call at a time (a call with epochs=1 and batch_size=0 is one step)."""
    x, y, p = _data(64, 7, torch.float32)
    modes = MIXES["mixed"]
    bank = _bank(modes, 7, torch.float32, False)
    B, seen = 0.3, []
    for _ in range(20):
        train_students(bank, x, y, modes=modes, pgd=PGDConfig(lr=30.0, epochs=1, batch_size=0, B=B), soft_targets=p)
        seen.append(float(bank.distance_ratio().max()))
    assert max(seen) <= B * (1 + 1e-5)
    assert max(seen) > 0.9 * B  # the constraint is active


def test_columns_left_out_keep_their_weights():
    """An input column that is zero in every training point: its weights stay W(0) exactly."""
    x, y, p = _data(40, 7, torch.float32)
    bank = _bank(MIXES["mixed"], 7, torch.float32, True)
    train_students(bank, x, y, modes=MIXES["mixed"], pgd=PGDConfig(lr=3.0, epochs=2, batch_size=8), soft_targets=p)
    assert torch.equal(bank.W[:, 2], bank.W0[:, 2])
    assert not torch.equal(bank.W[:, 0], bank.W0[:, 0])


def test_unknown_engine_is_an_error():
    x, y, p = _data(8, 7, torch.float32)
    bank = _bank(MIXES["hard"], 7, torch.float32, False)
    with pytest.raises(ValueError, match="engine"):
        train_students(bank, x, y, modes=MIXES["hard"], pgd=PGDConfig(lr=1.0, epochs=1), engine="jit")
