"""The theory run as stated, and the per-step checks of the proof (book, Chapters 4 and 5).

One record per configuration (one MNIST task, ``n`` unit-norm training points, so
``c = 1``) holds four kinds of rows (field ``kind``):

- ``teacher``: the kernel-limit teacher. :func:`kdlib.margin.estimate_gamma` fits the
  witness ``v`` of Assumption 1 (dual weights on ``n_z`` Gaussian directions) with a
  certified interval for gamma; :func:`kdlib.margin.teacher_logits` estimates the
  logits ``z_i = E_z <v(z), phi_i(z)>`` on ``n_z_eval`` fresh directions, and
  ``gamma = min_i y_i z_i`` is the margin of that witness on these logits (the
  value the theorems use below; ``z_se_max`` is the largest standard error of a
  witness margin in the estimator's certificate).
- ``lemma6``: for each width ``m`` and draw, ``max_i |f_i^0(U) - z_i|`` with
  ``U_j = a_j v(W_j(0)) / sqrt(m)`` at the symmetric initialisation
  (:func:`kdlib.nets.symmetric_init`), next to the printed and corrected radii of
  Lemma 6 (:func:`kdlib.bounds.lemma6_radius`).
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

Below the experiment: the tables (:class:`kdlib.report.Table`) and figures of Chapters 4 and 5, and
Chapter 5's comparison of the width requirements (:func:`crossover_gamma`,
:func:`width_ratio_grid`, :func:`practice_table`).
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
from kdlib.report import Table
from kdlib.validate import MNIST_TRAIN_SIZES, at_most_available, choice, in_interval, integer, nonempty, parameter_list
from kdlib.results import RunOutput
from kdlib.train import PGDConfig, make_bank, predict, train_students

NAME = "theory"
TASKS = ("full", "reduced")


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
        for name in ("widths", "seeds", "lemma6_widths"):  # papermill -p WIDTHS "[16, 64]" passes a string
            object.__setattr__(self, name, parameter_list(name, getattr(self, name)))
        nonempty("widths", self.widths)
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


# --------------------------------------------------------------------------- teacher
@dataclass
class Witness:
    """``v(z) = g(z) / ||g(z)||`` with ``g(z) = sum_i coef_i 1(<z, x_i> > 0) x_i`` (so ``||v|| <= 1``)."""

    x: torch.Tensor  # n x d, float64
    coef: torch.Tensor  # n, float64: q_i y_i

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(self.x.dtype)
        g = ((z @ self.x.T > 0).to(self.x.dtype) * self.coef) @ self.x
        return g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)

    def inner_phi(self, z: torch.Tensor) -> torch.Tensor:
        """``<v(z_k), phi_i(z_k)> = 1(<z_k, x_i> > 0) <v(z_k), x_i>`` (k x n)."""
        z = z.to(self.x.dtype)
        act = (z @ self.x.T > 0).to(self.x.dtype)
        g = (act * self.coef) @ self.x
        v = g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
        return act * (v @ self.x.T)


@torch.no_grad()
def teacher_logits(witness: Witness, n: int, d: int, *, n_z: int, seed: int, chunk: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ``z_i = E_z <v(z), phi_i(z)>`` and its standard error, on ``n_z`` directions from ``seed``.

    An independent re-implementation of :func:`kdlib.margin.teacher_logits` for a :class:`Witness`
    (used by the tests as a cross-check).
    """
    g = torch.Generator().manual_seed(int(seed))
    s1 = torch.zeros(n, dtype=torch.float64)
    s2 = torch.zeros(n, dtype=torch.float64)
    done = 0
    while done < n_z:
        k = min(chunk, n_z - done)
        vals = witness.inner_phi(torch.randn(k, d, generator=g, dtype=torch.float64))
        s1 += vals.sum(0)
        s2 += (vals**2).sum(0)
        done += k
    mean = s1 / n_z
    var = (s2 / n_z - mean**2).clamp_min(0) * n_z / max(n_z - 1, 1)
    return mean, (var / n_z).sqrt()


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
    lo, hi = est.interval(3.0)
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
                         "radius_corrected": bounds.lemma6_radius(n, m, cfg.delta)})
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
def _rows(record: dict, kind: str, **match) -> list[dict]:
    return [r for r in record["rows"] if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]


