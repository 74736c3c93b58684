"""Chapter 6 (``book/06_neuron_scaling.ipynb``): the tables, figures and quoted values of the width chapter.

Reads the records of :mod:`kdlib.experiments.scaling_gamma` (gamma of each dataset) and
:mod:`kdlib.experiments.frontier` (the width-time frontier: ``T*(m)`` per label kind, target,
width and seed, with caps raised by a rule; the MNIST pairs' ``T*(m)`` come from their
:mod:`kdlib.experiments.scaling` records).

Notation of the frontier part as in :mod:`kdlib.experiments.frontier`: ``T*(m)`` the first step at
which a width reaches the target (F1), ``m*(T)`` the smallest width within budget ``T`` (F2), medians
over seeds with a censored seed counted as ``+inf`` (:func:`kdlib.fit.median_width`). Budgets are in
steps ``T`` or in gradient-flow time ``eta T``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from kdlib.experiments.frontier import envelope, mstar_at
from kdlib.experiments.scaling import MODES, REGIMES
from kdlib.experiments.scaling_gamma import Config as GammaConfig, load_dataset
from kdlib.fit import fit_slope, median_width
from kdlib.margin import dual_weights



def _interval(lo: float, hi: float) -> str:
    return f"[{lo:.4g}, {hi:.4g}]"


def mc_witness_exactly(rec: dict) -> tuple[float, float] | None:
    """For a planted 2-D gamma record: the exact interval ``[min_i m_i(p), F(p)]`` of the Monte-Carlo
    solver's own dual weights ``p`` (:func:`kdlib.margin_2d.certify_gamma_2d`, no sampling error), which
    separates the solver's optimisation error from its sampling error; ``None`` for other records."""
    g = rec["config"]
    if g["dataset"] != "planted" or g["d"] != 2:
        return None
    from kdlib.margin_2d import certify_gamma_2d

    ds = load_dataset(GammaConfig(**{**g, "digits": tuple(g["digits"])}))
    c = certify_gamma_2d(ds.x, ds.y, dual_weights(rec["rows"][0], len(ds.y)))
    return c.lower, c.upper


def gamma_rows(records: Sequence[dict], *, check_mc: bool = False) -> list[dict]:
    """One row per gamma record, by increasing gamma: the planted threshold ``t``, the certified
    interval of gamma (exact in 2-D, else Monte Carlo) and its relative width, the Monte-Carlo
    interval of :func:`kdlib.margin.estimate_gamma` with its width (``> 100 %`` when its lower end
    is below 0 or the width exceeds the estimate), the smallest planted margin ``min_i y_i z*(x_i)``
    and the kernel-SVM upper bound. ``check_mc``: also the Monte-Carlo witness's interval computed
    exactly (:func:`mc_witness_exactly`, planted 2-D data only)."""
    out = []
    for rec in sorted(records, key=lambda r: r["rows"][0]["gamma"]):
        r = rec["rows"][0]
        mc_w = r.get("mc_rel_width", r["rel_width"])
        mc_lo, mc_hi = r.get("mc_lo", r["ci_lo"]), r.get("mc_hi", r["ci_hi"])
        row = {
            "dataset": r["dataset"], "t": "—" if r["t"] is None else f"{r['t']:g}", "n": r["n"], "d": r["ambient_d"],
            "interval": _interval(r["ci_lo"], r["ci_hi"]), "gamma": r["gamma"],
            "width": f"{100 * r['rel_width']:.2g} %", "method": r.get("method", "monte carlo"),
            "mc": _interval(mc_lo, mc_hi),
            "mc_width": "> 100 %" if (mc_lo <= 0 or mc_w > 1) else f"{100 * mc_w:.2g} %",
            "planted": "—" if r["planted_min_margin"] is None else f"{r['planted_min_margin']:.4g}",
            "svm": r["svm_upper"],
        }
        if check_mc:
            ex = mc_witness_exactly(rec)
            row["mc_exact"] = "—" if ex is None else _interval(*ex)
        out.append(row)
    return out


