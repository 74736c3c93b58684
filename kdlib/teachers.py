"""Trained teachers, stored once per (data, teacher settings) and shared by every record.

A teacher (:func:`kdlib.train.train_teacher`) is a two-layer net trained on hard
labels by projected SGD. What it computes is fixed by its *settings*: the task
(a label chosen by the caller, plus a fingerprint of the training data: its size
and the sha256 of its inputs and labels), the input scaling, the width, the
initialisation seed, whether the outer layer is trained, and the PGD settings
(learning rate, epochs, batch size, radius B, order seed). Training is
deterministic on one machine; elsewhere a retrained teacher differs by float
rounding only.

Store layout: ``<root>/<key>.pt`` with ``root = kdlib.results.default_root() /
"teachers"`` (so ``KDLIB_RESULTS`` moves it too; the repository's committed
``results/teachers/`` is still read when a teacher is not found there) and ``key`` the first 20 hex
digits of the sha256 of the canonical JSON of the settings. A file holds the
trained inner weights ``W`` (float32, ``m x d``), the outer weights ``a`` only
when they were trained, the settings, sha256 checksums of ``W`` (and ``a``) and of
the initial ``W(0)``, and provenance (git commit, torch version, device, date,
wall time). ``W(0)`` and a fixed ``a`` follow from the seed
(:func:`kdlib.nets.symmetric_init`), so they are not stored; the ``W(0)`` checksum
detects a change of the initialisation code. Writes are atomic (temporary file,
then ``os.replace``); a file that does not load, whose settings do not hash to its
name or whose weights fail their checksum raises :class:`TeacherStoreError`
naming it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

import kdlib
from kdlib.data import BinaryData
from kdlib.nets import TwoLayerNet, symmetric_init
from kdlib.results import atomic_write, default_root, device_name, git_commit
from kdlib.train import PGDConfig, train_teacher

FOLDER = "teachers"
FORMAT = "kdlib-teacher"
SCHEMA = 1


class TeacherStoreError(RuntimeError):
    """A stored teacher file is unreadable, corrupt, or does not match its name."""


def _sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().to("cpu").contiguous().numpy().tobytes()).hexdigest()


def data_fingerprint(data: BinaryData) -> dict[str, Any]:
    """Size and sha256 of the training inputs (float32) and labels: which data the teacher saw."""
    x = data.x.detach().to("cpu", torch.float32).contiguous()
    y = data.y.detach().to("cpu", torch.float32).contiguous()
    h = hashlib.sha256(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    return {"n": int(x.shape[0]), "d": int(x.shape[1]), "sha256": h.hexdigest()}


def _number(v: float) -> float | str:
    """Strict JSON for a float: infinities as the strings 'inf' / '-inf'."""
    v = float(v)
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def teacher_settings(
    data: BinaryData, *, task: str, width: int, pgd: PGDConfig, seed: int = 0, train_outer: bool = False
) -> dict[str, Any]:
    """Everything that decides the trained teacher, as a JSON-ready dict (the store's key)."""
    if not isinstance(task, str) or not task:
        raise ValueError(f"task must be a non-empty label, got {task!r}")
    return {
        "schema": SCHEMA,
        "task": task,
        "scaling": data.scaling,
        "data": data_fingerprint(data),
        "width": int(width),
        "seed": int(seed),
        "train_outer": bool(train_outer),
        "pgd": {
            "lr": _number(pgd.lr),
            "epochs": int(pgd.epochs),
            "batch_size": int(pgd.batch_size),
            "B": _number(pgd.B),
            "order_seed": int(pgd.order_seed),
        },
    }


def teacher_key(settings: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``settings``, 20 hex digits."""
    payload = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def repository_root() -> Path:
    """The repository's own teacher folder, ``results/teachers/`` next to the ``kdlib`` package."""
    return Path(kdlib.__file__).resolve().parent.parent / "results" / FOLDER


class TeacherStore:
    """A folder of trained teachers, one ``<key>.pt`` file per settings.

    ``root`` (default ``kdlib.results.default_root() / "teachers"``) is where teachers are
    written and looked up first; ``fallbacks`` are read-only folders looked up next. By
    default the repository's committed ``results/teachers/`` is the fallback, so a store
    moved elsewhere with ``KDLIB_RESULTS`` still reuses the committed teachers.
    """

    def __init__(self, root: str | Path | None = None, fallbacks: list[str | Path] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root() / FOLDER
        if fallbacks is None:
            fallbacks = [repository_root()] if root is None else []
        self.fallbacks = [Path(f) for f in fallbacks if Path(f).resolve() != self.root.resolve()]

    def path(self, settings: dict[str, Any]) -> Path:
        """Where a teacher for ``settings`` is written."""
        return self.root / f"{teacher_key(settings)}.pt"

    def find(self, settings: dict[str, Any]) -> Path | None:
        """The stored file for ``settings``: in ``root``, else in a fallback folder; None if none."""
        name = f"{teacher_key(settings)}.pt"
        for folder in (self.root, *self.fallbacks):
            if (folder / name).exists():
                return folder / name
        return None

    def load(self, settings: dict[str, Any], device: str | torch.device = "cpu") -> TwoLayerNet | None:
        """The stored teacher for ``settings`` on ``device``, or None when there is none."""
        p = self.find(settings)
        if p is None:
            return None
        rec = self.read(p)
        if rec["settings"] != settings:
            raise TeacherStoreError(f"teacher file {p} holds other settings than asked for; delete it to retrain")
        return self._net(rec, p, device)

    @staticmethod
    def read(path: str | Path) -> dict[str, Any]:
        """Read one teacher file and check its name, format and checksums."""
        path = Path(path)
        hint = "Delete it to retrain the teacher."
        try:
            rec = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, not a torch file, unpickling error, ...
            raise TeacherStoreError(f"teacher file {path} cannot be read ({type(exc).__name__}: {exc}). {hint}") from exc
        need = {"format", "settings", "W", "W_sha256", "W0_sha256", "provenance"}
        if not isinstance(rec, dict) or rec.get("format") != FORMAT or not need <= set(rec):
            raise TeacherStoreError(f"teacher file {path} is not a {FORMAT} file (needs {sorted(need)}). {hint}")
        settings = rec["settings"]
        if not isinstance(settings, dict) or settings.get("schema") != SCHEMA:
            raise TeacherStoreError(f"teacher file {path} has schema {settings.get('schema') if isinstance(settings, dict) else None}, expected {SCHEMA}. {hint}")
        key = teacher_key(settings)
        if key != path.stem:
            raise TeacherStoreError(f"teacher file {path}: its settings hash to {key}, not to its name. {hint}")
        W = rec["W"]
        shape = (settings["width"], settings["data"]["d"])
        if not isinstance(W, torch.Tensor) or W.dtype != torch.float32 or tuple(W.shape) != shape:
            raise TeacherStoreError(f"teacher file {path}: W must be a float32 tensor of shape {shape}. {hint}")
        if _sha256(W) != rec["W_sha256"]:
            raise TeacherStoreError(f"teacher file {path}: the weights W fail their checksum (corrupt file). {hint}")
        if settings["train_outer"]:
            a = rec.get("a")
            if not isinstance(a, torch.Tensor) or tuple(a.shape) != (settings["width"],) or _sha256(a) != rec.get("a_sha256"):
                raise TeacherStoreError(f"teacher file {path}: the trained outer weights a are missing or fail their checksum. {hint}")
        return rec

    @staticmethod
    def _net(rec: dict[str, Any], path: Path, device: str | torch.device) -> TwoLayerNet:
        s = rec["settings"]
        W0, _ = symmetric_init(s["width"], s["data"]["d"], s["seed"])
        if _sha256(W0) != rec["W0_sha256"]:
            raise TeacherStoreError(
                f"teacher file {path}: the initialisation W(0) drawn from seed {s['seed']} is not the one it was "
                "trained from (kdlib.nets.symmetric_init changed?). Delete it to retrain the teacher."
            )
        net = TwoLayerNet(s["width"], s["data"]["d"], seed=s["seed"], train_outer=s["train_outer"], device=device)
        with torch.no_grad():
            net.W.copy_(rec["W"].to(device=device, dtype=net.W.dtype))
            if s["train_outer"]:
                net.a.copy_(rec["a"].to(device=device, dtype=net.a.dtype))
        return net

    def save(self, settings: dict[str, Any], net: TwoLayerNet, *, wall_time_s: float, device: str | torch.device) -> Path:
        """Write the trained ``net`` for ``settings`` atomically; return its path."""
        if tuple(net.W.shape) != (settings["width"], settings["data"]["d"]):
            raise ValueError(f"net has weights {tuple(net.W.shape)}, the settings say {(settings['width'], settings['data']['d'])}")
        W = net.W.detach().to("cpu", torch.float32).contiguous().clone()
        rec: dict[str, Any] = {
            "format": FORMAT,
            "key": teacher_key(settings),
            "settings": settings,
            "W": W,
            "W_sha256": _sha256(W),
            "W0_sha256": _sha256(net.W0.to(torch.float32)),
            "provenance": {
                "kdlib_version": str(kdlib.__version__),
                "git_commit": git_commit(),
                "torch_version": str(torch.__version__),
                "python": platform.python_version(),
                "device": device_name(device),
                "wall_time_s": round(float(wall_time_s), 3),
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
        }
        if settings["train_outer"]:
            a = net.a.detach().to("cpu", torch.float32).contiguous().clone()
            rec["a"], rec["a_sha256"] = a, _sha256(a)
        p = self.path(settings)
        atomic_write(p, lambda fh: torch.save(rec, fh), binary=True)
        return p

    def provenance(self, settings: dict[str, Any]) -> dict[str, Any] | None:
        """The stored teacher's provenance (and its file), or None."""
        p = self.find(settings)
        if p is None:
            return None
        return {**self.read(p)["provenance"], "file": str(p)}


def load_or_train_teacher(
    data: BinaryData,
    *,
    task: str,
    width: int = 512,
    pgd: PGDConfig,
    seed: int = 0,
    train_outer: bool = False,
    store: TeacherStore | None = None,
    retrain: bool = False,
    progress: bool = False,
) -> TwoLayerNet:
    """The teacher for these settings: read from the store, else trained on ``data`` and stored.

    ``task`` names the data (e.g. ``"binary_mnist:full:train"``); the data's fingerprint is
    part of the key too, so other data never reuses a teacher. ``retrain=True`` trains
    afresh and overwrites the stored file.
    """
    store = store or TeacherStore()
    settings = teacher_settings(data, task=task, width=width, pgd=pgd, seed=seed, train_outer=train_outer)
    device = data.x.device
    if not retrain:
        net = store.load(settings, device)
        if net is not None:
            return net
    t0 = time.perf_counter()
    net = train_teacher(data, width=width, pgd=pgd, seed=seed, train_outer=train_outer, progress=progress)
    store.save(settings, net, wall_time_s=time.perf_counter() - t0, device=device)
    return net
