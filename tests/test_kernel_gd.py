"""Kernel gradient descent (kdlib.ntk.kernel_gd), the infinite-width limit of Chapter 6's students."""
import math

import pytest
import torch

from kdlib.ntk import kernel_gd, limit_directions
from kdlib.planted import planted_dataset
from kdlib.train_circle import CircleBank


def _data():
    d = planted_dataset(2, 300, 0.004, J=2, seed=0, aligned=False)
    return d.x, d.y, torch.sigmoid(d.z)


@pytest.mark.parametrize("mode, lr, B, T", [("soft", 1.0, 1.0, 60), ("hard", 8.0, math.inf, 30)])
def test_wide_students_approach_the_kernel_limit(mode, lr, B, T):
    """Along the first T steps a student of width m follows (K1) to within C max|f| / sqrt(m) (C = 3; measured
    about 0.2 soft, 2 hard), for m = 256, 4096, 65536 and three seeds, and the distance shrinks with m."""
    x, y, p = _data()
    kw = dict(soft_targets=p if mode == "soft" else None, lr=lr, B=B)
    steps = (1, T // 2, T)
    ref = kernel_gd(x, y, [1e-3], max_steps=T, trace_steps=steps, **kw)
    scale = float(ref.trace[T].abs().max())
    worst = {}
    for m in (256, 4096, 65536):
        dist = 0.0
        for seed in range(3):
            for t in steps:
                cb = CircleBank(x, y, [m], [seed], [1e-9], early_stop=False, **kw).advance(t)
                dist = max(dist, float((cb.outputs()[0] - ref.trace[t]).abs().max()))
        assert dist <= 3 * scale / math.sqrt(m)
        worst[m] = dist
    assert worst[65536] < worst[4096] < worst[256]
    assert worst[65536] < worst[256] / 4


def test_kernel_gd_first_step_and_targets():
    """Step 1 from f = 0 is -(lr/n) K l'(0) (an independent computation from Monte-Carlo features), and the
    first steps at the targets are the steps at which the error first falls below them."""
    x, y, p = _data()
    r = kernel_gd(x, y, [0.3, 0.05], lr=2.0, max_steps=400, soft_targets=p, trace_steps=tuple(range(401)))
    g = torch.randn(200000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    A = (x @ g.T > 0).double()
    K_mc = (A @ A.T / g.shape[0]) * (x @ x.T)
    f1 = -(2.0 / len(y)) * K_mc @ (0.5 - p)
    assert torch.allclose(r.trace[1], f1, atol=3e-3 * float(f1.abs().max()))
    errs = [float((y * r.trace[t] <= 0).double().mean()) for t in range(r.steps_run + 1)]
    for e, first in zip([0.3, 0.05], r.first):
        assert first >= 0 and errs[first] <= e and all(v > e for v in errs[:first])


def test_projection_check_and_bad_input():
    x, y, p = _data()
    loose = kernel_gd(x, y, [1e-3], lr=1.0, max_steps=200, soft_targets=p, B=10.0, check_every=10)
    tight = kernel_gd(x, y, [1e-3], lr=1.0, max_steps=200, soft_targets=p, B=loose.sup_displacement / 2,
                      check_every=10)
    assert loose.bind_step is None and tight.bind_step is not None and 0 < tight.bind_step <= 200
    # a run that stops at its targets between two checks is checked at its last step: its sup is that of
    # checking every step, since the rescaled displacement only grows along these runs
    early = kernel_gd(x, y, [0.3], lr=2.0, max_steps=400, soft_targets=p, B=10.0, check_every=1000)
    every = kernel_gd(x, y, [0.3], lr=2.0, max_steps=400, soft_targets=p, B=10.0, check_every=1)
    assert 0 < early.steps_run < 1000 and early.steps_run % 1000 != 0
    assert early.sup_displacement > 0 and math.isclose(early.sup_displacement, every.sup_displacement, rel_tol=1e-12)
    assert limit_directions(x).shape == (2 * len(y), 2)
    with pytest.raises(ValueError, match="max_steps"):
        kernel_gd(x, y, [0.1], lr=1.0, max_steps=0)
    with pytest.raises(ValueError, match="eps"):
        kernel_gd(x, y, [1.0], lr=1.0, max_steps=10)
    with pytest.raises(ValueError, match="lr"):
        kernel_gd(x, y, [0.1], lr=-1.0, max_steps=10)