def sweep_span(records: Sequence[dict]) -> dict:
    """When and how fast the records were computed: ``start`` (the earliest record's end time minus its
    wall time), ``end`` (the latest end time), ``wall_minutes = end - start``, ``compute_minutes`` (the
    records' wall times summed) and ``concurrency = compute / wall`` (about the number of workers that
    were busy, when the records came from one sweep). Times from the provenance, UTC."""
    from datetime import datetime, timedelta

    if not records:
        raise ValueError("no records")
    ends = [datetime.fromisoformat(r["provenance"]["date"]) for r in records]
    walls = [float(r["provenance"]["wall_time_s"]) for r in records]
    start = min(e - timedelta(seconds=w) for e, w in zip(ends, walls))
    end = max(ends)
    wall = (end - start).total_seconds() / 60
    compute = sum(walls) / 60
    return {"start": start, "end": end, "wall_minutes": wall, "compute_minutes": compute,
            "concurrency": compute / wall if wall > 0 else float("nan")}


def span_values(records: Sequence[dict]) -> dict[str, Any]:
    """The glued values of the sentence on :func:`sweep_span`: ``fr_sweep_records`` (how many),
    ``fr_sweep_start`` (``YYYY-MM-DD HH:MM``) and ``fr_sweep_end`` (``HH:MM``, UTC),
    ``fr_sweep_wall_min``, ``fr_sweep_compute_min`` and ``fr_sweep_concurrency``."""
    sp = sweep_span(records)
    return {"fr_sweep_records": len(records), "fr_sweep_start": f"{sp['start']:%Y-%m-%d %H:%M}",
            "fr_sweep_end": f"{sp['end']:%H:%M}", "fr_sweep_wall_min": sp["wall_minutes"],
            "fr_sweep_compute_min": sp["compute_minutes"], "fr_sweep_concurrency": sp["concurrency"]}


# =========================================================================== the frontier (kdlib.experiments.frontier)
COLORS = {"soft": "#2471a3", "hard": "#c0392b"}


# --------------------------------------------------------------------------- grouping
def series(records: Sequence[dict]) -> dict[tuple[str, str, float, str], dict]:
    """``(regime, mode, eps, dataset) -> {"gamma", "kind", "lr", "widths", "first": [per seed], "seeds",
    "cap", "caps", "rule", "kernel_first", "kernel_bind_step", "final_error": [per seed]}``."""
    out: dict[tuple[str, str, float, str], dict] = {}
    for rec in records:
        for r in rec["rows"]:
            key = (r["regime"], r["mode"], r["eps"], r["dataset"])
            ent = out.setdefault(key, {"gamma": r["gamma"], "gamma_lo": r["gamma_lo"], "kind": r["kind"], "lr": r["lr"],
                                       "B": r["B"], "widths": r["widths"], "first": [], "seeds": [],
                                       "cap": r["cap"], "caps": r["caps"], "rule": r["rule"],
                                       "kernel_first": r["kernel_first"], "kernel_steps": r["kernel_steps"],
                                       "kernel_bind_step": r["kernel_bind_step"], "final_error": [],
                                       "teacher_error": r["teacher_error"]})
            ent["first"].append(r["first_step"])
            ent["seeds"].append(r["seed"])
            ent["final_error"].append(r["final_error"])
    return out


def _datasets(ser: dict, regime: str) -> list[str]:
    names = {k[3]: v["gamma"] for k, v in ser.items() if k[0] == regime}
    return sorted(names, key=names.get)


def median_at(ent: dict, budget: int) -> float:
    """Median over seeds of ``m*(budget)`` (``inf``: censored)."""
    return median_width([mstar_at(ent["widths"], f, budget) for f in ent["first"]])


def _fmt_m(v: float, top: int) -> str:
    return f"> {top}" if not math.isfinite(v) else f"{v:g}"


