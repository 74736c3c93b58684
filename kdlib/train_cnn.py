"""Training the VGG teacher and students (paper, Section 4).

- Optimiser: Adam (Kingma & Ba 2015) with L2 regularisation, i.e. ``weight_decay *
  theta`` added to the gradient (``torch.optim.Adam(weight_decay=...)``, the coupled
  form; the paper says "L2 regularisation", not decoupled weight decay).
- Hard labels: cross-entropy ``-ln softmax(z)_y`` on the true labels.
- Soft labels (knowledge distillation): cross-entropy against the teacher's softmax
  probabilities ``q = softmax(z_teacher / T)``, i.e. ``-sum_k q_k ln softmax(z / T)_k``
  (:func:`kd_loss`); ``T = 1`` by default since the paper uses no temperature. The
  teacher's logits on the training set are computed once per dataset
  (:func:`predict_logits`), never per batch.
- Early stopping on validation accuracy: after every epoch the validation accuracy
  is measured; the weights of the best epoch (first one, if tied) are kept; training
  stops once ``patience`` epochs pass without a strict improvement, or after
  ``max_epochs``; then the best weights are restored.

Fast path: the dataset stays on the device as one tensor, a batch is an index slice of
a random permutation made on the device (no DataLoader), the epoch loss is summed on
the device (one synchronisation per epoch). On a GPU Adam is fused.

Precision (``CNNTrainConfig.precision``, :func:`resolve_precision`): ``"auto"`` runs the
forward pass under bf16 autocast with channels_last tensors on a GPU, and on a CPU whose
processor computes bf16 natively (AVX-512 BF16 or AMX, :func:`cpu_has_bf16`; detected,
never assumed); elsewhere float32 in the default memory layout, exactly as before.
``"float32"`` turns it off, ``"bf16"`` forces it. Under autocast the weights, the Adam
moments and the batch-norm running statistics stay float32 (autocast casts the inputs of
convolutions and matrix products, not the parameters; batch norm accumulates its batch
statistics in float32 and updates float32 buffers), and the losses are evaluated in float32.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kdlib.cifar import ImageSplit
from kdlib.losses import soft_cross_entropy

MODES = ("hard", "soft")
#: Values of ``CNNTrainConfig.precision``: ``auto`` (bf16 where the device computes it natively), or forced.
PRECISIONS = ("auto", "float32", "bf16")


@functools.lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """Whether this processor computes bf16 natively: the ``avx512_bf16`` or ``amx_bf16`` flag,
    asked of torch's own CPU check (``torch.cpu._is_avx512_bf16_supported``,
    ``torch.cpu._is_amx_tile_supported``) or, where torch lacks it, read off ``/proc/cpuinfo``.
    False when neither can say."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(callable(c) for c in checks):
        try:
            return any(bool(c()) for c in checks if callable(c))
        except Exception:  # noqa: BLE001 - a private API: fall back to the flags
            pass
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision a run on ``device`` uses: ``"bf16"`` (bf16 autocast, channels_last) or
    ``"float32"``. ``"auto"``: bf16 on a GPU and on a CPU with :func:`cpu_has_bf16`, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    dev = torch.device(device)
    return "bf16" if dev.type == "cuda" or (dev.type == "cpu" and cpu_has_bf16()) else "float32"


