"""Chapter 3: the separation margin gamma of the paper's MNIST tasks.

``NAME = "margin"``: one record per (task, n, noise variance, solver settings):
gamma of ``n`` training points (a random subset chosen by ``subset_seed``,
unit-norm inputs, optional Gaussian noise of variance ``noise_variance`` on the
[0, 1] pixel scale added before the unit scaling) with its certified interval
from :func:`kdlib.margin.estimate_gamma`, and the dual weights of the points that
carry them (which points set gamma).

``TEACHER`` (``NAME = "margin_teacher"``): the kernel-limit teacher of the theory,
``z_j = E_z <v(z), phi_j(z)>`` for the witness ``v`` of a gamma record, on test
images, against the 512-unit teacher trained as in Chapter 1
(:mod:`kdlib.experiments.table1`'s teacher settings, on the task's whole training split).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

from kdlib.data import binary_mnist, check_variance
from kdlib.margin import MarginEstimate, dual_weights, estimate_gamma, teacher_logits
from kdlib.results import RunOutput, load_or_run
from kdlib.validate import MNIST_TRAIN_SIZES, at_most_available, choice, integer

NAME = "margin"
TASKS = ("full", "reduced")


@dataclass(frozen=True)
class Config:
    """One gamma measurement. ``n`` points, ``n_z`` solver draws (K), ``n_eval`` fresh draws
    (each draw used with its mirror ``-z``: :func:`kdlib.margin.estimate_gamma`, ``antithetic``),
    at most ``steps`` pairwise Frank-Wolfe steps.

    The defaults are Chapter 3's: the witness's true margins fall below its sample margins by
    the sampling error of the ``K`` solver draws (the minimum over ~1,000 support points of
    such errors), which sets most of the interval's width at n = 2,000; ``K = 32768`` pairs
    brings both tasks under 10 % there (``benchmarks/bench_margin.py``)."""

    task: str = "full"
    n: int = 500
    noise_variance: float = 0.0
    n_z: int = 32768
    n_eval: int = 524288
    steps: int = 3200
    seed: int = 0
    subset_seed: int = 0
    noise_seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        choice("task", self.task, TASKS)
        integer("n (the number of points)", self.n, 2)
        at_most_available("n", self.n, MNIST_TRAIN_SIZES[self.task], f"the {self.task} task's training images")
        integer("n_z (K, the solver's draws)", self.n_z, 1)
        integer("n_eval", self.n_eval, 2)
        integer("steps", self.steps, 0)
        object.__setattr__(self, "noise_variance", check_variance(self.noise_variance))

    def data(self):
        return binary_mnist(
            self.task, train=True, scaling="unit", noise_variance=self.noise_variance,
            noise_seed=self.noise_seed, limit=self.n, subset_seed=self.subset_seed,
        )


def run(cfg: Config) -> RunOutput:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    d = cfg.data()
    e = estimate_gamma(d.x, d.y, n_z=cfg.n_z, n_eval=cfg.n_eval, steps=cfg.steps, seed=cfg.seed)
    lo, hi = e.interval(3.0)
    sup = e.support()
    row = {
        "task": cfg.task, "n": len(d), "noise_variance": cfg.noise_variance,
        "lower": e.lower, "lower_se": e.lower_se, "upper": e.upper, "upper_se": e.upper_se,
        "ci_lo": lo, "ci_hi": hi, "gamma": e.gamma, "rel_width": e.relative_width(3.0),
        "svm_upper": e.svm_upper, "train_value": e.train_value, "train_gap": e.train_gap,
        "fw_steps": e.steps, "support_size": int(sup.numel()),
        "support_idx": [int(i) for i in sup], "support_p": [float(e.p[i]) for i in sup],
        "support_digit": [int(d.digits[i]) for i in sup], "support_y": [int(d.y[i]) for i in sup],
        "argmin_idx": int(torch.argmin(e.margins)), "c": e.c,
        "positive_fraction": float((d.y > 0).float().mean()),
    }
    return RunOutput(
        rows=[row], seeds=[cfg.seed, cfg.seed + 1, cfg.subset_seed, cfg.noise_seed], device="cpu",
        extra={"data": "MNIST training split ($KDLIB_DATA/MNIST/raw), random subset, unit-norm inputs",
               "interval_rule": "[min_i (m_i - 3 se_i), upper + 3 upper_se] on fresh draws"},
    )


def estimate_from_record(cfg: Config, record: dict) -> MarginEstimate:
    """Rebuild the witness of a stored record (its dual weights and data) without re-solving.

    The interval fields come from the record; the per-point margins are not stored.
    """
    d = cfg.data()
    row = record["rows"][0]
    p = dual_weights(row, len(d))
    nan = torch.full((len(d),), math.nan, dtype=torch.float64)
    return MarginEstimate(
        lower=row["lower"], upper=row["upper"], lower_se=row["lower_se"], upper_se=row["upper_se"],
        p=p, x=d.x, y=d.y, n_z=cfg.n_z, n_eval=cfg.n_eval, seed=cfg.seed, margins=nan, margins_se=nan,
        svm_upper=row["svm_upper"], train_value=row["train_value"], train_gap=row["train_gap"],
        steps=row["fw_steps"], c=row["c"],
    )


# --------------------------------------------------------------------------- teacher


@dataclass(frozen=True)
class TeacherConfig:
    """Kernel-limit teacher (witness of ``gamma``) vs the 512-unit teacher of Chapter 1 on test images."""

    gamma: Config = field(default_factory=lambda: Config(n=2000))
    n_test: int = 2000
    n_z_logits: int = 65536
    logit_seed: int = 7
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.gamma, dict):
            object.__setattr__(self, "gamma", Config(**self.gamma))
        integer("n_test", self.n_test, 2)
        integer("n_z_logits", self.n_z_logits, 2)


def run_teacher(cfg: TeacherConfig) -> RunOutput:
    from kdlib.experiments import table1
    from kdlib.train import soft_labels

    torch.set_num_threads(min(2, torch.get_num_threads()))
    rec = load_or_run(SimpleNamespace(NAME=NAME, run=run), cfg.gamma)
    est = estimate_from_record(cfg.gamma, rec)
    te = binary_mnist(cfg.gamma.task, train=False, scaling="unit", limit=cfg.n_test, subset_seed=cfg.gamma.subset_seed)
    zk = teacher_logits(est, te.x, n_z=cfg.n_z_logits, seed=cfg.logit_seed).to(torch.float64)
    t1 = table1.Config(dataset=cfg.gamma.task)
    train = binary_mnist(cfg.gamma.task, train=True, scaling=t1.scaling)
    net = table1.trained_teacher(t1, train)
    p512 = soft_labels(net, te.x, 1.0).to(torch.float64)
    pk = torch.sigmoid(zk)
    y = te.y.to(torch.float64)
    rows = [
        {"i": i, "y": int(y[i]), "digit": int(te.digits[i]), "z_kernel": float(zk[i]), "p_kernel": float(pk[i]), "p_512": float(p512[i])}
        for i in range(len(te))
    ]
    return RunOutput(
        rows=rows, seeds=[cfg.logit_seed, t1.teacher_seed], device="cpu",
        extra={"data": "MNIST test split subset ($KDLIB_DATA/MNIST/raw), unit-norm inputs",
               "teacher_512": f"kdlib.train.train_teacher with table1.Config(dataset={cfg.gamma.task!r}) teacher settings "
                              f"(width {t1.teacher_width}, lr {t1.teacher_lr}, epochs {t1.teacher_epochs}, batch {t1.batch_size})",
               "kernel_accuracy": float((zk * y > 0).double().mean()), "teacher_512_accuracy": float(((p512 - 0.5) * y > 0).double().mean())},
    )


TEACHER = SimpleNamespace(NAME="margin_teacher", run=run_teacher, Config=TeacherConfig)


# --------------------------------------------------------------------------- report helpers

TASK_COLORS = {"full": "#c0392b", "reduced": "#2471a3"}


def gamma_rows(records: list[dict]) -> list[dict]:
    """One row per record, for a table: the point estimates and the certified interval."""
    out = []
    for rec in records:
        r = rec["rows"][0]
        out.append({
            "task": r["task"], "n": r["n"], "noise": f"{r['noise_variance']:g}",
            "lower": f"{r['lower']:.4f} ± {r['lower_se']:.1g}", "upper": f"{r['upper']:.4f} ± {r['upper_se']:.1g}",
            "interval": f"[{r['ci_lo']:.4f}, {r['ci_hi']:.4f}]", "width": f"{100 * r['rel_width']:.0f} %",
            "svm": r["svm_upper"], "support": r["support_size"],
        })
    return out


def _errorbar(ax, xs, recs, color, label, dx=1.0):
    mid = [0.5 * (r["ci_lo"] + r["ci_hi"]) for r in recs]
    lo = [m - r["ci_lo"] for m, r in zip(mid, recs)]
    hi = [r["ci_hi"] - m for m, r in zip(mid, recs)]
    ax.errorbar([x * dx for x in xs], mid, yerr=[lo, hi], marker="o", ms=4, capsize=3, color=color, label=label)


def plot_gamma_vs(records: list[dict], key: str, xlabel: str, log_x: bool = False):
    """gamma's certified interval against ``key`` (``"n"`` or ``"noise_variance"``), per task,
    with the kernel-SVM upper bound ``sqrt(min_p E||g_p||^2)`` dashed."""
    from kdlib.plots import new_figure

    fig, ax = new_figure()
    for task in TASKS:
        recs = sorted((rec["rows"][0] for rec in records if rec["rows"][0]["task"] == task), key=lambda r: r[key])
        if not recs:
            continue
        xs = [r[key] for r in recs]
        _errorbar(ax, xs, recs, TASK_COLORS[task], f"{task}: gamma (certified interval)", dx=1.0)
        ax.plot(xs, [r["svm_upper"] for r in recs], "--", color=TASK_COLORS[task], lw=1, label=f"{task}: kernel-SVM bound")
    if log_x:
        ax.set_xscale("log")
        xs = sorted({rec["rows"][0][key] for rec in records})
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"margin $\gamma$ (unit-norm inputs)")
    ax.legend(fontsize=8)
    return fig


def plot_support_images(cfg: Config, record: dict, k: int = 8):
    """The ``k`` images with the largest dual weight ``p_i`` (they set gamma), with digit, label and weight."""
    import matplotlib.pyplot as plt

    from kdlib.plots import use_book_style

    use_book_style()
    d = binary_mnist(cfg.task, train=True, scaling="pixel", noise_variance=cfg.noise_variance,
                     noise_seed=cfg.noise_seed, limit=cfg.n, subset_seed=cfg.subset_seed)
    r = record["rows"][0]
    idx, w = r["support_idx"][:k], r["support_p"][:k]
    fig, axes = plt.subplots(1, k, figsize=(1.1 * k, 1.6))
    for ax, i, p in zip(axes, idx, w):
        ax.imshow(d.x[i].reshape(28, 28).numpy(), cmap="gray_r")
        ax.set_title(f"{int(d.digits[i])} (y={int(d.y[i]):+d})\np={p:.3f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
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
    from kdlib.plots import new_figure

    fig, ax = new_figure(width=5.0, height=4.0)
    rows = record["rows"]
    for lab, color, name in ((1, "#2471a3", "y = +1 (digit > 4)"), (-1, "#c0392b", "y = -1")):
        pts = [r for r in rows if r["y"] == lab]
        ax.scatter([r["p_kernel"] for r in pts], [r["p_512"] for r in pts], s=4, alpha=0.4, color=color, label=name)
    ax.axhline(0.5, color="k", lw=0.5)
    ax.axvline(0.5, color="k", lw=0.5)
    ax.set_xlabel(r"kernel-limit teacher $\sigma(z_i)$")
    ax.set_ylabel(r"512-unit teacher $\sigma(f(x_i))$")
    ax.legend(fontsize=8, markerscale=3)
    return fig
