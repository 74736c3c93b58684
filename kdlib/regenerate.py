"""Recompute every record in the results store with the current code.

``python -m kdlib.regenerate [--executor EXECUTOR] [EXPERIMENT ...]`` (or ``make results``)
reads each record under ``results/``, rebuilds its configuration, runs the experiment again
(on a GPU when there is one) and overwrites the record atomically. Records are
evidence: this is how anyone checks that they come from the code. Each experiment's
records are one :func:`kdlib.sweep.run_sweep` with ``recompute=True``; the executor is
``--executor``, else ``$KDLIB_EXECUTOR``, else ``local`` (a Dask LocalCluster, or the
scheduler ``$KDLIB_DASK_SCHEDULER`` when set); ``serial`` is the in-process loop.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from types import ModuleType

import kdlib.experiments
from kdlib.results import ResultStore


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
    from kdlib.sweep import SweepError, run_sweep

    parser = argparse.ArgumentParser(prog="python -m kdlib.regenerate", description="Recompute every stored record.")
    parser.add_argument("--executor", default=os.environ.get("KDLIB_EXECUTOR", "local"),
                        help="serial, local (default; $KDLIB_EXECUTOR overrides) or a Dask scheduler address")
    parser.add_argument("names", nargs="*", metavar="EXPERIMENT")
    args = parser.parse_args(argv)
    store = ResultStore()
    modules = experiment_modules()
    names = args.names or sorted(p.name for p in store.root.iterdir() if p.is_dir())
    failed = 0
    for name in names:
        if name not in modules:
            print(f"skip {name}: no experiment module has NAME = {name!r}")
            continue
        configs = [config_from_record(modules[name], rec) for rec in store.records(name)]
        try:
            records = run_sweep(modules[name], configs, executor=args.executor, store=store, recompute=True)
        except SweepError as exc:  # the other records of this experiment were rewritten
            print(exc, file=sys.stderr, flush=True)
            failed += 1
            continue
        for new in records:
            print(f"{name}/{new['key']}: recomputed in {new['provenance']['wall_time_s']:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
