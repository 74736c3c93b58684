"""Recompute every record in the results store with the current code.

``python -m kdlib.regenerate [EXPERIMENT ...]`` (or ``make results``) reads each
record under ``results/``, rebuilds its configuration, runs the experiment again
(on a GPU when there is one) and overwrites the record atomically. Records are
evidence: this is how anyone checks that they come from the code.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

import kdlib.experiments
from kdlib.results import ResultStore, load_or_run


def experiment_modules() -> dict[str, ModuleType]:
    """``NAME -> experiment`` for every experiment in :mod:`kdlib.experiments` (modules, and
    objects with ``NAME``, ``Config`` and ``run`` defined in them)."""
    found = {}
    for info in pkgutil.iter_modules(kdlib.experiments.__path__):
        mod = importlib.import_module(f"kdlib.experiments.{info.name}")
        # the module itself, and any experiment object it defines beside it (e.g. margin.TEACHER)
        for candidate in (mod, *vars(mod).values()):
            if all(hasattr(candidate, a) for a in ("NAME", "Config", "run")) and isinstance(getattr(candidate, "NAME"), str):
                found.setdefault(candidate.NAME, candidate)
    return found


def config_from_record(module: ModuleType, record: dict):
    """The experiment's ``Config`` rebuilt from a stored record."""
    return module.Config(**record["config"])


def main(argv: list[str]) -> int:
    store = ResultStore()
    modules = experiment_modules()
    names = argv or sorted(p.name for p in store.root.iterdir() if p.is_dir())
    failed = 0
    for name in names:
        if name not in modules:
            print(f"skip {name}: no experiment module has NAME = {name!r}")
            continue
        for rec in store.records(name):
            cfg = config_from_record(modules[name], rec)
            new = load_or_run(modules[name], cfg, store=store, recompute=True)
            print(f"{name}/{new['key']}: recomputed in {new['provenance']['wall_time_s']:.0f} s", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
