"""Chapter 2's prose values: every number its text states, computed from the records.

Glued into the chapter's markdown with myst-nb (``{glue:text}`key:.2f```). Values are
plain ``int``/``float`` (rounded to 4 decimals) so that the glued ``text/plain`` is the
same on every machine. :func:`claims` states the chapter's qualitative sentences as
booleans, checked against the stored records by ``tests/test_prose_numbers.py``.

The convergence error is the relative Frobenius distance ``||K_m - K|| / ||K||`` of the
finite-width kernel (Chapter 2, eq-finite-ntk) at initialisation to the closed form
(eq-closed-form); an average of ``m/2`` independent terms, it falls like ``c / sqrt(m)``,
and ``c`` (the column "error x sqrt(m)") extrapolates it to widths not measured.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from kdlib.experiments.kernel import convergence_summary
from kdlib.paper import TABLE1_TEACHER_WIDTH
from kdlib.validate import MNIST_TRAIN_SIZES


def _r(x: float) -> float:
    return round(float(x), 4)


def prose_values(records: Sequence[dict[str, Any]], chapter1_teacher: dict[str, float | None]) -> dict[str, Any]:
    """Every value Chapter 2's prose quotes, by glue key.

    ``records``: the kernel records (one per task); ``chapter1_teacher``: task -> test
    accuracy (%) of Chapter 1's 512-unit teacher, or None when its record is not stored.
    """
    summaries = [convergence_summary(rec) for rec in records]
    scaled = [row["scaled"] for s in summaries for row in s]
    widths = sorted({row["width"] for s in summaries for row in s})
    c = statistics.fmean(scaled)
    smallest = [row["mean"] for s in summaries for row in s if row["width"] == widths[0]]
    out: dict[str, Any] = {
        "decades": _r(math.log10(widths[-1] / widths[0])),
        "scaled_min": _r(min(scaled)), "scaled_max": _r(max(scaled)), "scaled_mean": _r(c),
        "teacher_width": TABLE1_TEACHER_WIDTH,
        "err_teacher_pct": _r(100 * c / math.sqrt(TABLE1_TEACHER_WIDTH)),
        "smallest_width": widths[0],
        "err_smallest_pct": _r(100 * statistics.fmean(smallest)),
    }
    for rec in records:
        row = next(r for r in rec["rows"] if r["kind"] == "classifier")
        task = row["task"]
        out["n_train"] = int(row["n_train"])
        out[f"frac_{task}_pct"] = _r(100 * row["n_train"] / MNIST_TRAIN_SIZES[task])
        out[f"kernel_test_{task}"] = _r(100 * row["test_accuracy"])
        if chapter1_teacher.get(task) is not None:
            out[f"kernel_behind_{task}"] = _r(chapter1_teacher[task] - 100 * row["test_accuracy"])
    return out


def claims(v: dict[str, Any], chapter1_teacher: dict[str, float | None]) -> dict[str, bool]:
    """The qualitative statements of Chapter 2's prose, as booleans that must all hold."""
    return {
        "the column error x sqrt(m) is flat (within a factor 1.5)": v["scaled_max"] < 1.5 * v["scaled_min"],
        "at the smallest width measured the kernel is not close (over 30 %)": v["err_smallest_pct"] > 30,
        "the kernel ranks the tasks as the networks do: reduced is easier":
            v["kernel_test_reduced"] > v["kernel_test_full"]
            and chapter1_teacher["reduced"] > chapter1_teacher["full"],
        "the kernel is below the trained teachers on both tasks":
            v["kernel_behind_full"] > 0 and v["kernel_behind_reduced"] > 0,
    }
