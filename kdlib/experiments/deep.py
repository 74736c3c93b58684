"""Chapter 7: VGG 8+3 teacher, VGG 2+3 students (hard and soft) on noisy CIFAR-10 cat vs dog.

One record covers one noise variance: for each run ``r`` it loads the task with noise
seed ``r`` (same noisy images for all three nets of the run), trains the teacher
(init seed ``1000 + r``), computes its logits on the training set once, then trains a
hard and a soft student from the *same* initialisation (seed ``2000 + r``) and the same
batch order (seed ``r``), so that the two students differ only in their targets. The
rows hold test accuracy (in %) at the best validation epoch, the best epoch and the
epochs run. The split (seed ``split_seed``) is the same in every run.

Profiles (:data:`PROFILES`): ``"paper"`` is the paper's scale (full-width nets, 10 runs,
patience 20, at most 100 epochs, the full 9,600 training images) for a GPU; ``"cpu"`` is
the one chosen by :func:`kdlib.experiments.deep_settings.choose_settings` from the stored
measurements of :mod:`kdlib.experiments.deep_settings`
(width 1/8, flips and shifts, at most 12 epochs with patience 5, 8 runs), about two hours
of one CPU core; ``"smoke"`` checks the code path in seconds.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Iterable, Sequence

import torch

from kdlib.cifar import load_cat_dog, source_notice
from kdlib.data import check_variance, resolve_device
from kdlib.losses import softmax_confidence
from kdlib.results import ResultStore, RunOutput
from kdlib.train_cnn import CNNTrainConfig, accuracy, predict_logits, resolve_precision, train_classifier
from kdlib.paper import FIGURE_CIFAR as PAPER_FIGURE  # the paper's values, quoted
from kdlib.validate import device as check_device, in_interval, integer, number, optional_integer, parameter_list
from kdlib.vgg import build_vgg, n_parameters

NAME = "deep"
TEACHER, STUDENT = "vgg8+3", "vgg2+3"
NOISE_VARIANCES = (0.0, 0.01, 0.03, 0.05, 0.10, 0.20)

#: Every field of both profiles, explicitly. See the chapter for the reason behind each value.
PROFILES: dict[str, dict[str, Any]] = {
    "paper": dict(runs=10, max_epochs=100, patience=20, lr=1e-3, weight_decay=5e-4, batch_size=128,
                  width_mult=1.0, train_limit=None, temperature=1.0, augment=False),
    # chosen by choose_settings from the deep_settings records (see the chapter); 8 runs fit the budget
    "cpu": dict(runs=8, max_epochs=12, patience=5, lr=1e-3, weight_decay=5e-4, batch_size=128,
                width_mult=0.125, train_limit=None, temperature=1.0, augment=True),
    # the teacher-leads profile (issue 25): the pick of kdlib.experiments.deep_lead.choose from the bf16
    # settings measurements (python -m kdlib.experiments.deep_lead checks; tests/test_deep_lead.py asserts it)
    "cpu2": dict(runs=5, max_epochs=20, patience=5, lr=1e-3, weight_decay=5e-4, batch_size=128,
                 width_mult=0.25, train_limit=None, temperature=1.0, augment=True),
    # a few seconds on a CPU: checks the code path (kdlib.grouped --dry-run, tests), no result
    "smoke": dict(runs=2, max_epochs=2, patience=1, lr=1e-3, weight_decay=5e-4, batch_size=32,
                  width_mult=0.0625, train_limit=128, temperature=1.0, augment=True),
}
#: Better first: the chapter shows the first profile whose records are all stored.
PROFILE_ORDER = ("paper", "cpu")


@dataclass(frozen=True)
class Config:
    """One record: one profile at one noise variance. ``device``/``progress``/``precision`` are not part
    of the key (:data:`kdlib.results.NON_KEY_FIELDS`); the precision used is in the provenance."""

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
    extra_temperatures: tuple[float, ...] = ()
    augment: bool = False
    split_seed: int = 0
    classes: tuple[str, str] = ("cat", "dog")
    #: The runs are ``first_run .. first_run + runs - 1`` (seeds as the module docstring says):
    #: ``first_run=5`` gives runs no record with ``first_run=0`` and ``runs <= 5`` has seen.
    first_run: int = 0
    device: str = "auto"
    progress: bool = True
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            raise ValueError(f"profile must be a non-empty label, got {self.profile!r}")
        check_variance(self.noise_variance)
        check_device("device", self.device, here=False)  # whether it is on this machine: before computing
        for name in ("runs", "max_epochs", "patience", "batch_size"):
            integer(name, getattr(self, name), 1)
        integer("first_run", self.first_run, 0)
        optional_integer("train_limit", self.train_limit, 2, none_means="all 9,600")
        in_interval("width_mult", self.width_mult, 0, 4, closed_high=True)
        # the learning rate, weight decay and temperature are checked by CNNTrainConfig
        self.train_config(0)
        object.__setattr__(self, "classes", tuple(self.classes))
        extra = tuple(self.extra_temperatures)
        for t in extra:
            number("extra_temperatures", t, gt=0, what="each a softmax temperature")
        if len(set(extra)) != len(extra) or self.temperature in extra:
            raise ValueError(f"extra_temperatures must be distinct and differ from temperature "
                             f"{self.temperature:g}, got {extra}")
        object.__setattr__(self, "extra_temperatures", extra)

    def train_config(self, seed: int) -> CNNTrainConfig:
        return CNNTrainConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                              max_epochs=self.max_epochs, patience=self.patience,
                              temperature=float(self.temperature), seed=int(seed), augment=self.augment,
                              precision=self.precision)


def make_config(profile: str, noise_variance: float, device: str = "auto", progress: bool = True,
                precision: str = "auto", **overrides: Any) -> Config:
    """The config of a named profile at one noise variance; ``None`` overrides keep the profile's value.

    Any override that changes a value relabels the profile, so a record never claims a
    profile it does not match: ``"<profile>+T4"`` for extra soft students at temperature 4
    (``extra_temperatures=(4.0,)``), ``"<profile>+from5"`` for runs counted from 5
    (``first_run=5``: the profile's nets on runs it has not seen), both when both change;
    ``"<profile>+custom"`` when anything else changes.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {sorted(PROFILES)} (or 'best')")
    known = {f.name for f in fields(Config)} - {"profile", "noise_variance", "device", "progress", "precision"}
    bad = set(overrides) - known
    if bad:
        raise ValueError(f"unknown parameters {sorted(bad)}")
    values = dict(PROFILES[profile])
    changed: set[str] = set()
    for k, v in overrides.items():
        if v is None:
            continue  # keep the profile's value
        if k == "train_limit" and v == 0:
            v = None  # 0 = all training images
        if k in ("extra_temperatures", "classes"):
            v = tuple(v)
        if values.get(k, getattr(Config, k, None)) != v:
            changed.add(k)
        values[k] = v
    label = profile
    if changed - {"extra_temperatures", "first_run"}:
        label = f"{profile}+custom"
    else:
        if "extra_temperatures" in changed:
            label += "".join(f"+T{float(t):g}" for t in values["extra_temperatures"])
        if "first_run" in changed:
            label += f"+from{int(values['first_run'])}"
    return Config(profile=label, noise_variance=float(noise_variance), device=device, progress=progress,
                  precision=precision, **values)


def profile_settings(label: str) -> tuple[str, dict[str, Any]]:
    """``(base profile, settings)`` that a profile label promises: ``"cpu2+T4"`` is the
    ``cpu2`` profile with ``extra_temperatures=(4.0,)``, ``"cpu3+from5"`` the ``cpu3``
    profile with ``first_run=5``. ``"...+custom"`` promises nothing beyond its base name
    (its settings are ``{}``). Unknown base or tag: ``ValueError``."""
    base, *tags = label.split("+")
    if base not in PROFILES:
        raise ValueError(f"profile label {label!r}: unknown base profile {base!r}")
    if tags == ["custom"]:
        return base, {}
    values = dict(PROFILES[base])
    temps = [t for t in tags if t.startswith("T")]
    starts = [t for t in tags if t.startswith("from")]
    if len(temps) + len(starts) != len(tags) or len(starts) > 1:
        raise ValueError(f"profile label {label!r}: unknown tags {tags}")
    try:
        if temps:
            values["extra_temperatures"] = tuple(float(t[1:]) for t in temps)
        if starts:
            values["first_run"] = int(starts[0][4:])
    except ValueError:
        raise ValueError(f"profile label {label!r}: unreadable tags {tags}") from None
    return base, values


#: The temperature variant of the chapter: one more soft student at T = 4 at the two noisiest levels.
VARIANT_TEMPERATURES: dict[float, tuple[float, ...]] = {0.10: (4.0,), 0.20: (4.0,)}


def sweep(profile: str, noise_variances: Sequence[float] = NOISE_VARIANCES,
          extra_at: dict[float, tuple[float, ...]] | None = None, **kw: Any) -> list[Config]:
    """One config per noise variance (see :func:`make_config`); at the variances of ``extra_at``
    (default :data:`VARIANT_TEMPERATURES`; ``{}`` for none) with those extra soft temperatures,
    which labels them ``"<profile>+T4"``. Their teacher, hard and soft students are those of
    the plain config (same seeds; the extra student is trained after them)."""
    noise_variances = parameter_list("noise_variances", noise_variances)  # papermill -p passes a string
    if len(noise_variances) == 0:
        raise ValueError("noise_variances is empty")
    if "extra_temperatures" in kw:
        raise ValueError("give extra temperatures per noise level through extra_at")
    extra_at = VARIANT_TEMPERATURES if extra_at is None else extra_at
    extra = {round(float(v), 6): tuple(t) for v, t in extra_at.items()}
    return [make_config(profile, v, extra_temperatures=extra.get(round(float(v), 6)) or None, **kw)
            for v in noise_variances]


def best_profile(noise_variances: Sequence[float] = NOISE_VARIANCES, store: ResultStore | None = None,
                 extra_at: dict[float, tuple[float, ...]] | None = None, **kw: Any) -> str:
    """The first profile of :data:`PROFILE_ORDER` whose records for all ``noise_variances`` are stored,
    else the last (cheapest) one, which will then be computed."""
    store = store or ResultStore()
    for p in PROFILE_ORDER:
        if all(store.path(NAME, c).exists() for c in sweep(p, noise_variances, extra_at, **kw)):
            return p
    return PROFILE_ORDER[-1]


def run(config: Config) -> RunOutput:
    """Train, for each run ``r``, the teacher, then the hard and the soft student (and one more
    soft student per extra temperature), as the module docstring says.

    Rows: test and validation accuracy (%) at the best validation epoch, the best epoch,
    the epochs run and the training seconds of each net (wall clock, and CPU time of the
    process, which a busy shared machine inflates much less). The teacher's row also holds its
    accuracy on the training set and ``train_confidence``, the mean over the training set
    of its largest softmax probability (the confidence of the soft labels at T = 1); each
    soft student's row holds its ``temperature`` and ``label_confidence``, the same mean
    for ``softmax(z_teacher / T)``.
    """
    dev = resolve_device(config.device)
    prec = resolve_precision(config.precision, dev)
    rows: list[dict[str, Any]] = []
    seeds: list[int] = []
    source: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    students = [("hard", None), ("soft", float(config.temperature))]
    students += [(f"soft T={t:g}", float(t)) for t in config.extra_temperatures]
    for r in range(config.first_run, config.first_run + config.runs):
        data = load_cat_dog(config.classes, noise_variance=config.noise_variance, noise_seed=r,
                            split_seed=config.split_seed, train_limit=config.train_limit, device=dev)
        source = data.source
        tcfg = config.train_config(seed=r)
        teacher = build_vgg(TEACHER, width_mult=config.width_mult, seed=1000 + r)
        res = train_classifier(teacher, data.train, data.val, tcfg, progress=config.progress,
                               desc=f"var {config.noise_variance:g} run {r} teacher")
        t_logits = predict_logits(teacher, data.train.x, precision=prec)  # once per dataset
        row = _row(config, r, "teacher", "hard", teacher, res, data, prec)
        row["train_acc"] = round(100.0 * float((t_logits.argmax(1) == data.train.y).float().mean()), 4)
        row["train_confidence"] = round(softmax_confidence(t_logits), 6)
        rows.append(row)
        specs = {"teacher": teacher.describe(), "teacher_params": n_parameters(teacher)}
        for mode, temp in students:
            student = build_vgg(STUDENT, width_mult=config.width_mult, seed=2000 + r)
            cfg = tcfg if temp is None else dataclasses.replace(tcfg, temperature=temp)
            res = train_classifier(student, data.train, data.val, cfg,
                                   teacher_logits=None if temp is None else t_logits,
                                   progress=config.progress, desc=f"var {config.noise_variance:g} run {r} {mode}")
            row = _row(config, r, "student", mode, student, res, data, prec)
            if temp is not None:
                row["temperature"] = temp
                row["label_confidence"] = round(softmax_confidence(t_logits, temp), 6)
            rows.append(row)
            specs.update(student=student.describe(), student_params=n_parameters(student))
        seeds += [r, 1000 + r, 2000 + r]
    extra = {
        "profile": config.profile,
        "data_source": source,
        "data_notice": source_notice(source),
        "nets": specs,
        "noise": "additive N(0, variance) on [0,1] pixels, all three parts, not clipped; noise seed = run index",
        "seed_scheme": "noise seed r, batch order seed r, teacher init 1000+r, student init 2000+r "
                       "(all students of a run share it)",
        "trainer": "kdlib.train_cnn.train_classifier, one net at a time",
        "precision": prec,
    }
    return RunOutput(rows=rows, seeds=seeds, device=str(dev), extra=extra)


def _row(config: Any, r: int, role: str, mode: str, model: torch.nn.Module, res: Any, data: Any,
         precision: str) -> dict[str, Any]:
    return {
        "noise_variance": config.noise_variance,
        "run": r,
        "model": role,
        "mode": mode,
        "test_acc": round(100.0 * accuracy(model, data.test, precision=precision), 4),
        "val_acc": round(100.0 * res.best_val_acc, 4),
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        "train_seconds": round(res.seconds, 2),
        "train_cpu_seconds": round(res.cpu_seconds, 2),
    }


# ---------------------------------------------------------------- what a profile costs

#: Assumed sustained rate of an H200 on these nets, and where the number comes from.
GPU_PEAK_BF16_FLOPS = 989e12
GPU_PEAK_SOURCE = "NVIDIA H200 Tensor Core GPU datasheet: 1,979 TFLOPS BF16 with sparsity, i.e. 989 dense"
GPU_ASSUMED_FRACTION = 0.15


def profile_epoch_flops(config: Config) -> dict[str, float]:
    """FLOPs of one training epoch (with its validation pass) of the teacher and of one student
    of a config (:func:`kdlib.vgg.epoch_flops`; 9,600 training and 1,200 validation images,
    or ``train_limit``)."""
    from kdlib.vgg import epoch_flops

    n = config.train_limit if config.train_limit is not None else 9600
    return {net: epoch_flops(net, config.width_mult, n, 1200, config.batch_size) for net in (TEACHER, STUDENT)}


def profile_cost(config: Config, rate: dict[str, float], epochs: dict[str, float], levels: int = 6) -> dict[str, float]:
    """Estimated seconds of a whole profile (``levels`` noise levels of ``config.runs`` runs, each
    a teacher and ``2 + len(extra_temperatures)`` students) at ``rate`` FLOP/s per net, if each
    net runs ``epochs[net]`` epochs: ``sum over nets of count * epochs * epoch FLOPs / rate``.
    Returns the FLOPs, the seconds, and the seconds per epoch of each net."""
    f = profile_epoch_flops(config)
    count = {TEACHER: 1, STUDENT: 2 + len(config.extra_temperatures)}
    total_flops = sum(levels * config.runs * count[n] * epochs[n] * f[n] for n in f)
    seconds = sum(levels * config.runs * count[n] * epochs[n] * f[n] / rate[n] for n in f)
    return {"flops": total_flops, "seconds": seconds, **{f"epoch_seconds {n}": f[n] / rate[n] for n in f}}


def measured_rates(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """FLOP/s each net sustained in stored chapter-7 records: total epoch FLOPs over total
    ``train_cpu_seconds`` (the process's CPU time for training, validation and the
    bookkeeping of early stopping; the wall ``train_seconds`` where a row has no CPU time)."""
    tot: dict[str, list[float]] = {TEACHER: [0.0, 0.0], STUDENT: [0.0, 0.0]}
    for rec in records:
        cfg = Config(**rec["config"])
        f = profile_epoch_flops(cfg)
        for row in rec["rows"]:
            net = TEACHER if row["model"] == "teacher" else STUDENT
            tot[net][0] += f[net] * row["epochs_run"]
            tot[net][1] += row.get("train_cpu_seconds", row["train_seconds"])
    return {n: a / b for n, (a, b) in tot.items() if b > 0}


__all__ = ["NAME", "Config", "TEACHER", "STUDENT", "NOISE_VARIANCES", "PROFILES", "PAPER_FIGURE", "make_config",
           "profile_settings", "sweep", "best_profile", "run", "profile_epoch_flops", "profile_cost", "measured_rates"]
