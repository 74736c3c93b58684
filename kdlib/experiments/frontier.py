"""Chapter 6: the width-time frontier. How many steps each width needs, and so how many neurons each
kind of label needs at every step budget.

``NAME = "frontier"``: one record per (dataset, regime). The datasets, students, regimes, soft
labels and step sizes are those of :mod:`kdlib.experiments.scaling` (its module docstring); the
dataset's gamma is read from its ``scaling_gamma`` record (computed if missing), never typed in.

For every label kind, target ``eps``, width ``m`` and seed the record holds

    T*(m) = the first step at which the training classification error is <= eps           (F1)

(``-1``: not within the cap, censored; ``None``: not needed, see below), and from it, for every
budget ``T`` up to the cap,

    m*(T) = min { m : T*(m) <= T }                                                         (F2)

(``None``: no width of the grid within ``T``). Budgets are read in steps and in gradient-flow
time ``eta T`` (the theory regime's soft step is thirty times the hard one's smaller).
Soft and hard students of one seed start from the same weights (the same
:func:`kdlib.nets.symmetric_init` draws), so they are compared seed by seed.

Early stopping is exact for (F2) at every budget: a student stops once it has reached every
target, or once a smaller width of its seed has reached every target it has not. Such a width
has ``T*(m) >`` that smaller width's ``T*``, so it is the minimum of (F2) for no budget; its
``T*`` is recorded as ``None``. (What is not kept is its own ``T*(m)``; the frontier and the
envelope ``min_{m' <= m} T*(m')`` are exact.)

Caps by a rule. Planted data on the circle are trained by :class:`kdlib.train_circle.CircleBank`,
which can continue a run: the cap starts at ``cap`` and is multiplied by ``growth`` while the
median over seeds of ``m*`` at the cap differs from the one at the cap before, or is censored, for
some target; it stops when they are equal and not censored for every target (``"converged"``), when
no student is left running (``"settled"``: no larger cap can change anything), or at the first cap
above ``max_cap`` would be needed (``"max_cap"``: not converged, said so). MNIST pairs have a stated
budget, ``cap`` steps of the dense bank (``"budget"``); their ``T*(m)`` tables are those of the
``scaling`` record of the same configuration (identical students, early stopping and first steps;
computed if missing).

The infinite-width limit, per label kind and target: ``T*(inf)`` from :func:`kdlib.ntk.kernel_gd` on
the limit Gram matrix, up to ``kernel_max_steps``, with the step at which the projection would make
the projected limit leave (K1) (``kernel_bind_step``, ``None``: it never does).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Sequence

import torch

from kdlib import bounds
from kdlib.experiments import scaling, scaling_gamma
from kdlib.experiments.scaling import DEFAULT_PAIRS, DEFAULT_THRESHOLDS, MODES, REGIMES, GammaConfig, load_dataset
from kdlib.results import RunOutput, load_or_run
from kdlib.validate import parameter_list

NAME = "frontier"
RULES = ("converged", "settled", "max_cap", "budget")


def _int(name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return v


# --------------------------------------------------------------------------- pure helpers
def mstar_at(widths: Sequence[int], first: Sequence[int | None], budget: int) -> int | None:
    """(F2) for one seed and target: the smallest width whose ``T*`` (``first``) is a step ``<= budget``
    (``-1``: censored, ``None``: not needed, both never count); ``None`` if there is none."""
    if len(widths) != len(first):
        raise ValueError(f"{len(widths)} widths but {len(first)} first steps")
    best = None
    for m, t in zip(widths, first):
        if t is not None and 0 <= t <= budget and (best is None or m < best):
            best = m
    return best


def frontier_curve(widths: Sequence[int], first: Sequence[int | None]) -> list[tuple[int, int]]:
    """The whole frontier of one seed and target as its steps ``(T, m*(T))``: the budgets at which
    ``m*`` drops, increasing in ``T`` and decreasing in ``m``."""
    pts = sorted((t, m) for m, t in zip(widths, first) if t is not None and t >= 0)
    out: list[tuple[int, int]] = []
    for t, m in pts:
        if not out or m < out[-1][1]:
            if out and out[-1][0] == t:
                out[-1] = (t, m)
            else:
                out.append((t, m))
    return out


def envelope(widths: Sequence[int], first: Sequence[int | None]) -> list[int | None]:
    """``min_{m' <= m} T*(m')`` per width (``None`` where no width up to ``m`` reached the target): the
    fewest steps that a width of at most ``m`` needs, exact under the early stopping."""
    out, best = [], None
    for t in first:
        if t is not None and t >= 0 and (best is None or t < best):
            best = t
        out.append(best)
    return out


def median_mstar(values: Sequence[int | None]) -> float:
    """Median over seeds with ``None`` (censored) as ``+inf`` (:func:`kdlib.fit.median_width`)."""
    from kdlib.fit import median_width

    return median_width(values)


def next_cap(cap: int, growth: float) -> int:
    """The cap after ``cap``: ``ceil(growth * cap)`` (at least ``cap + 1``)."""
    return max(cap + 1, int(math.ceil(growth * cap)))


def cap_rule(medians: Sequence[float]) -> int | None:
    """The convergence rule on the medians at successive caps (one list per target, or one median per
    cap): the index of the first cap whose median is finite and equal to the one at the cap before;
    ``None`` if there is none yet."""
    for k in range(1, len(medians)):
        a, b = medians[k - 1], medians[k]
        if math.isfinite(b) and a == b:
            return k
    return None


def check_caps(cap: object, growth: object, max_cap: object) -> None:
    """A first cap of at least one step, a growth factor above 1, a largest cap not below the first."""
    _int("cap (the first step cap)", cap, 1)
    if isinstance(growth, bool) or not isinstance(growth, (int, float)) or not (math.isfinite(growth) and growth > 1):
        raise ValueError(f"the growth factor of the cap must be a finite number > 1, got {growth!r}")
    _int("max_cap", max_cap, 1)
    if max_cap < cap:  # type: ignore[operator]
        raise ValueError(f"max_cap ({max_cap}) is below the first cap ({cap})")


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class Config(scaling.Students):
    """One record: :class:`kdlib.experiments.scaling.Students` (one dataset, its ``gamma`` read from its
    ``scaling_gamma`` record, one regime, both label kinds) and its caps. Planted data in two dimensions:
    caps ``cap, growth * cap, ...`` up to ``max_cap`` by the rule of the module docstring; other data: the
    stated budget ``cap`` (then ``max_cap`` must equal it)."""

    cap: int = 900
    growth: float = 4.0
    max_cap: int = 900 * 4**5
    kernel_max_steps: int = 2**18

    def __post_init__(self) -> None:
        super().__post_init__()  # the data and the students, checked as the scaling experiment checks them
        check_caps(self.cap, self.growth, self.max_cap)
        if not self.circle and self.max_cap != self.cap:
            raise ValueError(f"only planted data on the circle can raise the cap; {self.gamma.label} has the stated "
                             f"budget cap = {self.cap}, so max_cap must equal it (got {self.max_cap})")
        _int("kernel_max_steps", self.kernel_max_steps, 1)

    @property
    def circle(self) -> bool:
        return self.gamma.dataset == "planted" and self.gamma.d == 2

    def scaling_config(self) -> scaling.Config:
        """The ``scaling`` configuration with the same students and the cap as its step cap."""
        return scaling.Config(**self.students(), max_steps=self.cap)


def cost_hint(cfg: Config) -> float:
    """Relative compute, for the order of a sweep: the theory regime's soft banks on the circle run longest;
    MNIST pairs mostly read their ``scaling`` record."""
    if not cfg.circle:
        return 1.0
    return 100.0 if cfg.regime == "theory" else 10.0


def banks(cfg: Config, n: int, gamma_lo: float) -> list[tuple[str, float, float, list[int]]]:
    """``(label kind, step, radius, target indices)`` of the banks of one record: the regime's step and
    radius per label kind (:mod:`kdlib.experiments.scaling`); the theory regime's hard radius depends on
    eps (Proposition 5), so one bank per target there."""
    out = []
    for mode in MODES:
        if cfg.regime == "practice":
            out.append((mode, cfg.practice_lr, math.inf, list(range(len(cfg.eps)))))
        elif mode == "soft":
            out.append((mode, cfg.soft_beta / 3.0, 1.0, list(range(len(cfg.eps)))))
        else:
            for e_i, e in enumerate(cfg.eps):
                B = bounds.proposition5_for_error(n, 1.0, min(gamma_lo, 1.0), e, cfg.delta, eta=cfg.hard_lr).radius
                out.append((mode, cfg.hard_lr, B, [e_i]))
    return out


def _circle_bank(cfg: Config, ds, p, mode: str, lr: float, B: float, eps: list[float]) -> tuple[object, list, str]:
    """Run one bank on the circle by the cap rule; returns the bank, the caps and the rule's outcome."""
    from kdlib.train_circle import CircleBank

    bank = CircleBank(ds.x, ds.y, cfg.widths, cfg.seeds, eps, soft_targets=p if mode == "soft" else None, lr=lr, B=B)
    caps: list[int] = []
    meds: list[list[float]] = []
    cap = cfg.cap
    while True:
        bank.advance(cap)
        caps.append(cap)
        res = bank.result()
        meds.append([median_mstar([mstar_at(cfg.widths, [res.first[s][k][e] for k in range(len(cfg.widths))], cap)
                                   for s in range(len(cfg.seeds))]) for e in range(len(eps))])
        if bank.ka == 0:
            return bank, caps, "settled"
        if len(meds) >= 2 and all(cap_rule([m[e] for m in meds[-2:]]) is not None for e in range(len(eps))):
            return bank, caps, "converged"
        nxt = next_cap(cap, cfg.growth)
        if nxt > cfg.max_cap:
            return bank, caps, "max_cap"
        cap = nxt


