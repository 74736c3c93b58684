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

:func:`train_bank` (Chapter 6's width search) is the same family at full batch: one bank
of students of many widths and seeds, its forward and backward pass written out by hand,
recording the first step at which each student's training error reaches each target
(:class:`BankResult`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from tqdm import tqdm

from kdlib.data import BinaryData
from kdlib.losses import bernoulli_cross_entropy, bernoulli_entropy, logistic_loss
from kdlib.nets import StudentBank, StudentSpec, TwoLayerNet, symmetric_init

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


# --------------------------------------------------------------------------- the student bank (Chapter 6)
@dataclass
class BankResult:
    """``first[s][k][e]``: first step at which seed ``s``, width ``k`` reached target ``e``;
    ``-1``: not within the budget; ``None``: stopped early (a smaller width had reached it)."""

    first: list[list[list[int | None]]]
    steps_run: int
    row_steps: int
    final_error: list[list[float]]
    projected: bool = False


@torch.no_grad()
def train_bank(
    x: torch.Tensor, y: torch.Tensor, widths: Sequence[int], seeds: Sequence[int], eps: Sequence[float], *,
    soft_targets: torch.Tensor | None, lr: float, B: float, max_steps: int, progress: bool = False, desc: str = "",
    chunk: int | None = None, form: str | None = None,
) -> BankResult:
    """All ``widths x seeds`` students as one bank of rows, full-batch (projected) gradient descent with
    hand-written gradients and the early stopping of the module docstring.

    Mean loss ``R(W) = (1/n) sum_i l(f_i)``; ``dR/dW_j = (1/n) sum_i l'(f_i) (a_j/sqrt(m)) 1(<W_j, x_i> > 0) x_i``,
    with ``l'(f) = -y sigmoid(-y f)`` (logistic) or ``sigmoid(f) - p`` (cross-entropy to ``p``). After each
    step every row is projected onto ``||W_j - W_j(0)|| <= B / sqrt(m)`` (``B = inf``: none). The error of
    student ``s`` is ``mean_i 1(y_i f_s(x_i) <= 0)`` at the current iterate (``f = 0`` counts as an error).

    Layout (for speed; the maths is the same): the rows of all active students are stacked into one
    bank of ``M`` rows, each student's rows grouped by the sign of ``a_j`` (the order of a student's rows
    does not change its output). With ``Z = W X^T`` (``M x n``) and ``R = relu(Z)``, the outputs are two
    segment sums, ``f_s = m_s^{-1/2} (sum_{j in s, a_j = +1} R_j - sum_{j in s, a_j = -1} R_j)``, one
    ``index_add`` over the ``2k`` groups; the backward pass gathers each row's signed, scaled ``l'``
    (``M x n``) and masks it with ``Z > 0``, which gives ``D = lr dR/dZ``, and the step is ``W <- W - D X``.
    Rows are independent given the outputs, so both passes run over blocks of ``chunk`` rows (by default
    about 1 MiB of ``Z``, which stays in cache). Two forms of the same iteration:

    - ``"weights"`` keeps ``W`` (``M x r``): per step ``Z = W X^T`` and ``W -= D X``, ``4 M n r``
      operations. For few coordinates (``r <= 32``) the backward pass recomputes its block of ``Z``
      (cheaper than reading it back) and forms ``D X`` as ``(X^T D^T)^T`` (for ``r = 2``, seven times
      faster in BLAS than the product with two output columns); else the forward pass keeps ``Z``
      in a buffer.
    - ``"outputs"`` keeps ``Z`` itself: every step moves ``W_j`` by a combination of the inputs, so
      ``W_j - W_j(0) = C_j X`` with ``C = -sum_t D_t``, and ``Z <- Z - D K`` with the Gram matrix
      ``K = X X^T``: ``2 M n^2`` operations, half of the other form when ``n = r`` (an MNIST pair in
      the span of its ``n`` inputs). The projection needs ``||W_j - W_j(0)||^2 = C_j K C_j^T =
      <C_j, Z_j - Z_j(0)>``, so with a finite ``B`` the form also keeps ``C`` and ``Z(0)``, and a
      projection scales ``C_j`` and ``Z_j - Z_j(0)`` by the same factor.

    ``form=None`` takes the cheaper one (``"outputs"`` when ``n < 2r``). The forms differ only in
    float rounding (``Z`` is updated, not recomputed), which the tests bound over tens of steps; over
    hundreds of steps the rounding adds up where a wide student's outputs are small differences of
    large sums, and there the weights form was seen to drift further from a float64 run than the
    outputs form. The blocks do not change the iterates at all.
    """
    widths, seeds, eps = list(widths), list(seeds), list(eps)
    n, d = x.shape
    chunk = max(64, (1 << 18) // max(n, 1)) if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of rows, got {chunk}")
    form = form or ("outputs" if n < 2 * d else "weights")
    if form not in ("weights", "outputs"):
        raise ValueError(f"form must be 'weights' or 'outputs', got {form!r}")
    recompute = form == "weights" and d <= 32
    x = x.to(torch.float32).contiguous()
    xT = x.T.contiguous()
    K = torch.mm(x, xT) if form == "outputs" else None
    y = y.to(torch.float32)
    p = None if soft_targets is None else soft_targets.to(torch.float32)
    specs = [(si, ki) for si in range(len(seeds)) for ki in range(len(widths))]
    Ws, grps, scales, rads = [], [], [], []
    for s, (si, ki) in enumerate(specs):
        m = widths[ki]
        W0, a = symmetric_init(m, d, seeds[si])
        order = torch.argsort(-a, stable=True)  # a = +1 rows first, then a = -1
        Ws.append(W0[order])
        grps.append(2 * s + (a[order] < 0).long())
        scales.append(1.0 / math.sqrt(m))
        rads.append(torch.full((m,), B / math.sqrt(m)))
    project = math.isfinite(B)
    grp_all, rad_all = torch.cat(grps), torch.cat(rads)
    scale_all = torch.tensor(scales, dtype=torch.float32)
    # the per-row state of the form, as whole-bank arrays ("cur" is the iterate: W or Z)
    if form == "weights":
        cur0 = torch.cat(Ws)
    else:
        cur0 = torch.cat([torch.mm(W, xT) for W in Ws])
    state_all = {"cur": cur0.clone()}
    if project:
        state_all["start"] = cur0
        if form == "outputs":
            state_all["C"] = torch.zeros_like(cur0)
    del Ws, cur0
    k = len(specs)
    first: list[list[list[int | None]]] = [[[-1] * len(eps) for _ in widths] for _ in seeds]
    final_err = [[math.nan] * len(widths) for _ in seeds]
    active = torch.ones(k, dtype=torch.bool)
    projected = False  # did the projection ever move a row?
    row_steps = 0
    t = 0

    def compact() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = torch.nonzero(active).flatten()
        rows = torch.nonzero(active[grp_all // 2]).flatten()
        remap = torch.full((k,), -1, dtype=torch.long)
        remap[ids] = torch.arange(ids.numel())
        g = grp_all[rows]
        st = {name: a[rows].contiguous() for name, a in state_all.items()}
        return ids, rows, st, rad_all[rows], 2 * remap[g // 2] + g % 2, scale_all[ids]

    # block-sized scratch arrays, allocated once: a hot loop that allocated its blocks would ask the
    # allocator for megabytes thousands of times per second, and under a glibc set to return freed
    # memory at once (Dask's workers set MALLOC_TRIM_THRESHOLD_) every block would fault its pages in
    # again: seven times slower on the circle
    rows_max = min(chunk, int(grp_all.numel()))
    zbuf, rbuf, gbuf, dbuf = (torch.empty(rows_max, n) for _ in range(4))
    pbuf = torch.empty(rows_max, d) if form == "weights" and project else None

    def block_z(st: dict[str, torch.Tensor], b: int, R: torch.Tensor | None) -> torch.Tensor:
        """The block of ``Z`` starting at row ``b`` (computed, read from the buffer, or the state)."""
        if form == "outputs":
            return st["cur"][b:b + chunk]
        if R is None:
            Wb = st["cur"][b:b + chunk]
            return torch.mm(Wb, xT, out=zbuf[:Wb.shape[0]])
        return R[b:b + chunk]

    def outputs(st: dict[str, torch.Tensor], grp: torch.Tensor, sc: torch.Tensor, kk: int,
                R: torch.Tensor | None) -> torch.Tensor:
        """``f`` (``k_active x n``), block by block; ``R`` (or ``None``) receives ``W X^T`` in the weights form."""
        f2 = torch.zeros(2 * kk, n)
        M = st["cur"].shape[0]
        for b in range(0, M, chunk):
            rb = min(chunk, M - b)
            if form == "weights":
                Z = torch.mm(st["cur"][b:b + chunk], xT, out=zbuf[:rb] if R is None else R[b:b + chunk])
            else:
                Z = st["cur"][b:b + chunk]
            f2.index_add_(0, grp[b:b + chunk], torch.clamp(Z, min=0, out=rbuf[:rb]))
        return (f2[0::2] - f2[1::2]) * sc[:, None]

    def buffer(M: int) -> torch.Tensor | None:
        return torch.empty(M, n) if form == "weights" and not recompute else None

    def reached(si: int, ki: int, e: int) -> bool:
        v = first[si][ki][e]
        return v is not None and v >= 0

    ids, rows, st, rad, grp, sc = compact()
    R = buffer(st["cur"].shape[0])
    bar = tqdm(total=max_steps, desc=desc or "bank", disable=not progress, leave=False)
    while True:
        f = outputs(st, grp, sc, ids.numel(), R)
        err = (y * f <= 0).float().mean(1).tolist()
        changed = False
        for j, s in enumerate(ids.tolist()):
            si, ki = specs[s]
            final_err[si][ki] = err[j]
            for e in range(len(eps)):
                if first[si][ki][e] == -1 and err[j] <= eps[e]:
                    first[si][ki][e] = t
        # stop the students that are done or can no longer be m*
        for j, s in enumerate(ids.tolist()):
            si, ki = specs[s]
            needed = False
            for e in range(len(eps)):
                if reached(si, ki, e):
                    continue
                if any(reached(si, kk, e) for kk in range(ki)):
                    first[si][ki][e] = None
                    continue
                needed = True
            if not needed:
                active[s] = False
                changed = True
        if t == max_steps or not bool(active.any()):
            break
        if changed:
            for name, a in st.items():
                state_all[name][rows] = a
            ids, rows, st, rad, grp, sc = compact()
            R = buffer(st["cur"].shape[0])
            f = outputs(st, grp, sc, ids.numel(), R)
        if p is None:
            g = torch.sigmoid(-y * f).mul_(-y)
        else:
            g = torch.sigmoid(f).sub_(p)
        g.mul_(sc[:, None] * (lr / n))
        G2 = torch.stack([g, -g], 1).reshape(2 * g.shape[0], n)  # group 2s: +l', group 2s+1: -l'
        cur = st["cur"]
        step_by = x if form == "weights" else K
        for b in range(0, cur.shape[0], chunk):
            rb = min(chunk, cur.shape[0] - b)
            Gb = torch.index_select(G2, 0, grp[b:b + chunk], out=gbuf[:rb])
            D = torch.ops.aten.threshold_backward.grad_input(Gb, block_z(st, b, R), 0.0, grad_input=dbuf[:rb])
            cb = cur[b:b + chunk]
            if recompute:  # D X with few columns: as X^T D^T, a product BLAS runs several times faster
                cb.sub_(torch.mm(xT, D.T).T)
            else:
                cb.addmm_(D, step_by, alpha=-1.0)
            if project:  # row by row, so within the block while it is in cache
                sb = st["start"][b:b + chunk]
                if form == "weights":
                    delta = torch.sub(cb, sb, out=pbuf[:rb])
                    factor = torch.clamp(rad[b:b + chunk] / torch.linalg.vector_norm(delta, dim=1).clamp_min(1e-30),
                                         max=1.0)
                    torch.addcmul(sb, delta, factor[:, None], out=cb)
                    moved = bool((factor < 1).any())
                else:  # ||C_j X||^2 = <C_j, Z_j - Z_j(0)> = <C_j, Z_j> - <C_j, Z_j(0)>
                    Cb = st["C"][b:b + chunk].sub_(D)
                    norm2 = torch.linalg.vecdot(Cb, cb, dim=1) - torch.linalg.vecdot(Cb, sb, dim=1)
                    factor = torch.clamp(rad[b:b + chunk] / norm2.clamp_min_(0).sqrt_().clamp_min(1e-30), max=1.0)
                    moved = bool((factor < 1).any())
                    if moved:  # only then: a factor of 1 leaves the row as it is (D is spent: its block is free)
                        torch.addcmul(sb, torch.sub(cb, sb, out=dbuf[:rb]), factor[:, None], out=cb)
                        Cb.mul_(factor[:, None])
                if moved:
                    projected = True
        row_steps += int(cur.shape[0])
        t += 1
        bar.update(1)
    bar.close()
    for si in range(len(seeds)):
        for ki in range(len(widths)):
            for e in range(len(eps)):
                if first[si][ki][e] == -1 and any(reached(si, kk, e) for kk in range(ki)):
                    first[si][ki][e] = None
    return BankResult(first=first, steps_run=t, row_steps=row_steps, final_error=final_err, projected=projected)
