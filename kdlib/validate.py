"""Parameter checks shared by every experiment's ``Config`` (one home for them).

Each check raises ``ValueError`` with a message that names the parameter, says what it
must be and shows the value received; it returns the value so that a caller can write
``n = integer("n", n, minimum=2)``. The checks never convert a value unless the
function says so (:func:`number` returns a ``float``), so a config serialises, and its
record key hashes, exactly as before a check was added.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Collection, Sequence

#: Images per binary MNIST task in the training split (all of the task's digits):
#: ``full`` uses all ten digits, ``reduced`` drops 1, 4, 7 and 9.
MNIST_TRAIN_SIZES = {"full": 60_000, "reduced": 35_202}
#: The paper's two MNIST tasks (:func:`kdlib.data.paper_task`), one name for the split everywhere.
TASKS = tuple(MNIST_TRAIN_SIZES)


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) in ``[minimum, maximum]``."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        rng = f" {' and '.join(bounds)}" if bounds else ""
        raise ValueError(f"{name} must be an integer{rng}, got {value!r}")
    return value


def optional_integer(name: str, value: Any, minimum: int | None = None, none_means: str = "") -> int | None:
    """``None`` or :func:`integer`; ``none_means`` explains ``None`` in the message."""
    if value is None:
        return None
    try:
        return integer(name, value, minimum)
    except ValueError:
        extra = f" ({none_means})" if none_means else ""
        raise ValueError(f"{name} must be None{extra} or an integer >= {minimum}, got {value!r}") from None


def number(
    name: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    finite: bool = True,
    what: str = "",
) -> float:
    """``float(value)`` if ``value`` is a real number (not a ``bool`` or a string) within the bounds.

    ``gt``/``ge``/``lt``/``le``: strict and non-strict bounds; ``finite=False`` admits ``inf``
    (NaN is always rejected). ``what`` is added to the message (e.g. "the learning rate").
    """
    label = f"{name} ({what})" if what else name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label} must be a number, got {value!r}")
    v = float(value)
    conds = []
    if gt is not None:
        conds.append((v > gt, f"> {gt:g}"))
    if ge is not None:
        conds.append((v >= ge, f">= {ge:g}"))
    if lt is not None:
        conds.append((v < lt, f"< {lt:g}"))
    if le is not None:
        conds.append((v <= le, f"<= {le:g}"))
    bad = math.isnan(v) or (finite and not math.isfinite(v)) or not all(c for c, _ in conds)
    if bad:
        rng = " and ".join(t for _, t in conds)
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{label} must be {kind}{' ' + rng if rng else ''}, got {value!r}")
    return v


def in_interval(name: str, value: Any, low: float, high: float, *, closed_high: bool = False) -> float:
    """``value`` in the open interval ``(low, high)`` (``(low, high]`` with ``closed_high``)."""
    try:
        if closed_high:
            return number(name, value, gt=low, le=high)
        return number(name, value, gt=low, lt=high)
    except ValueError:
        right = "]" if closed_high else ")"
        raise ValueError(f"{name} must lie in ({low:g}, {high:g}{right}, got {value!r}") from None


def choice(name: str, value: Any, options: Collection[Any]) -> Any:
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def nonempty(name: str, value: Sequence[Any]) -> Sequence[Any]:
    """``value`` if it has at least one element."""
    if len(value) == 0:
        raise ValueError(f"{name} must not be empty")
    return value


def at_most_available(name: str, n: int, available: int, what: str) -> int:
    """``n`` if at most ``available`` points exist (``what`` names them: "the full task's training images")."""
    if n > available:
        raise ValueError(f"{name} = {n:,} is more than {what} ({available:,}); choose {name} <= {available:,}")
    return n


def _tuples(value: Any) -> Any:
    """Lists (nested too) as tuples, so that a config holding them is hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def parameter_list(name: str, value: Any) -> tuple[Any, ...]:
    """A chapter parameter that is a list, as a tuple (nested lists as tuples too).

    Accepts a list or tuple; a string holding a JSON or YAML list, which is what papermill's
    ``-p widths "[16, 64]"`` passes (``-y "widths: [16, 64]"`` passes the list itself); and a
    single value (``-p widths 64``, ``-p tasks full``), which is a list of one. Anything else
    (a string that is neither JSON nor YAML, a mapping, ``None``) raises ``ValueError`` naming
    the parameter. The items are checked by the caller (the experiment's ``Config``).
    """
    original = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"{name} must be a list, e.g. -p {name} \"[16, 64]\", got an empty string")
        try:
            value = json.loads(text)
        except ValueError:
            import yaml

            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ValueError(
                    f"{name} must be a list, e.g. -p {name} \"[16, 64]\" (JSON or YAML), got {original!r}"
                ) from None
    if isinstance(value, (list, tuple)):
        return _tuples(value)
    if value is None or isinstance(value, (dict, set, frozenset)):
        raise ValueError(f"{name} must be a list, e.g. -p {name} \"[16, 64]\", got {original!r}")
    return (value,)


#: The devices a config may name: ``auto`` (a GPU when there is one, else the CPU), ``cpu``,
#: ``cuda`` or ``cuda:N``.
DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def device(name: str, value: Any, *, here: bool = True) -> str:
    """``value`` if it names a device of :data:`DEVICES`; with ``here``, ``cuda`` (``cuda:N``) must
    also be present on this machine (``auto`` never fails: it falls back to the CPU)."""
    import torch

    if isinstance(value, torch.device):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value.strip()):
        raise ValueError(f"{name} must be one of {', '.join(DEVICES)}, got {value!r}")
    value = value.strip()
    if here and value.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"{name} = {value!r} asks for a GPU, but CUDA is not available on this machine; "
                             f"use 'auto' (a GPU when there is one, else the CPU) or 'cpu'")
        index = int(value.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"{name} = {value!r}: this machine has {torch.cuda.device_count()} GPU(s) (cuda:0 ...)")
    return value


def writable_folder(path: str | Path, what: str) -> Path:
    """``path`` if it is a folder this process can write in, or one it can create (it is not
    created here: the nearest existing parent must be a writable folder). Writing is probed
    with a temporary file, removed at once, so a read-only file system is found too. ``what``
    names the folder and where it came from in the message (e.g. "the results folder
    $KDLIB_RESULTS")."""
    path = Path(path).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"cannot be created: {probe} is a file"
        raise ValueError(f"{what} {str(path)!r} {where}; it must be a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kdlib-write-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        verb = "is not writable" if probe == path else f"cannot be created (its parent {probe} is not writable)"
        raise ValueError(f"{what} {str(path)!r} {verb}: {exc.strerror or exc}") from None
    return path
def seed_values(name: str, seeds: Any) -> tuple[int, ...]:
    """The seeds a ``seeds`` parameter stands for. In every chapter ``seeds`` is a count: ``k``
    means the seeds ``0, 1, ..., k-1`` (a count is what a papermill parameter carries simply, and
    it is what Chapters 1, 2 and 7's records hold). A ``Config`` whose records store the seed
    values themselves (Chapters 4-6) converts the count here, so that its record keys do not
    change; a sequence of seed values is kept as given (a stored record rebuilds its config so)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return tuple(range(integer(name, seeds, 1)))
    return parameter_list(name, seeds)  # papermill's -p seeds "[0, 3]" passes a string
