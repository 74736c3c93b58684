"""The theory run as stated, and the per-step checks of the proof (book, Chapters 4 and 5).

One record per configuration (one MNIST task, ``n`` unit-norm training points, so
``c = 1``) holds four kinds of rows (field ``kind``):

- ``teacher``: the kernel-limit teacher. :func:`kdlib.margin.estimate_gamma` fits the
  witness ``v`` of Assumption 1 (dual weights on ``n_z`` Gaussian directions) with an
  interval for gamma (``gamma_interval_lo/hi``: the asymptotic three-standard-error rule,
  :meth:`kdlib.margin.MarginEstimate.asymptotic_interval`); :func:`kdlib.margin.teacher_logits` estimates the
  logits ``z_i = E_z <v(z), phi_i(z)>`` on ``n_z_eval`` fresh directions, and
  ``gamma = min_i y_i z_i`` is the margin of that witness on these logits (the
  value the theorems use below; ``z_se_max`` is the largest standard error of a
  witness margin in the estimator's certificate).
- ``lemma6``: for each width ``m`` and draw, ``max_i |f_i^0(U) - z_i|`` with
  ``U_j = a_j v(W_j(0)) / sqrt(m)`` at the symmetric initialisation
  (:func:`kdlib.nets.symmetric_init`), next to Lemma 6's radius as printed (which holds,
  :func:`kdlib.bounds.lemma6_radius`) and the weaker Hoeffding radius
  (:func:`kdlib.bounds.lemma6_hoeffding_radius`). Records before this change name the latter
  ``radius_corrected``; the tables compute both radii from ``n``, ``m`` and ``delta``.
- ``train``: students trained by full-batch projected gradient descent
  (:func:`kdlib.train.train_students`) exactly as the results prescribe. Soft
  (Theorem 2): ``B = 1``, ``eta = beta/3``, ``T = ceil(9/beta^2)``, targets
  ``sigmoid(z_i)``. Hard (Proposition 5): ``B = (2/gamma) ln(2/(ln2 beta_h))``,
  ``eta = hard_lr <= 1``, but ``T = hard_steps``, far below what Proposition 5
  demands (recorded as ``steps_required``). Per student: the iteration-averaged loss
  ``(1/T) sum_{t<T} R(W(t))`` and error, the largest ``sqrt(m) ||W_j(t) - W_j(0)||``
  over all rows and steps, Lemma 3's ratio ``R(W(t)) / ((32/gamma^2) R^KL(W(t)))``
  (at most 1 if the lemma holds), and the three terms of the proof's logit gap at
  the checkpoints (soft students).
- ``curve``: the running average of the loss and the error at a few steps.

Parameters and fields: the chapters' papermill parameters (lower case) are the fields of
:class:`Config` by the same names, but for ``tasks`` (one record per ``task`` of the list),
``eps`` (Chapter 4: the target of the width requirements, no field) and ``eps_figure`` and
``practice_width`` (Chapter 5's figure and comparison, no field); ``seeds`` is a count
(:func:`kdlib.validate.seed_values`: the field holds the seed values ``0 .. seeds-1``).

The tables and figures of Chapters 4 and 5 are in :mod:`kdlib.chapters.soft_labels` and
:mod:`kdlib.chapters.hard_labels` (with Chapter 5's comparison of the width requirements);
the independent re-implementation of the witness that the tests check these against is in
``tests/oracles.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm import tqdm

from kdlib import bounds, margin
from kdlib.data import binary_mnist
from kdlib.losses import bernoulli_entropy, bernoulli_kl, logistic_loss, zero_one_error
from kdlib.nets import StudentBank, check_width, symmetric_init
from kdlib.validate import (MNIST_TRAIN_SIZES, TASKS, at_most_available, choice, in_interval, integer, nonempty,
                            parameter_list, seed_values)
from kdlib.results import RunOutput
from kdlib.train import PGDConfig, make_bank, predict, train_students

NAME = "theory"


@dataclass(frozen=True)
class Config:
    """The papermill parameters of Chapters 4 and 5 that one record covers."""

    task: str = "reduced"
    n: int = 300
    data_seed: int = 0
    widths: tuple[int, ...] = (16, 64, 256, 1024)
    seeds: tuple[int, ...] = (0, 1)
    beta: float = 0.1
    delta: float = 0.1
    hard_beta: float = 0.1
    hard_lr: float = 1.0
    hard_steps: int = 900
    n_z: int = 8192
    gamma_steps: int = 3000
    n_z_eval: int = 100_000
    teacher_seed: int = 0
    lemma6_widths: tuple[int, ...] = (64, 256, 1024, 4096, 16384)
    lemma6_draws: int = 5
    checkpoints: int = 10
    curve_points: int = 40
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        choice("task", self.task, TASKS)
        integer("n", self.n, 2)
        at_most_available("n", self.n, MNIST_TRAIN_SIZES[self.task], f"the {self.task} task's training images")
        for name in ("widths", "lemma6_widths"):  # papermill -p widths "[16, 64]" passes a string
            object.__setattr__(self, name, parameter_list(name, getattr(self, name)))
        nonempty("widths", self.widths)
        object.__setattr__(self, "seeds", seed_values("seeds", self.seeds))
        nonempty("seeds", self.seeds)
        for m in tuple(self.widths) + tuple(self.lemma6_widths):
            check_width(m)
        in_interval("beta", self.beta, 0, 1)
        in_interval("hard_beta", self.hard_beta, 0, 1)
        in_interval("delta", self.delta, 0, 1 / 3)
        in_interval("hard_lr (Proposition 5 needs 0 < hard_lr <= 1)", self.hard_lr, 0, 1, closed_high=True)
        for name in ("hard_steps", "n_z", "gamma_steps", "n_z_eval", "lemma6_draws", "checkpoints", "curve_points"):
            integer(name, getattr(self, name), 1)

    @property
    def soft_lr(self) -> float:
        return self.beta / 3.0

    @property
    def soft_steps(self) -> int:
        return math.ceil(9.0 / self.beta**2 - 1e-9)


def lemma6_values(witness: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, m: int, seed: int) -> torch.Tensor:
    """``f_i^0(U) = (1/m) sum_j 1(W_j(0).x_i >= 0) <v(W_j(0)), x_i>`` for every ``i`` (Lemma 6's U)."""
    W0, _ = symmetric_init(m, x.shape[1], seed, dtype=torch.float64)
    xd = x.to(torch.float64)
    act = (W0 @ xd.T >= 0).to(torch.float64)
    return (act * (witness(W0).to(torch.float64) @ xd.T)).mean(0)


# --------------------------------------------------------------------------- training
def _per_student_max(bank: StudentBank, values: torch.Tensor) -> torch.Tensor:
    out = torch.full((bank.n_students,), -math.inf, dtype=values.dtype)
    return out.scatter_reduce(0, bank.segment.cpu(), values.cpu(), reduce="amax")


@torch.no_grad()
def gap_terms(bank: StudentBank, s: int, x: torch.Tensor, witness: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> dict[str, float]:
    """The proof's split of ``|f_i^t(W(0) + U) - z_i|`` for student ``s`` at its current ``W(t)`` (max over i).

    ``term1 = |f_i^t(W(0))|`` and ``term2 = |f_i^t(U) - f_i^0(U)|`` (activation changes),
    ``lemma6 = |f_i^0(U) - z_i|``, and ``gap`` the full left-hand side.
    """
    sl = bank.student_slice(s)
    m = bank.specs[s].width
    W0 = bank.W0[sl].to(torch.float64).cpu()
    Wt = bank.W[sl].detach().to(torch.float64).cpu()
    a = bank.a0[sl].to(torch.float64).cpu()
    xd = x.to(torch.float64).cpu()
    act0 = (W0 @ xd.T >= 0).to(torch.float64)
    actt = (Wt @ xd.T >= 0).to(torch.float64)
    U = a[:, None] * witness(W0).to(torch.float64) / math.sqrt(m)
    lin = lambda act, V: (a[:, None] * act * (V @ xd.T)).sum(0) / math.sqrt(m)  # noqa: E731
    f_t_W0 = lin(actt, W0)
    f_t_U, f_0_U = lin(actt, U), lin(act0, U)
    changed = (act0 != actt).to(torch.float64).mean(0)
    return {
        "term1": float(f_t_W0.abs().max()),
        "term2": float((f_t_U - f_0_U).abs().max()),
        "lemma6": float((f_0_U - z).abs().max()),
        "gap": float((f_t_W0 + f_t_U - z).abs().max()),
        "changed_frac": float(changed.max()),
    }


def activation_change_bound(n: int, m: int, B: float, delta: float, c: float = 1.0) -> float:
    """Bound on the fraction of rows whose activation on ``x_i`` can change inside ``S_B`` (all i, prob >= 1 - delta):

    ``sqrt(2/pi) B / (c sqrt(m)) + sqrt(ln(n/delta) / m)`` (Gaussian anti-concentration plus Hoeffding over m/2 rows).
    """
    return math.sqrt(2 / math.pi) * B / (c * math.sqrt(m)) + math.sqrt(math.log(n / delta) / m)


def _curve_steps(T: int, k: int) -> list[int]:
    pts = sorted({max(1, min(T, int(round(v)))) for v in torch.logspace(0, math.log10(T), k).tolist()})
    return pts


def _train(
    cfg: Config, mode: str, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor | None, *, B: float, lr: float, T: int,
    gamma: float, witness: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
) -> list[dict]:
    bank = make_bank(list(cfg.widths), list(cfg.seeds), [mode], x.shape[1], device=x.device)
    k = bank.n_students
    pgd = PGDConfig(lr=lr, epochs=1, batch_size=0, B=B)
    losses = torch.empty(T, k, dtype=torch.float64)
    errors = torch.empty(T, k, dtype=torch.float64)
    max_dist = torch.zeros(k, dtype=torch.float64)
    lemma3_ratio = torch.zeros(k, dtype=torch.float64)
    log_mismatch = 0.0
    ent = float(bernoulli_entropy(p).mean()) if p is not None else 0.0
    checks = set(int(round(v)) for v in torch.linspace(0, T, cfg.checkpoints + 1).tolist())
    gaps: dict[int, dict[str, float]] = {s: {} for s in range(k)}
    factor = bounds.lemma3_factor(gamma)
    for t in tqdm(range(T + 1), desc=f"{mode} PGD", disable=not cfg.progress, leave=False):
        f = predict(bank, x).to(torch.float64)
        if mode == "soft":
            loss = bernoulli_kl(f, p.to(torch.float64)[:, None]).mean(0)
        else:
            loss = logistic_loss(f, y.to(torch.float64)[:, None]).mean(0)
        err = zero_one_error(f, y.to(torch.float64)[:, None]).mean(0)
        if mode == "soft":
            kl = loss.clamp_min(1e-300)
            lemma3_ratio = torch.maximum(lemma3_ratio, err / (factor * kl))
        if t in checks and mode == "soft":
            for s in range(k):
                for key, val in gap_terms(bank, s, x, witness, z).items():
                    gaps[s][key] = max(gaps[s].get(key, 0.0), val)
        if t == T:
            final_loss, final_err = loss, err
            break
        losses[t], errors[t] = loss, err
        log = train_students(bank, x, y, modes=[mode] * k, pgd=pgd, soft_targets=p)
        # the train log's step loss is R(W(t)) (cross-entropy for soft: KL + mean entropy)
        log_mismatch = max(log_mismatch, float((log.step_loss[0].to(torch.float64) - ent - loss).abs().max()))
        max_dist = torch.maximum(max_dist, _per_student_max(bank, bank.distance_ratio().to(torch.float64)))
    rows = []
    run_avg = losses.cumsum(0) / torch.arange(1, T + 1, dtype=torch.float64)[:, None]
    err_avg = errors.cumsum(0) / torch.arange(1, T + 1, dtype=torch.float64)[:, None]
    for s, spec in enumerate(bank.specs):
        row = {
            "kind": "train", "mode": mode, "width": spec.width, "seed": spec.seed, "steps": T, "lr": lr, "B": B,
            "init_loss": float(losses[0, s]), "avg_loss": float(run_avg[-1, s]), "final_loss": float(final_loss[s]),
            "avg_error": float(err_avg[-1, s]), "final_error": float(final_err[s]), "init_error": float(errors[0, s]),
            "max_dist_ratio": float(max_dist[s]), "log_mismatch": log_mismatch,
        }
        if mode == "soft":
            row["lemma3_max_ratio"] = float(lemma3_ratio[s])
            row["activation_bound"] = activation_change_bound(len(y), spec.width, B, cfg.delta)
            row.update({f"gap_{k_}": v for k_, v in gaps[s].items()})
        rows.append(row)
        for t in _curve_steps(T, cfg.curve_points):
            rows.append({"kind": "curve", "mode": mode, "width": spec.width, "seed": spec.seed, "t": t,
                         "avg_loss": float(run_avg[t - 1, s]), "loss": float(losses[t - 1, s]),
                         "avg_error": float(err_avg[t - 1, s])})
    return rows


def load_data(cfg: Config):
    """The task's sample: ``n`` unit-norm MNIST training images (``subset_seed = data_seed``)."""
    return binary_mnist(cfg.task, train=True, scaling="unit", limit=cfg.n, subset_seed=cfg.data_seed, device=cfg.device)


def teacher_and_lemma6(cfg: Config, x: torch.Tensor, y: torch.Tensor) -> tuple[Callable, torch.Tensor, float, list[dict]]:
    """The kernel-limit teacher (witness, logits ``z``, ``gamma``) and the ``teacher`` and ``lemma6`` rows."""
    n, d = x.shape
    est = margin.estimate_gamma(x.cpu(), y.cpu(), n_z=cfg.n_z, seed=cfg.teacher_seed, steps=cfg.gamma_steps)
    witness = lambda zz: margin.witness(est, zz)  # noqa: E731
    z = margin.teacher_logits(est, x.cpu(), n_z=cfg.n_z_eval, seed=cfg.teacher_seed + 2).to(torch.float64)
    margins = y.cpu().to(torch.float64) * z
    gamma = float(margins.min())
    if not gamma > 0:
        raise RuntimeError(f"the witness has no positive margin on this sample (min y z = {gamma:.3g}); raise n_z or gamma_steps")
    lo, hi = est.asymptotic_interval(3.0)
    rows: list[dict] = [{
        "kind": "teacher", "n": n, "d": d, "gamma": gamma, "gamma_lower": est.lower, "gamma_upper": est.upper,
        "gamma_interval_lo": lo, "gamma_interval_hi": hi, "z_se_max": float(est.margins_se.max()),
        "z_abs_mean": float(z.abs().mean()), "z_abs_max": float(z.abs().max()), "margin_median": float(margins.median()),
        "teacher_error": float((margins <= 0).to(torch.float64).mean()),
        "init_kl": float(bernoulli_kl(torch.zeros_like(z), torch.sigmoid(z)).mean()),
    }]
    for m in cfg.lemma6_widths:
        for draw in range(cfg.lemma6_draws):
            dev = (lemma6_values(witness, x.cpu(), m, seed=1000 + draw) - z).abs()
            rows.append({"kind": "lemma6", "width": m, "draw": draw, "max_dev": float(dev.max()), "mean_dev": float(dev.mean()),
                         "radius_printed": bounds.lemma6_radius(n, m, cfg.delta, form="printed"),
                         "radius_hoeffding": bounds.lemma6_hoeffding_radius(n, m, cfg.delta)})
    return witness, z, gamma, rows


def run(cfg: Config) -> RunOutput:
    """Teacher, Lemma 6 check, soft (Theorem 2) and hard (Proposition 5) runs for one task."""
    torch.manual_seed(0)
    data = load_data(cfg)
    x, y = data.x, data.y
    n = x.shape[0]
    witness, z, gamma, rows = teacher_and_lemma6(cfg, x, y)
    p = torch.sigmoid(z).to(torch.float32).to(x.device)
    rows += _train(cfg, "soft", x, y, p, B=1.0, lr=cfg.soft_lr, T=cfg.soft_steps, gamma=gamma, witness=witness, z=z)
    prop5 = bounds.proposition5(n, 1.0, min(gamma, 1.0), cfg.hard_beta, cfg.delta, eta=cfg.hard_lr)
    hard_rows = _train(cfg, "hard", x, y, None, B=prop5.radius, lr=cfg.hard_lr, T=cfg.hard_steps, gamma=gamma, witness=witness, z=z)
    for r in hard_rows:
        if r["kind"] == "train":
            r["steps_required"] = prop5.steps
            r["width_required"] = prop5.width
    rows += hard_rows
    extra = {"data": f"MNIST train files (kdlib.data, $KDLIB_DATA/MNIST/raw), task {cfg.task}, {n} points (subset_seed={cfg.data_seed}), unit norm",
             "teacher": "kdlib.margin.estimate_gamma / witness / teacher_logits"}
    return RunOutput(rows=rows, seeds=list(cfg.seeds), device=str(cfg.device), extra=extra)


# --------------------------------------------------------------------------- tables and figures


# --------------------------------------------------------------------------- Chapter 5: comparing the bounds