# --------------------------------------------------------------------------- tables
def converged_rows(records: Sequence[dict], regime: str) -> list[dict]:
    """Per dataset (by increasing gamma) and label kind, for each target: the final cap, the cap rule's
    outcome, the median ``m*`` at the final cap with its range over seeds, and ``T*(inf)`` of the kernel
    limit (in steps)."""
    ser = series(records)
    eps_list = sorted({k[2] for k in ser if k[0] == regime}, reverse=True)
    rows = []
    for name in _datasets(ser, regime):
        for mode in MODES:
            for e in eps_list:
                ent = ser.get((regime, mode, e, name))
                if ent is None:
                    continue
                ms = [mstar_at(ent["widths"], f, ent["cap"]) for f in ent["first"]]
                top = ent["widths"][-1]
                fin = [v for v in ms if v is not None]
                med = median_width(ms)
                rng = "" if not fin else f"[{min(fin)}, {_fmt_m(math.inf if None in ms else max(fin), top)}]"
                rows.append({"dataset": name, "gamma": ent["gamma"], "labels": mode, "eps": e, "cap": ent["cap"],
                             "rule": ent["rule"], "median": _fmt_m(med, top), "range": rng,
                             "censored": sum(v is None for v in ms),
                             "kernel": "> " + str(ent["kernel_steps"]) if ent["kernel_first"] < 0
                             else ent["kernel_first"]})
    return rows


def budgets(records: Sequence[dict], regime: str, per_decade: int = 4) -> list[int]:
    """Step budgets from 1 to the largest cap of the regime, ``per_decade`` per decade."""
    caps = [r["cap"] for rec in records for r in rec["rows"] if r["regime"] == regime]
    top = max(caps)
    k = int(math.ceil(math.log10(top) * per_decade))
    return sorted({int(round(v)) for v in np.logspace(0, math.log10(top), k + 1)} | {top})


def paired_rows(records: Sequence[dict], regime: str, eps: float, kind: str | None = None,
                time: bool = True, points: int = 8) -> list[dict]:
    """Seed by seed (same initial weights), at budgets spread over the regime's range: how many
    (dataset, seed) pairs have soft labels needing fewer neurons than hard ones, the same, more, or
    neither reaching the target. ``time=True``: the budget is gradient-flow time ``eta T`` (each
    kind gets ``floor(tau / eta)`` steps), else steps. ``kind``: ``"planted"``, ``"mnist"`` or both."""
    ser = series(records)
    names = [n for n in _datasets(ser, regime)
             if (regime, "soft", eps, n) in ser and (regime, "hard", eps, n) in ser
             and (kind is None or ser[(regime, "soft", eps, n)]["kind"] == kind)]
    if not names:
        return []
    lr = {m: ser[(regime, m, eps, names[0])]["lr"] for m in MODES}
    cap = min(min(ser[(regime, m, eps, n)]["cap"] for m in MODES) * (lr[m] if time else 1)
              for n in names for m in MODES)
    grid = np.geomspace(max(lr.values()) if time else 1, cap, points)
    out = []
    for tau in grid:
        c = {"fewer": 0, "same": 0, "more": 0, "neither": 0}
        for n in names:
            s, h = ser[(regime, "soft", eps, n)], ser[(regime, "hard", eps, n)]
            bs = int(tau / s["lr"]) if time else int(tau)
            bh = int(tau / h["lr"]) if time else int(tau)
            for fs, fh in zip(s["first"], h["first"]):
                c[paired_outcome(mstar_at(s["widths"], fs, bs), mstar_at(h["widths"], fh, bh))] += 1
        out.append({"budget": float(tau), **c})
    return out


def paired_outcome(m_soft: int | None, m_hard: int | None) -> str:
    """One seed's soft/hard comparison of the needed width m* (None: censored at the budget):
    ``"fewer"`` when soft needs fewer neurons (or only soft reaches the target), ``"same"``,
    ``"more"``, or ``"neither"`` when both are censored."""
    if m_soft is None and m_hard is None:
        return "neither"
    if m_hard is None or (m_soft is not None and m_soft < m_hard):
        return "fewer"
    return "same" if m_soft == m_hard else "more"


