"""Chapter 6 (``book/06_neuron_scaling.ipynb``): the tables, figures and quoted values of the width chapter.

Reads the records of :mod:`kdlib.experiments.scaling_gamma` (gamma of each dataset) and
:mod:`kdlib.experiments.scaling` (the smallest width ``m*`` per label kind, target and seed).
"""
from __future__ import annotations

import math
from typing import Sequence

from kdlib import bounds
from kdlib.experiments.scaling import DEFAULT_WIDTHS, MODES, REGIMES
from kdlib.experiments.scaling_gamma import Config as GammaConfig, load_dataset
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


def _groups(records: Sequence[dict]) -> dict[tuple, dict]:
    """``(regime, mode, eps) -> {dataset: {"gamma", "t", "kind", "widths": [m* per seed]}}``."""
    out: dict[tuple, dict] = {}
    for rec in records:
        for r in rec["rows"]:
            if "m_star" not in r:
                continue
            key = (r["regime"], r["mode"], r["eps"])
            ent = out.setdefault(key, {}).setdefault(r["dataset"], {"gamma": r["gamma"], "gamma_lo": r["gamma_lo"],
                                                                    "t": r["t"], "kind": r["kind"], "widths": [],
                                                                    "top": rec["config"]["widths"][-1],
                                                                    "final": [], "steps": [],
                                                                    "teacher": r.get("teacher_error")})
            ent["widths"].append(r["m_star"])
            ent["steps"].append(r.get("steps_at_m_star"))
            if "final_error" in r:
                ent["final"].append(r["final_error"])
    return out


def _fmt_width(v: float) -> str:
    if not math.isfinite(v):
        return f"> {DEFAULT_WIDTHS[-1]}"
    return f"{v:g}"


def _median_range(widths: Sequence[int | None], top: int) -> str:
    """``"median [min, max]"`` over seeds, ``> top`` for censored values."""
    from kdlib.fit import median_width

    med = median_width(widths)
    finite = [v for v in widths if v is not None]
    lo = min(finite) if finite else math.inf
    hi = math.inf if any(v is None for v in widths) else max(finite)
    fmt = lambda v: f"> {top}" if not math.isfinite(v) else f"{v:g}"  # noqa: E731
    if lo == hi:
        return fmt(med)
    return f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"


def mstar_rows(records: Sequence[dict], regime: str, eps: float) -> list[dict]:
    """Per dataset: gamma and, per label kind, the median m* over seeds with its range ``[min, max]``
    (``> 4096``: censored) and the ratio of the medians hard / soft."""
    from kdlib.fit import median_width

    groups = _groups(records)
    soft, hard = groups.get((regime, "soft", eps), {}), groups.get((regime, "hard", eps), {})
    rows = []
    for name in sorted(soft, key=lambda k: soft[k]["gamma"]):
        row = {"dataset": name, "gamma": soft[name]["gamma"]}
        meds = {}
        for mode, grp in (("soft", soft), ("hard", hard)):
            if name not in grp:
                continue
            w = grp[name]["widths"]
            med = median_width(w)
            meds[mode] = med
            finite = [v for v in w if v is not None]
            lo = min(finite) if finite else math.inf
            hi = math.inf if any(v is None for v in w) else max(w)
            row[f"{mode}_median"] = _fmt_width(med)
            row[f"{mode}_range"] = f"[{_fmt_width(lo)}, {_fmt_width(hi)}]"
        if "soft" in meds and "hard" in meds and math.isfinite(meds["soft"]) and math.isfinite(meds["hard"]):
            row["ratio"] = meds["hard"] / meds["soft"]
        rows.append(row)
    return rows


def mstar_table(records: Sequence[dict], regime: str, eps_list: Sequence[float]) -> tuple[list[dict], list]:
    """Rows and columns for one regime: per dataset (by increasing gamma) the training error of the
    soft labels' teacher, and the median m* over seeds with its range over seeds in brackets, for each
    eps and label kind; where every seed was censored, the training error of the widest student at
    the step cap (median over seeds) in parentheses."""
    groups = _groups(records)
    names: dict[str, float] = {}
    for (reg, _, _), grp in groups.items():
        if reg == regime:
            for k, v in grp.items():
                names[k] = v["gamma"]
    rows, cols = [], [("dataset", "dataset"), ("gamma", "gamma"), ("teacher", "teacher error")]
    for e in eps_list:
        for mode in MODES:
            cols.append((f"{mode}_{e:g}", f"{mode}, eps {e:g}"))
    for name in sorted(names, key=names.get):
        row: dict = {"dataset": name, "gamma": names[name]}
        teach = [grp[name]["teacher"] for (reg, mode, _), grp in groups.items()
                 if reg == regime and mode == "soft" and name in grp]
        if teach and teach[0] is not None:
            row["teacher"] = f"{100 * teach[0]:.2g} %"
        for e in eps_list:
            for mode in MODES:
                ent = groups.get((regime, mode, e), {}).get(name)
                if ent is not None:
                    cell = _median_range(ent["widths"], ent["top"])
                    if all(v is None for v in ent["widths"]) and ent["final"]:
                        import numpy as np

                        cell += f" (error {float(np.median([f[-1] for f in ent['final']])):.2g})"
                    row[f"{mode}_{e:g}"] = cell
        rows.append(row)
    return rows, cols


