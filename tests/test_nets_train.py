"""kdlib.nets and kdlib.train: the paper's student and projected SGD."""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.losses import bernoulli_cross_entropy, logistic_loss
from kdlib.nets import StudentBank, StudentSpec, TwoLayerNet, symmetric_init
from kdlib.train import PGDConfig, evaluate, make_bank, train_students


def _toy(n=64, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0)
    return x, y


def test_symmetric_init_gives_zero_output():
    x, _ = _toy()
    for m in (2, 4, 64):
        net = TwoLayerNet(m, x.shape[1], seed=m)
        torch.testing.assert_close(net(x), torch.zeros(len(x)), atol=1e-6, rtol=0)
        assert set(net.a.tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize("m", [3, 0, -2, 5])
def test_odd_or_nonpositive_width_is_an_error(m):
    with pytest.raises(ValueError, match="even width"):
        symmetric_init(m, 3, seed=0)


def test_bank_output_matches_the_formula():
    """f_s(x) = m^{-1/2} sum_j a_j relu(W_j . x), computed student by student."""
    x, _ = _toy()
    bank = StudentBank([StudentSpec(4, 0), StudentSpec(6, 1)], x.shape[1])
    with torch.no_grad():
        bank.W.add_(0.3 * torch.randn_like(bank.W))
        out = bank(x)
        for s, spec in enumerate(bank.specs):
            sl = bank.student_slice(s)
            ref = torch.relu(x @ bank.W[sl].T) @ bank.a[sl] / math.sqrt(spec.width)
            torch.testing.assert_close(out[:, s], ref, atol=1e-5, rtol=1e-5)


def test_bank_trains_each_student_as_if_alone():
    """Training a bank of 3 students = training each alone (same batches), to fp32 accuracy."""
    x, y = _toy(n=96)
    p = torch.sigmoid(3 * x[:, 0])
    pgd = PGDConfig(lr=2.0, epochs=3, batch_size=32, B=1.5, order_seed=5)
    specs = [StudentSpec(4, 0, "hard"), StudentSpec(6, 1, "soft"), StudentSpec(2, 2, "soft")]
    bank = StudentBank(specs, x.shape[1])
    train_students(bank, x, y, modes=[s.tag for s in specs], pgd=pgd, soft_targets=p)
    for s, spec in enumerate(specs):
        alone = StudentBank([spec], x.shape[1])
        train_students(alone, x, y, modes=[spec.tag], pgd=pgd, soft_targets=p)
        torch.testing.assert_close(bank.W[bank.student_slice(s)], alone.W, atol=1e-5, rtol=1e-5)


def test_one_step_is_a_projected_gradient_step():
    """W(1) = Proj_{S_B}(W(0) - lr * grad R), with grad R by hand."""
    x, y = _toy(n=16)
    net = TwoLayerNet(4, x.shape[1], seed=3)
    W0, a = net.W0.clone(), net.a.clone()
    lr, B = 5.0, 0.1
    train_students(net, x, y, modes=["hard"], pgd=PGDConfig(lr=lr, epochs=1, batch_size=0, B=B))
    # hand gradient of mean_i ln(1 + exp(-y_i f_i)); f = 0 at W0, so dl/df = -y/2
    act = (x @ W0.T > 0).float()                                  # n x m
    dldf = -y * torch.sigmoid(torch.zeros(len(y)))                 # n
    grad = ((dldf[:, None] * act).T @ x) * a[:, None] / 2 / len(y)  # m x d (1/sqrt(4) = 1/2)
    step = W0 - lr * grad
    delta = step - W0
    radius = B / 2
    scale = torch.clamp(radius / delta.norm(dim=1), max=1.0)
    torch.testing.assert_close(net.W, W0 + delta * scale[:, None], atol=1e-5, rtol=1e-5)


def test_every_neuron_stays_in_its_ball_after_every_step(monkeypatch):
    x, y = _toy(n=128)
    bank = make_bank([2, 4, 8], [0, 1], ["hard", "soft"], x.shape[1])
    B = 0.7
    seen = []
    original = StudentBank.project

    def spy(self, b):
        original(self, b)
        seen.append(float(self.distance_ratio().max()))

    monkeypatch.setattr(StudentBank, "project", spy)
    p = torch.sigmoid(4 * x[:, 0])
    # the autograd reference projects through StudentBank.project (the fast engine in place; tests/test_fastpath.py)
    train_students(bank, x, y, modes=[s.tag for s in bank.specs], pgd=PGDConfig(lr=50.0, epochs=4, batch_size=16, B=B), soft_targets=p,
                   engine="autograd")
    assert len(seen) == 1 + 4 * 8  # once before training, then after each of the 32 steps
    assert max(seen) <= B * (1 + 1e-5)
    assert max(seen) > 0.9 * B  # the constraint is active at this learning rate


def test_full_batch_step_loss_is_the_risk_at_each_iterate():
    x, y = _toy(n=40)
    net = TwoLayerNet(4, x.shape[1], seed=0)
    log = train_students(net, x, y, modes=["hard"], pgd=PGDConfig(lr=1.0, epochs=5, batch_size=0))
    assert log.step_loss.shape == (5, 1)
    assert float(log.step_loss[0, 0]) == pytest.approx(math.log(2), abs=1e-6)  # f = 0 at init
    with torch.no_grad():
        final = float(logistic_loss(net(x), y).mean())
    assert final < float(log.step_loss[-1, 0])  # descent on the last step
    torch.testing.assert_close(log.averaged_loss(), log.step_loss.mean(0))


def test_training_reduces_soft_loss_and_learns_the_toy_task():
    x, y = _toy(n=256)
    p = torch.where(y > 0, 0.9, 0.1)
    net = TwoLayerNet(16, x.shape[1], seed=1)
    with torch.no_grad():
        before = float(bernoulli_cross_entropy(net(x), p).mean())
    train_students(net, x, y, modes=["soft"], pgd=PGDConfig(lr=20.0, epochs=30, batch_size=32), soft_targets=p)
    with torch.no_grad():
        after = float(bernoulli_cross_entropy(net(x), p).mean())
    assert after < before - 0.1
    assert float(evaluate(net, x, y)["accuracy"][0]) > 0.9


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(lr=-1.0, epochs=1), "learning rate"),
        (dict(lr=1.0, epochs=0), "epochs"),
        (dict(lr=1.0, epochs=1, batch_size=-5), "batch_size"),
        (dict(lr=1.0, epochs=1, B=-1.0), "radius"),
    ],
)
def test_bad_pgd_settings(kw, msg):
    with pytest.raises(ValueError, match=msg):
        PGDConfig(**kw)


def test_soft_students_need_valid_targets():
    x, y = _toy(n=8)
    net = TwoLayerNet(2, x.shape[1])
    with pytest.raises(ValueError, match="soft_targets"):
        train_students(net, x, y, modes=["soft"], pgd=PGDConfig(lr=1.0, epochs=1))
    with pytest.raises(ValueError, match="probabilities"):
        train_students(net, x, y, modes=["soft"], pgd=PGDConfig(lr=1.0, epochs=1), soft_targets=torch.full((8,), 1.5))
    with pytest.raises(ValueError, match="mode"):
        train_students(net, x, y, modes=["medium"], pgd=PGDConfig(lr=1.0, epochs=1))
