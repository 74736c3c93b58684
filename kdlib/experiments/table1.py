"""Chapter 1: the paper's Table 1 (binary MNIST, a 512-unit teacher, small students).

One record = one dataset variant and one full setting: a teacher trained on
hard labels, then for every (mode, width, seed) a student of the paper's model
(symmetric initialisation, fixed outer layer, 1/sqrt(m) scaling) trained by
projected SGD on the hard labels (logistic loss) or on the teacher's soft
labels ``sigmoid(f_teacher(x) / T)`` (Bernoulli cross-entropy). All students
of a record train together as one wide layer (:class:`kdlib.nets.StudentBank`);
a hard and a soft student with the same width and seed start from the same
initialisation.

The paper leaves the learning rate, epochs, batch size, radius B, input scaling
and seeds unreported; the defaults here are ours and Chapter 1 states why. The
chapter's tables are in :mod:`kdlib.chapters.motivation`.

Parameters and fields: the chapter's papermill parameters are the fields of :class:`Config`
by the same names, but for ``dataset`` (``"both"`` or one task of :data:`kdlib.validate.TASKS`;
one record per task, in the field ``dataset``, a stored key), ``curve_seeds``, ``show_curve``
and ``show_sweep`` (which other records the chapter shows: :func:`curve_config`,
:func:`settings_sweep`). ``seeds`` is a count (the seeds ``0 .. seeds-1``).
"""
from __future__ import annotations

import ast
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from kdlib.data import binary_mnist, resolve_device, SCALINGS
from kdlib.nets import check_width
from kdlib.validate import TASKS, choice, integer, number, parameter_list
from kdlib.validate import device as check_device
from kdlib.results import RunOutput
from kdlib.train import MODES, PGDConfig, evaluate, make_bank, soft_labels, train_students
from kdlib.teachers import load_or_train_teacher

NAME = "table1"


@dataclass(frozen=True)
class Config:
    """One dataset variant of Table 1, and every setting the paper left open."""

    dataset: str = "full"
    widths: tuple[int, ...] = (4, 6, 8)
    seeds: int = 10
    epochs: int = 20
    lr: float = 64.0
    batch_size: int = 128
    B: float = math.inf
    scaling: str = "unit"
    train_outer: bool = False
    temperature: float = 1.0
    teacher_width: int = 512
    teacher_epochs: int = 30
    teacher_lr: float = 64.0
    teacher_B: float = math.inf
    teacher_seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        choice("dataset", self.dataset, TASKS)
        check_device("device", self.device, here=False)  # whether it is on this machine: before computing
        # papermill passes lists and ints: normalise so equal settings hash equally
        for name in ("lr", "B", "temperature", "teacher_lr", "teacher_B"):
            object.__setattr__(self, name, number(name, getattr(self, name), finite=False))
        widths = parameter_list("widths", self.widths)  # papermill -p widths "[4, 6]" passes a string
        if not widths:
            raise ValueError("widths must name at least one student width")
        for w in widths:
            check_width(w)
        object.__setattr__(self, "widths", widths)
        check_width(self.teacher_width)
        integer("seeds (the number of runs)", self.seeds, 1)
        choice("scaling", self.scaling, SCALINGS)
        number("temperature", self.temperature, gt=0)
        # PGDConfig validates lr, epochs, batch size and B.
        self.student_pgd()
        self.teacher_pgd()

    def student_pgd(self) -> PGDConfig:
        return PGDConfig(lr=self.lr, epochs=self.epochs, batch_size=self.batch_size, B=self.B, order_seed=1)

    def teacher_pgd(self) -> PGDConfig:
        return PGDConfig(lr=self.teacher_lr, epochs=self.teacher_epochs, batch_size=self.batch_size, B=self.teacher_B, order_seed=0)


def run(config: Config, progress: bool = True) -> RunOutput:
    """Train the teacher, then all students of ``config``; one row per model and seed."""
    device = resolve_device(config.device)
    train = binary_mnist(config.dataset, True, scaling=config.scaling, device=device)
    test = binary_mnist(config.dataset, False, scaling=config.scaling, device=device)
    teacher = trained_teacher(config, train, progress)
    p = soft_labels(teacher, train.x, config.temperature)
    t_test = evaluate(teacher, test.x, test.y)
    t_train = evaluate(teacher, train.x, train.y)
    rows: list[dict[str, Any]] = [
        {
            "dataset": config.dataset,
            "model": "teacher",
            "mode": "hard",
            "width": config.teacher_width,
            "seed": config.teacher_seed,
            "test_acc": round(100 * float(t_test["accuracy"][0]), 4),
            "train_acc": round(100 * float(t_train["accuracy"][0]), 4),
        }
    ]
    seeds = list(range(config.seeds))
    bank = make_bank(config.widths, seeds, MODES, train.x.shape[1], train_outer=config.train_outer, device=device)
    log = train_students(
        bank, train.x, train.y, modes=[s.tag for s in bank.specs], pgd=config.student_pgd(), soft_targets=p,
        progress=progress, desc=f"{len(bank.specs)} students ({config.dataset})",
    )
    s_test = evaluate(bank, test.x, test.y)
    s_train = evaluate(bank, train.x, train.y, p)
    dist = bank.distance_ratio()
    for s, spec in enumerate(bank.specs):
        rows.append(
            {
                "dataset": config.dataset,
                "model": "student",
                "mode": spec.tag,
                "width": spec.width,
                "seed": spec.seed,
                "test_acc": round(100 * float(s_test["accuracy"][s]), 4),
                "train_acc": round(100 * float(s_train["accuracy"][s]), 4),
                "train_logistic": round(float(s_train["logistic"][s]), 6),
                "train_kl": round(float(s_train["kl"][s]), 6),
                "final_epoch_loss": round(float(log.epoch_loss[-1, s]), 6),
                "max_dist_ratio": round(float(dist[bank.student_slice(s)].max()), 4),
            }
        )
    extra = {
        "data": f"MNIST (torchvision files from {train.task.name} task; n_train={len(train)}, n_test={len(test)})",
        "n_train": len(train),
        "n_test": len(test),
        "soft_label_mean_confidence": round(float((p - 0.5).abs().mean() + 0.5), 4),
    }
    return RunOutput(rows=rows, seeds=seeds, device=str(device), extra=extra)