def run(cfg: Config) -> RunOutput:
    from kdlib.ntk import kernel_gd, limit_kernel

    torch.set_num_threads(min(2, torch.get_num_threads()))
    g = cfg.gamma
    grec = load_or_run(scaling_gamma, g)
    grow = grec["rows"][0]
    ds = load_dataset(g)
    n = len(ds.y)
    gamma_lo = max(float(grow["ci_lo"]), 1e-6)
    p = scaling._soft_labels(cfg, ds, grow)  # the regime's soft labels (same fields as scaling.Config)
    teacher_err = float(((p - 0.5) * ds.y <= 0).float().mean())
    K = limit_kernel(ds.x.to(torch.float64))
    eps = list(cfg.eps)
    rows: list[dict] = []
    cost: dict = {}
    srec = None
    if not cfg.circle:
        srec = load_or_run(scaling, cfg.scaling_config())
    for mode, lr, B, e_idx in banks(cfg, n, gamma_lo):
        eps_b = [eps[e] for e in e_idx]
        if cfg.circle:
            bank, caps, rule = _circle_bank(cfg, ds, p, mode, lr, B, eps_b)
            res = bank.result()
            first = {e: [[res.first[s][k][j] for k in range(len(cfg.widths))] for s in range(len(cfg.seeds))]
                     for j, e in enumerate(e_idx)}
            final = res.final_error
            projected = res.projected
            cost[f"{mode} B={B:.4g}"] = {"steps": res.steps_run, "row_steps": res.row_steps, "caps": caps,
                                         "rule": rule, "projected": projected}
        else:
            caps, rule = [cfg.cap], "budget"
            srows = [r for r in srec["rows"] if r["mode"] == mode]
            first, final, projected = {}, [], False
            for e in e_idx:
                per = {r["seed"]: r for r in srows if r["eps"] == eps[e]}
                first[e] = [list(per[s]["first_step"]) for s in cfg.seeds]
                final = [list(per[s]["final_error"]) for s in cfg.seeds]
                projected = projected or bool(per[cfg.seeds[0]]["projected"])
            cost[f"{mode} B={B:.4g}"] = {"from": f"scaling/{srec['key']}", "caps": caps, "rule": rule,
                                         "projected": projected}
        # the projection check of the limit: on the circle over every activation pattern, every cap/1000
        # steps; in more dimensions over 256 Gaussian directions (a lower estimate of the sup), every
        # 1000 steps (each check is a 256 x n by n x r product)
        kern = kernel_gd(ds.x, ds.y, eps_b, lr=lr, max_steps=cfg.kernel_max_steps,
                         soft_targets=p if mode == "soft" else None, B=B, K=K,
                         check_every=max(1, caps[-1] // 1000) if cfg.circle else 1000,
                         n_z=4096 if cfg.circle else 256)
        for j, e in enumerate(e_idx):
            for s_i, seed in enumerate(cfg.seeds):
                col = first[e][s_i]
                rows.append({
                    "dataset": g.label, "kind": g.dataset, "regime": cfg.regime, "mode": mode, "eps": eps[e],
                    "seed": seed, "lr": lr, "B": B, "widths": list(cfg.widths), "first_step": col,
                    "cap": caps[-1], "caps": caps, "rule": rule,
                    "m_star_at_caps": [mstar_at(cfg.widths, col, c) for c in caps],
                    "m_star": mstar_at(cfg.widths, col, caps[-1]),
                    "final_error": final[s_i], "projected": projected,
                    "kernel_first": kern.first[j], "kernel_steps": kern.steps_run,
                    "kernel_bind_step": kern.bind_step, "kernel_sup_displacement": kern.sup_displacement,
                    "gamma": grow["gamma"], "gamma_lo": grow["ci_lo"], "gamma_hi": grow["ci_hi"], "t": grow["t"],
                    "teacher_error": teacher_err,
                })
    return RunOutput(rows=rows, seeds=list(cfg.seeds), device="cpu",
                     extra={"gamma_record": grec["key"], "scaling_record": None if srec is None else srec["key"],
                            "cost": cost,
                            "trainer": "kdlib.train_circle.CircleBank (float64)" if cfg.circle
                            else "kdlib.train.train_bank (float32), via the scaling record"})


# --------------------------------------------------------------------------- the default sweep
def sweep_configs(*, d: int = 2, J: int = 2, n_planted: int = 500, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                  pairs: Sequence[Sequence[int]] = DEFAULT_PAIRS, n_mnist: int = 500,
                  regimes: Sequence[str] = REGIMES, cap: int = 900, growth: float = 4.0, max_cap: int = 900 * 4**5,
                  mnist_cap: int = 900, **kw) -> list[Config]:
    """Every (dataset, regime) record of the chapter, all validated before anything runs: planted sets
    by the cap rule, MNIST pairs at the stated budget ``mnist_cap``."""
    thresholds, pairs, regimes = (parameter_list(name, v) for name, v in
                                  (("thresholds", thresholds), ("pairs", pairs), ("regimes", regimes)))
    for r in regimes:
        if r not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {r!r}")
    gkw = {k: kw.pop(k) for k in ("data_seed", "n_z", "n_eval", "gamma_steps") if k in kw}
    out = []
    for regime in regimes:
        for t in thresholds:
            g = GammaConfig(dataset="planted", n=n_planted, d=d, J=J, t=t, **gkw)
            out.append(Config(gamma=g, regime=regime, cap=cap, growth=growth, max_cap=max_cap, **dict(kw)))
        for pr in pairs:
            g = GammaConfig(dataset="mnist", n=n_mnist, digits=tuple(pr), **gkw)
            out.append(Config(gamma=g, regime=regime, cap=mnist_cap, growth=growth, max_cap=mnist_cap, **dict(kw)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the default sweep through :func:`kdlib.sweep.run_sweep` (gamma records first)."""
    import argparse
    import importlib

    from kdlib import registry
    from kdlib.sweep import run_sweep

    ap = argparse.ArgumentParser(prog="python -m kdlib.experiments.frontier", description="Chapter 6's frontier sweep")
    registry.add_executor_argument(ap)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--regime", action="append", choices=REGIMES)
    args = ap.parse_args(argv)
    exp = importlib.import_module("kdlib.experiments.frontier")
    cfgs = exp.sweep_configs(regimes=tuple(args.regime or REGIMES))
    gam = list(dict.fromkeys(c.gamma for c in cfgs))
    run_sweep(scaling_gamma, gam, executor=args.executor, workers=args.workers)
    for rec in run_sweep(exp, cfgs, executor=args.executor, workers=args.workers):
        r = rec["rows"][0]
        print(f"frontier {rec['config']['regime']} {r['dataset']}: {rec['provenance']['wall_time_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
