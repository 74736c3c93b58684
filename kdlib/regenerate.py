"""Recompute every record in the results store with the current code.

``python -m kdlib.regenerate [--executor EXECUTOR] [--dry-run] [EXPERIMENT ...]`` (or
``make results``) reads each record under ``results/``, rebuilds its configuration, runs
the experiment again (on a GPU when there is one) and overwrites the record atomically.
Records are evidence: this is how anyone checks that they come from the code.

Which experiments: those named, else every folder of the store that an experiment of
:mod:`kdlib.experiments` owns (:func:`experiment_modules`: the modules, and the
experiment objects defined in them such as ``margin.TEACHER`` and ``scaling.GAMMA``).
``results/teachers/`` holds trained teachers (:mod:`kdlib.teachers`), not records; it is
not recomputed here (a teacher is retrained when its file is deleted).

In which order: an experiment whose ``run`` reads the records of another
(:data:`READS`) comes after it, so that it reads the recomputed ones:
``margin`` before ``margin_teacher``, ``scaling_gamma`` before ``scaling``; otherwise
alphabetical.

Where: each experiment's records are one :func:`kdlib.sweep.run_sweep` with
``recompute=True``; the executor is ``--executor``, else ``$KDLIB_EXECUTOR``, else
``local`` (a Dask LocalCluster, or the scheduler ``$KDLIB_DASK_SCHEDULER`` when set);
``serial`` is the in-process loop. An experiment whose recomputation raises is reported
and the others still run; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from types import ModuleType
from typing import Any, Iterable

import kdlib.experiments
from kdlib.results import ResultStore

#: ``NAME -> NAMEs whose stored records its run reads`` (through ``load_or_run`` in the
#: default store): ``margin_teacher`` reads the gamma record of its ``gamma`` config,
#: ``scaling`` the ``scaling_gamma`` record of its dataset.
READS: dict[str, tuple[str, ...]] = {
    "margin_teacher": ("margin",),
    "scaling": ("scaling_gamma",),
}
#: Folders of the store that hold no records.
NOT_RECORDS = frozenset({"teachers"})


def experiment_modules() -> dict[str, Any]:
    """``NAME -> experiment`` for every experiment in :mod:`kdlib.experiments` (modules, and
    objects with ``NAME``, ``Config`` and ``run`` defined in them)."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(kdlib.experiments.__path__):
        mod = importlib.import_module(f"kdlib.experiments.{info.name}")
        # the module itself, and any experiment object it defines beside it (e.g. margin.TEACHER)
        for candidate in (mod, *vars(mod).values()):
            if all(hasattr(candidate, a) for a in ("NAME", "Config", "run")) and isinstance(getattr(candidate, "NAME"), str):
                found.setdefault(candidate.NAME, candidate)
    return found


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
            raise ValueError(f"the experiments {todo} read each other's records in a cycle (kdlib.regenerate.READS)")
        done.append(ready[0])
        todo.remove(ready[0])
    return done


def main(argv: list[str]) -> int:
    from kdlib.sweep import SweepError, run_sweep

    parser = argparse.ArgumentParser(prog="python -m kdlib.regenerate", description="Recompute every stored record.")
    parser.add_argument("--executor", default=os.environ.get("KDLIB_EXECUTOR", "local"),
                        help="serial, local (default; $KDLIB_EXECUTOR overrides) or a Dask scheduler address")
    parser.add_argument("--dry-run", action="store_true", help="list what would be recomputed, compute nothing")
    parser.add_argument("names", nargs="*", metavar="EXPERIMENT")
    args = parser.parse_args(argv)
    store = ResultStore()
    modules = experiment_modules()
    if args.names:
        unknown = [n for n in args.names if n not in modules]
        if unknown:
            parser.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(sorted(modules))}")
        names = list(args.names)
    else:
        folders = sorted(p.name for p in store.root.iterdir() if p.is_dir()) if store.root.exists() else []
        names = []
        for name in folders:
            if name in NOT_RECORDS:
                continue
            if name not in modules:
                print(f"skip {store.root / name}: no experiment has NAME = {name!r}", file=sys.stderr, flush=True)
                continue
            names.append(name)
    failed = 0
    for name in regeneration_order(names):
        configs = [config_from_record(modules[name], rec) for rec in store.records(name)]
        if args.dry_run:
            print(f"{name}: {len(configs)} records", flush=True)
            continue
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
