"""A tiny deterministic experiment for the sweep tests (not part of the book).

``run`` returns rows computed exactly from the config (integers and a float that is
the same on every machine), after recording the call: each call leaves a file
``call-<x>-<pid>-<n>`` in ``marker_dir`` (so a test counts calls across processes) and
writes ``start-<x>`` holding the worker's pid (so a test can kill that worker mid-task),
then sleeps ``sleep_s``. ``fail=True`` raises inside the worker.
"""
from __future__ import annotations

import functools
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from kdlib.results import RunOutput

NAME = "sweep_toy"
_CALLS = itertools.count()


@dataclass(frozen=True)
class Config:
    x: int = 0
    scale: float = 1.0
    sleep_s: float = 0.0
    fail: bool = False
    marker_dir: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.x, bool) or not isinstance(self.x, int) or self.x < 0:
            raise ValueError(f"x must be a non-negative integer, got {self.x!r}")
        if not isinstance(self.scale, (int, float)) or isinstance(self.scale, bool):
            raise ValueError(f"scale must be a number, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))


def run(config: Config) -> RunOutput:
    if config.marker_dir:
        d = Path(config.marker_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"call-{config.x}-{os.getpid()}-{next(_CALLS)}").touch()
        tmp = d / f".start-{config.x}.{os.getpid()}"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, d / f"start-{config.x}")
    time.sleep(config.sleep_s)
    if config.fail:
        raise RuntimeError(f"toy failure at x={config.x}")
    rows = [{"x": config.x, "i": i, "square": config.x * config.x + i, "scaled": config.scale * config.x / 8} for i in range(3)]
    return RunOutput(rows=rows, seeds=[config.x], device="cpu", extra={"toy": True})


def cost_hint(config: Config) -> float:
    """The toy's relative cost, for :data:`HINTED`: larger ``x``, longer task."""
    return float(config.x)


#: the toy with a cost hint, so that a sweep submits the largest ``x`` first
HINTED = SimpleNamespace(NAME=NAME, Config=Config, run=run, cost_hint=cost_hint)
#: The toy as an object whose run names no module of its own (a partial): found by its ``__module__``.
AS_OBJECT = SimpleNamespace(NAME=NAME, Config=Config, run=functools.partial(run), __module__=__name__)