def fit_rows(records: Sequence[dict], *, kinds: Sequence[str] = ("planted", "all"), n_boot: int = 2000,
             level: float = 0.9, quantity: str = "width", min_points: int = 3) -> list[dict]:
    """The exponent k of ``m* ~ gamma^-k`` per regime, label kind, eps and data family, with its bootstrap
    interval (:func:`kdlib.fit.fit_slope`), beside the theory's 2 (soft) and 4 (hard).

    ``quantity="steps"``: the same fit for the number of steps the student of width ``m*`` took to reach
    eps (per seed; censored seeds as ``+inf``), beside the exponents of the iteration counts the results
    ask for, 4 (Corollary 4, ``T >= 9216 / (gamma^4 eps^2)``) and 2 (Proposition 5,
    ``T ~ ln^2(1/eps) / (gamma^2 eps)``). A fit needs ``min_points`` datasets whose median is not
    censored (the others are left out); with fewer, the row shows no exponent."""
    from kdlib.fit import fit_slope

    if quantity not in ("width", "steps"):
        raise ValueError(f"quantity must be 'width' or 'steps', got {quantity!r}")
    field_ = "widths" if quantity == "width" else "steps"
    theory = {"soft": 2, "hard": 4} if quantity == "width" else {"soft": 4, "hard": 2}
    out = []
    for (regime, mode, eps), grp in sorted(_groups(records).items()):
        for kind in kinds:
            names = [k for k in grp if kind == "all" or grp[k]["kind"] == kind]
            if len(names) < 2:
                continue
            f = fit_slope([grp[k]["gamma"] for k in names], [grp[k][field_] for k in names],
                          n_boot=n_boot, level=level, seed=0)
            ok = f.points >= min_points and math.isfinite(f.slope)
            out.append({"regime": regime, "labels": mode, "eps": eps, "data": kind, "k": f.slope if ok else math.nan,
                        "interval": f"[{f.lo:.2f}, {f.hi:.2f}]" if ok and math.isfinite(f.lo) else "—",
                        "theory": theory[mode], "datasets": f"{f.points} of {len(names)}",
                        "lo": f.lo, "hi": f.hi})
    return out


def ratio_points(records: Sequence[dict], regime: str) -> list[tuple[float, float]]:
    """``(gamma / eps, median m*_hard / median m*_soft)`` over datasets and eps (both medians reached)."""
    pts = []
    for eps in sorted({r["eps"] for rec in records for r in rec["rows"] if "eps" in r}):
        for row in mstar_rows(records, regime, eps):
            if "ratio" in row:
                pts.append((row["gamma"] / eps, row["ratio"]))
    return pts


