"""Chapter 3 (``book/03_margin.ipynb``): the tables, figures and quoted values of the margin chapter.

Reads the records of :mod:`kdlib.experiments.margin` (gamma of the MNIST tasks, its
certified interval and the points that carry it) and :mod:`kdlib.experiments.margin_teacher`
(the kernel-limit teacher against the 512-unit one).
"""
from __future__ import annotations

import torch

from kdlib.data import binary_mnist
from kdlib.experiments.margin import TASKS, Config


TASK_COLORS = {"full": "#c0392b", "reduced": "#2471a3"}


def interval_name(row: dict) -> str:
    """What a record's ``[ci_lo, ci_hi]`` is: certified at the stored confidence, or (records from before
    the certificate) the asymptotic three-standard-error interval."""
    conf = row.get("confidence")
    return f"certified at {conf:.0%}" if conf is not None else "asymptotic, 3 s.e."


def gamma_rows(records: list[dict]) -> list[dict]:
    """One row per record, for a table: the point estimates and the interval (:func:`interval_name`)."""
    out = []
    for rec in records:
        r = rec["rows"][0]
        out.append({
            "task": r["task"], "n": r["n"], "noise": f"{r['noise_variance']:g}",
            "lower": f"{r['lower']:.4f} ± {r['lower_se']:.1g}", "upper": f"{r['upper']:.4f} ± {r['upper_se']:.1g}",
            "interval": f"[{r['ci_lo']:.4f}, {r['ci_hi']:.4f}]", "rule": interval_name(r),
            "width": f"{100 * r['rel_width']:.0f} %",
            "svm": r["svm_upper"], "support": r["support_size"],
        })
    return out


def _errorbar(ax, xs, recs, color, label, dx=1.0):
    mid = [0.5 * (r["ci_lo"] + r["ci_hi"]) for r in recs]
    lo = [m - r["ci_lo"] for m, r in zip(mid, recs)]
    hi = [r["ci_hi"] - m for m, r in zip(mid, recs)]
    ax.errorbar([x * dx for x in xs], mid, yerr=[lo, hi], marker="o", ms=4, capsize=3, color=color, label=label)


def plot_gamma_vs(records: list[dict], key: str, xlabel: str, log_x: bool = False):
    """gamma's interval (:func:`interval_name`) against ``key`` (``"n"`` or ``"noise_variance"``), per task,
    with the kernel-SVM upper bound ``sqrt(min_p E||g_p||^2)`` dashed."""
    from kdlib.plots import legible, new_figure

    fig, ax = new_figure()
    for task in TASKS:
        recs = sorted((rec["rows"][0] for rec in records if rec["rows"][0]["task"] == task), key=lambda r: r[key])
        if not recs:
            continue
        xs = [r[key] for r in recs]
        names = sorted({interval_name(r) for r in recs})
        rule = names[0] if len(names) == 1 else "certified or asymptotic, see the table"
        _errorbar(ax, xs, recs, TASK_COLORS[task], f"{task}: gamma (interval {rule})", dx=1.0)
        ax.plot(xs, [r["svm_upper"] for r in recs], "--", color=TASK_COLORS[task], lw=1, label=f"{task}: kernel-SVM bound")
    if log_x:
        ax.set_xscale("log")
        xs = sorted({rec["rows"][0][key] for rec in records})
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"margin $\gamma$ (unit-norm inputs)")
    ax.legend()
    return legible(fig)


