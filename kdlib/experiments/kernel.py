"""Chapter 2: the limiting kernel on MNIST.

Two measurements per task (``full`` or ``reduced``, unit-norm inputs):

1. ``kind="convergence"``: the finite-width NTK at the paper's symmetric
   initialisation, :func:`kdlib.ntk.empirical_ntk`, against the closed-form
   limit :func:`kdlib.ntk.limit_kernel` on ``n_conv`` training images, as the
   relative Frobenius error ``||K_m - K|| / ||K||`` for each width and seed
   (Monte Carlo over ``m/2`` distinct rows, so the error should fall like ``1/sqrt(m)``).
2. ``kind="classifier"``: the kernel itself as a classifier, the infinite-width
   reference for Chapter 1: kernel ridge regression on ``n_train`` training
   points with targets ``y in {-1,+1}``, ``alpha = (K + ridge n I)^{-1} y``,
   prediction ``sign(K(x, X) alpha)`` on the whole test split.

The chapter's tables and figure are in :mod:`kdlib.chapters.kernel`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kdlib.data import binary_mnist
from kdlib.nets import check_width, symmetric_init
from kdlib.ntk import empirical_ntk, limit_kernel
from kdlib.results import RunOutput
from kdlib.validate import MNIST_TRAIN_SIZES, TASKS, at_most_available, choice, integer, nonempty, number, parameter_list

NAME = "kernel"


@dataclass(frozen=True)
class Config:
    task: str = "full"
    n_conv: int = 200
    widths: tuple[int, ...] = (16, 64, 256, 1024, 4096, 16384)
    seeds: int = 3
    n_train: int = 5000
    ridge: float = 1e-4
    subset_seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        choice("task", self.task, TASKS)
        for name in ("n_conv", "n_train"):
            integer(f"{name} (the kernel needs at least two points)", getattr(self, name), 2)
            at_most_available(name, getattr(self, name), MNIST_TRAIN_SIZES[self.task],
                              f"the {self.task} task's training images")
        widths = tuple(nonempty("widths", parameter_list("widths", self.widths)))
        for w in widths:
            check_width(w)
        object.__setattr__(self, "widths", widths)
        integer("seeds", self.seeds, 1)
        object.__setattr__(self, "ridge", number("ridge", self.ridge, gt=0))


def convergence_rows(x: torch.Tensor, widths: tuple[int, ...], seeds: int) -> list[dict]:
    """Relative Frobenius error of the finite-width NTK at init, per width and seed (float64)."""
    x = x.to(torch.float64)
    K = limit_kernel(x)
    norm = float(K.norm())
    rows = []
    for m in widths:
        for s in range(seeds):
            W0, _ = symmetric_init(m, x.shape[1], seed=1000 + s, dtype=torch.float64)
            err = float((empirical_ntk(W0, x) - K).norm()) / norm
            rows.append({"kind": "convergence", "width": m, "seed": s, "rel_error": err})
    return rows


def kernel_classifier(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor, ridge: float) -> dict:
    """Kernel ridge regression with the limiting kernel; accuracies of ``sign(f)``."""
    K = limit_kernel(xtr.to(torch.float64))
    n = K.shape[0]
    alpha = torch.linalg.solve(K + ridge * n * torch.eye(n, dtype=K.dtype), ytr.to(torch.float64))
    ftr = K @ alpha
    fte = limit_kernel(xte.to(torch.float64), xtr.to(torch.float64)) @ alpha
    return {
        "kind": "classifier",
        "train_accuracy": float((ftr * ytr.to(torch.float64) > 0).to(torch.float64).mean()),
        "test_accuracy": float((fte * yte.to(torch.float64) > 0).to(torch.float64).mean()),
        "n_test": int(xte.shape[0]),
    }


def run(cfg: Config) -> RunOutput:
    tr = binary_mnist(cfg.task, train=True, scaling="unit", limit=cfg.n_train, subset_seed=cfg.subset_seed)
    te = binary_mnist(cfg.task, train=False, scaling="unit")
    rows = convergence_rows(tr.x[: cfg.n_conv], cfg.widths, cfg.seeds)
    c = kernel_classifier(tr.x, tr.y, te.x, te.y, cfg.ridge)
    c.update({"task": cfg.task, "n_train": cfg.n_train, "ridge": cfg.ridge})
    rows.append(c)
    for r in rows:
        r["task"] = cfg.task
    return RunOutput(
        rows=rows,
        seeds=[1000 + s for s in range(cfg.seeds)] + [cfg.subset_seed],
        device="cpu",
        extra={"data": "MNIST (torchvision layout, $KDLIB_DATA/MNIST/raw), unit-norm inputs, test split in full"},
    )


# --------------------------------------------------------------------------- report helpers
