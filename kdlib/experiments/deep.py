"""Chapter 7: VGG 8+3 teacher, VGG 2+3 students (hard and soft) on noisy CIFAR-10 cat vs dog.

One record covers one noise variance: for each run ``r`` it loads the task with noise
seed ``r`` (same noisy images for all three nets of the run), trains the teacher
(init seed ``1000 + r``), computes its logits on the training set once, then trains a
hard and a soft student from the *same* initialisation (seed ``2000 + r``) and the same
batch order (seed ``r``), so that the two students differ only in their targets. The
rows hold test accuracy (in %) at the best validation epoch, the best epoch and the
epochs run. The split (seed ``split_seed``) is the same in every run.

Two profiles (:data:`PROFILES`): ``"paper"`` is the paper's scale (full-width nets,
10 runs, patience 20, at most 100 epochs, the full 9,600 training images) for a GPU;
``"cpu"`` is a reduced one that finishes on two CPU cores in well under 30 minutes.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields
from typing import Any, Iterable, Sequence

import torch

from kdlib.cifar import load_cat_dog, source_notice
from kdlib.data import check_variance, resolve_device
from kdlib.results import ResultStore, RunOutput
from kdlib.train_cnn import CNNTrainConfig, accuracy, predict_logits, train_classifier
from kdlib.paper import FIGURE_CIFAR as PAPER_FIGURE  # the paper's values, quoted
from kdlib.validate import in_interval, integer, optional_integer
from kdlib.vgg import build_vgg, n_parameters

NAME = "deep"
TEACHER, STUDENT = "vgg8+3", "vgg2+3"
NOISE_VARIANCES = (0.0, 0.01, 0.03, 0.05, 0.10, 0.20)

#: Every field of both profiles, explicitly. See the chapter for the reason behind each value.
PROFILES: dict[str, dict[str, Any]] = {
    "paper": dict(runs=10, max_epochs=100, patience=20, lr=1e-3, weight_decay=5e-4, batch_size=128,
                  width_mult=1.0, train_limit=None, temperature=1.0),
    "cpu": dict(runs=3, max_epochs=15, patience=5, lr=1e-3, weight_decay=5e-4, batch_size=64,
                width_mult=0.125, train_limit=4000, temperature=1.0),
}
#: Better first: the chapter shows the first profile whose records are all stored.
PROFILE_ORDER = ("paper", "cpu")


@dataclass(frozen=True)
class Config:
    """One record: one profile at one noise variance. ``device``/``progress`` are not part of the key."""

    profile: str
    noise_variance: float
    runs: int
    max_epochs: int
    patience: int
    lr: float
    weight_decay: float
    batch_size: int
    width_mult: float
    train_limit: int | None
    temperature: float = 1.0
    split_seed: int = 0
    classes: tuple[str, str] = ("cat", "dog")
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            raise ValueError(f"profile must be a non-empty label, got {self.profile!r}")
        check_variance(self.noise_variance)
        for name in ("runs", "max_epochs", "patience", "batch_size"):
            integer(name, getattr(self, name), 1)
        optional_integer("train_limit", self.train_limit, 2, none_means="all 9,600")
        in_interval("width_mult", self.width_mult, 0, 4, closed_high=True)
        # the learning rate, weight decay and temperature are checked by CNNTrainConfig
        self.train_config(0)
        object.__setattr__(self, "classes", tuple(self.classes))

    def train_config(self, seed: int) -> CNNTrainConfig:
        return CNNTrainConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                              max_epochs=self.max_epochs, patience=self.patience,
                              temperature=float(self.temperature), seed=int(seed))


def make_config(profile: str, noise_variance: float, device: str = "auto", progress: bool = True,
                **overrides: Any) -> Config:
    """The config of a named profile at one noise variance; ``None`` overrides keep the profile's value.

    Any override that changes a value relabels the profile ``"<profile>+custom"``, so a
    record never claims a profile it does not match.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {sorted(PROFILES)} (or 'best')")
    known = {f.name for f in fields(Config)}
    bad = set(overrides) - known
    if bad:
        raise ValueError(f"unknown parameters {sorted(bad)}")
    values = dict(PROFILES[profile])
    label = profile
    for k, v in overrides.items():
        if v is None:
            continue  # keep the profile's value
        if k == "train_limit" and v == 0:
            v = None  # 0 = all training images
        if values.get(k, getattr(Config, k, None)) != v:
            label = f"{profile}+custom"
        values[k] = v
    return Config(profile=label, noise_variance=float(noise_variance), device=device, progress=progress, **values)


