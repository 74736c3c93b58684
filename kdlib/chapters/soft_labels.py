"""Chapter 4 (``book/04_soft_labels.ipynb``): the tables and figures of the soft-label chapter.

Reads the records of :mod:`kdlib.experiments.theory` (the theory run as stated: the
kernel-limit teacher, Lemma 6's check, the students of Theorem 2 and the proof's logit
gap). The helpers shared with Chapter 5 (:func:`teacher_row`, :func:`plot_running_loss`)
live here; :mod:`kdlib.chapters.hard_labels` imports them. Numbers are printed to two
significant digits (:func:`kdlib.report.significant`).
"""
from __future__ import annotations

import math

from kdlib import bounds
from kdlib.report import Table
from kdlib.report import significant


def _rows(record: dict, kind: str, **match) -> list[dict]:
    return [r for r in record["rows"] if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]


def teacher_row(record: dict) -> dict:
    """The record's ``teacher`` row."""
    return _rows(record, "teacher")[0]


def teacher_table(records: list[dict]) -> Table:
    """One line per task: n, gamma of the fitted witness (and the dual value above it), |z_i|, R^KL(W(0))."""
    lines = []
    for rec in records:
        t = teacher_row(rec)
        lines.append([rec["config"]["task"], str(t["n"]), significant(t["gamma"]), f"[{significant(t['gamma_interval_lo'])}, {significant(t['gamma_interval_hi'])}]",
                      significant(t["margin_median"]), significant(t["z_abs_max"]), significant(t["z_se_max"], 1), significant(t["init_kl"])])
    return Table(["task", "<i>n</i>", "γ = min<sub><i>i</i></sub> <i>y<sub>i</sub> z<sub>i</sub></i>", "asymptotic 3 s.e. interval for γ",
                   "median <i>y<sub>i</sub> z<sub>i</sub></i>", "max |<i>z<sub>i</sub></i>|", "max s.e.",
                   "<i>R</i><sup>KL</sup>(<i>W</i>(0))"], lines)


def _lemma6_radii(record: dict, m: int) -> tuple[float, float]:
    """Lemma 6's radius (as printed, which holds) and the weaker Hoeffding radius, for the record's ``n`` and ``delta``."""
    n, delta = teacher_row(record)["n"], record["config"]["delta"]
    return bounds.lemma6_radius(n, m, delta), bounds.lemma6_hoeffding_radius(n, m, delta)


def lemma6_table(record: dict) -> Table:
    """Per width: the largest ``max_i |f_i^0(U) - z_i|`` over the draws, and Lemma 6's two radii."""
    lines = []
    for m in record["config"]["lemma6_widths"]:
        rs = _rows(record, "lemma6", width=m)
        worst = max(r["max_dev"] for r in rs)
        r_lemma, r_hoeff = _lemma6_radii(record, m)
        lines.append([str(m), significant(sum(r["mean_dev"] for r in rs) / len(rs)), significant(worst), significant(worst * math.sqrt(m)),
                      significant(r_lemma), significant(r_hoeff), "yes" if worst <= r_lemma else "no"])
    cfg = record["config"]
    return Table(["<i>m</i>", "mean dev", "max dev", "max dev·√<i>m</i>", "Lemma 6 radius", "Hoeffding radius",
                   "within Lemma 6"], lines, caption=task_caption(record, f"n = {cfg['n']}, δ = {cfg['delta']:g}"))


def task_caption(record: dict, *details: str) -> str:
    """The caption of one task's table: ``task <name>`` and the settings it was run with, so
    that a chapter printing one table per task says which is which."""
    return "; ".join([f"task {record['config']['task']}"] + list(details))


