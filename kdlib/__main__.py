"""The command line: ``python -m kdlib COMMAND [ARGS ...]``.

``sweep``
    records of a Cartesian product of configurations of one experiment (:func:`kdlib.sweep.main`;
    ``python -m kdlib sweep table1 --set lr=16,64``).
``regenerate``
    recompute every stored record, or those of the experiments named
    (:func:`kdlib.regenerate.main`; ``make results``).
``verify``
    check a results store: every record's name and digest, every trained teacher's checksums;
    one line per bad file, exit status 1 if any (:func:`kdlib.results.verify_main`).
``grouped``
    Chapter 7's profiles with every net of a noise level trained as one grouped network, on
    a GPU (:func:`grouped` here, which writes the records; :mod:`kdlib.grouped` trains).

One executor rule for ``sweep`` and ``regenerate`` (:mod:`kdlib.registry`; ``grouped`` trains
in this process, on its ``--device``): ``--executor`` (``serial``,
``local`` or a Dask scheduler address) if given, else ``$KDLIB_DASK_SCHEDULER`` if set, else
a local Dask cluster. Every experiment a command knows is in :data:`kdlib.registry.EXPERIMENTS`.
``python -m kdlib.sweep``, ``python -m kdlib.regenerate`` and ``python -m kdlib.grouped``
still work and do the same.

A new command is one entry of :data:`COMMANDS`: its name, the module whose
``main(argv) -> int`` runs it, and one line of help.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

#: ``command -> ("module" whose main(argv) -> int runs it, or "module:function"; one line of help)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "sweep": ("kdlib.sweep", "compute (or read) the records of a product of configurations of one experiment"),
    "regenerate": ("kdlib.regenerate", "recompute every stored record (or those of the experiments named)"),
    "grouped": ("kdlib.__main__:grouped", "Chapter 7's profile with the nets of a noise level trained as one grouped net"),
    "verify": ("kdlib.results:verify_main", "check every record's digest and every teacher's checksums in a results store"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return ("usage: python -m kdlib COMMAND [ARGS ...]  (python -m kdlib COMMAND --help for its arguments)\n\n"
            "commands:\n" + "\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[command][0].partition(":")
    run = getattr(importlib.import_module(module_name), function or "main")
    return int(run(rest) or 0)


def grouped(argv: Sequence[str] | None = None) -> int:
    """``python -m kdlib grouped``: train a profile's noise levels together (:func:`kdlib.grouped.run_configs`)
    and write their records under ``--out`` (the store is written here, not in :mod:`kdlib.grouped`)."""
    import argparse
    import time

    import torch

    from kdlib import grouped as g
    from kdlib.chapters import deep_networks
    from kdlib.data import resolve_device
    from kdlib.experiments import deep
    from kdlib.results import ResultStore

    ap = argparse.ArgumentParser(prog="python -m kdlib.grouped", description=g.__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="a results store folder; records go to OUT/deep/<key>.json")
    ap.add_argument("--profile", default="paper", help=f"one of {sorted(deep.PROFILES)} (default paper)")
    ap.add_argument("--noise", default=",".join(f"{v:g}" for v in deep.NOISE_VARIANCES),
                    help="noise variances, comma-separated")
    ap.add_argument("--runs", type=int, default=None, help="runs per noise level (default: the profile's)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu")
    ap.add_argument("--group", type=int, default=0, help="nets trained together (0: all teachers, then all students)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the grouped net")
    ap.add_argument("--precision", default="auto", choices=("auto", "float32", "bf16"),
                    help="auto: bf16 autocast and channels_last on a GPU or a CPU with native bf16, else float32")
    ap.add_argument("--dry-run", action="store_true",
                    help="the tiny 'smoke' profile at two noise levels on the CPU (checks the code path)")
    ap.add_argument("--no-variant", action="store_true",
                    help="without the chapter's extra soft student at T = 4 at noise 0.10 and 0.20")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.dry_run:
        a.profile, a.device = "smoke", "cpu" if a.device == "auto" else a.device
        if a.noise == ap.get_default("noise"):
            a.noise = "0,0.1"
    try:
        variances = [float(v) for v in a.noise.split(",") if v.strip()]
        extra_at = {} if a.no_variant else None  # None: the chapter's T = 4 variant at 0.10 and 0.20
        configs = deep.sweep(a.profile, variances, extra_at, device=a.device, progress=False, runs=a.runs,
                             precision=a.precision)
        dev = resolve_device(a.device)
    except ValueError as exc:
        ap.error(str(exc))
    store = ResultStore(a.out)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    t0 = time.perf_counter()
    print(f"{len(configs)} noise levels x {configs[0].runs} runs of profile {configs[0].profile!r} on {dev}, "
          f"records into {store.root / deep.NAME}", flush=True)
    outs = g.run_configs(configs, teacher=deep.TEACHER, student=deep.STUDENT, device=dev, group=a.group, compile=a.compile, progress=not a.no_progress)
    wall = time.perf_counter() - t0
    for c, out in zip(configs, outs):
        rec = store.save(deep.NAME, c, out, wall / len(configs))
        s = deep_networks.summarize([rec])[0]
        print(f"variance {c.noise_variance:4.2f}: teacher {s['teacher']:.1f}  hard {s['hard']:.1f}  "
              f"soft {s['soft']:.1f}  -> {store.path(deep.NAME, c)}", flush=True)
    print(f"wall time end to end: {wall:.1f} s ({wall / 60:.2f} min)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
