"""The command line: ``python -m kdlib COMMAND [ARGS ...]``.

``sweep``
    records of a Cartesian product of configurations of one experiment (:func:`kdlib.sweep.main`;
    ``python -m kdlib sweep table1 --set lr=16,64``).
``regenerate``
    recompute every stored record, or those of the experiments named
    (:func:`kdlib.regenerate.main`; ``make results``).
``grouped``
    Chapter 7's profiles with every net of a noise level trained as one grouped network, on
    a GPU (:func:`kdlib.grouped.main`).

One executor rule for all of them (:mod:`kdlib.registry`): ``--executor`` (``serial``,
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

#: ``command -> (module with main(argv) -> int, one line of help)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "sweep": ("kdlib.sweep", "compute (or read) the records of a product of configurations of one experiment"),
    "regenerate": ("kdlib.regenerate", "recompute every stored record (or those of the experiments named)"),
    "grouped": ("kdlib.grouped", "Chapter 7's profile with the nets of a noise level trained as one grouped net"),
    # "verify": ("kdlib.verify", "..."),  # the place for the next command
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
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