def teacher_row(record: dict) -> dict:
    """The record's ``teacher`` row."""
    return _rows(record, "teacher")[0]


def _fmt(v: float, digits: int = 2) -> str:
    """A number to ``digits`` significant digits, in the same style for every table."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.{max(digits - 1, 0)}e}"


def _table(header: list[str], lines: list[list[str]]) -> Table:
    """A :class:`kdlib.report.Table` (plain text as before, and an HTML table in the book)."""
    return Table(header, lines)


def teacher_table(records: list[dict]) -> Table:
    """One line per task: n, gamma of the fitted witness (and the dual value above it), |z_i|, R^KL(W(0))."""
    lines = []
    for rec in records:
        t = teacher_row(rec)
        lines.append([rec["config"]["task"], str(t["n"]), _fmt(t["gamma"]), f"[{_fmt(t['gamma_interval_lo'])}, {_fmt(t['gamma_interval_hi'])}]",
                      _fmt(t["margin_median"]), _fmt(t["z_abs_max"]), _fmt(t["z_se_max"], 1), _fmt(t["init_kl"])])
    return _table(["task", "<i>n</i>", "γ = min<sub><i>i</i></sub> <i>y<sub>i</sub> z<sub>i</sub></i>", "certified interval for γ",
                   "median <i>y<sub>i</sub> z<sub>i</sub></i>", "max |<i>z<sub>i</sub></i>|", "max s.e.",
                   "<i>R</i><sup>KL</sup>(<i>W</i>(0))"], lines)


def lemma6_table(record: dict) -> Table:
    """Per width: the largest ``max_i |f_i^0(U) - z_i|`` over the draws, and Lemma 6's two radii."""
    lines = []
    for m in record["config"]["lemma6_widths"]:
        rs = _rows(record, "lemma6", width=m)
        worst = max(r["max_dev"] for r in rs)
        lines.append([str(m), _fmt(sum(r["mean_dev"] for r in rs) / len(rs)), _fmt(worst), _fmt(worst * math.sqrt(m)),
                      _fmt(rs[0]["radius_printed"]), _fmt(rs[0]["radius_corrected"]), "yes" if worst <= rs[0]["radius_printed"] else "no"])
    return _table(["<i>m</i>", "mean dev", "max dev", "max dev·√<i>m</i>", "printed radius", "corrected radius",
                   "within printed"], lines)


