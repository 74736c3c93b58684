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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kdlib.data import binary_mnist
from kdlib.nets import check_width, symmetric_init
from kdlib.ntk import empirical_ntk, limit_kernel
from kdlib.results import RunOutput
from kdlib.validate import MNIST_TRAIN_SIZES, at_most_available, choice, integer, nonempty, number, parameter_list

NAME = "kernel"
TASKS = ("full", "reduced")


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


def convergence_summary(record: dict) -> list[dict]:
    """Per width: mean and standard deviation over seeds of the relative error, and mean * sqrt(m)."""
    rows = [r for r in record["rows"] if r["kind"] == "convergence"]
    out = []
    for m in sorted({r["width"] for r in rows}):
        e = torch.tensor([r["rel_error"] for r in rows if r["width"] == m], dtype=torch.float64)
        sd = float(e.std()) if e.numel() > 1 else math.nan
        out.append({"width": m, "mean": float(e.mean()), "sd": sd, "scaled": float(e.mean()) * math.sqrt(m)})
    return out


def plot_convergence(records: list[dict]):
    """Relative error of the finite-width NTK against the width (log-log), with a 1/sqrt(m) guide."""
    from kdlib.plots import new_figure

    fig, ax = new_figure()
    for rec, color in zip(records, ("#7d3c98", "#2471a3")):
        s = convergence_summary(rec)
        m = [r["width"] for r in s]
        ax.errorbar(m, [r["mean"] for r in s], yerr=[r["sd"] for r in s], marker="o", ms=4, capsize=3,
                    color=color, label=f"{rec['config']['task']} task, {rec['config']['n_conv']} images")
    s = convergence_summary(records[0])
    c = s[0]["scaled"]
    ax.plot(m, [c / math.sqrt(w) for w in m], "k--", lw=1, label=r"$\propto 1/\sqrt{m}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m (hidden units)")
    ax.set_ylabel(r"$\|K_m - K\|_F / \|K\|_F$")
    ax.legend()
    return fig


def classifier_rows(records: list[dict], chapter1_teacher: dict[str, float | None], paper_teacher: dict[str, float]) -> list[dict]:
    """One row per task: kernel classifier accuracy beside the 512-unit teachers (percent)."""
    out = []
    for rec in records:
        c = next(r for r in rec["rows"] if r["kind"] == "classifier")
        out.append({
            "task": c["task"], "n_train": c["n_train"], "n_test": c["n_test"],
            "train": 100 * c["train_accuracy"], "test": 100 * c["test_accuracy"],
            "ch1": chapter1_teacher.get(c["task"]), "paper": paper_teacher.get(c["task"]),
        })
    return out