def _by_width(record: dict, mode: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in _rows(record, "train", mode=mode):
        out.setdefault(r["width"], []).append(r)
    return out


def _run_settings(record: dict, mode: str) -> list[str]:
    """``n``, the loss target beta, the radius B, the step eta and the steps T of the ``mode`` runs."""
    cfg = record["config"]
    r = _rows(record, "train", mode=mode)[0]
    beta = cfg["beta"] if mode == "soft" else cfg["hard_beta"]
    return [f"{mode} runs: n = {cfg['n']}, β = {beta:g}, B = {significant(r['B'], 3)}, η = {r['lr']:.4g}, T = {r['steps']}"]


def _mean(rs: list[dict], key: str) -> float:
    return sum(r[key] for r in rs) / len(rs)


def soft_table(record: dict) -> Table:
    """Theorem 2 as run: per width (mean over seeds) the averaged KL against beta, errors, the radius used."""
    cfg = record["config"]
    lines = []
    for m, rs in sorted(_by_width(record, "soft").items()):
        lines.append([str(m), significant(_mean(rs, "init_loss"), 3), significant(_mean(rs, "avg_loss"), 3), significant(cfg["beta"]),
                      "yes" if all(r["avg_loss"] <= cfg["beta"] for r in rs) else "no",
                      significant(_mean(rs, "avg_error")), significant(_mean(rs, "final_error")),
                      significant(max(r["max_dist_ratio"] for r in rs)), significant(max(r["lemma3_max_ratio"] for r in rs))])
    return Table(["<i>m</i>", "<i>R</i><sup>KL</sup>(<i>W</i>(0))", "avg <i>R</i><sup>KL</sup>", "β", "≤ β", "avg error",
                   "final error", "max √<i>m</i>‖Δ<i>W<sub>j</sub></i>‖", "Lemma 3 ratio"], lines,
                  caption=task_caption(record, *_run_settings(record, "soft")))


def gap_table(record: dict) -> Table:
    """The proof's split of the logit gap along the soft runs (max over points and checkpoints, worst seed)."""
    lines = []
    for m, rs in sorted(_by_width(record, "soft").items()):
        g = {k: max(r[f"gap_{k}"] for r in rs) for k in ("term1", "term2", "lemma6", "gap", "changed_frac")}
        lines.append([str(m), significant(g["term1"]), significant(g["term2"]), significant(g["lemma6"]), significant(g["gap"]),
                      significant(g["changed_frac"]), significant(rs[0]["activation_bound"])])
    return Table(["<i>m</i>", "activation term 1", "activation term 2", "Lemma 6 term", "gap", "changed rows",
                   "bound on changed"], lines, caption=task_caption(record, *_run_settings(record, "soft")))


def requirements_table(n: int, gamma: float, beta: float, eps: float, delta: float, c: float = 1.0) -> Table:
    """Width, step, iterations and radius of Theorem 2, Corollary 4 and Proposition 5, printed and corrected."""
    reqs = []
    for form in bounds.FORMS:
        reqs.append(bounds.theorem2(n, c, beta, delta, form=form))
        reqs.append(bounds.corollary4(n, c, gamma, eps, delta, form=form))
        reqs.append(bounds.proposition5_for_error(n, c, gamma, eps, delta, form=form))
    reqs.sort(key=lambda r: (r.result, r.form))
    lines = [[r.result, r.form, significant(r.width), significant(r.lr), significant(r.steps), significant(r.radius), significant(r.loss_target)] for r in reqs]
    return Table(["result", "form", "width <i>m</i>", "step η", "steps <i>T</i>", "radius <i>B</i>", "loss target"], lines)


def plot_lemma6(records: list[dict], ax) -> None:
    """Largest deviation ``max_i |f_i^0(U) - z_i|`` against width, with Lemma 6's radii (log-log)."""
    from kdlib.plots import legible, series_style

    for i, rec in enumerate(records):
        task = rec["config"]["task"]
        ms = rec["config"]["lemma6_widths"]
        worst = [max(r["max_dev"] for r in _rows(rec, "lemma6", width=m)) for m in ms]
        ax.plot(ms, worst, **series_style(i), label=f"measured, {task} task (max over draws)")
    rec = records[0]
    ms = rec["config"]["lemma6_widths"]
    radii = [_lemma6_radii(rec, m) for m in ms]
    ax.plot(ms, [r[0] for r in radii], "k--", label=r"Lemma 6 radius $\sqrt{2\ln(2n/\delta)/m}$")
    ax.plot(ms, [r[1] for r in radii], "k:", label=r"Hoeffding radius $\sqrt{4\ln(2n/\delta)/m}$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width $m$ (neurons)")
    ax.set_ylabel(r"$\max_i |f_i^0(U)-z_i|$ (logit units)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)   # below the axes: the lines fill it
    legible(ax.figure)


def plot_running_loss(record: dict, mode: str, ax, seed: int | None = None) -> None:
    """Running average ``(1/t) sum_{s<t} R(W(s))`` against t for each width (one seed), the target
    beta stated in the title.

    The y-axis is linear and limited to the curves (the target, orders of magnitude below them
    when it is not reached, would otherwise leave the curves on top of each other). The figure is
    resized to :func:`kdlib.plots.figure_size` for its number of panels."""
    from kdlib.plots import figure_size, legible, series_style

    cfg = record["config"]
    seed = cfg["seeds"][0] if seed is None else seed
    lo, hi = math.inf, -math.inf
    for i, m in enumerate(cfg["widths"]):
        cs = sorted(_rows(record, "curve", mode=mode, width=m, seed=seed), key=lambda r: r["t"])
        ys = [c["avg_loss"] for c in cs]
        ax.plot([c["t"] for c in cs], ys, **series_style(i), markevery=0.1, label=f"$m$ = {m}")
        if ys:
            lo, hi = min(lo, min(ys)), max(hi, max(ys))
    target = cfg["beta"] if mode == "soft" else cfg["hard_beta"]
    ax.set_xscale("log")
    if math.isfinite(lo):
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad, hi + pad)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
    ax.set_xlabel("iteration $t$")
    ax.set_ylabel(("averaged KL " if mode == "soft" else "averaged logistic loss ") + "(nats)")
    reached = "reached" if lo <= target else f"not reached; lowest {significant(lo)}"
    ax.set_title(f"{mode} labels, {cfg['task']} task, $n$ = {cfg['n']}\ntarget $\\beta$ = {target:g} ({reached})")
    ax.legend()
    fig = ax.figure
    fig.set_size_inches(*figure_size(ncols=len(fig.axes), panel_height=3.8))
    legible(fig)


def prose_values(records: list[dict]) -> dict[str, float]:
    """The measured numbers the chapter's prose quotes, from the ``theory`` records.

    ``soft_z_abs_max``: the largest teacher logit ``max_i |z_i|`` over the tasks;
    ``soft_init_kl_max``: the largest ``R^KL(W(0))`` over the tasks;
    ``soft_lemma3_lo``/``_hi``: the range over tasks, widths and seeds of the largest ratio
    ``R(W(t)) / ((32/gamma^2) R^KL(W(t)))`` along a soft run (Lemma 3 says it is at most 1)."""
    if not records:
        raise ValueError("prose_values needs at least one theory record")
    teachers = [teacher_row(r) for r in records]
    ratios = [row["lemma3_max_ratio"] for r in records for row in _rows(r, "train", mode="soft")]
    if not ratios:
        raise ValueError("the theory records hold no soft runs")
    return {
        "soft_z_abs_max": float(max(t["z_abs_max"] for t in teachers)),
        "soft_init_kl_max": float(max(t["init_kl"] for t in teachers)),
        "soft_lemma3_lo": float(min(ratios)),
        "soft_lemma3_hi": float(max(ratios)),
    }