def _by_width(record: dict, mode: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in _rows(record, "train", mode=mode):
        out.setdefault(r["width"], []).append(r)
    return out


def _mean(rs: list[dict], key: str) -> float:
    return sum(r[key] for r in rs) / len(rs)


def soft_table(record: dict) -> Table:
    """Theorem 2 as run: per width (mean over seeds) the averaged KL against beta, errors, the radius used."""
    cfg = record["config"]
    lines = []
    for m, rs in sorted(_by_width(record, "soft").items()):
        lines.append([str(m), _fmt(_mean(rs, "init_loss"), 3), _fmt(_mean(rs, "avg_loss"), 3), _fmt(cfg["beta"]),
                      "yes" if all(r["avg_loss"] <= cfg["beta"] for r in rs) else "no",
                      _fmt(_mean(rs, "avg_error")), _fmt(_mean(rs, "final_error")),
                      _fmt(max(r["max_dist_ratio"] for r in rs)), _fmt(max(r["lemma3_max_ratio"] for r in rs))])
    return _table(["<i>m</i>", "<i>R</i><sup>KL</sup>(<i>W</i>(0))", "avg <i>R</i><sup>KL</sup>", "β", "≤ β", "avg error",
                   "final error", "max √<i>m</i>‖Δ<i>W<sub>j</sub></i>‖", "Lemma 3 ratio"], lines)


def gap_table(record: dict) -> Table:
    """The proof's split of the logit gap along the soft runs (max over points and checkpoints, worst seed)."""
    lines = []
    for m, rs in sorted(_by_width(record, "soft").items()):
        g = {k: max(r[f"gap_{k}"] for r in rs) for k in ("term1", "term2", "lemma6", "gap", "changed_frac")}
        lines.append([str(m), _fmt(g["term1"]), _fmt(g["term2"]), _fmt(g["lemma6"]), _fmt(g["gap"]),
                      _fmt(g["changed_frac"]), _fmt(rs[0]["activation_bound"])])
    return _table(["<i>m</i>", "activation term 1", "activation term 2", "Lemma 6 term", "gap", "changed rows",
                   "bound on changed"], lines)


def hard_table(record: dict) -> Table:
    """Proposition 5 as far as run: per width (mean over seeds) the averaged logistic loss and error."""
    cfg = record["config"]
    lines = []
    for m, rs in sorted(_by_width(record, "hard").items()):
        lines.append([str(m), _fmt(rs[0]["B"], 3), str(rs[0]["steps"]), _fmt(rs[0]["steps_required"]), _fmt(_mean(rs, "avg_loss"), 3),
                      _fmt(cfg["hard_beta"]), _fmt(_mean(rs, "avg_error")), _fmt(_mean(rs, "final_error")),
                      _fmt(max(r["max_dist_ratio"] for r in rs))])
    return _table(["<i>m</i>", "<i>B</i>", "<i>T</i> run", "<i>T</i> required", "avg <i>R</i><sup>h</sup>", "β", "avg error",
                   "final error", "max √<i>m</i>‖Δ<i>W<sub>j</sub></i>‖"], lines)


def requirements_table(n: int, gamma: float, beta: float, eps: float, delta: float, c: float = 1.0) -> Table:
    """Width, step, iterations and radius of Theorem 2, Corollary 4 and Proposition 5, printed and corrected."""
    reqs = []
    for form in bounds.FORMS:
        reqs.append(bounds.theorem2(n, c, beta, delta, form=form))
        reqs.append(bounds.corollary4(n, c, gamma, eps, delta, form=form))
        reqs.append(bounds.proposition5_for_error(n, c, gamma, eps, delta, form=form))
    reqs.sort(key=lambda r: (r.result, r.form))
    lines = [[r.result, r.form, _fmt(r.width), _fmt(r.lr), _fmt(r.steps), _fmt(r.radius), _fmt(r.loss_target)] for r in reqs]
    return _table(["result", "form", "width <i>m</i>", "step η", "steps <i>T</i>", "radius <i>B</i>", "loss target"], lines)


def plot_lemma6(records: list[dict], ax) -> None:
    """Largest deviation ``max_i |f_i^0(U) - z_i|`` against width, with Lemma 6's radii (log-log)."""
    markers = {"full": "o", "reduced": "s"}
    for rec in records:
        task = rec["config"]["task"]
        ms = rec["config"]["lemma6_widths"]
        worst = [max(r["max_dev"] for r in _rows(rec, "lemma6", width=m)) for m in ms]
        ax.plot(ms, worst, marker=markers.get(task, "o"), label=f"measured, {task} (max over draws)")
    rec = records[0]
    ms = rec["config"]["lemma6_widths"]
    r0 = [_rows(rec, "lemma6", width=m)[0] for m in ms]
    ax.plot(ms, [r["radius_printed"] for r in r0], "k--", label="printed radius sqrt(2 ln(2n/δ)/m)")
    ax.plot(ms, [r["radius_corrected"] for r in r0], "k:", label="corrected radius sqrt(4 ln(2n/δ)/m)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width m (neurons)")
    ax.set_ylabel("max over i of |f_i^0(U) - z_i| (logit units)")
    ax.legend(fontsize=8)


def plot_running_loss(record: dict, mode: str, ax, seed: int | None = None) -> None:
    """Running average ``(1/t) sum_{s<t} R(W(s))`` against t for each width (one seed), with the target."""
    cfg = record["config"]
    seed = cfg["seeds"][0] if seed is None else seed
    for m in cfg["widths"]:
        cs = sorted(_rows(record, "curve", mode=mode, width=m, seed=seed), key=lambda r: r["t"])
        ax.plot([c["t"] for c in cs], [c["avg_loss"] for c in cs], label=f"m = {m}")
    target = cfg["beta"] if mode == "soft" else cfg["hard_beta"]
    ax.axhline(target, color="k", ls="--", lw=1, label=f"target beta = {target:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(("averaged KL " if mode == "soft" else "averaged logistic loss ") + "(nats)")
    ax.set_title(f"{mode} labels, {cfg['task']} task, n = {cfg['n']}")
    ax.legend(fontsize=8)


# --------------------------------------------------------------------------- Chapter 5: comparing the bounds
def width_ratio_grid(gammas: list[float], epss: list[float], n: int, delta: float, c: float = 1.0) -> list[list[float]]:
    """``log10(m_soft / m_hard)`` (Corollary 4 over Proposition 5 at error eps), rows = eps, columns = gamma."""
    return [[math.log10(bounds.corollary4(n, c, g, e, delta).width / bounds.proposition5_for_error(n, c, g, e, delta).width)
             for g in gammas] for e in epss]


def crossover_gamma(eps: float, n: int, delta: float, c: float = 1.0, lo: float = 1e-6, hi: float = 1.0) -> float:
    """The margin below which Corollary 4 asks for fewer neurons than Proposition 5 (bisection in log gamma).

    ``m_soft / m_hard`` grows like ``gamma^2`` up to logs, so there is one crossing; returns ``hi``
    if soft wins on the whole interval and ``lo`` if it never does.
    """
    def soft_better(g: float) -> bool:
        return bounds.soft_wins(n, c, g, eps, delta)

    if soft_better(hi):
        return hi
    if not soft_better(lo):
        return lo
    a, b = math.log(lo), math.log(hi)
    for _ in range(100):
        mid = 0.5 * (a + b)
        if soft_better(math.exp(mid)):
            a = mid
        else:
            b = mid
    return math.exp(0.5 * (a + b))


def plot_width_requirements(axes, n: int, delta: float, eps_fixed: float = 0.05, c: float = 1.0) -> None:
    """Left: the two width requirements against gamma at one error; right: where soft labels win over (gamma, eps)."""
    import numpy as np

    from kdlib.plots import MODE_COLORS

    ax0, ax1 = axes
    gammas = np.logspace(-4, 0, 81)
    soft = [bounds.corollary4(n, c, g, eps_fixed, delta).width for g in gammas]
    hard = [bounds.proposition5_for_error(n, c, g, eps_fixed, delta).width for g in gammas]
    ax0.loglog(gammas, soft, color=MODE_COLORS["soft"], label="soft: Corollary 4")
    ax0.loglog(gammas, hard, color=MODE_COLORS["hard"], label="hard: Proposition 5")
    g_star = crossover_gamma(eps_fixed, n, delta, c)
    ax0.axvspan(gammas[0], g_star, color=MODE_COLORS["soft"], alpha=0.1, label=f"soft wins (gamma < {g_star:.2g})")
    ax0.set_xlabel("margin gamma")
    ax0.set_ylabel("width m required (neurons)")
    ax0.set_title(f"error eps = {eps_fixed:g}, n = {n}, delta = {delta:g}")
    ax0.legend(fontsize=8)
    epss = np.logspace(-4, -0.31, 60)
    grid = np.array(width_ratio_grid(list(gammas), list(epss), n, delta, c))
    pcm = ax1.pcolormesh(gammas, epss, grid, cmap="RdBu_r", vmin=-8, vmax=8, shading="auto")
    ax1.contour(gammas, epss, grid, levels=[0.0], colors="k", linewidths=1.2)
    ax1.plot([], [], "k-", lw=1.2, label="equal widths")
    ax1.plot(gammas, gammas, "k--", lw=1, label="gamma = eps (paper's summary)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlim(gammas[0], gammas[-1])
    ax1.set_ylim(epss[0], epss[-1])
    ax1.set_xlabel("margin gamma")
    ax1.set_ylabel("target error eps")
    ax1.set_title("log10(m_soft / m_hard); blue: soft needs fewer")
    ax1.legend(fontsize=7, loc="lower right")
    ax1.figure.colorbar(pcm, ax=ax1, label="log10 width ratio")


def task_size(task: str) -> int:
    """Number of MNIST training images in a paper task (all of the task's digits)."""
    from kdlib.data import load_mnist, paper_task

    _, digits = load_mnist(train=True)
    return int(torch.isin(digits, torch.tensor(paper_task(task).digits)).sum())


def practice_table(rows: list[dict], delta: float, c: float = 1.0) -> Table:
    """The width each bound asks for at the error reached in practice, next to the width that reached it.

    ``rows``: dicts with ``task``, ``mode`` (``soft``: Corollary 4, ``hard``: Proposition 5),
    ``n``, ``gamma``, ``eps`` (the error reached), ``width_used`` and ``source``.
    """
    lines = []
    for r in rows:
        if r["mode"] == "soft":
            req = bounds.corollary4(r["n"], c, r["gamma"], r["eps"], delta)
        elif r["mode"] == "hard":
            req = bounds.proposition5_for_error(r["n"], c, r["gamma"], r["eps"], delta)
        else:
            raise ValueError(f"mode must be 'soft' or 'hard', got {r['mode']!r}")
        lines.append([r["task"], r["mode"], str(r["n"]), _fmt(r["gamma"]), _fmt(r["eps"]), _fmt(req.width), _fmt(req.steps),
                      str(r["width_used"]), _fmt(req.width / r["width_used"]), r["source"]])
    return _table(["task", "labels", "<i>n</i>", "γ", "ε", "<i>m</i> required", "<i>T</i> required", "<i>m</i> used",
                   "ratio", "<i>m</i> used from"], lines)


def practice_rows(records: list[dict], width: int, n_tasks: dict[str, int]) -> list[dict]:
    """Rows for :func:`practice_table`: for each task of ``records`` and each mode, the error a
    ``width``-neuron student reached in the paper's Table 1 and, where Chapter 1's default
    record is stored, in ours (mean over its seeds), with the task's measured gamma."""
    from kdlib.experiments import table1
    from kdlib.paper import TABLE1
    from kdlib.results import ResultStore

    store = ResultStore()
    rows = []
    for rec in records:
        task = rec["config"]["task"]
        gamma = teacher_row(rec)["gamma"]
        ours = store.load(table1.NAME, table1.Config(dataset=task))
        ours_acc = {}
        if ours is not None:
            for s in table1.summarize(ours["rows"]):
                if s["model"] == "student" and s["width"] == width:
                    ours_acc[s["mode"]] = s["mean"]
        for mode in ("soft", "hard"):
            sources = [("paper, Table 1", TABLE1[(task, width)][mode])]
            if mode in ours_acc:
                sources.append(("ours, Chapter 1", ours_acc[mode]))
            for source, acc in sources:
                rows.append(dict(task=task, mode=mode, n=n_tasks[task], gamma=gamma, eps=round(1 - acc / 100, 4),
                                 width_used=width, source=source))
    return rows
