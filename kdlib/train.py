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

Two engines compute the same steps: ``"fast"`` (the default) with the forward
and backward pass of the two-layer bank written out by hand, buffers allocated
once and the projection applied in place after each update; ``"autograd"``, the
reference, builds the loss from :mod:`kdlib.losses` and lets autograd
differentiate it. They differ only by float rounding.
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


ENGINES = ("fast", "autograd")


def _check_targets(bank: StudentBank, x: torch.Tensor, y: torch.Tensor, modes: Sequence[str], soft_targets: torch.Tensor | None) -> torch.Tensor:
    """Validate the inputs of :func:`train_students`; return the boolean soft-column mask (k,)."""
    if len(modes) != bank.n_students:
        raise ValueError(f"got {len(modes)} modes for {bank.n_students} students")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown training mode(s) {bad}: expected 'hard' or 'soft'")
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"expected inputs n x d and labels of length n, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[1] != bank.W.shape[1]:
        raise ValueError(f"inputs have dimension {x.shape[1]}, the students {bank.W.shape[1]}")
    soft_cols = torch.tensor([m == "soft" for m in modes], device=x.device)
    if bool(soft_cols.any()):
        if soft_targets is None:
            raise ValueError("soft students need soft_targets (the teacher's probabilities)")
        if soft_targets.shape != y.shape:
            raise ValueError(f"soft_targets has shape {tuple(soft_targets.shape)}, labels {tuple(y.shape)}")
        if bool(((soft_targets < 0) | (soft_targets > 1) | ~torch.isfinite(soft_targets)).any()):
            raise ValueError("soft_targets must be probabilities in [0, 1]")
    if x.shape[0] == 0:
        raise ValueError("no training data")
    return soft_cols


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
    engine: str = "fast",
) -> TrainLog:
    """Train every student of ``bank`` in place by projected SGD; return the loss log.

    ``modes[s]`` is ``"hard"`` (targets ``y`` in {-1,+1}) or ``"soft"`` (targets
    ``soft_targets`` in [0,1], the teacher's probabilities of class +1).

    ``engine="fast"`` (the default) uses the gradient written out by hand
    (:func:`_train_fast`); ``engine="autograd"`` is the reference, which lets
    torch.autograd differentiate the same loss. Both take the same batches in the
    same order and the same steps; they differ only by float rounding (see
    ``tests/test_fastpath.py`` for the tolerances).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {ENGINES}")
    soft_cols = _check_targets(bank, x, y, modes, soft_targets)
    if engine == "fast":
        return _train_fast(bank, x, y, soft_cols, soft_targets, pgd, progress, desc)
    return _train_autograd(bank, x, y, soft_cols, soft_targets, pgd, progress, desc)


def _batches(n: int, pgd: PGDConfig) -> tuple[int, int]:
    """(batch size, steps per epoch); the last batch of an epoch may be smaller."""
    bs = n if pgd.batch_size == 0 else min(pgd.batch_size, n)
    return bs, math.ceil(n / bs)


def _train_autograd(
    bank: StudentBank, x: torch.Tensor, y: torch.Tensor, soft_cols: torch.Tensor, soft_targets: torch.Tensor | None,
    pgd: PGDConfig, progress: bool, desc: str,
) -> TrainLog:
    """The reference: the loss is built from :mod:`kdlib.losses` and differentiated by autograd."""
    n = x.shape[0]
    bs, steps_per_epoch = _batches(n, pgd)
    gen = torch.Generator(device=x.device).manual_seed(int(pgd.order_seed))
    params = [p for p in (bank.W, bank.a) if p.requires_grad]
    step_losses = torch.empty(pgd.epochs * steps_per_epoch, bank.n_students, device=x.device, dtype=bank.W.dtype)
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
def _train_fast(
    bank: StudentBank, x: torch.Tensor, y: torch.Tensor, soft_cols: torch.Tensor, soft_targets: torch.Tensor | None,
    pgd: PGDConfig, progress: bool, desc: str,
) -> TrainLog:
    """Projected SGD with the gradient written out by hand (same maths as the autograd path).

    For a batch ``X`` (b x d), ``Z = X W^T`` (b x M), ``H = relu(Z)`` and the outputs
    ``F = H S`` (b x k), where ``S = diag(a) P`` and ``P`` (M x k) holds ``1/sqrt(m_s)``
    in student ``s``'s rows of column ``s`` (:class:`~kdlib.nets.StudentBank`). Every
    loss of the paper is written ``l(f) = softplus(u) - c f`` with ``u = sigma f``:

    - hard column (logistic loss, eq. 12): ``sigma = -y``, ``c = 0``, so ``l = ln(1 + e^{-y f})``;
    - soft column (Bernoulli cross-entropy against ``p``, the KL of eq. 4 up to a constant):
      ``sigma = 1``, ``c = p``, so ``l = softplus(f) - p f``;

    and ``dl/df = sigma * sigmoid(u) - c`` (precise in both cases, no ``1 - sigmoid`` cancellation).
    The minimised loss is ``R = sum_s (1/b) sum_i l(F_is)``; with ``G = dR/dF`` (b x k):

    - ``dR/dH = (G P^T) * a`` (the outer-weight block sum run backwards), ``dR/dZ = dR/dH * 1(Z > 0)``;
    - ``dR/dW = (dR/dZ)^T X`` (M x d), applied as one ``addmm`` ``W^T <- W^T - lr X^T dR/dZ``
      (the weights are held transposed during training, which suits the BLAS kernels);
    - with a trained outer layer, ``dR/da_j = sum_i (G P^T)_ij H_ij``.

    The projection onto ``S_B`` (``||W_j - W_j(0)|| <= B/sqrt(m_s)``) follows each update in
    place. Input columns that are zero for every training point contribute nothing to ``Z``
    and get a zero gradient, so they are left out of the products (exact: their weights keep
    their values). Buffers are allocated once; the per-step losses stay on the device until
    the end; no step reads a number back to the host.
    """
    n, d = x.shape
    k = bank.n_students
    dev, dtype = x.device, bank.W.dtype
    bs, steps_per_epoch = _batches(n, pgd)
    gen = torch.Generator(device=dev).manual_seed(int(pgd.order_seed))
    train_outer = bool(bank.a.requires_grad)
    project = not math.isinf(pgd.B)
    bank.project(pgd.B)

    W, W0, a = bank.W.data, bank.W0, bank.a.data
    # input columns that carry no signal in the training set, whose weights (and offsets) never move
    used = torch.count_nonzero(x, dim=0) > 0
    if project:
        used |= torch.count_nonzero(W - W0, dim=0) > 0
    cols = torch.nonzero(used).flatten()
    xr = torch.index_select(x, 1, cols) if int(cols.numel()) < d else x.contiguous()
    dr = xr.shape[1]
    # the weights are kept transposed (d x M): X Wt and Wt += X^T dZ run faster than X W^T and W += dZ^T X
    Wt = torch.index_select(W, 1, cols).T.contiguous()
    W0t = torch.index_select(W0, 1, cols).T.contiguous()

    # per point and column: sigma (sign inside the softplus) and c (linear coefficient), side by side
    sig = torch.where(soft_cols[None, :], torch.ones((), device=dev, dtype=dtype), -y[:, None].to(dtype))
    if soft_targets is not None and bool(soft_cols.any()):
        c = torch.where(soft_cols[None, :], soft_targets[:, None].to(dtype), torch.zeros((), device=dev, dtype=dtype))
    else:
        c = torch.zeros(n, k, device=dev, dtype=dtype)
    targets = torch.cat([sig, c], dim=1).contiguous()  # n x 2k

    P = bank.member.to(dtype)
    S = P * a[:, None]
    radius = (pgd.B * bank.row_scale).to(dtype) if project else None

    M = W.shape[0]
    xb_buf = torch.empty(bs, dr, device=dev, dtype=dtype)
    tb_buf = torch.empty(bs, 2 * k, device=dev, dtype=dtype)
    H_buf = torch.empty(bs, M, device=dev, dtype=dtype)
    dH_buf = torch.empty(bs, M, device=dev, dtype=dtype)
    F_buf = torch.empty(bs, k, device=dev, dtype=dtype)
    U_buf = torch.empty(bs, k, device=dev, dtype=dtype)
    G_buf = torch.empty(bs, k, device=dev, dtype=dtype)
    D_buf = torch.empty_like(Wt) if project else None
    norm_buf = torch.empty(M, device=dev, dtype=dtype) if project else None
    ga_buf = torch.empty(M, device=dev, dtype=dtype) if train_outer else None
    step_losses = torch.empty(pgd.epochs * steps_per_epoch, k, device=dev, dtype=dtype)

    t = 0
    for _ in tqdm(range(pgd.epochs), desc=desc, disable=not progress, leave=False):
        order = torch.randperm(n, generator=gen, device=dev) if bs < n else torch.arange(n, device=dev)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            b = idx.shape[0]
            xb, tb = xb_buf[:b], tb_buf[:b]
            H, dH, F, U, G = H_buf[:b], dH_buf[:b], F_buf[:b], U_buf[:b], G_buf[:b]
            torch.index_select(xr, 0, idx, out=xb)
            torch.index_select(targets, 0, idx, out=tb)
            sg, cb = tb[:, :k], tb[:, k:]
            # forward: H = relu(X W^T), F = H S
            torch.mm(xb, Wt, out=H)
            H.clamp_(min=0)
            torch.mm(H, S, out=F)
            # loss l = softplus(u) - c f with u = sigma f, logged as the batch mean per student
            torch.mul(F, sg, out=U)
            L = torch.addcmul(torch.nn.functional.softplus(U), cb, F, value=-1.0)
            torch.mean(L, 0, out=step_losses[t])
            t += 1
            # dl/df = sigma * sigmoid(u) - c; the 1/b of the mean is folded into the step size
            torch.sigmoid(U, out=G)
            G.mul_(sg).sub_(cb)
            if train_outer:
                torch.mm(G, P.T, out=dH)                 # G P^T
                torch.sum(dH * H, 0, out=ga_buf)         # dR/da * b
                dH.mul_(a)                               # dR/dH * b
            else:
                torch.mm(G, S.T, out=dH)                 # (G P^T) * a, since S = P diag(a)
            dZ = torch.ops.aten.threshold_backward(dH, H, 0.0)  # relu mask: dR/dZ * b
            step = -pgd.lr / b
            Wt.addmm_(xb.T, dZ, alpha=step)
            if train_outer:
                a.add_(ga_buf, alpha=step)
                torch.mul(P, a[:, None], out=S)
            if project:
                torch.sub(Wt, W0t, out=D_buf)
                torch.linalg.vector_norm(D_buf, dim=0, out=norm_buf)
                norm_buf.clamp_(min=1e-30)
                torch.div(radius, norm_buf, out=norm_buf)
                norm_buf.clamp_(max=1.0)
                torch.addcmul(W0t, D_buf, norm_buf[None, :], out=Wt)
    W[:, cols] = Wt.T
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