@dataclass(frozen=True)
class CNNTrainConfig:
    """Adam + L2 + early stopping settings; ``seed`` chooses the batch order (and the random
    flips and shifts when ``augment``, see :func:`augment_batch`)."""

    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 20
    temperature: float = 1.0
    seed: int = 0
    eval_batch_size: int = 1000
    augment: bool = False
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight decay must be a finite number >= 0, got {self.weight_decay}")
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False, got {self.augment!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass
class TrainResult:
    """What one training run did: best epoch, its validation accuracy, epochs run, per-epoch history,
    wall seconds and the CPU seconds of this process (all its threads) over the same span, and
    the precision used (``"bf16"`` or ``"float32"``, :func:`resolve_precision`)."""

    best_epoch: int
    best_val_acc: float
    epochs_run: int
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    precision: str = "float32"


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Batch mean of ``-sum_k softmax(t/T)_k ln softmax(s/T)_k`` (in float32)."""
    return soft_cross_entropy(student_logits.float(), teacher_logits.float(), temperature)


def hard_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``-ln softmax(z)_y`` (in float32)."""
    return F.cross_entropy(logits.float(), y)


#: Pixels an image may be shifted by in each direction when augmenting (zero padding).
SHIFT = 4


def augment_draws(b: int, gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The random draws of :func:`augment_batch` for ``b`` images, in this order: ``rand(b)``
    (flip when < 1/2), then ``randint(0, 9, (b, 2))`` (the window's offset in the padded image)."""
    flip = torch.rand(b, device=device, generator=gen) < 0.5
    shift = torch.randint(0, 2 * SHIFT + 1, (b, 2), device=device, generator=gen)
    return flip, shift


def apply_augment(x: torch.Tensor, flip: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Flip the images where ``flip``, pad by 4 zero pixels, take the 32x32 window at ``shift``."""
    b, c, h, w = x.shape
    dev = x.device
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    xp = F.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT))
    rows = (shift[:, 0:1] + torch.arange(h, device=dev)).view(b, 1, h, 1)
    cols = (shift[:, 1:2] + torch.arange(w, device=dev)).view(b, 1, 1, w)
    return xp[torch.arange(b, device=dev).view(b, 1, 1, 1), torch.arange(c, device=dev).view(1, c, 1, 1), rows, cols]


def augment_batch(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The usual CIFAR augmentation, on the device: each image is flipped left-right with
    probability 1/2, then shifted by ``(dy, dx)``, each uniform in ``-4..4``, into a 32x32
    window of the zero-padded image (a random 32x32 crop of the image padded by 4 pixels)."""
    return apply_augment(x, *augment_draws(x.shape[0], gen, x.device))


def _autocast(device: torch.device, precision: str = "auto"):
    """bf16 autocast on ``device`` when :func:`resolve_precision` says bf16, else a no-op context."""
    dev = torch.device(device)
    on = resolve_precision(precision, dev) == "bf16"
    return torch.autocast(device_type=dev.type if dev.type in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16,
                          enabled=on)


def _prepare(model: nn.Module, x: torch.Tensor, precision: str = "auto") -> torch.Tensor:
    """channels_last for the model and the images when the precision is bf16; in float32 both
    exactly as given (the images' own strides choose the convolution's layout, as they always
    did, so a float32 run is bit for bit the one the stored records came from)."""
    if x.dim() == 4 and resolve_precision(precision, x.device) == "bf16":
        model.to(memory_format=torch.channels_last)
        return x.contiguous(memory_format=torch.channels_last)
    return x


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000, precision: str = "auto") -> torch.Tensor:
    """Logits (float32, N x classes) in eval mode, in chunks; the model is moved to ``x``'s device.
    ``precision`` as :class:`CNNTrainConfig`'s (bf16 autocast and channels_last, or float32)."""
    was_training = model.training
    model.to(x.device).eval()
    x = _prepare(model, x, precision)
    outs = []
    with _autocast(x.device, precision):
        for i in range(0, x.shape[0], batch_size):
            outs.append(model(x[i : i + batch_size]).float())
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def accuracy(model: nn.Module, data: ImageSplit, batch_size: int = 1000, precision: str = "auto") -> float:
    """Fraction of ``data`` classified correctly (argmax of the logits)."""
    pred = predict_logits(model, data.x, batch_size, precision).argmax(1)
    return float((pred == data.y).float().mean())


def train_classifier(
    model: nn.Module,
    train: ImageSplit,
    val: ImageSplit,
    cfg: CNNTrainConfig,
    *,
    teacher_logits: torch.Tensor | None = None,
    progress: bool = False,
    desc: str = "train",
    epoch_callback: Callable[[int, nn.Module, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place with early stopping; the best validation weights are restored.

    ``teacher_logits`` (N_train x classes) switches from hard labels to soft labels
    (:func:`kd_loss` at ``cfg.temperature``). With ``cfg.augment`` every batch is flipped and
    shifted (:func:`augment_batch`); an augmented image keeps the soft label of the image it
    came from (the teacher's probabilities are computed once, on the unaugmented set). ``epoch_callback(epoch, model, val_acc)``
    is called after every epoch's validation (epochs count from 1).
    """
    dev = train.x.device
    n = len(train)
    if n < 2:
        raise ValueError("need at least two training images")
    if teacher_logits is not None:
        if teacher_logits.shape[0] != n:
            raise ValueError(f"teacher_logits has {teacher_logits.shape[0]} rows, the training set {n}")
        teacher_logits = teacher_logits.to(dev, torch.float32)
    model.to(dev)
    prec = resolve_precision(cfg.precision, dev)
    x = _prepare(model, train.x, prec)
    y = train.y
    # fused Adam on a GPU: one kernel for the whole update instead of several per tensor
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           fused=True if dev.type == "cuda" else None)
    gen = torch.Generator(device=dev).manual_seed(int(cfg.seed))
    bs = min(cfg.batch_size, n)
    steps = n // bs  # full batches only: a last batch of one image would break batch norm
    res = TrainResult(best_epoch=0, best_val_acc=-1.0, epochs_run=0, precision=prec)
    best_state: dict[str, torch.Tensor] | None = None
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(range(1, cfg.max_epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        perm = torch.randperm(n, device=dev, generator=gen)
        total = torch.zeros((), device=dev)
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            xb = augment_batch(x[idx], gen) if cfg.augment else x[idx]
            if prec == "bf16" and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(dev, prec):
                logits = model(xb)
            if teacher_logits is None:
                loss = hard_loss(logits, y[idx])
            else:
                loss = kd_loss(logits, teacher_logits[idx], cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        acc = accuracy(model, val, cfg.eval_batch_size, prec)
        res.train_loss.append(float(total) / steps)
        res.val_acc.append(acc)
        res.epochs_run = epoch
        if acc > res.best_val_acc:
            res.best_val_acc, res.best_epoch = acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if epoch_callback is not None:
            epoch_callback(epoch, model, acc)
        bar.set_postfix(val=f"{acc:.3f}", best=f"{res.best_val_acc:.3f}@{res.best_epoch}")
        if epoch - res.best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    res.seconds = time.perf_counter() - t0
    res.cpu_seconds = time.process_time() - c0
    return res
