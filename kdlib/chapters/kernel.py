"""Chapter 2 (``book/02_kernel.ipynb``): the tables and figure of the limiting-kernel chapter.

Reads the records of :mod:`kdlib.experiments.kernel`: the finite-width NTK's distance to
its limit per width and seed, and the limit kernel as a classifier beside Chapter 1's teacher.

The prose's values (:func:`prose_values`, glued into the chapter's markdown) and its
qualitative statements (:func:`claims`, checked against the stored records by
``tests/test_prose_numbers.py``). The convergence error is the relative Frobenius distance
``||K_m - K|| / ||K||`` of the finite-width kernel at initialisation to the closed form; an
average of ``m/2`` independent terms, it falls like ``c / sqrt(m)``, and ``c`` (the column
"error x sqrt(m)") extrapolates it to widths not measured.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

import torch

from kdlib.paper import TABLE1_TEACHER_WIDTH
from kdlib.validate import MNIST_TRAIN_SIZES


def convergence_summary(record: dict) -> list[dict]:
    """Per width: mean and standard deviation over seeds of the relative error, and mean * sqrt(m)."""
    rows = [r for r in record["rows"] if r["kind"] == "convergence"]
    out = []
    for m in sorted({r["width"] for r in rows}):
        e = torch.tensor([r["rel_error"] for r in rows if r["width"] == m], dtype=torch.float64)
        sd = float(e.std()) if e.numel() > 1 else math.nan
        out.append({"width": m, "mean": float(e.mean()), "sd": sd, "scaled": float(e.mean()) * math.sqrt(m)})
    return out


def plot_convergence(records: list[dict]):
    """Relative error of the finite-width NTK against the width (log-log), with a 1/sqrt(m) guide."""
    from kdlib.plots import legible, new_figure

    fig, ax = new_figure()
    for rec, color in zip(records, ("#7d3c98", "#2471a3")):
        s = convergence_summary(rec)
        m = [r["width"] for r in s]
        ax.errorbar(m, [r["mean"] for r in s], yerr=[r["sd"] for r in s], marker="o", ms=4, capsize=3,
                    color=color, label=f"{rec['config']['task']} task, {rec['config']['n_conv']} images")
    s = convergence_summary(records[0])
    c = s[0]["scaled"]
    ax.plot(m, [c / math.sqrt(w) for w in m], "k--", lw=1, label=r"$\propto 1/\sqrt{m}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m (hidden units)")
    ax.set_ylabel(r"$\|K_m - K\|_F / \|K\|_F$")
    ax.legend()
    return legible(fig)


def classifier_rows(records: list[dict], chapter1_teacher: dict[str, float | None], paper_teacher: dict[str, float]) -> list[dict]:
    """One row per task: kernel classifier accuracy beside the 512-unit teachers (percent)."""
    out = []
    for rec in records:
        c = next(r for r in rec["rows"] if r["kind"] == "classifier")
        out.append({
            "task": c["task"], "n_train": c["n_train"], "n_test": c["n_test"],
            "train": 100 * c["train_accuracy"], "test": 100 * c["test_accuracy"],
            "ch1": chapter1_teacher.get(c["task"]), "paper": paper_teacher.get(c["task"]),
        })
    return out


# --------------------------------------------------------------------------- the values the prose quotes

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