def exponent_rows(records: Sequence[dict], *, kinds: Sequence[str] = ("planted", "all"), n_boot: int = 2000,
             level: float = 0.9, min_points: int = 3) -> list[dict]:
    """The exponent k of ``median m* ~ gamma^-k`` at the final caps (:func:`kdlib.fit.fit_slope`, bootstrap
    over datasets and seeds), per regime, label kind, eps and data family, beside the bounds' 2 (soft)
    and 4 (hard); datasets whose median is censored are left out (the column says how many were used)."""
    ser = series(records)
    out = []
    for regime in REGIMES:
        for mode in MODES:
            for e in sorted({k[2] for k in ser if k[0] == regime}, reverse=True):
                for kind in kinds:
                    names = [n for n in _datasets(ser, regime) if (regime, mode, e, n) in ser
                             and (kind == "all" or ser[(regime, mode, e, n)]["kind"] == kind)]
                    if len(names) < 2:
                        continue
                    ents = [ser[(regime, mode, e, n)] for n in names]
                    ws = [[mstar_at(en["widths"], f, en["cap"]) for f in en["first"]] for en in ents]
                    f = fit_slope([en["gamma"] for en in ents], ws, n_boot=n_boot, level=level, seed=0)
                    ok = f.points >= min_points and math.isfinite(f.slope)
                    out.append({"regime": regime, "labels": mode, "eps": e, "data": kind,
                                "k": f.slope if ok else math.nan,
                                "interval": f"[{f.lo:.2f}, {f.hi:.2f}]" if ok and math.isfinite(f.lo) else "—",
                                "lo": f.lo if ok else math.nan, "hi": f.hi if ok else math.nan,
                                "theory": 2 if mode == "soft" else 4, "datasets": f"{f.points} of {len(names)}"})
    return out


def rule_counts(records: Sequence[dict], kind: str = "planted", regime: str | None = None,
                mode: str | None = None) -> dict[str, int]:
    """How many (dataset, regime, label kind, eps) series of ``kind`` ended by each cap rule (only
    ``regime`` and ``mode`` when given)."""
    c: dict[str, int] = {}
    for (reg, m, _, _), ent in series(records).items():
        if ent["kind"] == kind and regime in (None, reg) and mode in (None, m):
            c[ent["rule"]] = c.get(ent["rule"], 0) + 1
    return c


def censored_medians(records: Sequence[dict], kind: str = "planted") -> int:
    """Number of (dataset, regime, label kind, eps) series of ``kind`` whose median m* at the final cap is
    censored."""
    return sum(not math.isfinite(median_at(ent, ent["cap"])) for ent in series(records).values()
               if ent["kind"] == kind)


def comparison_by_budget(records: Sequence[dict], regime: str, kind: str = "planted", time: bool = True,
                         points: int = 12) -> list[dict]:
    """At budgets spread over the regime's range (gradient-flow time by default): over every dataset of
    ``kind`` and target, how many have median m* soft < hard, equal, soft > hard, or both censored."""
    ser = series(records)
    eps_list = sorted({k[2] for k in ser if k[0] == regime})
    keys = [(n, e) for e in eps_list for n in _datasets(ser, regime)
            if (regime, "soft", e, n) in ser and (regime, "hard", e, n) in ser and ser[(regime, "soft", e, n)]["kind"] == kind]
    if not keys:
        return []
    lr = {m: ser[(regime, m, keys[0][1], keys[0][0])]["lr"] for m in MODES}
    cap = min(ser[(regime, m, e, n)]["cap"] * (lr[m] if time else 1) for n, e in keys for m in MODES)
    out = []
    for tau in np.geomspace(max(lr.values()) if time else 1, cap, points):
        c = {"budget": float(tau), "soft fewer": 0, "equal": 0, "hard fewer": 0, "both censored": 0}
        for n, e in keys:
            s, h = ser[(regime, "soft", e, n)], ser[(regime, "hard", e, n)]
            ms = median_at(s, int(tau / s["lr"]) if time else int(tau))
            mh = median_at(h, int(tau / h["lr"]) if time else int(tau))
            if not math.isfinite(ms) and not math.isfinite(mh):
                c["both censored"] += 1
            elif ms < mh:
                c["soft fewer"] += 1
            elif ms == mh:
                c["equal"] += 1
            else:
                c["hard fewer"] += 1
        out.append(c)
    return out


# --------------------------------------------------------------------------- figures
def _legend(axes) -> tuple[list, list]:
    """The distinct legend entries of all panels, in the order first seen."""
    seen: dict = {}
    for ax in np.asarray(axes).ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen.keys())


