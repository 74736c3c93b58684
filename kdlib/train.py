"""Projected (stochastic) gradient descent for the two-layer students.

One step (paper, Section 3.1): ``W <- W - lr * grad R(W)``, then every row is
projected back onto its ball ``||W_j - W_j(0)|| <= B / sqrt(m)`` (the set
``S_B``); ``B = inf`` is plain (stochastic) gradient descent. ``R`` is the
mean over the batch of the logistic loss (hard labels, eq. 12) or of the
Bernoulli cross-entropy against the soft labels, which has the same gradient
as the KL of eq. 4.

A :class:`~kdlib.nets.StudentBank` trains all its students in one pass: the
loss minimised is the sum over students of each student's mean loss, whose
gradient on a student's rows is that student's own gradient. All students of a
bank see the same batches (drawn from ``order_seed``); their seeds choose their
initialisations.

The data stays on the device as one tensor; a batch is an index slice of a
random permutation made on the device (no DataLoader).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from tqdm import tqdm

from kdlib.data import BinaryData
from kdlib.losses import bernoulli_cross_entropy, bernoulli_entropy, logistic_loss
from kdlib.nets import StudentBank, StudentSpec, TwoLayerNet

MODES = ("hard", "soft")


@dataclass(frozen=True)
class PGDConfig:
    """Projected SGD settings. ``batch_size=0`` means full batch; ``B=inf`` no projection."""

    lr: float
    epochs: int
    batch_size: int = 128
    B: float = math.inf
    order_seed: int = 0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a finite number > 0, got {self.lr}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 0:
            raise ValueError(f"batch_size must be an integer >= 0 (0 = full batch), got {self.batch_size!r}")
        if not self.B >= 0:
            raise ValueError(f"the radius B must be >= 0 (inf = no projection), got {self.B}")


@dataclass
class TrainLog:
    """Per-step mean batch loss of every student (steps x k), and per-epoch means."""

    step_loss: torch.Tensor
    epoch_loss: torch.Tensor
    max_distance_ratio: float = 0.0
    extra: dict = field(default_factory=dict)

    def averaged_loss(self) -> torch.Tensor:
        """``(1/T) sum_{t<T} R(W(t))`` per student (exact for full-batch runs)."""
        return self.step_loss.mean(0)


def _loss_matrix(f: torch.Tensor, y: torch.Tensor, p: torch.Tensor | None, soft_cols: torch.Tensor) -> torch.Tensor:
    """Elementwise loss (n x k): logistic in hard columns, Bernoulli CE in soft ones."""
    hard = logistic_loss(f, y[:, None])
    if p is None or not bool(soft_cols.any()):
        return hard
    soft = bernoulli_cross_entropy(f, p[:, None])
    return torch.where(soft_cols[None, :], soft, hard)


def train_students(
    bank: StudentBank,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    modes: Sequence[str],
    pgd: PGDConfig,
    soft_targets: torch.Tensor | None = None,
    progress: bool = False,
    desc: str = "students",
) -> TrainLog:
    """Train every student of ``bank`` in place by projected SGD; return the loss log.

    ``modes[s]`` is ``"hard"`` (targets ``y`` in {-1,+1}) or ``"soft"`` (targets
    ``soft_targets`` in [0,1], the teacher's probabilities of class +1).
    """
    if len(modes) != bank.n_students:
        raise ValueError(f"got {len(modes)} modes for {bank.n_students} students")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown training mode(s) {bad}: expected 'hard' or 'soft'")
    soft_cols = torch.tensor([m == "soft" for m in modes], device=x.device)
    if bool(soft_cols.any()):
        if soft_targets is None:
            raise ValueError("soft students need soft_targets (the teacher's probabilities)")
        if soft_targets.shape != y.shape:
            raise ValueError(f"soft_targets has shape {tuple(soft_targets.shape)}, labels {tuple(y.shape)}")
        if bool(((soft_targets < 0) | (soft_targets > 1) | ~torch.isfinite(soft_targets)).any()):
            raise ValueError("soft_targets must be probabilities in [0, 1]")
    n = x.shape[0]
    if n == 0:
        raise ValueError("no training data")
    bs = n if pgd.batch_size == 0 else min(pgd.batch_size, n)
    steps_per_epoch = math.ceil(n / bs)
    gen = torch.Generator(device=x.device).manual_seed(int(pgd.order_seed))
    params = [p for p in (bank.W, bank.a) if p.requires_grad]
    step_losses = torch.empty(pgd.epochs * steps_per_epoch, bank.n_students, device=x.device)
    t = 0
    bank.project(pgd.B)
    for _ in tqdm(range(pgd.epochs), desc=desc, disable=not progress, leave=False):
        order = torch.randperm(n, generator=gen, device=x.device) if bs < n else torch.arange(n, device=x.device)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            f = StudentBank.forward(bank, x[idx])
            pb = soft_targets[idx] if soft_targets is not None else None
            per_student = _loss_matrix(f, y[idx], pb, soft_cols).mean(0)
            step_losses[t] = per_student.detach()
            t += 1
            grads = torch.autograd.grad(per_student.sum(), params)
            with torch.no_grad():
                for prm, g in zip(params, grads):
                    prm.sub_(pgd.lr * g)
            bank.project(pgd.B)
    epoch_loss = step_losses.reshape(pgd.epochs, steps_per_epoch, -1).mean(1)
    return TrainLog(step_loss=step_losses.cpu(), epoch_loss=epoch_loss.cpu(), max_distance_ratio=float(bank.distance_ratio().max()))


@torch.no_grad()
def predict(bank: StudentBank, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Outputs ``f_s(x_i)`` (n x k), computed in chunks."""
    return torch.cat([StudentBank.forward(bank, x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])


@torch.no_grad()
def evaluate(bank: StudentBank, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per student: ``accuracy`` (y f > 0), ``logistic`` loss and, with ``p``, ``kl`` to the soft labels."""
    f = predict(bank, x)
    out = {
        "accuracy": (y[:, None] * f > 0).float().mean(0).cpu(),
        "logistic": logistic_loss(f, y[:, None]).mean(0).cpu(),
    }
    if p is not None:
        kl = bernoulli_cross_entropy(f, p[:, None]) - bernoulli_entropy(p)[:, None]
        out["kl"] = kl.mean(0).cpu()
    return out


def train_teacher(
    data: BinaryData,
    *,
    width: int = 512,
    pgd: PGDConfig,
    seed: int = 0,
    train_outer: bool = False,
    progress: bool = False,
) -> TwoLayerNet:
    """The experiment's teacher: a two-layer net of ``width`` units trained on hard labels."""
    net = TwoLayerNet(width, data.x.shape[1], seed=seed, train_outer=train_outer, device=data.x.device)
    train_students(net, data.x, data.y, modes=["hard"], pgd=pgd, progress=progress, desc=f"teacher ({width} units)")
    return net


@torch.no_grad()
def soft_labels(teacher: StudentBank, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The teacher's probabilities of class +1: ``sigmoid(f(x) / T)`` (``T = 1``: the paper)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    f = predict(teacher, x)[:, 0]
    return torch.sigmoid(f / temperature)


def make_bank(
    widths: Sequence[int], seeds: Sequence[int], modes: Sequence[str], d: int, *, train_outer: bool = False, device: str | torch.device = "cpu"
) -> StudentBank:
    """One bank holding a student for every (mode, width, seed), in that nesting order."""
    specs = [StudentSpec(w, s, m) for m in modes for w in widths for s in seeds]
    return StudentBank(specs, d, train_outer=train_outer, device=device)
