"""Chapter 7's settings measurements for the ``cpu2`` profile (issue 25): the teacher and the *hard*
student only, at the widths of :data:`GRID` and the noise levels of :data:`NOISE`, in the precision
the profile runs in.

An experiment of its own (``NAME = "deep_lead_settings"``, records in ``results/deep_lead_settings/``)
with the configuration and the run of :mod:`kdlib.experiments.deep_settings`: runs 0 to
:data:`MEASURED_RUNS` - 1 with the profile's seeds and data, every epoch's validation and test
accuracy and CPU time. The rule that reads them, and the profile it picks, are
:mod:`kdlib.experiments.deep_lead`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from kdlib.experiments.deep_settings import Config, run
from kdlib.results import NON_KEY_FIELDS

__all__ = ["NAME", "Config", "run", "GRID", "NOISE", "MEASURED_RUNS", "configs", "commands", "literal",
           "HORIZON", "is_candidate", "config_command"]

NAME = "deep_lead_settings"
#: Settings measured (flips and shifts throughout: without them no teacher led at 0.01), at both noise levels.
GRID: tuple[dict[str, Any], ...] = (
    dict(width_mult=0.125, epochs=40),
    dict(width_mult=0.25, epochs=40),
    dict(width_mult=0.5, epochs=30),
)
#: The noise level the rule looks at, and the one that shows whether a lead survives heavy noise.
NOISE = (0.01, 0.2)
MEASURED_RUNS = 3
#: A longer measurement, not a candidate of either rule: width 1/4 at noise 0.01 on runs 0-4 for 80
#: epochs, twice the grid's horizon, to see whether a longer-trained teacher pulls ahead.
HORIZON: dict[str, Any] = dict(width_mult=0.25, epochs=80, noise_variance=0.01, runs=5)


def configs(runs: int = MEASURED_RUNS, **kw: Any) -> list[Config]:
    """The measurements: every setting of :data:`GRID` at every noise level of :data:`NOISE`."""
    return [Config(noise_variance=v, runs=runs, augment=True, **g, **kw) for g in GRID for v in NOISE]


def is_candidate(record: dict[str, Any]) -> bool:
    """Whether a stored measurement is one of a setting of :data:`GRID` (its width and epochs), which the
    rules choose from; :data:`HORIZON` is not."""
    c = record["config"]
    return any(c["width_mult"] == g["width_mult"] and c["epochs"] == g["epochs"] for g in GRID)


def literal(v: Any) -> str:
    """``v`` as the Python literal ``--set`` reads back to the same JSON (floats keep their point: 0.0, not 0)."""
    return repr(float(v)) if isinstance(v, float) else repr(v).replace(" ", "")


def commands() -> list[str]:
    """The ``python -m kdlib.sweep`` commands (one worker) that compute the measurements of :func:`configs`."""
    return [config_command(c) for c in configs()]


def config_command(c: Config) -> str:
    """The ``python -m kdlib.sweep`` command (one worker) that computes the settings measurement ``c``: its
    noise, width, epochs and runs, and every other key field that differs from the default, as ``--set``."""
    default = Config()
    always = ("noise_variance", "width_mult", "epochs", "runs")
    sets = " ".join(f"--set {f.name}={literal(getattr(c, f.name))}" for f in dataclasses.fields(c)
                    if f.name not in NON_KEY_FIELDS
                    and (f.name in always or getattr(c, f.name) != getattr(default, f.name)))
    return f"python -m kdlib.sweep {NAME} --executor local --workers 1 {sets}"