def plot_frontier(records: Sequence[dict], eps: float, *, kind: str | None = None):
    """m* against the budget: one panel per regime and label kind, one step curve per dataset (the median
    over seeds of (F2); colour: gamma, darker smaller; planted solid, MNIST dashed), the budget as
    gradient-flow time ``eta T`` so that both kinds of label compare on equal terms."""
    import matplotlib.pyplot as plt

    from kdlib.plots import use_book_style

    use_book_style()
    ser = series(records)
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 7.4))
    allg = sorted({v["gamma"] for v in ser.values()})
    norm = plt.matplotlib.colors.LogNorm(min(allg), max(allg))
    for i, regime in enumerate(REGIMES):
        for j, mode in enumerate(MODES):
            ax = axes[i, j]
            for name in _datasets(ser, regime):
                ent = ser.get((regime, mode, eps, name))
                if ent is None or (kind is not None and ent["kind"] != kind):
                    continue
                steps = sorted({t for f in ent["first"] for t in f if t is not None and t >= 0} | {ent["cap"]})
                med = [median_at(ent, t) for t in steps]
                xs = [ent["lr"] * max(t, 0.5) for t in steps]  # step 0 drawn at half a step
                ys = [m if math.isfinite(m) else np.nan for m in med]
                ax.step(xs, ys, where="post", color=plt.cm.viridis(norm(ent["gamma"])),
                        ls="-" if ent["kind"] == "planted" else "--", lw=1.4,
                        label=f"{name} (γ = {ent['gamma']:.3g})")
                if ent["rule"] != "converged" and ent["rule"] != "settled":
                    ax.plot([xs[-1]], [ys[-1] if np.isfinite(ys[-1]) else ent["widths"][-1] * 2], ">", ms=5,
                            color=plt.cm.viridis(norm(ent["gamma"])))
            ax.set_xscale("log")
            ax.set_yscale("log", base=2)
            ax.set_xlabel(r"budget $\eta T$ (gradient-flow time; steps $\times$ step size)")
            ax.set_ylabel(rf"median $m^*$ (neurons, error $\leq {eps:g}$)")
            ax.set_title(f"{regime} regime, {mode} labels", fontsize=10)
    h, lab = _legend(axes)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.legend(h, lab, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def plot_tstar(records: Sequence[dict], eps: float, *, kind: str = "planted"):
    """The fewest steps a width of at most m needs (median over seeds of ``min_{m' <= m} T*(m')``, as
    gradient-flow time) against m, one panel per regime and label kind, one line per dataset, with the
    kernel limit's ``T*(inf)`` as a dotted horizontal line of the same colour."""
    import matplotlib.pyplot as plt

    from kdlib.plots import use_book_style

    use_book_style()
    ser = series(records)
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 7.4))
    allg = sorted({v["gamma"] for v in ser.values() if v["kind"] == kind})
    norm = plt.matplotlib.colors.LogNorm(min(allg), max(allg))
    markers = "osD^v<>p"
    for i, regime in enumerate(REGIMES):
        for j, mode in enumerate(MODES):
            ax = axes[i, j]
            for q, name in enumerate(_datasets(ser, regime)):
                ent = ser.get((regime, mode, eps, name))
                if ent is None or ent["kind"] != kind:
                    continue
                col = plt.cm.viridis(norm(ent["gamma"]))
                env = np.array([[math.inf if v is None else v for v in envelope(ent["widths"], f)]
                                for f in ent["first"]], dtype=float)
                med = np.median(env, axis=0)
                ok = np.isfinite(med)
                ax.plot(np.array(ent["widths"])[ok], ent["lr"] * np.maximum(med[ok], 0.5), marker=markers[q % 8],
                        ms=4, color=col, lw=1.2, label=f"{name} (γ = {ent['gamma']:.3g})")
                if ent["kernel_first"] >= 0:
                    ax.axhline(ent["lr"] * max(ent["kernel_first"], 0.5), color=col, ls=":", lw=1.2)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width m (neurons)")
            ax.set_ylabel(rf"$\eta\,T^*$ to error $\leq {eps:g}$ (gradient-flow time)")
            ax.set_title(f"{regime} regime, {mode} labels (dotted: kernel limit)", fontsize=10)
    h, lab = _legend(axes)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(h, lab, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


# --------------------------------------------------------------------------- numbers for the prose
def gamma_summary(gamma_records: Sequence[dict], floor_records: Sequence[dict]) -> dict[str, float]:
    """The numbers the section on certified margins quotes: on the circle the range of gamma, its
    factor, gamma / t, the widest exact interval (per cent of gamma), how many Monte-Carlo lower ends
    are negative; in ``floor_d`` dimensions the factors of t and of gamma; the MNIST pairs' range."""
    planted = [r["rows"][0] for r in gamma_records if r["rows"][0]["kind"] == "planted"]
    mnist = [r["rows"][0] for r in gamma_records if r["rows"][0]["kind"] == "mnist"]
    floor = [r["rows"][0] for r in floor_records]
    g = [r["gamma"] for r in planted]
    gf = [r["gamma"] for r in floor]
    tf = [r["t"] for r in floor]
    return {
        "fr_g_lo": min(g), "fr_g_hi": max(g), "fr_g_factor": max(g) / min(g),
        "fr_g_over_t_lo": min(r["gamma"] / r["t"] for r in planted),
        "fr_g_over_t_hi": max(r["gamma"] / r["t"] for r in planted),
        "fr_exact_width_pct": 100 * max(r["rel_width"] for r in planted),
        "fr_mc_negative": sum(r.get("mc_lo", r["ci_lo"]) <= 0 for r in planted),
        "fr_n_planted_sets": len(planted),
        "fr_floor_t_factor": max(tf) / min(tf), "fr_floor_g_factor": max(gf) / min(gf),
        "fr_mnist_g_lo": min(r["gamma"] for r in mnist) if mnist else math.nan,
        "fr_mnist_g_hi": max(r["gamma"] for r in mnist) if mnist else math.nan,
    }


def final_comparison(records: Sequence[dict], regime: str, kind: str = "planted") -> dict[str, int]:
    """At the final caps, over the datasets of ``kind`` and the targets: median m* soft < hard, equal,
    soft > hard, or a median censored."""
    ser = series(records)
    c = {"soft fewer": 0, "equal": 0, "hard fewer": 0, "censored": 0}
    for (reg, mode, e, n), s in ser.items():
        if reg != regime or mode != "soft" or s["kind"] != kind or (regime, "hard", e, n) not in ser:
            continue
        h = ser[(regime, "hard", e, n)]
        ms, mh = median_at(s, s["cap"]), median_at(h, h["cap"])
        if not (math.isfinite(ms) and math.isfinite(mh)):
            c["censored"] += 1
        else:
            c["soft fewer" if ms < mh else "equal" if ms == mh else "hard fewer"] += 1
    return c


def paired_final(records: Sequence[dict], regime: str, kind: str | None = None) -> dict[str, int]:
    """Seed by seed at the final caps (all targets): soft needs fewer neurons than hard, the same, more,
    or neither reaches the target."""
    ser = series(records)
    c = {"fewer": 0, "same": 0, "more": 0, "neither": 0}
    for (reg, mode, e, n), s in ser.items():
        if reg != regime or mode != "soft" or (kind is not None and s["kind"] != kind) or (regime, "hard", e, n) not in ser:
            continue
        h = ser[(regime, "hard", e, n)]
        for fs, fh in zip(s["first"], h["first"]):
            c[paired_outcome(mstar_at(s["widths"], fs, s["cap"]), mstar_at(h["widths"], fh, h["cap"]))] += 1
    return c


def kernel_rows(records: Sequence[dict]) -> list[dict]:
    """``T*(inf)`` per dataset, regime, label kind and eps, in steps and as gradient-flow time, beside the
    fewest steps any measured width needed (median over seeds of the envelope at the widest width), and
    whether the projection would make the projected limit differ from kernel descent before it."""
    ser = series(records)
    out = []
    for (regime, mode, e, n), ent in sorted(ser.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2], kv[1]["gamma"])):
        env = [envelope(ent["widths"], f)[-1] for f in ent["first"]]
        med = median_width(env)
        kf = ent["kernel_first"]
        out.append({"regime": regime, "labels": mode, "eps": e, "dataset": n, "gamma": ent["gamma"],
                    "kernel": f"> {ent['kernel_steps']}" if kf < 0 else kf,
                    "kernel_time": math.nan if kf < 0 else ent["lr"] * kf,
                    "fewest": "censored" if not math.isfinite(med) else int(med),
                    "binds": "no" if ent["kernel_bind_step"] is None else f"at step {ent['kernel_bind_step']}"})
    return out


