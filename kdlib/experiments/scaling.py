"""Chapter 6: the width each kind of label needs, measured against a certified gamma.

``NAME = "scaling"``: one record per (dataset, regime). A dataset is either planted-margin
data (:mod:`kdlib.planted`: ``n`` points on the sphere in ``d`` dimensions, threshold ``t``)
or an MNIST digit pair ``a`` (label +1) against ``b`` (label -1), ``n`` training images
scaled to unit norm. For each label kind (hard, soft), each target ``eps`` and each seed,
the record holds the smallest width ``m*`` of the grid at which the student reaches a
training classification error ``<= eps`` within ``max_steps`` full-batch steps, or
``None`` (censored: no width of the grid did).

The student is the paper's model exactly: ``f(x) = m^{-1/2} sum_j a_j relu(<W_j, x>)``,
symmetric initialisation (:func:`kdlib.nets.symmetric_init`), ``a`` fixed, only ``W``
trained, full-batch gradient descent on the mean loss (logistic for hard labels,
Bernoulli cross-entropy against the soft labels, whose gradient is that of the KL).

Planted data in two dimensions
------------------------------
In ``d`` dimensions ``n`` random points leave gaps between the classes that do not
shrink with ``t`` once ``n`` is small against the number of directions (at ``d = 20``,
``n = 500`` the certified gamma stays near 0.05 for every ``t`` below that), so ``t``
cannot move gamma over a decade there. On the circle (``d = 2``) the points are dense:
the closest pair of opposite labels sits across the band ``|z*| < t`` removed around
each sign change of ``z*``, whose width is proportional to ``t``, and gamma follows ``t``
(about 3 to 7 times ``t`` at ``n = 500``). In two dimensions gamma is also computable
exactly (:func:`kdlib.margin_2d.solve_gamma_2d`, no sampling error), which is the interval
used for planted data; the Monte-Carlo interval of :func:`kdlib.margin.estimate_gamma` is
kept beside it in the record.

Regimes
-------
``theory``: projected gradient descent onto ``||W_j - W_j(0)|| <= B / sqrt(m)``.
Soft: ``B = 1`` and the largest step of Theorem 2 at the loss target ``soft_beta``,
``eta = soft_beta / 3`` (with ``soft_beta = 0.1`` as in Chapters 4 and 5; Corollary 4's
step ``gamma^2 eps / 96`` would be below ``1e-5`` here and move nothing within any
affordable number of steps); soft labels from the kernel-limit teacher,
``sigmoid(z*(x_i))`` (the planted logit in closed form, or for MNIST pairs the logits of
the certified witness of gamma, :func:`kdlib.margin.teacher_logits`). Hard:
Proposition 5's radius ``B = (2/gamma) ln(2 / (ln2 beta))`` with ``beta = eps ln 2``
(one bank per eps, since ``B`` depends on eps) and its largest step ``eta = 1``; gamma
is the lower end of the certified interval. The step cap ``max_steps`` (default 900) is
Theorem 2's ``T = 9 / beta^2`` at ``beta = 0.1``, the run of Chapters 4 and 5.
``practice``: no projection; one step size for every dataset, width and label kind,
``practice_lr`` (default 8: the inverse of ``1/8``, a bound on the smoothness of the
linearised mean loss for unit-norm inputs, ``(1/4) * max_x K(x, x) = 1/8``); soft labels
``sigmoid(f_T(x_i))`` of a 512-unit teacher trained on the hard labels
(:func:`kdlib.train.train_teacher`, full batch, ``teacher_steps`` steps at the same step).
Same step cap.

Early stopping (stated in the chapter): the error is measured at every step; a student
stops at the first step where it has reached every target ``eps``, and also as soon as,
for every target it has not reached, a *smaller* width with the same seed has (it can
no longer be ``m*``). The bank stops when no student is left running.

Exact reduction of the input dimension: the gradient of row ``W_j`` is a combination
of the training inputs, so only the component of ``W_j`` in their span moves and only
it affects the outputs on them. We train in an orthonormal basis of that span
(``r = rank(X) <= n`` coordinates instead of ``d``); since ``W_j(0) ~ N(0, I_d)``, its
coordinates in an orthonormal basis are ``N(0, I_r)``, so this is the same model and
the same dynamics in distribution, at ``r/d`` of the cost (MNIST: 500 of 784).
The margin gamma, a function of the kernel ``K`` and of the masks ``1(<z, x_i> > 0)``,
is unchanged by the rotation too.

Each record reads the gamma record of its dataset (:mod:`kdlib.experiments.scaling_gamma`,
one per dataset, shared by both regimes); the chapter presents the frontier records built on
them (:mod:`kdlib.chapters.neuron_scaling`).

Parameters and fields (the chapter's papermill parameters are lower case; a record's
``Config`` keeps its stored field names, so that no record key changes): ``d``, ``j``,
``n_planted``, ``thresholds``, ``pairs`` and ``n_mnist`` are the arguments of
:func:`sweep_configs`, which spread them over the records' datasets (``gamma``: a
:class:`kdlib.experiments.scaling_gamma.Config` with ``d``, ``J = j``, ``n = n_planted`` or
``n_mnist``, one ``t`` of ``thresholds`` or one digit pair of ``pairs``) and regimes (one of
``regimes``); ``floor_d`` and ``floor_thresholds`` are the chapter's extra gamma records;
``eps``, ``widths``, ``seeds`` (a count, :func:`kdlib.validate.seed_values`: the field holds the
seed values ``0 .. seeds-1``), ``max_steps``,
``soft_beta``, ``delta``, ``practice_lr``, ``teacher_steps`` and ``device`` are fields of
:class:`Config` by the same names.

Sweeps go through :func:`kdlib.sweep.run_sweep` (``python -m kdlib.experiments.scaling
--executor serial|local|ADDRESS``): the gamma records first, then the (dataset, regime)
records, which read their gamma record from the store (a worker without it computes it).

What the book reads: the chapter now presents :mod:`kdlib.experiments.frontier`, whose MNIST
pairs read their ``scaling`` record (``frontier.Config.scaling_config()``: the same students
with the stated budget as step cap); planted sets on the circle are trained there by
:class:`kdlib.train_circle.CircleBank` and no longer read a ``scaling`` record. So the default
sweep (:func:`sweep_configs` with no arguments, and ``main``) is the MNIST pairs only;
planted data remain available by passing ``thresholds`` (``DEFAULT_THRESHOLDS`` are the
chapter's planted thresholds, which the frontier uses).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields
from typing import Sequence

import torch

from kdlib import bounds
from kdlib.data import BinaryTask
from kdlib.experiments import scaling_gamma
from kdlib.experiments.scaling_gamma import Config as GammaConfig
from kdlib.experiments.scaling_gamma import Dataset, estimate_from_gamma_record, load_dataset
from kdlib.margin import teacher_logits
from kdlib.nets import check_width
from kdlib.results import RunOutput, load_or_run
from kdlib.train import BankResult, train_bank
from kdlib.validate import device as check_device, integer, number, parameter_list, seed_values

NAME = "scaling"
REGIMES = ("theory", "practice")
MODES = ("soft", "hard")
DEFAULT_WIDTHS = tuple(2**k for k in range(1, 13))


def check_eps(eps: Sequence[float]) -> tuple[float, ...]:
    """A non-empty list of distinct targets in (0, 1)."""
    eps = tuple(eps)
    if not eps:
        raise ValueError("the list of error targets eps is empty")
    for e in eps:
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0.0 < e < 1.0):
            raise ValueError(f"every error target eps must lie in (0, 1), got {e!r}")
    if len(set(eps)) != len(eps):
        raise ValueError(f"repeated error target in {eps}")
    return tuple(float(e) for e in eps)


def check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """A non-empty strictly increasing list of even widths >= 2."""
    widths = tuple(widths)
    if not widths:
        raise ValueError("the width grid is empty")
    for m in widths:
        check_width(m)
    if any(b <= a for a, b in zip(widths, widths[1:])):
        raise ValueError(f"the width grid must be strictly increasing, got {widths}")
    return widths


# --------------------------------------------------------------------------- the width search
def smallest_width(widths: Sequence[int], success: Sequence[bool | None]) -> int | None:
    """``m*``: the smallest width whose entry in ``success`` is ``True`` (``None`` if none is).

    ``success[k]`` is ``True`` (width ``widths[k]`` reached the target), ``False`` (it did
    not within the budget) or ``None`` (not run to the end: a smaller width had already
    reached the target). A width that failed is never returned.
    """
    if len(widths) != len(success):
        raise ValueError(f"{len(widths)} widths but {len(success)} success entries")
    best = None
    for m, ok in zip(widths, success):
        if ok is True and (best is None or m < best):
            best = m
    return best


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class Students:
    """The data and the students of a record, shared by :class:`Config` and
    :class:`kdlib.experiments.frontier.Config` (which differ in how they cap the steps): the dataset
    (``gamma``: the dataset and its gamma estimate), the regime, the targets ``eps``, the widths and
    seeds of the students, the soft and hard students' settings and the practice teacher's."""

    gamma: GammaConfig = field(default_factory=GammaConfig)
    regime: str = "theory"
    eps: tuple[float, ...] = (0.05, 0.01)
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    soft_beta: float = 0.1
    delta: float = 0.1
    hard_lr: float = 1.0
    practice_lr: float = 8.0
    teacher_width: int = 512
    teacher_steps: int = 300
    teacher_seed: int = 1000
    n_z_logits: int = 65536
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.gamma, dict):
            g = dict(self.gamma)
            if "digits" in g:
                g["digits"] = tuple(g["digits"])
            object.__setattr__(self, "gamma", GammaConfig(**g))
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        check_device("device", self.device, here=False)  # whether it is on this machine: before computing
        # papermill -p widths "[2, 4]" passes a string
        object.__setattr__(self, "eps", check_eps(parameter_list("eps", self.eps)))
        object.__setattr__(self, "widths", check_widths(parameter_list("widths", self.widths)))
        seeds = seed_values("seeds", self.seeds)
        if len(seeds) < 1:
            raise ValueError("at least one seed is needed")
        for s in seeds:
            integer("a seed", s, 0)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seed in {seeds}")
        object.__setattr__(self, "seeds", seeds)
        if not 0 < self.soft_beta < 1:
            raise ValueError(f"soft_beta must lie in (0, 1), got {self.soft_beta}")
        if not 0 < self.delta < 1 / 3:
            raise ValueError(f"delta must lie in (0, 1/3), got {self.delta}")
        if not (0 < self.hard_lr <= 1):
            raise ValueError(f"Proposition 5 needs a step 0 < hard_lr <= 1, got {self.hard_lr}")
        number("practice_lr", self.practice_lr, gt=0)
        check_width(self.teacher_width)
        integer("teacher_steps", self.teacher_steps, 1)
        integer("n_z_logits", self.n_z_logits, 2)

    def students(self) -> dict:
        """The fields of :class:`Students`, by name (to build another config with the same students)."""
        return {f.name: getattr(self, f.name) for f in fields(Students)}


@dataclass(frozen=True)
class Config(Students):
    """One record: :class:`Students` (one dataset, one regime, both label kinds) trained for at most
    ``max_steps`` steps."""

    max_steps: int = 900

    def __post_init__(self) -> None:
        super().__post_init__()
        integer("max_steps", self.max_steps, 1)


def make_config(*, dataset: str, regime: str, n: int, t: float = 0.004, d: int = 2, J: int = 2,
                digits: Sequence[int] = (0, 1), **kw) -> Config:
    """A :class:`Config` from flat parameters (all validated before anything runs)."""
    gkw = {k: kw.pop(k) for k in ("data_seed", "n_z", "n_eval", "gamma_steps") if k in kw}
    g = GammaConfig(dataset=dataset, n=n, d=d, J=J, t=t, digits=tuple(digits), **gkw)
    return Config(gamma=g, regime=regime, **kw)


def cost_hint(cfg: Config) -> float:
    """Relative compute of one record, for the order in which a sweep starts them (:mod:`kdlib.sweep`):
    a step of the bank costs about ``rows x n x (r + 30)`` (two products with the ``r`` input coordinates
    and some thirty cheap passes per entry), ``r = min(n, 784)`` for an MNIST pair in its span, ``d`` for
    a planted set; both regimes run the same banks up to the step cap."""
    g = cfg.gamma
    r = min(g.n, 784) if g.dataset == "mnist" else g.d
    return float(sum(cfg.widths) * len(cfg.seeds) * cfg.max_steps * g.n * (r + 30))


def _train_teacher(cfg: Config, ds: Dataset) -> torch.Tensor:
    """The 512-unit teacher (hard labels, full batch, ``teacher_steps`` steps of ``practice_lr``);
    its probabilities ``sigmoid(f(x_i))`` on the training points."""
    from kdlib.train import PGDConfig, soft_labels, train_teacher
    from kdlib.data import BinaryData

    data = BinaryData(x=ds.x, y=ds.y, digits=torch.zeros(len(ds.y), dtype=torch.long),
                      task=BinaryTask("teacher", (1,), (0,)), scaling="unit")
    pgd = PGDConfig(lr=cfg.practice_lr, epochs=cfg.teacher_steps, batch_size=0)
    net = train_teacher(data, width=cfg.teacher_width, pgd=pgd, seed=cfg.teacher_seed)
    return soft_labels(net, ds.x).to(torch.float32)


def run(cfg: Config) -> RunOutput:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    g = cfg.gamma
    grec = load_or_run(scaling_gamma, g)
    grow = grec["rows"][0]
    ds = load_dataset(g)
    gamma_lo = max(float(grow["ci_lo"]), 1e-6)
    p = _soft_labels(cfg, ds, grow)
    teacher_err = float(((p - 0.5) * ds.y <= 0).float().mean())
    rows: list[dict] = []
    cost = {}
    def bank(mode: str, eps_list: list[float], B: float, lr: float) -> BankResult:
        res = train_bank(ds.x, ds.y, cfg.widths, cfg.seeds, eps_list, soft_targets=p if mode == "soft" else None,
                         lr=lr, B=B, max_steps=cfg.max_steps, progress=cfg.progress,
                         desc=f"{g.label} {cfg.regime} {mode}")
        cost[f"{mode} eps={eps_list} B={B:.4g}"] = {"steps": res.steps_run, "row_steps": res.row_steps,
                                                     "projected": res.projected}
        return res

    for mode in MODES:
        if mode == "soft":
            lr = cfg.soft_beta / 3.0 if cfg.regime == "theory" else cfg.practice_lr
            B = 1.0 if cfg.regime == "theory" else math.inf
            res = bank(mode, list(cfg.eps), B, lr)
            runs = [(e_i, e, B, lr, res) for e_i, e in enumerate(cfg.eps)]
        elif cfg.regime == "theory":
            # Proposition 5's radius depends on eps. One bank at the smallest radius serves every eps
            # when its projection never moved a row: then no run with a larger radius projects either,
            # and all of them follow the same trajectory. Otherwise one bank per eps.
            lr = cfg.hard_lr
            radii = [bounds.proposition5_for_error(len(ds.y), 1.0, min(gamma_lo, 1.0), e, cfg.delta, eta=lr).radius
                     for e in cfg.eps]
            res = bank(mode, list(cfg.eps), min(radii), lr)
            if not res.projected:
                runs = [(e_i, e, radii[e_i], lr, res) for e_i, e in enumerate(cfg.eps)]
            else:
                runs = [(0, e, radii[e_i], lr, bank(mode, [e], radii[e_i], lr)) for e_i, e in enumerate(cfg.eps)]
        else:
            lr, B = cfg.practice_lr, math.inf
            res = bank(mode, list(cfg.eps), B, lr)
            runs = [(e_i, e, B, lr, res) for e_i, e in enumerate(cfg.eps)]
        for e_i, e, B, lr, res in runs:
            for s_i, seed in enumerate(cfg.seeds):
                col = [res.first[s_i][k][e_i] for k in range(len(cfg.widths))]
                success = [None if v is None else v >= 0 for v in col]
                mstar = smallest_width(cfg.widths, success)
                rows.append({
                    "dataset": g.label, "kind": g.dataset, "regime": cfg.regime, "mode": mode, "eps": e,
                    "seed": seed, "m_star": mstar, "censored": mstar is None,
                    "steps_at_m_star": None if mstar is None else col[cfg.widths.index(mstar)],
                    "success": success, "first_step": col, "final_error": res.final_error[s_i], "lr": lr, "B": B,
                    "projected": res.projected,
                    "gamma": grow["gamma"], "gamma_lo": grow["ci_lo"], "gamma_hi": grow["ci_hi"], "t": grow["t"],
                    "teacher_error": teacher_err,
                })
    return RunOutput(
        rows=rows, seeds=list(cfg.seeds), device="cpu",
        extra={"gamma_record": grec["key"], "cost": cost,
               "early_stopping": "a student stops at the first step where it reached every eps, or once a smaller "
                                 "width of its seed reached every eps it has not",
               "coordinates": f"{ds.x.shape[1]} (orthonormal basis of the span of the {len(ds.y)} inputs; "
                              f"ambient d = {ds.ambient_d})"},
    )


def _soft_labels(cfg: Config, ds: Dataset, grow: dict) -> torch.Tensor:
    g = cfg.gamma
    if cfg.regime == "theory":
        if ds.planted_z is not None:
            return torch.sigmoid(ds.planted_z).to(torch.float32)
        est = estimate_from_gamma_record(g, grow, ds)
        z = teacher_logits(est, ds.x, n_z=cfg.n_z_logits, seed=7)
        return torch.sigmoid(z.to(torch.float64)).to(torch.float32)
    return _train_teacher(cfg, ds)


# --------------------------------------------------------------------------- the default sweep
DEFAULT_THRESHOLDS = (0.0005, 0.002, 0.004, 0.008, 0.016, 0.032)
DEFAULT_PAIRS = ((0, 1), (3, 5), (4, 9))


def sweep_configs(*, d: int = 2, J: int = 2, n_planted: int = 500, thresholds: Sequence[float] = (),
                  pairs: Sequence[Sequence[int]] = DEFAULT_PAIRS, n_mnist: int = 500,
                  regimes: Sequence[str] = REGIMES, **kw) -> list[Config]:
    """One record per (dataset, regime), all validated before anything runs: a planted set per threshold
    of ``thresholds`` (none by default) and an MNIST pair per entry of ``pairs``. The default is what the
    book reads: the MNIST pairs' records of :mod:`kdlib.experiments.frontier` (see the module docstring)."""
    thresholds, pairs, regimes = (parameter_list(name, v) for name, v in
                                  (("thresholds", thresholds), ("pairs", pairs), ("regimes", regimes)))
    for r in regimes:
        if r not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {r!r}")
    out = []
    for regime in regimes:
        for t in thresholds:
            out.append(make_config(dataset="planted", regime=regime, n=n_planted, t=t, d=d, J=J, **dict(kw)))
        for pr in pairs:
            out.append(make_config(dataset="mnist", regime=regime, n=n_mnist, digits=tuple(pr), **dict(kw)))
    return out