_TEACHERS: dict[tuple, torch.nn.Module] = {}


def trained_teacher(config: Config, train, progress: bool = False):
    """Chapter 1's teacher for ``config`` on ``train``: read from the teacher store (:mod:`kdlib.teachers`,
    ``results/teachers/``) or trained once and stored there, and cached in this process, so every record and
    every rerun that changes only student settings shares one trained teacher."""
    key = (config.dataset, config.scaling, config.teacher_width, config.teacher_seed, config.batch_size, str(config.teacher_pgd()), str(train.x.device))
    if key not in _TEACHERS:
        _TEACHERS.clear()
        _TEACHERS[key] = load_or_train_teacher(
            train, task=f"binary_mnist:{config.dataset}:train", width=config.teacher_width, pgd=config.teacher_pgd(),
            seed=config.teacher_seed, progress=progress,
        )
    return _TEACHERS[key]


def with_changes(config: Config, **changes: Any) -> Config:
    """A copy of ``config`` with some fields changed (validated again)."""
    return dataclasses.replace(config, **changes)


#: Widths of the finer curve in Chapter 1 (test accuracy against width).
CURVE_WIDTHS = (2, 4, 8, 16, 32, 64)


def curve_config(base: Config, seeds: int = 5) -> Config:
    """The width-curve setting: ``base`` with widths 2..64 and ``seeds`` runs each."""
    return with_changes(base, widths=CURVE_WIDTHS, seeds=seeds)


def settings_sweep(base: Config, seeds: int = 5) -> list[tuple[str, Config]]:
    """The settings the paper left open, each changed alone from ``base`` (with ``seeds`` runs).

    Input scaling ``pixel`` keeps pixels in [0, 1] (squared norms of about 100
    instead of 1), so both learning rates are divided by 100 to take the same
    step in function space.
    """
    b = with_changes(base, seeds=seeds)
    return [
        ("chapter default", b),
        ("B = 1 (Theorem 2's radius)", with_changes(b, B=1.0)),
        ("B = 1, learning rate 1", with_changes(b, B=1.0, lr=1.0)),
        ("B = 4", with_changes(b, B=4.0)),
        ("B = 16", with_changes(b, B=16.0)),
        ("learning rate / 4", with_changes(b, lr=b.lr / 4)),
        ("learning rate x 4", with_changes(b, lr=b.lr * 4)),
        ("3x the epochs", with_changes(b, epochs=3 * b.epochs)),
        ("full batch (100 steps)", with_changes(b, batch_size=0, epochs=100)),
        ("pixel inputs in [0, 1]", with_changes(b, scaling="pixel", lr=b.lr / 100, teacher_lr=b.teacher_lr / 100)),
        ("softer teacher, T = 2", with_changes(b, temperature=2.0)),
        ("softer teacher, T = 4", with_changes(b, temperature=4.0)),
        ("trained outer layer (not the paper's model)", with_changes(b, train_outer=True)),
        ("trained outer layer, learning rate / 4", with_changes(b, train_outer=True, lr=b.lr / 4)),
    ]


def book_configs(datasets: tuple[str, ...] = TASKS) -> list[Config]:
    """Every configuration Chapter 1 shows, with its default parameters."""
    configs = [Config(dataset=d) for d in datasets]
    configs += [curve_config(Config(dataset=d)) for d in datasets]
    configs += [cfg for _, cfg in settings_sweep(Config(dataset="full"))]
    return configs


if __name__ == "__main__":  # python -m kdlib.experiments.table1 [--recompute]
    import sys

    from kdlib.results import load_or_run

    for cfg in book_configs():
        rec = load_or_run(sys.modules[__name__], cfg, recompute="--recompute" in sys.argv)
        print(f"{rec['key']}  {cfg.dataset:8s} widths={cfg.widths} seeds={cfg.seeds}  {rec['provenance']['wall_time_s']:.0f} s", flush=True)


def stored_teacher_accuracy(dataset: str, store=None) -> float | None:
    """Test accuracy (%) of Chapter 1's teacher in the stored default record of ``dataset``, or None."""
    from kdlib.results import ResultStore

    rec = (store or ResultStore()).load(NAME, Config(dataset=dataset))
    if rec is None:
        return None
    return next(r["test_acc"] for r in rec["rows"] if r["model"] == "teacher")
