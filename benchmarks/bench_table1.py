"""How fast is Chapter 1's Table 1 on this machine?

Prints, measured in this one process:
- the wall time of the whole Table 1 (both datasets, 'reduced' and 'full': a 512-unit
  teacher plus 3 widths x 2 modes x 10 seeds of students each), default
  ``table1.Config``, with the teacher really trained: the results and teacher stores
  point at a scratch folder (``KDLIB_RESULTS``), so nothing in the repository is read
  or written;
- this process's fp32 matmul rate (a 2048^3 product, measured several times; the best
  is the reference, since a shared machine lends the core unevenly) and the fraction of it that the
  wide layers reach while training the teacher and the student bank (the two products
  per step, ``X W^T`` and the weight gradient, counted at the full input dimension
  d = 784 as ``4 n d M`` flops per epoch);
- the fast engine against the autograd reference (``train_students(engine=...)``), same
  steps, interleaved, best of a few repeats;
- the load average of the machine before and after (it may be shared).

Run: ``KDLIB_DATA=... python benchmarks/bench_table1.py [--threads N]``. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def load() -> str:
    return "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--skip-table", action="store_true", help="only the engine comparison")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scratch = tempfile.mkdtemp(prefix="kdlib-bench-")
    os.environ["KDLIB_RESULTS"] = scratch  # before kdlib reads it: nothing in results/ is touched

    from kdlib.data import binary_mnist
    from kdlib.experiments import table1
    from kdlib.validate import TASKS
    from kdlib import teachers as teachers_mod
    from kdlib.teachers import TeacherStore
    from kdlib import train as train_mod

    # the repository's committed teachers are the store's read-only fallback: point it at the
    # scratch store too, so that every teacher is really trained here
    scratch_teachers = TeacherStore().root
    teachers_mod.repository_root = lambda: scratch_teachers

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {load()}")
    print(f"scratch results and teacher store: {scratch}")
    peaks = [matmul_gflops()]
    print(f"fp32 matmul rate (2048^3, this process): {peaks[0]:.1f} GFLOP/s")
    rates: list[tuple[str, float]] = []  # (what, GFLOP/s); fractions are printed at the end against the best rate seen

    if not args.skip_table:
        # time the student bank inside table1.run
        timed: dict[str, float] = {}
        original = table1.train_students

        def timed_students(bank, x, *a, **k):
            t = time.perf_counter()
            log = original(bank, x, *a, **k)
            timed["students"] = time.perf_counter() - t
            timed["students_rate"] = 4.0 * x.shape[0] * x.shape[1] * bank.W.shape[0] * k["pgd"].epochs / timed["students"] / 1e9
            return log

        table1.train_students = timed_students
        total = 0.0
        try:
            for dataset in TASKS:
                cfg = table1.Config(dataset=dataset, device="cpu")
                table1._TEACHERS.clear()
                t = time.perf_counter()
                out = table1.run(cfg, progress=False)
                dt = time.perf_counter() - t
                total += dt
                train = binary_mnist(dataset, True, scaling=cfg.scaling)
                n, d = train.x.shape
                recs = [TeacherStore.read(f) for f in TeacherStore().root.glob("*.pt")]
                (rec,) = [r for r in recs if r["settings"]["task"] == f"binary_mnist:{dataset}:train"]
                teacher_s = rec["provenance"]["wall_time_s"]
                t_rate = 4.0 * n * d * cfg.teacher_width * cfg.teacher_epochs / teacher_s / 1e9
                rates += [(f"{dataset} teacher, in the table", t_rate), (f"{dataset} students, in the table", timed["students_rate"])]
                print(
                    f"Table 1, {dataset:8s}: {dt:6.1f} s ({len(out.rows)} models; n={n}); teacher {teacher_s:.1f} s "
                    f"({t_rate:.1f} GFLOP/s), {len(out.rows) - 1} students {timed['students']:.1f} s "
                    f"({timed['students_rate']:.1f} GFLOP/s); {load()}",
                    flush=True,
                )
                peaks.append(matmul_gflops())
        finally:
            table1.train_students = original
        print(f"Table 1, both datasets: {total:.1f} s wall ({total / 60:.1f} min), goal < 120 s")

    # fast engine against the autograd reference: the same 40 steps of batch 128, interleaved
    data = binary_mnist("full", True)
    x, y = data.x[:5120], data.y[:5120]
    p = torch.sigmoid(3 * y)
    pgd = train_mod.PGDConfig(lr=64.0, epochs=1, batch_size=128)
    for label, widths, seeds, modes in (("teacher (512 units)", (512,), [0], ("hard",)),
                                        ("bank of 60 students (360 units)", (4, 6, 8), list(range(10)), ("hard", "soft"))):
        best = {"fast": float("inf"), "autograd": float("inf")}
        for _ in range(3):
            for engine in best:
                bank = train_mod.make_bank(widths, seeds, modes, x.shape[1])
                t = time.perf_counter()
                train_mod.train_students(bank, x, y, modes=[s.tag for s in bank.specs], pgd=pgd, soft_targets=p, engine=engine)
                best[engine] = min(best[engine], time.perf_counter() - t)
        M = sum(widths) * len(seeds) * len(modes)
        for e, s in best.items():
            rates.append((f"{label}, {e} engine", 4.0 * x.shape[0] * x.shape[1] * M / s / 1e9))
        print(f"{label}, 40 steps: fast {best['fast'] * 1e3 / 40:.2f} ms/step, autograd {best['autograd'] * 1e3 / 40:.2f} ms/step; "
              f"fast is {best['autograd'] / best['fast']:.2f}x the autograd speed")
        peaks.append(matmul_gflops())
    peak = max(peaks)
    print(f"fp32 matmul rate, best of {len(peaks)} measurements in this process: {peak:.1f} GFLOP/s "
          f"(all: {', '.join(f'{p:.1f}' for p in peaks)})")
    for what, r in rates:
        print(f"  {what}: {r:.1f} GFLOP/s = {r / peak:.0%} of the matmul rate")
    print(load())


if __name__ == "__main__":
    main()
