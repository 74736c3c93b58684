"""Chapter 5 (``book/05_hard_labels.ipynb``): the tables and figures of the hard-label chapter.

Reads the records of :mod:`kdlib.experiments.theory` (the hard-label students of
Proposition 5) and compares the width each result demands (:mod:`kdlib.bounds`):
:func:`crossover_gamma`, :func:`width_ratio_grid`, :func:`plot_width_requirements`, and
against what Chapter 1's students needed in practice (:func:`practice_table`).
"""
from __future__ import annotations

import math

import torch

from kdlib import bounds
# shared with Chapter 4; plot_running_loss and teacher_row are re-exported for Chapter 5's notebook
from kdlib.chapters.soft_labels import _by_width, _mean, plot_running_loss, task_caption, teacher_row  # noqa: F401
from kdlib.report import Table
from kdlib.report import significant


def hard_table(record: dict) -> Table:
    """Proposition 5 as far as run: per width (mean over seeds) the averaged logistic loss and error."""
    cfg = record["config"]
    lines = []
    for m, rs in sorted(_by_width(record, "hard").items()):
        lines.append([str(m), significant(rs[0]["B"], 3), str(rs[0]["steps"]), significant(rs[0]["steps_required"]), significant(_mean(rs, "avg_loss"), 3),
                      significant(cfg["hard_beta"]), significant(_mean(rs, "avg_error")), significant(_mean(rs, "final_error")),
                      significant(max(r["max_dist_ratio"] for r in rs))])
    return Table(["<i>m</i>", "<i>B</i>", "<i>T</i> run", "<i>T</i> required", "avg <i>R</i><sup>h</sup>", "β", "avg error",
                   "final error", "max √<i>m</i>‖Δ<i>W<sub>j</sub></i>‖"], lines,
                  caption=task_caption(record, f"n = {cfg['n']}, γ = {significant(teacher_row(record)['gamma'], 3)}, "
                                               f"β = {cfg['hard_beta']:g}, η = {cfg['hard_lr']:g}"))


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
    """Left: the two width requirements against gamma at one error; right: where soft labels win over (gamma, eps).

    The figure is resized to :func:`kdlib.plots.figure_size` for two panels."""
    import numpy as np

    from kdlib.plots import MODE_COLORS, figure_size, legible

    ax0, ax1 = axes
    fig = ax0.figure
    fig.set_size_inches(*figure_size(ncols=2, panel_height=4.2))
    gammas = np.logspace(-4, 0, 81)
    soft = [bounds.corollary4(n, c, g, eps_fixed, delta).width for g in gammas]
    hard = [bounds.proposition5_for_error(n, c, g, eps_fixed, delta).width for g in gammas]
    ax0.loglog(gammas, soft, color=MODE_COLORS["soft"], label="soft: Corollary 4")
    ax0.loglog(gammas, hard, color=MODE_COLORS["hard"], ls="--", label="hard: Proposition 5")
    g_star = crossover_gamma(eps_fixed, n, delta, c)
    ax0.axvspan(gammas[0], g_star, color=MODE_COLORS["soft"], alpha=0.1, label=rf"soft wins ($\gamma$ < {g_star:.2g})")
    ax0.set_xlabel(r"margin $\gamma$")
    ax0.set_ylabel("width $m$ required (neurons)")
    ax0.set_title(rf"error $\varepsilon$ = {eps_fixed:g}, $n$ = {n}, $\delta$ = {delta:g}")
    ax0.legend()
    epss = np.logspace(-4, -0.31, 60)
    grid = np.array(width_ratio_grid(list(gammas), list(epss), n, delta, c))
    pcm = ax1.pcolormesh(gammas, epss, grid, cmap="RdBu_r", vmin=-8, vmax=8, shading="auto")
    ax1.contour(gammas, epss, grid, levels=[0.0], colors="k", linewidths=1.2)
    ax1.plot([], [], "k-", lw=1.2, label="equal widths")
    ax1.plot(gammas, gammas, "k--", lw=1, label=r"$\gamma = \varepsilon$ (paper's summary)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlim(gammas[0], gammas[-1])
    ax1.set_ylim(epss[0], epss[-1])
    ax1.set_xlabel(r"margin $\gamma$")
    ax1.set_ylabel(r"target error $\varepsilon$")
    ax1.set_title(r"$\log_{10}(m_\mathrm{soft}/m_\mathrm{hard})$; blue: soft needs fewer")
    ax1.legend(loc="lower right")
    fig.colorbar(pcm, ax=ax1, label=r"$\log_{10}(m_\mathrm{soft}/m_\mathrm{hard})$")
    legible(fig)


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
        lines.append([r["task"], r["mode"], str(r["n"]), significant(r["gamma"]), significant(r["eps"]), significant(req.width), significant(req.steps),
                      str(r["width_used"]), significant(req.width / r["width_used"]), r["source"]])
    return Table(["task", "labels", "<i>n</i>", "γ", "ε", "<i>m</i> required", "<i>T</i> required", "<i>m</i> used",
                   "ratio", "<i>m</i> used from"], lines)


def practice_rows(records: list[dict], width: int, n_tasks: dict[str, int]) -> list[dict]:
    """Rows for :func:`practice_table`: for each task of ``records`` and each mode, the error a
    ``width``-neuron student reached in the paper's Table 1 and, where Chapter 1's default
    record is stored, in ours (mean over its seeds), with the task's measured gamma."""
    from kdlib.chapters import motivation
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
            for s in motivation.summarize(ours["rows"]):
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


def constant_gaps() -> dict[str, float]:
    """The two gaps between our proof of Proposition 5 and the printed constants, in percent.

    With the printed ``T`` and a step close to 1, our loss bound (eq-hard-final) is
    ``(3/2) ln 2 * beta``, which overshoots ``beta`` by ``(3/2) ln 2 - 1``. For
    ``eta in (1/2, 1]`` our route needs ``T >= 4 L^2 / ((1 - ln 2) gamma^2 eta beta)`` against
    the printed ``8 L^2 / (gamma^2 eta beta ln 2)``: a ratio ``ln 2 / (2 (1 - ln 2))``.
    Both are constants of the proofs, not measurements."""
    ln2 = math.log(2.0)
    return {
        "hard_loss_overshoot_pct": 100.0 * (1.5 * ln2 - 1.0),
        "hard_steps_extra_pct": 100.0 * (ln2 / (2.0 * (1.0 - ln2)) - 1.0),
    }