def sweep(profile: str, noise_variances: Sequence[float] = NOISE_VARIANCES, **kw: Any) -> list[Config]:
    """One config per noise variance (see :func:`make_config`)."""
    if len(noise_variances) == 0:
        raise ValueError("noise_variances is empty")
    return [make_config(profile, v, **kw) for v in noise_variances]


def best_profile(noise_variances: Sequence[float] = NOISE_VARIANCES, store: ResultStore | None = None,
                 **kw: Any) -> str:
    """The first profile of :data:`PROFILE_ORDER` whose records for all ``noise_variances`` are stored,
    else the last (cheapest) one, which will then be computed."""
    store = store or ResultStore()
    for p in PROFILE_ORDER:
        if all(store.path(NAME, c).exists() for c in sweep(p, noise_variances, **kw)):
            return p
    return PROFILE_ORDER[-1]


def run(config: Config) -> RunOutput:
    dev = resolve_device(config.device)
    rows: list[dict[str, Any]] = []
    seeds: list[int] = []
    source: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    for r in range(config.runs):
        data = load_cat_dog(config.classes, noise_variance=config.noise_variance, noise_seed=r,
                            split_seed=config.split_seed, train_limit=config.train_limit, device=dev)
        source = data.source
        tcfg = config.train_config(seed=r)
        teacher = build_vgg(TEACHER, width_mult=config.width_mult, seed=1000 + r)
        res = train_classifier(teacher, data.train, data.val, tcfg, progress=config.progress,
                               desc=f"var {config.noise_variance:g} run {r} teacher")
        rows.append(_row(config, r, "teacher", "hard", teacher, res, data))
        t_logits = predict_logits(teacher, data.train.x)  # once per dataset
        specs = {"teacher": teacher.describe(), "teacher_params": n_parameters(teacher)}
        for mode in ("hard", "soft"):
            student = build_vgg(STUDENT, width_mult=config.width_mult, seed=2000 + r)
            res = train_classifier(student, data.train, data.val, tcfg,
                                   teacher_logits=t_logits if mode == "soft" else None,
                                   progress=config.progress, desc=f"var {config.noise_variance:g} run {r} {mode}")
            rows.append(_row(config, r, "student", mode, student, res, data))
            specs.update(student=student.describe(), student_params=n_parameters(student))
        seeds += [r, 1000 + r, 2000 + r]
    extra = {
        "profile": config.profile,
        "data_source": source,
        "data_notice": source_notice(source),
        "nets": specs,
        "noise": "additive N(0, variance) on [0,1] pixels, all three parts, not clipped; noise seed = run index",
        "seed_scheme": "noise seed r, batch order seed r, teacher init 1000+r, student init 2000+r (hard and soft share it)",
    }
    return RunOutput(rows=rows, seeds=seeds, device=str(dev), extra=extra)


def _row(config: Config, r: int, role: str, mode: str, model: torch.nn.Module, res: Any, data: Any) -> dict[str, Any]:
    return {
        "noise_variance": config.noise_variance,
        "run": r,
        "model": role,
        "mode": mode,
        "test_acc": round(100.0 * accuracy(model, data.test), 4),
        "val_acc": round(100.0 * res.best_val_acc, 4),
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        "train_seconds": round(res.seconds, 2),
    }


# ---------------------------------------------------------------- summaries for the chapter

def _mean_sd(v: list[float]) -> tuple[float, float]:
    return (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else math.nan)


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per noise variance: mean and sample sd over runs of teacher, hard and soft test accuracy,
    and of the paired soft-minus-hard gap; the paper's values beside them (None where it has none)."""
    out = []
    for rec in records:
        rows = rec["rows"]
        v = float(rec["config"]["noise_variance"])
        acc = {k: {row["run"]: row["test_acc"] for row in rows if (row["model"], row["mode"]) == k}
               for k in (("teacher", "hard"), ("student", "hard"), ("student", "soft"))}
        runs = sorted(acc[("student", "hard")])
        gap = [acc[("student", "soft")][r] - acc[("student", "hard")][r] for r in runs]
        paper = PAPER_FIGURE.get(round(v, 4))
        s = {"noise_variance": v, "runs": len(runs), "profile": rec["config"]["profile"]}
        for name, k in (("teacher", ("teacher", "hard")), ("hard", ("student", "hard")), ("soft", ("student", "soft"))):
            s[name], s[name + "_sd"] = _mean_sd(list(acc[k].values()))
        s["gap"], s["gap_sd"] = _mean_sd(gap)
        s["paper_teacher"], s["paper_hard"], s["paper_soft"] = paper if paper else (None, None, None)
        s["paper_gap"] = None if paper is None else paper[2] - paper[1]
        out.append(s)
    return sorted(out, key=lambda s: s["noise_variance"])


