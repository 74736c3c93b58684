"""Every experiment of the book and the records each one reads, declared once.

:data:`EXPERIMENTS` names each experiment (its ``NAME``, the folder of the results store) and
the module of :mod:`kdlib.experiments` that computes it; :data:`READS` says whose stored
records an experiment's ``run`` reads (through :func:`kdlib.results.load_or_run` in the default
store), so that :func:`regeneration_order` recomputes those first. ``python -m kdlib sweep``
and ``python -m kdlib regenerate`` (:mod:`kdlib.sweep`, :mod:`kdlib.regenerate`) find
experiments here and nowhere else; the tests check that this table and the modules of
:mod:`kdlib.experiments` agree.

The executor rule of every command line (:func:`add_executor_argument`): ``--executor``
(``serial``, ``local`` or a Dask scheduler address such as ``tcp://host:8786``) if given,
else the scheduler in ``$KDLIB_DASK_SCHEDULER`` if set, else ``local`` (a Dask
``LocalCluster`` on this machine); :func:`kdlib.sweep.resolve_executor` applies it.
"""
from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Any, Iterable

#: ``NAME -> module`` of every experiment (one experiment per module of :mod:`kdlib.experiments`).
EXPERIMENTS: dict[str, str] = {
    "table1": "kdlib.experiments.table1",                  # Chapter 1
    "kernel": "kdlib.experiments.kernel",                  # Chapter 2
    "margin": "kdlib.experiments.margin",                  # Chapter 3
    "margin_teacher": "kdlib.experiments.margin_teacher",  # Chapter 3
    "theory": "kdlib.experiments.theory",                  # Chapters 4 and 5
    "scaling_gamma": "kdlib.experiments.scaling_gamma",    # Chapter 6
    "scaling": "kdlib.experiments.scaling",                # Chapter 6
    "frontier": "kdlib.experiments.frontier",              # Chapter 6
    "deep": "kdlib.experiments.deep",                      # Chapter 7
    "deep_settings": "kdlib.experiments.deep_settings",    # Chapter 7
    "deep_speed": "kdlib.experiments.deep_speed",          # Chapter 7
    "deep_lead_settings": "kdlib.experiments.deep_lead_settings",  # Chapter 7
}

#: ``NAME -> NAMEs whose stored records its run reads``: ``margin_teacher`` reads the gamma
#: record of its ``gamma`` config, ``scaling`` the ``scaling_gamma`` record of its dataset.
READS: dict[str, tuple[str, ...]] = {
    "margin_teacher": ("margin",),
    "scaling": ("scaling_gamma",),
    "frontier": ("scaling_gamma", "scaling"),
}

#: Folders of the store that hold no records (``teachers``: :mod:`kdlib.teachers`).
NOT_RECORDS = frozenset({"teachers"})

#: What ``local`` means when ``--executor`` is not given (see the module's docstring).
DEFAULT_EXECUTOR = "local"


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def experiment_modules() -> dict[str, Any]:
    """``NAME -> module`` (or module-level object, ``"module:attr"``) for every experiment of
    :data:`EXPERIMENTS` (imported)."""
    return {name: _load(path) for name, path in EXPERIMENTS.items()}


def experiment(name: str) -> ModuleType:
    """The module of the experiment ``name``; ``KeyError`` naming the known ones."""
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}")
    return _load(EXPERIMENTS[name])


def config_from_record(module: ModuleType | Any, record: dict) -> Any:
    """The experiment's ``Config`` rebuilt from a stored record. A config with a ``precision``
    field (kdlib.train_cnn) regenerates in the precision its provenance names; a record older
    than that field ran float32 on a CPU, and ``auto`` (bf16) on a GPU."""
    cfg = dict(record["config"])
    fields = getattr(module.Config, "__dataclass_fields__", {})
    if "precision" in fields and "precision" not in cfg:
        prov = record.get("provenance", {})
        cfg["precision"] = prov.get("precision") or (
            "float32" if str(prov.get("device", "cpu")).startswith("cpu") else "auto")
    return module.Config(**cfg)


def regeneration_order(names: Iterable[str]) -> list[str]:
    """``names`` sorted so that each comes after the experiments it reads (:data:`READS`)
    that are among ``names``; ties alphabetical. Raises ValueError on a cycle."""
    todo = sorted(set(names))
    done: list[str] = []
    while todo:
        ready = [n for n in todo if not any(d in todo for d in READS.get(n, ()))]
        if not ready:
            raise ValueError(f"the experiments {todo} read each other's records in a cycle (kdlib.registry.READS)")
        done.append(ready[0])
        todo.remove(ready[0])
    return done


def add_executor_argument(parser: argparse.ArgumentParser) -> None:
    """``--executor``, the one executor option of every command line (see the module's docstring)."""
    parser.add_argument("--executor", default=DEFAULT_EXECUTOR, metavar="EXECUTOR",
                        help="serial, local or a Dask scheduler address such as tcp://host:8786 "
                             "(default: $KDLIB_DASK_SCHEDULER when set, else local)")