def findings(records: Sequence[dict]) -> dict[str, float]:
    """The numbers the chapter's prose quotes (glued), computed from the frontier records."""
    ser = series(records)
    out: dict[str, float] = {}
    rules = rule_counts(records, "planted")
    out["fr_planted_series"] = sum(rules.values())
    for r in RULES_ALL:
        out[f"fr_rule_{r}"] = rules.get(r, 0)
    out["fr_censored_planted"] = censored_medians(records, "planted")
    out["fr_censored_mnist"] = censored_medians(records, "mnist")
    out["fr_largest_cap"] = max(v["cap"] for v in ser.values() if v["kind"] == "planted")
    out["fr_mnist_cap"] = max(v["cap"] for v in ser.values() if v["kind"] == "mnist") if any(
        v["kind"] == "mnist" for v in ser.values()) else math.nan
    for regime in REGIMES:
        fc = final_comparison(records, regime)
        out[f"fr_{regime}_final_soft_fewer"] = fc["soft fewer"]
        out[f"fr_{regime}_final_equal"] = fc["equal"]
        out[f"fr_{regime}_final_hard_fewer"] = fc["hard fewer"]
        out[f"fr_{regime}_final_pairs"] = sum(fc.values())
        cb = comparison_by_budget(records, regime)
        out[f"fr_{regime}_budgets"] = len(cb)
        out[f"fr_{regime}_budget_soft_fewer_max"] = max((c["soft fewer"] for c in cb), default=0)
        out[f"fr_{regime}_budget_hard_fewer_max"] = max((c["hard fewer"] for c in cb), default=0)
        out[f"fr_{regime}_budget_hard_fewer_min"] = min((c["hard fewer"] for c in cb), default=0)
        pf = paired_final(records, regime, "planted")
        for k, v in pf.items():
            out[f"fr_{regime}_paired_{k}"] = v
        out[f"fr_{regime}_paired_total"] = sum(pf.values())
        ks = [ent["kernel_first"] for (reg, mode, e, n), ent in ser.items()
              if reg == regime and mode == "soft" and ent["kind"] == "planted" and ent["kernel_first"] >= 0]
        kh = [ent["kernel_first"] for (reg, mode, e, n), ent in ser.items()
              if reg == regime and mode == "hard" and ent["kind"] == "planted" and ent["kernel_first"] >= 0]
        out[f"fr_{regime}_kernel_soft_lo"] = min(ks, default=math.nan)
        out[f"fr_{regime}_kernel_soft_hi"] = max(ks, default=math.nan)
        out[f"fr_{regime}_kernel_hard_lo"] = min(kh, default=math.nan)
        out[f"fr_{regime}_kernel_hard_hi"] = max(kh, default=math.nan)
        binds = [ent["kernel_bind_step"] for (reg, _, _, _), ent in ser.items() if reg == regime]
        out[f"fr_{regime}_kernel_binds"] = sum(b is not None for b in binds)
        for mode in MODES:  # planted datasets whose series (both targets) stopped at the largest cap
            names = {n for (reg, m, _, n), ent in ser.items()
                     if reg == regime and m == mode and ent["kind"] == "planted" and ent["rule"] == "max_cap"}
            out[f"fr_{regime}_{mode}_maxcap"] = len(names)
        meds = [median_at(ent, ent["cap"]) for (reg, _, _, _), ent in ser.items()
                if reg == regime and ent["kind"] == "planted"]
        fin = [m for m in meds if math.isfinite(m)]
        out[f"fr_{regime}_mstar_lo"] = min(fin, default=math.nan)
        out[f"fr_{regime}_mstar_hi"] = max(fin, default=math.nan)
    return out