def format_table(summary: list[dict[str, Any]], digits: int = 1) -> "Table":
    """Ours (mean ± sd over runs, test accuracy in %) beside the paper's values, one row per
    noise variance σ², as a :class:`kdlib.report.Table` (text and HTML)."""
    from kdlib.report import Table

    def ms(m: float, sd: float) -> str:
        return f"{m:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{m:.{digits}f}"

    def pv(x: float | None) -> str:
        return f"{x:.1f}" if x is not None else "—"

    header = ["noise σ²", "teacher", "hard", "soft", "soft − hard",
              "paper: teacher", "paper: hard", "paper: soft", "paper: soft − hard"]
    rows = [[f"{s['noise_variance']:.2f}", ms(s["teacher"], s["teacher_sd"]), ms(s["hard"], s["hard_sd"]),
             ms(s["soft"], s["soft_sd"]), ms(s["gap"], s["gap_sd"]),
             pv(s["paper_teacher"]), pv(s["paper_hard"]), pv(s["paper_soft"]), pv(s["paper_gap"])]
            for s in summary]
    return Table(header, rows)


def plot_figure(summary: list[dict[str, Any]], label: str):
    """Left: test accuracy vs noise variance (ours with sd error bars, the paper's dashed).
    Right: the soft-minus-hard gap vs noise variance. Returns the figure."""
    from kdlib.plots import MODE_COLORS, new_figure

    fig, (ax, ax2) = new_figure(ncols=2, width=10.0, height=4.8)
    v = [s["noise_variance"] for s in summary]
    for key, name in (("teacher", "teacher VGG 8+3"), ("hard", "student VGG 2+3, hard"), ("soft", "student VGG 2+3, soft")):
        c = MODE_COLORS[key]
        ax.errorbar(v, [s[key] for s in summary], yerr=[s[key + "_sd"] for s in summary], color=c, marker="o",
                    capsize=3, label=f"{name} (ours)")
        pv = [(s["noise_variance"], s["paper_" + key]) for s in summary if s["paper_" + key] is not None]
        if pv:
            ax.plot(*zip(*pv), color=c, ls="--", marker="s", mfc="none", alpha=0.8, label=f"{name} (paper)")
    ax.set_xlabel("noise variance σ² (pixels in [0, 1])")
    ax.set_ylabel("test accuracy (%)")
    fig.suptitle(f"ours: {label}", fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax2.errorbar(v, [s["gap"] for s in summary], yerr=[s["gap_sd"] for s in summary], color=MODE_COLORS["soft"],
                 marker="o", capsize=3, label="ours (mean ± sd of paired runs)")
    pg = [(s["noise_variance"], s["paper_gap"]) for s in summary if s["paper_gap"] is not None]
    ax2.plot(*zip(*pg), color="#444444", ls="--", marker="s", mfc="none", label="paper")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xlabel("noise variance σ² (pixels in [0, 1])")
    ax2.set_ylabel("soft − hard test accuracy (points)")
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    return fig


def profile_label(records: list[dict[str, Any]]) -> str:
    """E.g. ``cpu profile: width x0.125, 3 runs, <= 15 epochs (patience 5), 4000 training images``."""
    c = records[0]["config"]
    n = c["train_limit"] if c["train_limit"] is not None else 9600
    return (f"{c['profile']} profile: width x{c['width_mult']:g}, {c['runs']} runs, <= {c['max_epochs']} epochs "
            f"(patience {c['patience']}), {n} training images")


__all__ = ["NAME", "Config", "PROFILES", "PAPER_FIGURE", "make_config", "sweep", "best_profile", "run", "summarize",
           "format_table", "plot_figure", "profile_label"]
