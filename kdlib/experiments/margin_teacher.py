"""Chapter 3: the kernel-limit teacher of a gamma record against the 512-unit teacher of Chapter 1.

``NAME = "margin_teacher"``: the kernel-limit teacher of the theory,
``z_j = E_z <v(z), phi_j(z)>`` for the witness ``v`` of a gamma record
(:mod:`kdlib.experiments.margin`, read from the store, computed if missing), on test
images, against the 512-unit teacher trained as in Chapter 1
(:mod:`kdlib.experiments.table1`'s teacher settings, on the task's whole training split).
Reads the ``margin`` records (:data:`kdlib.registry.READS`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from kdlib.data import binary_mnist
from kdlib.experiments import margin
from kdlib.margin import teacher_logits
from kdlib.results import RunOutput, load_or_run
from kdlib.validate import integer

NAME = "margin_teacher"


@dataclass(frozen=True)
class Config:
    """Kernel-limit teacher (witness of ``gamma``) vs the 512-unit teacher of Chapter 1 on test images."""

    gamma: margin.Config = field(default_factory=lambda: margin.Config(n=2000))
    n_test: int = 2000
    n_z_logits: int = 65536
    logit_seed: int = 7
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.gamma, dict):
            object.__setattr__(self, "gamma", margin.Config(**self.gamma))
        integer("n_test", self.n_test, 2)
        integer("n_z_logits", self.n_z_logits, 2)


def run(cfg: Config) -> RunOutput:
    from kdlib.experiments import table1
    from kdlib.train import soft_labels

    torch.set_num_threads(min(2, torch.get_num_threads()))
    rec = load_or_run(margin, cfg.gamma)
    est = margin.estimate_from_record(cfg.gamma, rec)
    te = binary_mnist(cfg.gamma.task, train=False, scaling="unit", limit=cfg.n_test, subset_seed=cfg.gamma.subset_seed)
    zk = teacher_logits(est, te.x, n_z=cfg.n_z_logits, seed=cfg.logit_seed).to(torch.float64)
    t1 = table1.Config(dataset=cfg.gamma.task)
    train = binary_mnist(cfg.gamma.task, train=True, scaling=t1.scaling)
    net = table1.trained_teacher(t1, train)
    p512 = soft_labels(net, te.x, 1.0).to(torch.float64)
    pk = torch.sigmoid(zk)
    y = te.y.to(torch.float64)
    rows = [
        {"i": i, "y": int(y[i]), "digit": int(te.digits[i]), "z_kernel": float(zk[i]), "p_kernel": float(pk[i]), "p_512": float(p512[i])}
        for i in range(len(te))
    ]
    return RunOutput(
        rows=rows, seeds=[cfg.logit_seed, t1.teacher_seed], device="cpu",
        extra={"data": "MNIST test split subset ($KDLIB_DATA/MNIST/raw), unit-norm inputs",
               "teacher_512": f"kdlib.train.train_teacher with table1.Config(dataset={cfg.gamma.task!r}) teacher settings "
                              f"(width {t1.teacher_width}, lr {t1.teacher_lr}, epochs {t1.teacher_epochs}, batch {t1.batch_size})",
               "kernel_accuracy": float((zk * y > 0).double().mean()), "teacher_512_accuracy": float(((p512 - 0.5) * y > 0).double().mean())},
    )