def gamma_configs(configs: Sequence[Config]) -> list[GammaConfig]:
    """The distinct datasets (gamma configurations) of ``configs``, in their first order."""
    return list(dict.fromkeys(c.gamma for c in configs))


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the default sweep (the MNIST pairs) through :func:`kdlib.sweep.run_sweep`: the gamma
    records first (the sweep records read them), then one record per (dataset, regime)."""
    import argparse
    import importlib

    from kdlib.registry import add_executor_argument
    from kdlib.sweep import run_sweep

    ap = argparse.ArgumentParser(prog="python -m kdlib.experiments.scaling",
                                 description="Chapter 6's scaling records of the MNIST pairs (what the frontier reads)")
    add_executor_argument(ap)
    ap.add_argument("--regime", action="append", choices=REGIMES, help="only this regime (repeatable)")
    ap.add_argument("--progress", action="store_true", help="a progress bar per student bank")
    args = ap.parse_args(argv)
    # the experiment as an importable module (not __main__), so that Dask workers can import it
    exp = importlib.import_module("kdlib.experiments.scaling")
    cfgs = exp.sweep_configs(regimes=tuple(args.regime or REGIMES), progress=args.progress)
    for rec in run_sweep(scaling_gamma, exp.gamma_configs(cfgs), executor=args.executor):
        r = rec["rows"][0]
        print(f"gamma {r['dataset']}: [{r['ci_lo']:.5f}, {r['ci_hi']:.5f}] "
              f"({rec['provenance']['wall_time_s']:.0f} s)", flush=True)
    for rec in run_sweep(exp, cfgs, executor=args.executor):
        print(f"scaling {rec['config']['regime']} {rec['rows'][0]['dataset']}: "
              f"{rec['provenance']['wall_time_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
