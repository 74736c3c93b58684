"""Chapter 7: the measurements that chose the CPU profile (``NAME = "deep_settings"``).

One record per :class:`Config`: at one noise level, the teacher and the *hard* student of
runs ``0 .. runs-1`` of :mod:`kdlib.experiments.deep`, trained for exactly ``epochs`` epochs
with the validation and test accuracy after every epoch. :func:`early_stopping` replays any
``(max_epochs, patience)`` on the stored curves, :func:`settings_summary` summarises them per
rule, and :func:`choose_settings` is the rule, fixed before the profile's records were
computed, that picked the ``cpu`` profile of :data:`kdlib.experiments.deep.PROFILES` under
the budget :data:`PROFILE_BUDGET_S`. :func:`sweep_configs`: the chapter's measurements
(:data:`SETTINGS_GRID` and :data:`SETTINGS_EXTRA`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from kdlib.cifar import load_cat_dog, source_notice
from kdlib.data import check_variance, resolve_device
from kdlib.experiments.deep import NOISE_VARIANCES, STUDENT, TEACHER
from kdlib.fit import mean_sd
from kdlib.results import RunOutput
from kdlib.train_cnn import CNNTrainConfig, accuracy, resolve_precision, train_classifier
from kdlib.validate import in_interval, integer, optional_integer
from kdlib.vgg import build_vgg, n_parameters

NAME = "deep_settings"




@dataclass(frozen=True)
class Config:
    """One measurement for choosing a profile: at one noise level, the teacher and the *hard*
    student (never the soft one, so the choice cannot look at the soft-minus-hard gap) of
    runs ``0 .. runs-1``, trained for exactly ``epochs`` epochs (no early stopping), with the
    validation and test accuracy recorded after every epoch (runs ``first_run ..`` when it is set).

    Seeds, data and batch order are those of :func:`run` (run ``r``: noise seed ``r``,
    batch order ``r``, teacher init ``1000 + r``, student init ``2000 + r``), so the first
    ``e`` epochs here are the first ``e`` epochs of the profile's nets with the same width,
    training-set size and batch size, and :func:`early_stopping` on the stored curves
    gives what any ``(max_epochs, patience)`` would have picked.
    """

    noise_variance: float = 0.01
    width_mult: float = 0.25
    train_limit: int | None = None
    epochs: int = 30
    runs: int = 2
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 128
    augment: bool = False
    split_seed: int = 0
    classes: tuple[str, str] = ("cat", "dog")
    #: The runs are ``first_run .. first_run + runs - 1`` (as :attr:`kdlib.experiments.deep.Config.first_run`;
    #: left out of the key at 0, :data:`kdlib.results.KEY_OMITTED_AT`).
    first_run: int = 0
    device: str = "auto"
    progress: bool = True
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_variance(self.noise_variance)
        for name in ("runs", "epochs", "batch_size"):
            integer(name, getattr(self, name), 1)
        integer("first_run", self.first_run, 0)
        optional_integer("train_limit", self.train_limit, 2, none_means="all 9,600")
        in_interval("width_mult", self.width_mult, 0, 4, closed_high=True)
        self.train_config(0)
        object.__setattr__(self, "classes", tuple(self.classes))

    def train_config(self, seed: int) -> CNNTrainConfig:
        return CNNTrainConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                              max_epochs=self.epochs, patience=self.epochs, seed=int(seed), augment=self.augment,
                              precision=self.precision)


def run(config: Config) -> RunOutput:
    """Rows (one per run and net): per-epoch lists ``val_acc``, ``test_acc`` (%), ``train_loss``,
    ``epoch_seconds`` (wall clock of training plus the validation pass; the extra test pass is not
    counted) and ``epoch_cpu_seconds`` (the process's CPU time over the same span)."""
    import time

    dev = resolve_device(config.device)
    prec = resolve_precision(config.precision, dev)
    rows: list[dict[str, Any]] = []
    source: dict[str, Any] = {}
    runs = range(config.first_run, config.first_run + config.runs)
    for r in runs:
        data = load_cat_dog(config.classes, noise_variance=config.noise_variance, noise_seed=r,
                            split_seed=config.split_seed, train_limit=config.train_limit, device=dev)
        source = data.source
        for role, spec, seed in (("teacher", TEACHER, 1000 + r), ("student", STUDENT, 2000 + r)):
            model = build_vgg(spec, width_mult=config.width_mult, seed=seed)
            test: list[float] = []
            secs: list[float] = []
            cpu: list[float] = []
            clock = [time.perf_counter(), time.process_time()]

            def after_epoch(epoch: int, m: torch.nn.Module, val: float) -> None:
                secs.append(round(time.perf_counter() - clock[0], 3))
                cpu.append(round(time.process_time() - clock[1], 3))
                test.append(round(100.0 * accuracy(m, data.test, precision=prec), 4))
                clock[0], clock[1] = time.perf_counter(), time.process_time()

            res = train_classifier(model, data.train, data.val, config.train_config(r), progress=config.progress,
                                   desc=f"w {config.width_mult:g} n {len(data.train)} run {r} {role}",
                                   epoch_callback=after_epoch)
            rows.append({
                "noise_variance": config.noise_variance, "width_mult": config.width_mult,
                "n_train": len(data.train), "run": r, "model": role, "mode": "hard",
                "val_acc": [round(100.0 * a, 4) for a in res.val_acc], "test_acc": test,
                "train_loss": [round(v, 6) for v in res.train_loss], "epoch_seconds": secs,
                "epoch_cpu_seconds": cpu,
                "params": n_parameters(model), "layers": model.describe(),
            })
    extra = {"data_source": source, "data_notice": source_notice(source),
             "seed_scheme": "as the deep experiment: noise seed r, batch order r, teacher 1000+r, student 2000+r",
             "precision": prec}
    return RunOutput(rows=rows, seeds=[s for r in runs for s in (r, 1000 + r, 2000 + r)],
                     device=str(dev), extra=extra)


def early_stopping(val_acc: Sequence[float], max_epochs: int, patience: int) -> tuple[int, int]:
    """``(best epoch, epochs run)`` of :func:`kdlib.train_cnn.train_classifier`'s rule on a
    validation curve (epochs count from 1): the best epoch is the first one with the
    largest accuracy so far (strict improvement), and training stops ``patience`` epochs
    after it, or after ``max_epochs``. A curve too short to decide is a ``ValueError``."""
    integer("max_epochs", max_epochs, 1)
    integer("patience", patience, 1)
    best, best_epoch = -math.inf, 0
    for epoch, acc in enumerate(val_acc[:max_epochs], 1):
        if acc > best:
            best, best_epoch = acc, epoch
        if epoch - best_epoch >= patience:
            return best_epoch, epoch
    if len(val_acc) < max_epochs:
        raise ValueError(f"a curve of {len(val_acc)} epochs cannot say where max_epochs={max_epochs}, "
                         f"patience={patience} stops")
    return best_epoch, max_epochs


def settings_summary(records: Iterable[dict[str, Any]], choices: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per settings record (width, training-set size) and per ``(max_epochs, patience)`` in
    ``choices`` that its curves can decide: the mean over runs of the teacher's and the hard
    student's test accuracy at the epoch early stopping picks, the teacher's lead (paired
    per run: mean and sample sd), the mean epochs each net runs, and the CPU seconds of one
    run of the profile (teacher plus two students, taking the soft student to cost what the
    hard one does), from the stored per-epoch times."""
    out = []
    for rec in records:
        c = rec["config"]
        by = {(row["model"], row["run"]): row for row in rec["rows"]}
        runs = sorted({r for _, r in by})
        for max_epochs, patience in choices:
            if max_epochs > c["epochs"] and any(len(by[k]["val_acc"]) < max_epochs for k in by):
                continue
            try:
                picks = {k: early_stopping(row["val_acc"], max_epochs, patience) for k, row in by.items()}
            except ValueError:
                continue
            acc = {k: by[k]["test_acc"][picks[k][0] - 1] for k in by}
            secs = {k: sum(by[k]["epoch_seconds"][: picks[k][1]]) for k in by}
            lead = [acc[("teacher", r)] - acc[("student", r)] for r in runs]
            s = {"noise_variance": c["noise_variance"], "width_mult": c["width_mult"], "augment": c.get("augment", False),
                 "n_train": by[("teacher", runs[0])]["n_train"], "batch_size": c["batch_size"],
                 "max_epochs": max_epochs, "patience": patience, "runs": len(runs)}
            for role, name in (("teacher", "teacher"), ("student", "hard")):
                s[name] = statistics.fmean(acc[(role, r)] for r in runs)
                s[name + "_epochs"] = statistics.fmean(picks[(role, r)][1] for r in runs)
                s[name + "_seconds"] = statistics.fmean(secs[(role, r)] for r in runs)
            s["lead"], s["lead_sd"] = mean_sd(lead)
            s["run_seconds"] = s["teacher_seconds"] + 2 * s["hard_seconds"]
            out.append(s)
    return sorted(out, key=lambda s: (s["augment"], s["width_mult"], s["n_train"], s["max_epochs"], s["patience"]))


#: The settings measured for choosing the CPU profile (noise 0.01, runs 0 and 1 unless said).
SETTINGS_GRID: tuple[dict[str, Any], ...] = (
    dict(width_mult=0.125, train_limit=None, epochs=20),
    dict(width_mult=0.25, train_limit=None, epochs=12),
    dict(width_mult=0.125, train_limit=None, epochs=30, augment=True),
    dict(width_mult=0.25, train_limit=None, epochs=25, augment=True),
)


#: One more measurement, not a candidate (the rule looks at noise 0.01 only): the widest teacher
#: with flips and shifts at the noisiest level, to see whether it stays ahead of its student there.
SETTINGS_EXTRA: tuple[dict[str, Any], ...] = (
    dict(noise_variance=0.2, width_mult=0.25, train_limit=None, epochs=25, augment=True),
)


#: The stopping rules replayed on them: (max_epochs, patience).
SETTINGS_CHOICES: tuple[tuple[int, int], ...] = tuple(
    (e, p) for e in (10, 12, 15, 20, 25, 30) for p in (3, 5, 8, 10) if p < e)


#: CPU budget of the whole profile (one core), levels and runs it must cover.
PROFILE_BUDGET_S = 7200.0


PROFILE_RUNS = 5


def profile_estimate(s: dict[str, Any], runs: int = PROFILE_RUNS, levels: int = len(NOISE_VARIANCES),
                     extra: int = 2) -> float:
    """Seconds of a whole profile with the settings of one :func:`settings_summary` row: ``levels``
    noise levels of ``runs`` runs of a teacher and two students, plus one more student at
    ``extra`` levels (the T = 4 variant), each net costing what it cost at noise 0.01."""
    return runs * (levels * s["run_seconds"] + extra * s["hard_seconds"])


def choose_settings(summary: list[dict[str, Any]], budget_s: float = PROFILE_BUDGET_S,
                    min_runs: int = 2) -> dict[str, Any] | None:
    """The rule that chose the CPU profile, fixed before its records were computed: among the
    settings measured at noise 0.01 (at least ``min_runs`` runs) whose whole profile fits ``budget_s``
    (:func:`profile_estimate`), the one whose teacher leads the hard student most at noise
    0.01; leads within one point of the best count as equal, and of those the cheapest wins.
    ``None`` when nothing fits."""
    ok = [s for s in summary if s["runs"] >= min_runs and profile_estimate(s) <= budget_s
          and abs(s["noise_variance"] - 0.01) < 1e-9]
    if not ok:
        return None
    top = max(s["lead"] for s in ok)
    return min((s for s in ok if s["lead"] >= top - 1.0), key=profile_estimate)


def sweep_configs() -> list[Config]:
    """The chapter's measurements: :data:`SETTINGS_GRID` (the candidates, noise 0.01), then
    :data:`SETTINGS_EXTRA` (not candidates)."""
    return [Config(**s) for s in SETTINGS_GRID + SETTINGS_EXTRA]