RULES_ALL = ("converged", "settled", "max_cap", "budget")


def censored_at_caps(records: Sequence[dict], regime: str, mode: str, eps: float, kind: str = "planted") -> dict:
    """How many datasets of ``kind`` have their median m* censored at the first cap and at the final cap,
    out of how many, and the medians at the first and final caps (``inf``: censored) by dataset."""
    ser = series(records)
    ents = {n: e for (reg, m, ep, n), e in ser.items() if reg == regime and m == mode and ep == eps and e["kind"] == kind}
    first = {n: median_at(e, e["caps"][0]) for n, e in ents.items()}
    final = {n: median_at(e, e["cap"]) for n, e in ents.items()}
    return {"datasets": len(ents), "first": sum(not math.isfinite(v) for v in first.values()),
            "final": sum(not math.isfinite(v) for v in final.values()), "first_medians": first,
            "final_medians": final}


def kernel_time_comparison(records: Sequence[dict], regime: str, eps: float, kind: str = "planted") -> dict[str, int]:
    """Over the datasets of ``kind``: in gradient-flow time ``eta T*(inf)``, how often the kernel limit
    reaches eps sooner with soft labels than with hard ones, as soon, later (censored counts as later)."""
    ser = series(records)
    c = {"soft sooner": 0, "same": 0, "hard sooner": 0}
    for (reg, mode, ep, n), s in ser.items():
        if reg != regime or mode != "soft" or ep != eps or s["kind"] != kind or (reg, "hard", ep, n) not in ser:
            continue
        h = ser[(reg, "hard", ep, n)]
        ts = s["lr"] * s["kernel_first"] if s["kernel_first"] >= 0 else math.inf
        th = h["lr"] * h["kernel_first"] if h["kernel_first"] >= 0 else math.inf
        c["soft sooner" if ts < th else "same" if ts == th else "hard sooner"] += 1
    return c