def _plot_regime(ax, groups: dict, regime: str, eps: float) -> list[float]:
    """One panel: median m* against gamma per label kind, bars over seeds, censored medians as open
    triangles above the grid, the fitted lines; returns the gammas drawn."""
    import numpy as np

    from kdlib.fit import fit_slope, median_width

    colors = {"soft": "#2471a3", "hard": "#c0392b"}
    gam_all: list[float] = []
    top = DEFAULT_WIDTHS[-1]
    for mode in MODES:
        grp = groups.get((regime, mode, eps), {})
        if not grp:
            continue
        names = sorted(grp, key=lambda k: grp[k]["gamma"])
        top = max(grp[k]["top"] for k in names)
        g = np.array([grp[k]["gamma"] for k in names])
        gam_all += list(g)
        med = np.array([median_width(grp[k]["widths"]) for k in names])
        lo = np.array([min([v for v in grp[k]["widths"] if v is not None], default=top) for k in names])
        hi = np.array([max([v if v is not None else top for v in grp[k]["widths"]]) for k in names])
        ok = np.isfinite(med)
        shift = 0.96 if mode == "soft" else 1.04  # side by side where both kinds sit at one gamma
        for kind, marker in (("planted", "o"), ("mnist", "s")):
            sel = ok & np.array([grp[k]["kind"] == kind for k in names])
            if sel.any():
                ax.errorbar(g[sel] * shift, med[sel], yerr=[med[sel] - lo[sel], hi[sel] - med[sel]], fmt=marker,
                            color=colors[mode], ms=5, capsize=3,
                            label=f"{mode}, {'planted' if kind == 'planted' else 'MNIST pairs'}")
        if (~ok).any():
            ax.scatter(g[~ok] * shift, np.full(int((~ok).sum()), 2.0 * top), marker="^", facecolors="none",
                       edgecolors=colors[mode], label=f"{mode}: median censored (> {top})")
        f = fit_slope(g, [grp[k]["widths"] for k in names], n_boot=0)
        if math.isfinite(f.slope) and f.points >= 3:  # the rule of fit_rows
            gg = np.geomspace(g[ok].min(), g[ok].max(), 20)
            ax.plot(gg, np.exp(f.intercept) * gg ** (-f.slope), "-", color=colors[mode], lw=1,
                    label=f"{mode}: fit (all datasets)")
    if gam_all:
        gg = np.geomspace(min(gam_all), max(gam_all), 20)
        for k, ls in ((2, ":"), (4, "--")):
            ax.plot(gg, 2 * (gg / gg.max()) ** (-k), ls, color="0.4", lw=1, label=f"slope $-{k}$ (bounds' order)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, 8 * top)
    ax.set_xlabel(r"certified margin $\gamma$")
    ax.set_ylabel(rf"needed width $m^*$ (neurons, error $\leq {eps:g}$)")
    ax.set_title(f"{regime} regime", fontsize=9)
    return gam_all


def plot_scaling(records: Sequence[dict], eps: float, *, n: int, delta: float = 0.1,
                 regimes: Sequence[str] = REGIMES):
    """One log-log panel per regime: median m* (bars: range over seeds; open triangles above the grid:
    censored medians) against gamma, per label kind, with the fitted lines and reference slopes -2 and
    -4 through the data. Last panel: the widths Corollary 4 and Proposition 5 ask for (kdlib.bounds)
    at the same gammas, on their own scale."""
    import numpy as np

    from kdlib.plots import new_figure

    fig, axes = new_figure(ncols=len(regimes) + 1, width=4.2 * (len(regimes) + 1), height=4.2)
    groups = _groups(records)
    gam_all: list[float] = []
    for ax, regime in zip(axes, regimes):
        gam_all += _plot_regime(ax, groups, regime, eps)
    ax2 = axes[-1]
    if gam_all:
        gg = np.geomspace(min(gam_all), max(gam_all), 20)
        ax2.plot(gg, [bounds.corollary4(n, 1.0, float(v), eps, delta).width for v in gg], "-", color="#2471a3",
                 label="Corollary 4 (soft)")
        ax2.plot(gg, [bounds.proposition5_for_error(n, 1.0, float(v), eps, delta).width for v in gg], "-",
                 color="#c0392b", label="Proposition 5 (hard)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"certified margin $\gamma$")
    ax2.set_ylabel(rf"width asked for (neurons, error $\leq {eps:g}$)")
    ax2.set_title(f"the bounds (n = {n}, delta = {delta:g})", fontsize=9)
    ax2.legend(fontsize=7)
    handles: dict = {}
    for ax in axes[:-1]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=5, fontsize=7,
                   frameon=False)
    return fig


def eps_rows(records: Sequence[dict], eps1: float, eps2: float) -> list[dict]:
    """Per regime and dataset: median m* at ``eps2`` over median m* at ``eps1`` for each label kind
    (``None`` where either median is censored); gamma as text with three significant digits."""
    from kdlib.fit import median_width

    groups = _groups(records)
    out = []
    for regime in REGIMES:
        soft1 = groups.get((regime, "soft", eps1), {})
        for name in sorted(soft1, key=lambda k: soft1[k]["gamma"]):
            row = {"regime": regime, "dataset": name, "gamma": f"{soft1[name]['gamma']:.3g}"}
            for mode in MODES:
                a = groups.get((regime, mode, eps1), {}).get(name)
                b = groups.get((regime, mode, eps2), {}).get(name)
                if a and b:
                    ma, mb = median_width(a["widths"]), median_width(b["widths"])
                    row[mode] = mb / ma if math.isfinite(ma) and math.isfinite(mb) else None
            out.append(row)
    return out


def crossing_rows(records: Sequence[dict], regimes: Sequence[str] = REGIMES) -> list[dict]:
    """Per regime: how many (dataset, eps) points have the ratio of the medians hard / soft above 1 (soft
    labels needed fewer neurons), equal to 1, below 1; its range; and where it crosses 1 against
    ``gamma / eps`` (:func:`kdlib.fit.crossing`; "never" when it stays on one side)."""
    from kdlib.fit import crossing

    out = []
    for regime in regimes:
        pts = ratio_points(records, regime)
        if not pts:
            out.append({"regime": regime, "points": 0})
            continue
        c = crossing([p[0] for p in pts], [p[1] for p in pts])
        out.append({"regime": regime, "points": len(pts), "min": min(p[1] for p in pts),
                    "max": max(p[1] for p in pts), "above": sum(p[1] > 1 for p in pts),
                    "equal": sum(p[1] == 1 for p in pts), "below": sum(p[1] < 1 for p in pts),
                    "crossing": "never" if c is None else f"{c:.3g}"})
    return out


def cost_rows(records: Sequence[dict]) -> list[dict]:
    """Compute time per regime and data family: records, student banks, students trained (every width
    and seed of every bank), and the summed wall time of the records in minutes."""
    out: dict[tuple[str, str], dict] = {}
    for rec in records:
        cfg = rec["config"]
        key = (cfg["regime"], "planted" if cfg["gamma"]["dataset"] == "planted" else "MNIST pairs")
        ent = out.setdefault(key, {"regime": key[0], "data": key[1], "records": 0, "banks": 0, "students": 0,
                                   "minutes": 0.0})
        banks = len(rec["provenance"].get("cost", {}))
        ent["records"] += 1
        ent["banks"] += banks
        ent["students"] += banks * len(cfg["widths"]) * len(cfg["seeds"])
        ent["minutes"] += float(rec["provenance"]["wall_time_s"]) / 60
    return [out[k] for k in sorted(out)]


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


def describe_span(records: Sequence[dict]) -> str:
    """One sentence on :func:`sweep_span`, for the chapter."""
    sp = sweep_span(records)
    return (f"These {len(records)} records were computed between {sp['start']:%Y-%m-%d %H:%M} and "
            f"{sp['end']:%H:%M} UTC: **{sp['wall_minutes']:.1f} minutes** of wall-clock time for "
            f"{sp['compute_minutes']:.1f} minutes of compute, {sp['concurrency']:.2f} records at a time "
            f"on average.")


def cap_errors(records: Sequence[dict], regime: str, mode: str, *, min_seeds: int = 3) -> dict[str, dict]:
    """Training error at the step cap against width: ``dataset -> {"gamma", "widths", "error"}`` with the
    median over the seeds whose student of that width ran to the cap without reaching the smallest
    target (``first_step == -1`` in its row; a student stopped early has no error at the cap), ``nan``
    where fewer than ``min_seeds`` seeds did."""
    import numpy as np

    out: dict[str, dict] = {}
    for rec in records:
        rows = [r for r in rec["rows"] if r.get("regime") == regime and r["mode"] == mode and "final_error" in r]
        if not rows:
            continue
        e_min = min(r["eps"] for r in rows)
        rows = [r for r in rows if r["eps"] == e_min]
        widths = list(rec["config"]["widths"])
        err = []
        for k in range(len(widths)):
            vals = [r["final_error"][k] for r in rows if r["first_step"][k] == -1]
            err.append(float(np.median(vals)) if len(vals) >= min_seeds else math.nan)
        out[rows[0]["dataset"]] = {"gamma": rows[0]["gamma"], "widths": widths, "error": err, "eps": e_min}
    return out


def plot_cap_error(records: Sequence[dict], regime: str = "theory"):
    """Two panels (soft, hard labels): the training error at the step cap against the width, median over
    the seeds that ran to the cap, one line per dataset (darker: smaller gamma), the smallest target
    dashed."""
    import matplotlib.pyplot as plt

    from kdlib.plots import new_figure

    fig, axes = new_figure(ncols=2, width=9.0, height=3.6)
    for ax, mode in zip(axes, MODES):
        data = cap_errors(records, regime, mode)
        names = sorted(data, key=lambda k: data[k]["gamma"])
        for i, name in enumerate(names):
            ent = data[name]
            shade = plt.cm.viridis(i / max(1, len(names) - 1))
            ax.plot(ent["widths"], ent["error"], "o-" if name.startswith("planted") else "s--", ms=3, lw=1,
                    color=shade, label=f"{name} ($\\gamma$ = {ent['gamma']:.3g})")
        if names:
            ax.axhline(data[names[0]]["eps"], color="0.5", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width m (neurons)")
        ax.set_ylabel("training error at the step cap")
        ax.set_title(f"{regime} regime, {mode} labels", fontsize=9)
        if names:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
