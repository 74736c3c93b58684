"""Parameter checks shared by every experiment's ``Config`` (one home for them).

Each check raises ``ValueError`` with a message that names the parameter, says what it
must be and shows the value received; it returns the value so that a caller can write
``n = integer("n", n, minimum=2)``. The checks never convert a value unless the
function says so (:func:`number` returns a ``float``), so a config serialises, and its
record key hashes, exactly as before a check was added.
"""
from __future__ import annotations

import math
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


def seed_values(name: str, seeds: Any) -> tuple[int, ...]:
    """The seeds a ``seeds`` parameter stands for. In every chapter ``seeds`` is a count: ``k``
    means the seeds ``0, 1, ..., k-1`` (a count is what a papermill parameter carries simply, and
    it is what Chapters 1, 2 and 7's records hold). A ``Config`` whose records store the seed
    values themselves (Chapters 4-6) converts the count here, so that its record keys do not
    change; a sequence of seed values is kept as given (a stored record rebuilds its config so)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return tuple(range(integer(name, seeds, 1)))
    return tuple(seeds)
