"""Chapter 2 (``book/02_kernel.ipynb``): the tables and figure of the limiting-kernel chapter.

Reads the records of :mod:`kdlib.experiments.kernel`: the finite-width NTK's distance to
its limit per width and seed, and the limit kernel as a classifier beside Chapter 1's teacher.
"""
from __future__ import annotations

import math

import torch


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
    from kdlib.plots import new_figure

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
    return fig


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
