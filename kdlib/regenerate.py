"""Recompute every record in the results store with the current code.

``python -m kdlib regenerate [--executor EXECUTOR] [--dry-run] [EXPERIMENT ...]`` (also
``python -m kdlib.regenerate``, or ``make results``) reads each record under ``results/``,
rebuilds its configuration, runs the experiment again (on a GPU when there is one) and overwrites the record atomically.
Records are evidence: this is how anyone checks that they come from the code.

Which experiments: those named, else every folder of the store that an experiment of
:data:`kdlib.registry.EXPERIMENTS` owns.
``results/teachers/`` holds trained teachers (:mod:`kdlib.teachers`), not records; it is
not recomputed here (a teacher is retrained when its file is deleted).

In which order: an experiment whose ``run`` reads the records of another
(:data:`kdlib.registry.READS`) comes after it, so that it reads the recomputed ones:
``margin`` before ``margin_teacher``, ``scaling_gamma`` before ``scaling``; otherwise
alphabetical.

Where: each experiment's records are one :func:`kdlib.sweep.run_sweep` with
``recompute=True``, on the executor of :mod:`kdlib.registry`'s one rule (``--executor``,
else ``$KDLIB_DASK_SCHEDULER``, else a local Dask cluster; ``serial`` is the in-process
loop). An experiment whose recomputation raises is reported and the others still run; the
exit status is then 1.
"""
from __future__ import annotations

import argparse
import sys

from kdlib import registry
from kdlib.registry import config_from_record  # noqa: F401  (its home is kdlib.registry; kept for old imports)
from kdlib.results import ResultStore


def main(argv: list[str]) -> int:
    from kdlib.sweep import SweepError, SweepSetupError, resolve_executor, run_sweep

    parser = argparse.ArgumentParser(prog="python -m kdlib.regenerate", description="Recompute every stored record.")
    registry.add_executor_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would be recomputed, compute nothing")
    parser.add_argument("names", nargs="*", metavar="EXPERIMENT")
    args = parser.parse_args(argv)
    try:
        resolve_executor(args.executor)
    except ValueError as exc:
        parser.error(str(exc))
    store = ResultStore()
    modules = registry.experiment_modules()
    if args.names:
        unknown = [n for n in args.names if n not in modules]
        if unknown:
            parser.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(sorted(modules))}")
        names = list(args.names)
    else:
        folders = sorted(p.name for p in store.root.iterdir() if p.is_dir()) if store.root.exists() else []
        names = []
        for name in folders:
            if name in registry.NOT_RECORDS:
                continue
            if name not in modules:
                print(f"skip {store.root / name}: no experiment has NAME = {name!r}", file=sys.stderr, flush=True)
                continue
            names.append(name)
    failed = 0
    for name in registry.regeneration_order(names):
        # a record whose numbers fail their digest is recomputed too: its configuration hashes to its name
        configs = [registry.config_from_record(modules[name], rec) for rec in store.records(name, check_digest=False)]
        if args.dry_run:
            print(f"{name}: {len(configs)} records", flush=True)
            continue
        try:
            records = run_sweep(modules[name], configs, executor=args.executor, store=store, recompute=True)
        except SweepError as exc:  # the other records of this experiment were rewritten
            print(exc, file=sys.stderr, flush=True)
            failed += 1
            continue
        except SweepSetupError as exc:  # nothing can run (results folder, device, scheduler): stop here
            print(f"{parser.prog}: error: {exc}", file=sys.stderr, flush=True)
            return 2
        for new in records:
            print(f"{name}/{new['key']}: recomputed in {new['provenance']['wall_time_s']:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