def plot_support_images(cfg: Config, record: dict, k: int = 8):
    """The ``k`` images with the largest dual weight ``p_i`` (they set gamma), with digit, label and weight."""
    import matplotlib.pyplot as plt

    from kdlib.plots import COLUMN_WIDTH_IN, legible, use_book_style

    use_book_style()
    d = binary_mnist(cfg.task, train=True, scaling="pixel", noise_variance=cfg.noise_variance,
                     noise_seed=cfg.noise_seed, limit=cfg.n, subset_seed=cfg.subset_seed)
    r = record["rows"][0]
    idx, w = r["support_idx"][:k], r["support_p"][:k]
    # 1.1 in per image, narrowed to fit the column down to 0.9 in (its 9 pt title still fits), more rows beyond
    rows = max(1, -(-k // int(COLUMN_WIDTH_IN // 0.9)))
    cols = -(-k // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(min(1.1 * cols, COLUMN_WIDTH_IN), 1.75 * rows), squeeze=False)
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    for ax, i, p in zip(axes.flat, idx, w):
        ax.imshow(d.x[i].reshape(28, 28).numpy(), cmap="gray_r")
        ax.set_title(f"{int(d.digits[i])} ($y$={int(d.y[i]):+d})\n$p$={p:.3f}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    legible(fig)
    fig.tight_layout()
    return fig


def support_digit_rows(record: dict) -> list[dict]:
    """Dual weight per digit: how much of ``p`` each digit carries."""
    r = record["rows"][0]
    tot: dict[int, float] = {}
    cnt: dict[int, int] = {}
    for dgt, p in zip(r["support_digit"], r["support_p"]):
        tot[dgt] = tot.get(dgt, 0.0) + p
        cnt[dgt] = cnt.get(dgt, 0) + 1
    return [{"digit": k, "points": cnt[k], "weight": tot[k]} for k in sorted(tot, key=lambda k: -tot[k])]


def teacher_summary(record: dict) -> dict:
    """Correlations and ranges of the kernel-limit teacher against the 512-unit teacher."""
    rows = record["rows"]
    pk = torch.tensor([r["p_kernel"] for r in rows], dtype=torch.float64)
    p5 = torch.tensor([r["p_512"] for r in rows], dtype=torch.float64)
    zk = torch.tensor([r["z_kernel"] for r in rows], dtype=torch.float64)
    y = torch.tensor([r["y"] for r in rows], dtype=torch.float64)
    l5 = torch.logit(p5.clamp(1e-12, 1 - 1e-12))

    def corr(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / (a.norm() * b.norm()))

    def ranks(a):
        return torch.argsort(torch.argsort(a)).to(torch.float64)

    return {
        "n": len(rows),
        "pearson_p": corr(pk, p5), "pearson_logit": corr(zk, l5), "spearman": corr(ranks(zk), ranks(l5)),
        "sign_agreement": float(((zk > 0) == (p5 > 0.5)).double().mean()),
        "kernel_acc": float((zk * y > 0).double().mean()), "t512_acc": float(((p5 - 0.5) * y > 0).double().mean()),
        "pk_min": float(pk.min()), "pk_max": float(pk.max()), "p5_min": float(p5.min()), "p5_max": float(p5.max()),
        "zk_absmax": float(zk.abs().max()), "l5_absmedian": float(l5.abs().median()), "zk_absmedian": float(zk.abs().median()),
    }


def plot_teacher_scatter(record: dict):
    """Soft labels of the kernel-limit teacher (x) against the 512-unit teacher's (y), coloured by label."""
    import matplotlib.ticker

    from kdlib.plots import legible, new_figure

    fig, ax = new_figure(width=5.0, height=4.0)
    rows = record["rows"]
    for lab, color, name in ((1, "#2471a3", "$y = +1$ (digit > 4)"), (-1, "#c0392b", "$y = -1$")):
        pts = [r for r in rows if r["y"] == lab]
        ax.scatter([r["p_kernel"] for r in pts], [r["p_512"] for r in pts], s=4, alpha=0.4, color=color, label=name)
    ax.axhline(0.5, color="k", lw=0.5)
    ax.axvline(0.5, color="k", lw=0.5)
    ax.set_xlabel(r"kernel-limit teacher $\sigma(z_i)$")
    ax.set_ylabel(r"512-unit teacher $\sigma(f(x_i))$")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    ax.legend(markerscale=3)
    return legible(fig)


def prose_values(size_records: list[dict], support_record: dict, teacher_record: dict,
                 n_top: int = 100) -> dict[str, float]:
    """The measured numbers the chapter's prose quotes, from the ``margin`` and ``margin_teacher`` records.

    From the size sweep (noise-free records, one per task and ``n``): ``gamma_largest_full`` is gamma of
    the full task at its largest ``n``; ``gamma_inv2``/``gamma_inv4`` are ``1/gamma^2`` and ``1/gamma^4``
    there (the factors of the width bounds); ``doubling_lo``/``_hi`` the range over tasks and consecutive
    sizes of ``gamma(n') / gamma(n)`` per doubling of ``n``, i.e. ``(gamma(n')/gamma(n))^(1/log2(n'/n))``;
    ``n_exponent`` the least-squares slope ``k`` of ``log gamma = a - k log n`` over both tasks (separate
    intercepts); ``reduced_gain_lo``/``_hi`` the range over ``n`` of ``gamma_reduced / gamma_full - 1``.
    From ``support_record``: the largest single dual weight ``top1_weight`` and the weight of the
    ``n_top`` heaviest points ``top_weight``. From ``teacher_record`` (:func:`teacher_summary`): the rank
    correlation, the agreement of the predicted classes, the largest ``|p_kernel - 1/2|`` and the 512-unit
    teacher's median ``|logit|``."""
    import math

    by_task: dict[str, dict[int, float]] = {}
    for rec in size_records:
        r = rec["rows"][0]
        if r["noise_variance"] != 0:
            continue
        by_task.setdefault(r["task"], {})[int(r["n"])] = float(r["gamma"])
    if "full" not in by_task or "reduced" not in by_task:
        raise ValueError("prose_values needs noise-free size records of both tasks")
    doubling, xs, ys, tasks = [], [], [], sorted(by_task)
    for task in tasks:
        ns = sorted(by_task[task])
        if len(ns) < 2:
            raise ValueError(f"prose_values needs at least two sizes of the {task} task")
        for a, b in zip(ns, ns[1:]):
            doubling.append((by_task[task][b] / by_task[task][a]) ** (1.0 / math.log2(b / a)))
    # slope with one intercept per task: centre log n and log gamma within each task
    for task in tasks:
        ln = [math.log(n) for n in sorted(by_task[task])]
        lg = [math.log(by_task[task][n]) for n in sorted(by_task[task])]
        mx, my = sum(ln) / len(ln), sum(lg) / len(lg)
        xs += [v - mx for v in ln]
        ys += [v - my for v in lg]
    slope = sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)
    common = sorted(set(by_task["full"]) & set(by_task["reduced"]))
    gains = [by_task["reduced"][n] / by_task["full"][n] - 1.0 for n in common]
    g = by_task["full"][max(by_task["full"])]
    p = sorted(support_record["rows"][0]["support_p"], reverse=True)
    total = sum(p)
    s = teacher_summary(teacher_record)
    pk = [r["p_kernel"] for r in teacher_record["rows"]]
    return {
        "margin_gamma_largest_full": g, "margin_gamma_largest_n": float(max(by_task["full"])),
        "margin_gamma_inv2": g ** -2, "margin_gamma_inv4": g ** -4,
        "margin_doubling_lo": min(doubling), "margin_doubling_hi": max(doubling), "margin_n_exponent": -slope,
        "margin_reduced_gain_lo": min(gains), "margin_reduced_gain_hi": max(gains),
        "margin_top1_weight": p[0] / total, "margin_top_weight": sum(p[:n_top]) / total, "margin_top_n": float(n_top),
        "margin_teacher_spearman": s["spearman"], "margin_teacher_agreement": s["sign_agreement"],
        "margin_kernel_p_dev_max": max(abs(v - 0.5) for v in pk), "margin_t512_absmedian": s["l5_absmedian"],
    }