def projected_sets(records: Sequence[dict], regime: str, mode: str, kind: str = "planted") -> int:
    """Datasets of ``kind`` on which the projection moved a row of some student of (regime, mode)."""
    return len({r["dataset"] for rec in records for r in rec["rows"]
                if r["regime"] == regime and r["mode"] == mode and r["kind"] == kind and r["projected"]})


def censored_causes(records: Sequence[dict], kind: str = "mnist") -> list[dict]:
    """Every series of ``kind`` whose median m* is censored at its final cap: its regime, label kind, eps,
    the soft labels' teacher error, the median training error of the widest students at the cap, and
    the kernel limit's ``T*(inf)`` (``-1``: not within its steps)."""
    out = []
    for (regime, mode, e, n), ent in series(records).items():
        if ent["kind"] != kind or math.isfinite(median_at(ent, ent["cap"])):
            continue
        out.append({"regime": regime, "labels": mode, "eps": e, "dataset": n, "cap": ent["cap"],
                    "teacher_error": ent["teacher_error"],
                    "error_at_cap": float(np.median([f[-1] for f in ent["final_error"]])),
                    "kernel_first": ent["kernel_first"], "kernel_steps": ent["kernel_steps"]})
    return out


def is_default_run(configs: Sequence[Any]) -> bool:
    """Whether ``configs`` are the chapter's default sweep, the run its prose describes
    (compared by record key, so the device and other non-key fields do not matter)."""
    from kdlib.experiments import frontier
    from kdlib.results import config_key

    def keys(cs: Sequence[Any]) -> list[str]:
        return [config_key(frontier.NAME, c) for c in cs]

    return keys(configs) == keys(frontier.sweep_configs())


def check_claims(claims: dict[str, Callable[[], bool]], *, strict: bool) -> list[str]:
    """The qualitative claims of the prose, each a function of the glued values that says
    whether it holds. ``strict`` (the default run, which the prose describes): a claim that fails
    raises ``AssertionError`` naming it, so a change in the records that makes the text false
    stops the build. Otherwise (a papermill rerun with other parameters) the claims that fail,
    or cannot be evaluated because this run lacks what they speak of, are returned."""
    failed = []
    for text, holds in claims.items():
        try:
            ok = bool(holds())
        except (KeyError, ValueError, IndexError, TypeError):
            ok = False
        if not ok:
            failed.append(text)
    if failed and strict:
        raise AssertionError("the records contradict the prose: " + "; ".join(failed))
    return failed
