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
the one chosen by :func:`choose_settings` from the stored :data:`SETTINGS` measurements
(width 1/8, flips and shifts, at most 12 epochs with patience 5, 8 runs), about two hours
of one CPU core; ``"smoke"`` checks the code path in seconds.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any, Iterable, Sequence

import torch

from kdlib.cifar import load_cat_dog, source_notice
from kdlib.data import check_variance, resolve_device
from kdlib.results import ResultStore, RunOutput
from kdlib.train_cnn import CNNTrainConfig, accuracy, predict_logits, resolve_precision, train_classifier
from kdlib.paper import FIGURE_CIFAR as PAPER_FIGURE  # the paper's values, quoted
from kdlib.validate import in_interval, integer, number, optional_integer
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
    # settings measurements; provisional until those are stored (python -m kdlib.experiments.deep_lead checks)
    "cpu2": dict(runs=5, max_epochs=30, patience=8, lr=1e-3, weight_decay=5e-4, batch_size=128,
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
    device: str = "auto"
    progress: bool = True
    precision: str = "auto"

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
    profile it does not match: ``"<profile>+T4"`` when the only change is extra soft
    students at temperature 4 (``extra_temperatures=(4.0,)``), else ``"<profile>+custom"``.
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
    if changed == {"extra_temperatures"}:
        label = profile + "".join(f"+T{float(t):g}" for t in values["extra_temperatures"])
    elif changed:
        label = f"{profile}+custom"
    return Config(profile=label, noise_variance=float(noise_variance), device=device, progress=progress,
                  precision=precision, **values)


def profile_settings(label: str) -> tuple[str, dict[str, Any]]:
    """``(base profile, settings)`` that a profile label promises: ``"cpu2+T4"`` is the
    ``cpu2`` profile with ``extra_temperatures=(4.0,)``. ``"...+custom"`` promises nothing
    beyond its base name (its settings are ``{}``). Unknown base: ``ValueError``."""
    base, *tags = label.split("+")
    if base not in PROFILES:
        raise ValueError(f"profile label {label!r}: unknown base profile {base!r}")
    if tags == ["custom"]:
        return base, {}
    values = dict(PROFILES[base])
    if tags:
        if not all(t.startswith("T") for t in tags):
            raise ValueError(f"profile label {label!r}: unknown tags {tags}")
        values["extra_temperatures"] = tuple(float(t[1:]) for t in tags)
    return base, values


#: The temperature variant of the chapter: one more soft student at T = 4 at the two noisiest levels.
VARIANT_TEMPERATURES: dict[float, tuple[float, ...]] = {0.10: (4.0,), 0.20: (4.0,)}


def sweep(profile: str, noise_variances: Sequence[float] = NOISE_VARIANCES,
          extra_at: dict[float, tuple[float, ...]] | None = None, **kw: Any) -> list[Config]:
    """One config per noise variance (see :func:`make_config`); at the variances of ``extra_at``
    (default :data:`VARIANT_TEMPERATURES`; ``{}`` for none) with those extra soft temperatures,
    which labels them ``"<profile>+T4"``. Their teacher, hard and soft students are those of
    the plain config (same seeds; the extra student is trained after them)."""
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


def _confidence(logits: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean over the rows of ``max_k softmax(z / T)_k``: how sure the soft labels are (1/2 to 1 for two classes)."""
    return float(torch.softmax(logits.float() / temperature, dim=1).max(dim=1).values.mean())


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
    for r in range(config.runs):
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
        row["train_confidence"] = round(_confidence(t_logits), 6)
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
                row["label_confidence"] = round(_confidence(t_logits, temp), 6)
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


# ---------------------------------------------------------------- choosing the CPU profile

SETTINGS_NAME = "deep_settings"


@dataclass(frozen=True)
class SettingsConfig:
    """One measurement for choosing a profile: at one noise level, the teacher and the *hard*
    student (never the soft one, so the choice cannot look at the soft-minus-hard gap) of
    runs ``0 .. runs-1``, trained for exactly ``epochs`` epochs (no early stopping), with the
    validation and test accuracy recorded after every epoch.

    Seeds, data and batch order are those of :func:`run` (run ``r``: noise seed ``r``,
    batch order ``r``, teacher init ``1000 + r``, student init ``2000 + r``), so the first
    ``e`` epochs here are the first ``e`` epochs of the profile's nets with the same width,
    training-set size and batch size, and :func:`early_stopping` on the stored curves
    gives what any ``(max_epochs, patience)`` would have picked.
    """

    noise_variance: float = 0.01
    width_mult: float = 0.25
    train_limit: int | None = None
    epochs: int = 30
    runs: int = 2
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 128
    augment: bool = False
    split_seed: int = 0
    classes: tuple[str, str] = ("cat", "dog")
    device: str = "auto"
    progress: bool = True
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_variance(self.noise_variance)
        for name in ("runs", "epochs", "batch_size"):
            integer(name, getattr(self, name), 1)
        optional_integer("train_limit", self.train_limit, 2, none_means="all 9,600")
        in_interval("width_mult", self.width_mult, 0, 4, closed_high=True)
        self.train_config(0)
        object.__setattr__(self, "classes", tuple(self.classes))

    def train_config(self, seed: int) -> CNNTrainConfig:
        return CNNTrainConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                              max_epochs=self.epochs, patience=self.epochs, seed=int(seed), augment=self.augment,
                              precision=self.precision)


def run_settings(config: SettingsConfig) -> RunOutput:
    """Rows (one per run and net): per-epoch lists ``val_acc``, ``test_acc`` (%), ``train_loss``,
    ``epoch_seconds`` (wall clock of training plus the validation pass; the extra test pass is not
    counted) and ``epoch_cpu_seconds`` (the process's CPU time over the same span)."""
    import time

    dev = resolve_device(config.device)
    prec = resolve_precision(config.precision, dev)
    rows: list[dict[str, Any]] = []
    source: dict[str, Any] = {}
    for r in range(config.runs):
        data = load_cat_dog(config.classes, noise_variance=config.noise_variance, noise_seed=r,
                            split_seed=config.split_seed, train_limit=config.train_limit, device=dev)
        source = data.source
        for role, spec, seed in (("teacher", TEACHER, 1000 + r), ("student", STUDENT, 2000 + r)):
            model = build_vgg(spec, width_mult=config.width_mult, seed=seed)
            test: list[float] = []
            secs: list[float] = []
            cpu: list[float] = []
            clock = [time.perf_counter(), time.process_time()]

            def after_epoch(epoch: int, m: torch.nn.Module, val: float) -> None:
                secs.append(round(time.perf_counter() - clock[0], 3))
                cpu.append(round(time.process_time() - clock[1], 3))
                test.append(round(100.0 * accuracy(m, data.test, precision=prec), 4))
                clock[0], clock[1] = time.perf_counter(), time.process_time()

            res = train_classifier(model, data.train, data.val, config.train_config(r), progress=config.progress,
                                   desc=f"w {config.width_mult:g} n {len(data.train)} run {r} {role}",
                                   epoch_callback=after_epoch)
            rows.append({
                "noise_variance": config.noise_variance, "width_mult": config.width_mult,
                "n_train": len(data.train), "run": r, "model": role, "mode": "hard",
                "val_acc": [round(100.0 * a, 4) for a in res.val_acc], "test_acc": test,
                "train_loss": [round(v, 6) for v in res.train_loss], "epoch_seconds": secs,
                "epoch_cpu_seconds": cpu,
                "params": n_parameters(model), "layers": model.describe(),
            })
    extra = {"data_source": source, "data_notice": source_notice(source),
             "seed_scheme": "as the deep experiment: noise seed r, batch order r, teacher 1000+r, student 2000+r",
             "precision": prec}
    return RunOutput(rows=rows, seeds=[s for r in range(config.runs) for s in (r, 1000 + r, 2000 + r)],
                     device=str(dev), extra=extra)


#: The settings measurements as an experiment of their own (records in ``results/deep_settings/``).
SETTINGS = SimpleNamespace(NAME=SETTINGS_NAME, Config=SettingsConfig, run=run_settings)


def early_stopping(val_acc: Sequence[float], max_epochs: int, patience: int) -> tuple[int, int]:
    """``(best epoch, epochs run)`` of :func:`kdlib.train_cnn.train_classifier`'s rule on a
    validation curve (epochs count from 1): the best epoch is the first one with the
    largest accuracy so far (strict improvement), and training stops ``patience`` epochs
    after it, or after ``max_epochs``. A curve too short to decide is a ``ValueError``."""
    integer("max_epochs", max_epochs, 1)
    integer("patience", patience, 1)
    best, best_epoch = -math.inf, 0
    for epoch, acc in enumerate(val_acc[:max_epochs], 1):
        if acc > best:
            best, best_epoch = acc, epoch
        if epoch - best_epoch >= patience:
            return best_epoch, epoch
    if len(val_acc) < max_epochs:
        raise ValueError(f"a curve of {len(val_acc)} epochs cannot say where max_epochs={max_epochs}, "
                         f"patience={patience} stops")
    return best_epoch, max_epochs


def settings_summary(records: Iterable[dict[str, Any]], choices: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per settings record (width, training-set size) and per ``(max_epochs, patience)`` in
    ``choices`` that its curves can decide: the mean over runs of the teacher's and the hard
    student's test accuracy at the epoch early stopping picks, the teacher's lead (paired
    per run: mean and sample sd), the mean epochs each net runs, and the CPU seconds of one
    run of the profile (teacher plus two students, taking the soft student to cost what the
    hard one does), from the stored per-epoch times."""
    out = []
    for rec in records:
        c = rec["config"]
        by = {(row["model"], row["run"]): row for row in rec["rows"]}
        runs = sorted({r for _, r in by})
        for max_epochs, patience in choices:
            if max_epochs > c["epochs"] and any(len(by[k]["val_acc"]) < max_epochs for k in by):
                continue
            try:
                picks = {k: early_stopping(row["val_acc"], max_epochs, patience) for k, row in by.items()}
            except ValueError:
                continue
            acc = {k: by[k]["test_acc"][picks[k][0] - 1] for k in by}
            secs = {k: sum(by[k]["epoch_seconds"][: picks[k][1]]) for k in by}
            lead = [acc[("teacher", r)] - acc[("student", r)] for r in runs]
            s = {"noise_variance": c["noise_variance"], "width_mult": c["width_mult"], "augment": c.get("augment", False),
                 "n_train": by[("teacher", runs[0])]["n_train"], "batch_size": c["batch_size"],
                 "max_epochs": max_epochs, "patience": patience, "runs": len(runs)}
            for role, name in (("teacher", "teacher"), ("student", "hard")):
                s[name] = statistics.fmean(acc[(role, r)] for r in runs)
                s[name + "_epochs"] = statistics.fmean(picks[(role, r)][1] for r in runs)
                s[name + "_seconds"] = statistics.fmean(secs[(role, r)] for r in runs)
            s["lead"], s["lead_sd"] = _mean_sd(lead)
            s["run_seconds"] = s["teacher_seconds"] + 2 * s["hard_seconds"]
            out.append(s)
    return sorted(out, key=lambda s: (s["augment"], s["width_mult"], s["n_train"], s["max_epochs"], s["patience"]))


# ---------------------------------------------------------------- what a training step costs

SPEED_NAME = "deep_speed"


@dataclass(frozen=True)
class SpeedConfig:
    """Seconds per training step (forward, backward, Adam) of both nets at several widths,
    on a batch of real training images (noise-free cat/dog, the first ``batch_size``), on the
    device the record names, with ``threads`` CPU threads. The first ``warmup`` steps are
    not timed; then the median of ``steps``. On the CPU the process's CPU time is used as
    well as the wall time: on a shared machine the wall time grows with the other loads,
    the CPU time of a one-thread process much less."""

    widths: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    batch_size: int = 128
    steps: int = 10
    warmup: int = 3
    threads: int = 1
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(float(w) for w in self.widths))
        if not self.widths:
            raise ValueError("widths is empty")
        for w in self.widths:
            in_interval("widths", w, 0, 4, closed_high=True)
        for name in ("batch_size", "steps", "threads"):
            integer(name, getattr(self, name), 1)
        integer("warmup", self.warmup, 0)


def run_speed(config: SpeedConfig) -> RunOutput:
    """Rows: net, width, wall and CPU seconds per step (medians), images per second and the
    FLOP rate ``6 * MACs * batch / seconds`` (:func:`kdlib.vgg.forward_macs`), from the CPU
    time on a CPU (from the wall time on a GPU)."""
    import time

    from kdlib.train_cnn import hard_loss
    from kdlib.vgg import forward_macs

    dev = resolve_device(config.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    rows = []
    try:
        data = load_cat_dog(("cat", "dog"), noise_variance=0.0, noise_seed=0, train_limit=config.batch_size,
                            device=dev)
        x, y = data.train.x, data.train.y
        for w in config.widths:
            for spec in (TEACHER, STUDENT):
                model = build_vgg(spec, width_mult=w, seed=0).to(dev)
                opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
                wall, cpu = [], []
                for i in range(config.warmup + config.steps):
                    t, c = time.perf_counter(), time.process_time()
                    loss = hard_loss(model(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    if i >= config.warmup:
                        wall.append(time.perf_counter() - t)
                        cpu.append(time.process_time() - c)
                sec = statistics.median(cpu if dev.type == "cpu" else wall)
                macs = forward_macs(spec, w)
                rows.append({"net": spec, "width_mult": w, "batch_size": len(y),
                             "seconds_per_step": round(sec, 5), "wall_seconds_per_step": round(statistics.median(wall), 5),
                             "images_per_s": round(len(y) / sec, 2),
                             "gflop_per_s": round(6 * macs * len(y) / sec / 1e9, 3), "forward_macs": macs})
    finally:
        torch.set_num_threads(threads)
    return RunOutput(rows=rows, seeds=[0], device=str(dev),
                     extra={"threads": config.threads, "data_source": data.source,
                            "clock": "process CPU time on a CPU, wall time on a GPU; wall time recorded too"})


#: The step timings as an experiment of their own (records in ``results/deep_speed/``).
SPEED = SimpleNamespace(NAME=SPEED_NAME, Config=SpeedConfig, run=run_speed)


#: The settings measured for choosing the CPU profile (noise 0.01, runs 0 and 1 unless said).
SETTINGS_GRID: tuple[dict[str, Any], ...] = (
    dict(width_mult=0.125, train_limit=None, epochs=20),
    dict(width_mult=0.25, train_limit=None, epochs=12),
    dict(width_mult=0.125, train_limit=None, epochs=30, augment=True),
    dict(width_mult=0.25, train_limit=None, epochs=25, augment=True),
)
#: One more measurement, not a candidate (the rule looks at noise 0.01 only): the widest teacher
#: with flips and shifts at the noisiest level, to see whether it stays ahead of its student there.
SETTINGS_EXTRA: tuple[dict[str, Any], ...] = (
    dict(noise_variance=0.2, width_mult=0.25, train_limit=None, epochs=25, augment=True),
)
#: The stopping rules replayed on them: (max_epochs, patience).
SETTINGS_CHOICES: tuple[tuple[int, int], ...] = tuple(
    (e, p) for e in (10, 12, 15, 20, 25, 30) for p in (3, 5, 8, 10) if p < e)
#: CPU budget of the whole profile (one core), levels and runs it must cover.
PROFILE_BUDGET_S = 7200.0
PROFILE_RUNS = 5


def profile_estimate(s: dict[str, Any], runs: int = PROFILE_RUNS, levels: int = len(NOISE_VARIANCES),
                     extra: int = 2) -> float:
    """Seconds of a whole profile with the settings of one :func:`settings_summary` row: ``levels``
    noise levels of ``runs`` runs of a teacher and two students, plus one more student at
    ``extra`` levels (the T = 4 variant), each net costing what it cost at noise 0.01."""
    return runs * (levels * s["run_seconds"] + extra * s["hard_seconds"])


def choose_settings(summary: list[dict[str, Any]], budget_s: float = PROFILE_BUDGET_S,
                    min_runs: int = 2) -> dict[str, Any] | None:
    """The rule that chose the CPU profile, fixed before its records were computed: among the
    settings measured at noise 0.01 (at least ``min_runs`` runs) whose whole profile fits ``budget_s``
    (:func:`profile_estimate`), the one whose teacher leads the hard student most at noise
    0.01; leads within one point of the best count as equal, and of those the cheapest wins.
    ``None`` when nothing fits."""
    ok = [s for s in summary if s["runs"] >= min_runs and profile_estimate(s) <= budget_s
          and abs(s["noise_variance"] - 0.01) < 1e-9]
    if not ok:
        return None
    top = max(s["lead"] for s in ok)
    return min((s for s in ok if s["lead"] >= top - 1.0), key=profile_estimate)


def format_settings(summary: list[dict[str, Any]], chosen: dict[str, Any] | None = None,
                    patience: Sequence[int] | None = (5,), digits: int = 1) -> "Table":
    """:func:`settings_summary` as a table: per width, training-set size and stopping rule, the
    mean test accuracy of teacher and hard student, the teacher's lead (mean ± sd over runs),
    the epochs each net runs, the CPU minutes of one run and the estimated hours of the whole
    profile (:func:`profile_estimate`). Only the rows with a patience in ``patience`` (all if
    None), plus ``chosen``, marked."""
    from kdlib.report import Table

    rows = []
    for s in summary:
        is_chosen = chosen is not None and all(s[k] == chosen[k] for k in ("width_mult", "n_train", "max_epochs",
                                                                           "patience", "augment"))
        if patience is not None and s["patience"] not in patience and not is_chosen:
            continue
        lead = f"{s['lead']:.{digits}f}" + (f" ± {s['lead_sd']:.{digits}f}" if math.isfinite(s["lead_sd"]) else "")
        rows.append([f"×{s['width_mult']:g}", f"{s['n_train']:,d}", "yes" if s["augment"] else "no",
                     f"{s['max_epochs']} / {s['patience']}",
                     str(s["runs"]), f"{s['teacher']:.{digits}f}", f"{s['hard']:.{digits}f}", lead,
                     f"{s['teacher_epochs']:.0f} / {s['hard_epochs']:.0f}", f"{s['run_seconds'] / 60:.1f}",
                     f"{profile_estimate(s) / 3600:.1f}", "← chosen" if is_chosen else ""])
    return Table(["width", "training images", "flips and shifts", "max epochs / patience", "runs", "teacher", "hard student",
                  "teacher − hard", "epochs run (teacher / student)", "min per run", "profile h (est.)", ""],
                 rows, caption=(f"noise σ² = {summary[0]['noise_variance']:.2f}; test accuracy (%) at the epoch "
                                "early stopping picks; wall-clock times on the shared machine") if summary else None)


def describe_choice(settings: Sequence[dict[str, Any]], profile: str) -> str:
    """Markdown: what :func:`choose_settings` picks from the stored settings measurements, and
    whether ``profile``'s settings are that choice."""
    summary = [s for s in settings_summary(settings, SETTINGS_CHOICES) if abs(s["noise_variance"] - 0.01) < 1e-9]
    pick = choose_settings(summary)
    p = PROFILES.get(profile.split("+")[0], {})
    if pick is None:
        return "No measured setting fits the budget."
    text = (f"**The rule's choice:** width ×{pick['width_mult']:g}, {pick['n_train']:,d} training images, "
            f"at most {pick['max_epochs']} epochs with patience {pick['patience']}: on runs 0 and 1 at "
            f"σ² = {pick['noise_variance']:.2f} the teacher reaches {pick['teacher']:.1f}% and the hard student "
            f"{pick['hard']:.1f}%, a lead of {pick['lead']:.1f} points; the whole profile with {PROFILE_RUNS} runs "
            f"was estimated at {profile_estimate(pick) / 3600:.1f} h on the shared machine.")
    same = (p.get("width_mult") == pick["width_mult"] and (p.get("train_limit") or 9600) == pick["n_train"]
            and p.get("max_epochs") == pick["max_epochs"] and p.get("patience") == pick["patience"])
    if same:
        text += (f" These are the settings of the `{profile.split('+')[0]}` profile shown below, which runs "
                 f"{p['runs']} runs per noise level instead of {PROFILE_RUNS}, for tighter error bars (estimated "
                 f"{profile_estimate(pick, runs=p['runs']) / 3600:.1f} h).") if p.get("runs", PROFILE_RUNS) != PROFILE_RUNS else (
                 f" These are the settings of the `{profile.split('+')[0]}` profile shown below.")
    elif profile.split("+")[0] != "paper":
        text += f" The `{profile}` profile shown below does **not** use them."
    best = max(summary, key=lambda s: s["lead"])
    if best is not pick:
        text += (f" The largest lead measured, {best['lead']:.1f} ± {best['lead_sd']:.1f} points (width "
                 f"×{best['width_mult']:g}, {best['n_train']:,d} images, "
                 f"{'with' if best['augment'] else 'without'} flips and shifts, at most {best['max_epochs']} "
                 f"epochs with patience {best['patience']}), would have cost about "
                 f"{profile_estimate(best) / 3600:.1f} h for {PROFILE_RUNS} runs.")
    return text


def describe_results(records: Sequence[dict[str, Any]], seen: Sequence[int] = (0, 1), at: float = 0.01) -> str:
    """Markdown: the teacher's lead at noise ``at`` over all runs and over the runs other than
    ``seen`` (the runs the settings measurements used), and the soft-minus-hard gain per level."""
    rec = next((r for r in records if abs(float(r["config"]["noise_variance"]) - at) < 1e-9), None)
    parts = []
    if rec is not None:
        runs = paired_runs(rec)
        lead, sd = _mean_sd([d["lead"] for d in runs])
        held_runs = [d["run"] for d in runs if d["run"] not in seen]
        held = [d["lead"] for d in runs if d["run"] not in seen]
        parts.append(f"At σ² = {at:.2f} the teacher leads the hard student by {lead:.1f} ± {sd:.1f} points over "
                     f"{len(runs)} runs (paper: {PAPER_FIGURE[at][0] - PAPER_FIGURE[at][1]:.1f})")
        if held:
            hm, hs = _mean_sd(held)
            parts[-1] += (f"; over runs {held_runs[0]}-{held_runs[-1]} alone, which the settings measurements "
                          f"never saw, by {hm:.1f}" + (f" ± {hs:.1f}" if math.isfinite(hs) else ""))
        parts[-1] += "."
    gains = []
    for s in summarize(records):
        n = s["runs"]
        se = s["gap_sd"] / math.sqrt(n) if math.isfinite(s["gap_sd"]) else math.nan
        gains.append(f"{s['noise_variance']:.2f}: {s['gap']:+.1f} ± {se:.1f}")
    parts.append("Soft minus hard, mean ± standard error of the paired runs, per noise level σ²: "
                 + "; ".join(gains) + ".")
    return " ".join(parts)


def _within_level(runs: list[dict[str, Any]], key: str) -> list[float]:
    """``key`` of each run minus its noise level's mean (so that levels do not drive a correlation)."""
    means = {v: statistics.fmean(d[key] for d in runs if d["noise_variance"] == v)
             for v in {d["noise_variance"] for d in runs}}
    return [d[key] - means[d["noise_variance"]] for d in runs]


def describe_knowledge(records: Sequence[dict[str, Any]]) -> str:
    """Markdown: how the soft student's gain goes with the teacher's lead over all runs, and with
    the teacher's own accuracy within each noise level (which shares no term with the gain: the
    lead and the gain both subtract the same hard student, so its run-to-run scatter alone
    correlates them); and the T = 4 gains."""
    runs = [d for rec in records for d in paired_runs(rec)]
    x = [d["lead"] for d in runs]
    y = [d["gain"] for d in runs]
    text = ""
    if len(x) > 2 and statistics.pstdev(x) > 0 and statistics.pstdev(y) > 0:
        slope, _ = statistics.linear_regression(x, y)
        text += (f"Over all {len(runs)} runs, the soft student's gain and the teacher's lead correlate with "
                 f"r = {statistics.correlation(x, y):.2f} (least-squares slope {slope:.2f} points of gain per "
                 f"point of lead).")
        tw, gw = _within_level(runs, "teacher"), _within_level(runs, "gain")
        hw = _within_level(runs, "hard")
        if statistics.pstdev(tw) > 0 and statistics.pstdev(gw) > 0:
            text += (f" Within each noise level, the gain correlates with the teacher's own test accuracy with "
                     f"r = {statistics.correlation(tw, gw):.2f}, and with the hard student's accuracy with "
                     f"r = {statistics.correlation(hw, gw):.2f}.")
    for k in sorted({k for d in runs for k in d if k.startswith("gain ")}):
        per = []
        for v in sorted({d["noise_variance"] for d in runs if k in d}):
            g = [d[k] - d["gain"] for d in runs if k in d and d["noise_variance"] == v]
            m, sd = _mean_sd([d[k] for d in runs if k in d and d["noise_variance"] == v])
            dm, dsd = _mean_sd(g)
            per.append(f"σ² = {v:.2f}: soft ({k[5:]}) − hard {m:+.1f} ± {sd:.1f}, "
                       f"soft ({k[5:]}) − soft (T=1) {dm:+.1f} ± {dsd:.1f}")
        text += f" With {k[5:]}: " + "; ".join(per) + " (mean ± sd over the paired runs)."
    return text.strip()


def format_speed(record: dict[str, Any]) -> "Table":
    """A :data:`SPEED` record as a table: per net and width, forward MACs per image, seconds per
    training step and the sustained FLOP rate."""
    from kdlib.report import Table

    rows = [[r["net"], f"×{r['width_mult']:g}", f"{r['forward_macs'] / 1e6:,.2f}", f"{r['seconds_per_step']:.3f}",
             f"{r['images_per_s']:,.0f}", f"{r['gflop_per_s']:.1f}"] for r in record["rows"]]
    c = record["config"]
    return Table(["net", "width", "forward MMACs per image", "s per step", "images / s", "GFLOP/s"], rows,
                 caption=f"training steps of {c['batch_size']} images, {c['threads']} CPU thread(s), "
                         f"median of {c['steps']} (CPU time); {record['provenance']['device']}")


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
    """E.g. ``cpu profile: width x0.125, 8 runs, <= 12 epochs (patience 5), 9600 training images,
    flips and shifts; + T = 4 student at 0.10, 0.20 (cpu+T4)``."""
    c = records[0]["config"]
    n = c["train_limit"] if c["train_limit"] is not None else 9600
    base = c["profile"].split("+")[0]
    label = (f"{base} profile: width x{c['width_mult']:g}, {c['runs']} runs, <= {c['max_epochs']} epochs "
             f"(patience {c['patience']}), {n} training images")
    if c.get("augment"):
        label += ", flips and shifts"
    extra = [r["config"] for r in records if r["config"].get("extra_temperatures")]
    if extra:
        temps = sorted({t for e in extra for t in e["extra_temperatures"]})
        levels = ", ".join(f"{e['noise_variance']:.2f}" for e in extra)
        label += f"; + T = {', '.join(f'{t:g}' for t in temps)} student at {levels} ({extra[0]['profile']})"
    return label


# ---------------------------------------------------------------- what the teacher knows

def paired_runs(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per run of a record: the test accuracies of the teacher (``teacher``), the hard
    student (``hard``), the soft student (``soft``) and of every extra soft student
    (``"soft T=4"``...), the teacher's ``lead`` (teacher - hard) and the ``gain`` of each soft
    student over the hard one of the same run (``gain``, ``"gain T=4"``...), in points,
    the teacher's training accuracy and ``confidence`` (mean max softmax on the training set)."""
    by: dict[int, dict[str, Any]] = {}
    for row in rec["rows"]:
        d = by.setdefault(row["run"], {"run": row["run"], "noise_variance": float(rec["config"]["noise_variance"])})
        name = "teacher" if row["model"] == "teacher" else row["mode"]
        d[name] = row["test_acc"]
        if row["model"] == "teacher":
            d["confidence"] = row.get("train_confidence")
            d["teacher_train_acc"] = row.get("train_acc")
        elif "label_confidence" in row and row["mode"] != "soft":
            d["confidence " + row["mode"].split(" ", 1)[1]] = row["label_confidence"]
    out = []
    for r in sorted(by):
        d = by[r]
        d["lead"] = d["teacher"] - d["hard"]
        for k in [k for k in d if isinstance(k, str) and k.startswith("soft")]:
            d["gain" + k[4:]] = d[k] - d["hard"]
        out.append(d)
    return out


def teacher_knowledge(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per noise variance: mean and sd over runs of the teacher's lead over the hard student,
    of the soft student's paired gain over it (and of each extra temperature's gain), of the
    teacher's training accuracy and of its confidence on the training set; the paper's lead
    and gain beside them."""
    out = []
    for rec in records:
        runs = paired_runs(rec)
        v = float(rec["config"]["noise_variance"])
        s: dict[str, Any] = {"noise_variance": v, "runs": len(runs)}
        keys = sorted({k for d in runs for k in d if k.startswith(("gain", "confidence")) or k in ("lead",
                                                                                               "teacher_train_acc")})
        for k in keys:
            vals = [d[k] for d in runs if d.get(k) is not None]
            if vals:
                s[k], s[k + "_sd"] = _mean_sd(vals)
        paper = PAPER_FIGURE.get(round(v, 4))
        s["paper_lead"] = None if paper is None else paper[0] - paper[1]
        s["paper_gain"] = None if paper is None else paper[2] - paper[1]
        out.append(s)
    return sorted(out, key=lambda s: s["noise_variance"])


def format_knowledge(knowledge: list[dict[str, Any]], digits: int = 1) -> "Table":
    """:func:`teacher_knowledge` as a table (points of test accuracy; confidence as a probability)."""
    from kdlib.report import Table

    def ms(s: dict[str, Any], k: str, d: int = digits) -> str:
        if k not in s:
            return "—"
        sd = s.get(k + "_sd", math.nan)
        return f"{s[k]:.{d}f} ± {sd:.{d}f}" if math.isfinite(sd) else f"{s[k]:.{d}f}"

    temps = sorted({k[5:] for s in knowledge for k in s if k.startswith("gain ") and not k.endswith("_sd")})
    header = ["noise σ²", "runs", "teacher − hard", "soft − hard", "teacher train acc.", "teacher confidence"]
    for t in temps:
        header += [f"soft ({t}) − hard", f"confidence at {t}"]
    header += ["paper: teacher − hard", "paper: soft − hard"]
    rows = []
    for s in knowledge:
        row = [f"{s['noise_variance']:.2f}", str(s["runs"]), ms(s, "lead"), ms(s, "gain"),
               ms(s, "teacher_train_acc"), ms(s, "confidence", 3)]
        for t in temps:
            row += [ms(s, f"gain {t}"), ms(s, f"confidence {t}", 3)]
        row += ["—" if s["paper_lead"] is None else f"{s['paper_lead']:.1f}",
                "—" if s["paper_gain"] is None else f"{s['paper_gain']:.1f}"]
        rows.append(row)
    return Table(header, rows)


def plot_gain_vs_lead(records: Sequence[dict[str, Any]]):
    """Every run as a point: the soft student's gain over the hard one (paired, points) against
    the teacher's lead over the hard student, coloured by noise variance; extra temperatures as
    open squares. The least-squares line and Pearson's r of the T = 1 points are in the legend."""
    import matplotlib as mpl

    from kdlib.plots import new_figure

    fig, ax = new_figure(width=8.5, height=4.4)
    runs = [d for rec in records for d in paired_runs(rec)]
    variances = sorted({d["noise_variance"] for d in runs})
    cmap = mpl.colormaps["viridis"]
    color = {v: cmap(i / max(1, len(variances) - 1)) for i, v in enumerate(variances)}
    for v in variances:
        pts = [(d["lead"], d["gain"]) for d in runs if d["noise_variance"] == v]
        ax.scatter(*zip(*pts), color=color[v], s=22, label=f"σ² = {v:.2f}, T = 1")
    extra = sorted({k for d in runs for k in d if k.startswith("gain ")})
    for k in extra:
        pts = [(d["lead"], d[k], d["noise_variance"]) for d in runs if k in d]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], facecolors="none",
                   edgecolors=[color[p[2]] for p in pts], marker="s", s=40, label=f"{k[5:]} (same runs)")
    x = [d["lead"] for d in runs]
    y = [d["gain"] for d in runs]
    if len(x) > 2 and statistics.pstdev(x) > 0 and statistics.pstdev(y) > 0:
        slope, icpt = statistics.linear_regression(x, y)
        r = statistics.correlation(x, y)
        xs = [min(x), max(x)]
        ax.plot(xs, [icpt + slope * t for t in xs], color="#444444", lw=1,
                label=f"least squares, T = 1: slope {slope:.2f}, r = {r:.2f}")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("teacher − hard student, test accuracy (points)")
    ax.set_ylabel("soft − hard student (points)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


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


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cost_rows(records: Sequence[dict[str, Any]], speed: dict[str, Any],
              paper_epochs: Sequence[int] = (40, 100)) -> list[dict[str, Any]]:
    """The time model: what the shown profile cost (measured epochs and FLOP rates of its
    records, against the sum of their ``train_seconds``), and what the ``paper`` profile would
    cost on this CPU (rates of the full-width nets in the ``speed`` record) and on an H200
    (:data:`GPU_PEAK_BF16_FLOPS` x :data:`GPU_ASSUMED_FRACTION`), if every net ran each of
    ``paper_epochs`` epochs (40: a best epoch near 20 plus patience 20; 100: the cap)."""
    out = []
    cfgs = [Config(**r["config"]) for r in records]
    rates = measured_rates(records)
    epochs = {TEACHER: [], STUDENT: []}
    seconds = 0.0
    for rec in records:
        for row in rec["rows"]:
            epochs[TEACHER if row["model"] == "teacher" else STUDENT].append(row["epochs_run"])
            seconds += row.get("train_cpu_seconds", row["train_seconds"])
    mean_epochs = {n: statistics.fmean(v) for n, v in epochs.items()}
    flops = sum(profile_cost(c, rates, mean_epochs, levels=1)["flops"] for c in cfgs)
    width = cfgs[0].width_mult
    step = {r["net"]: r["gflop_per_s"] * 1e9 for r in speed["rows"] if r["width_mult"] == width}
    name = cfgs[0].profile.split("+")[0]
    if set(step) == {TEACHER, STUDENT}:
        est = sum(profile_cost(c, step, mean_epochs, levels=1)["seconds"] for c in cfgs)
        out.append({"profile": name, "where": "this CPU, 1 thread (step timings)", "rate": step,
                    "epochs": mean_epochs, "flops": flops, "seconds": est, "measured_seconds": seconds})
    out.append({"profile": name, "where": "this CPU, 1 thread (its records)", "rate": rates,
                "epochs": mean_epochs, "flops": flops, "seconds": seconds, "measured_seconds": seconds})
    paper = make_config("paper", 0.1)
    cpu_rate = {r["net"]: r["gflop_per_s"] * 1e9 for r in speed["rows"] if r["width_mult"] == 1.0}
    gpu = GPU_PEAK_BF16_FLOPS * GPU_ASSUMED_FRACTION
    for where, rate in (("this CPU, 1 thread (step timings)", cpu_rate), ("H200 (assumed rate)", {TEACHER: gpu, STUDENT: gpu})):
        if set(rate) != {TEACHER, STUDENT}:
            continue
        for e in paper_epochs:
            ep = {TEACHER: float(e), STUDENT: float(e)}
            # the chapter's variant: one extra soft student at two of the six levels
            base = profile_cost(paper, rate, ep)
            extra = profile_cost(dataclasses.replace(paper, extra_temperatures=(4.0,)), rate, ep, levels=2)
            plain2 = profile_cost(paper, rate, ep, levels=2)
            out.append({"profile": "paper", "where": where, "rate": rate, "epochs": ep,
                        "flops": base["flops"] + extra["flops"] - plain2["flops"],
                        "seconds": base["seconds"] + extra["seconds"] - plain2["seconds"], "measured_seconds": None})
    return out


def format_cost(records: Sequence[dict[str, Any]], speed: dict[str, Any]) -> "Table":
    """:func:`cost_rows` as a table (rates in GFLOP/s, teacher / student)."""
    from kdlib.report import Table

    rows = []
    for r in cost_rows(records, speed):
        rate = f"{r['rate'][TEACHER] / 1e9:,.0f} / {r['rate'][STUDENT] / 1e9:,.0f}"
        ep = r["epochs"]
        rows.append([r["profile"], r["where"], rate, f"{ep[TEACHER]:.0f} / {ep[STUDENT]:.0f}",
                     f"{r['flops'] / 1e15:,.2f}", _duration(r["seconds"]),
                     "—" if r["measured_seconds"] is None else _duration(r["measured_seconds"])])
    return Table(["profile", "where", "GFLOP/s (teacher / student)", "epochs per net (teacher / student)",
                  "PFLOP", "estimated time", "measured CPU time"], rows,
                 caption=f"all six noise levels, T = 4 variant included; H200 rate = "
                         f"{GPU_ASSUMED_FRACTION:.0%} of {GPU_PEAK_BF16_FLOPS / 1e12:,.0f} TFLOP/s ({GPU_PEAK_SOURCE})")


__all__ = ["NAME", "Config", "PROFILES", "PAPER_FIGURE", "make_config", "profile_settings", "sweep", "best_profile",
           "run", "summarize", "format_table", "plot_figure", "profile_label", "SETTINGS", "SettingsConfig",
           "run_settings", "early_stopping", "settings_summary", "SPEED", "SpeedConfig", "run_speed", "paired_runs",
           "teacher_knowledge", "format_knowledge", "plot_gain_vs_lead", "profile_epoch_flops", "profile_cost",
           "measured_rates"]
