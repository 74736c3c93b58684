"""How fast is Chapter 1's Table 1 on this machine?

Prints, measured in this one process:
- the wall time of the whole Table 1 (both datasets: teacher + 3 widths x 2 modes x
  10 seeds), with the chapter's default settings, computed afresh (nothing read from
  the results store);
- the fraction of this machine's fp32 matmul throughput (a large square product,
  timed here) that the wide layers reach while training;
- the ratio of training the 60 students as one bank against one at a time (a few
  epochs on the full task).

Run: ``KDLIB_DATA=... python benchmarks/bench_table1.py``. Nothing is asserted.
"""
from __future__ import annotations

import time

import torch

from kdlib.data import binary_mnist
from kdlib.experiments import table1
from kdlib.nets import StudentBank
from kdlib.train import PGDConfig, make_bank, train_students


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def training_flops(n: int, d: int, hidden: int, epochs: int) -> float:
    """Forward x @ W^T plus the weight gradient: about 4 n d M flops per epoch."""
    return 4.0 * n * d * hidden * epochs


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_gflops()
    print(f"fp32 matmul peak (2048^3, this process): {peak:.1f} GFLOP/s")

    total = 0.0
    for dataset in table1.DATASETS:
        cfg = table1.Config(dataset=dataset, device="cpu")
        t = time.perf_counter()
        out = table1.run(cfg, progress=False)
        dt = time.perf_counter() - t
        total += dt
        print(f"Table 1, {dataset:8s}: {dt:6.1f} s ({len(out.rows)} models)")
    print(f"Table 1, both datasets: {total:.1f} s wall ({total / 60:.1f} min)")

    data = binary_mnist("full", True)
    n, d = data.x.shape
    seeds, widths, modes = list(range(10)), (4, 6, 8), ("hard", "soft")
    p = torch.sigmoid(3 * data.y)  # any soft targets will do for timing
    epochs = 2
    pgd = PGDConfig(lr=64.0, epochs=epochs, batch_size=128)
    bank = make_bank(widths, seeds, modes, d)
    t = time.perf_counter()
    train_students(bank, data.x, data.y, modes=[s.tag for s in bank.specs], pgd=pgd, soft_targets=p)
    t_bank = time.perf_counter() - t
    hidden = sum(s.width for s in bank.specs)
    rate = training_flops(n, d, hidden, epochs) / t_bank / 1e9
    print(f"bank of {len(bank.specs)} students ({hidden} units): {t_bank:.1f} s for {epochs} epochs, "
          f"{rate:.1f} GFLOP/s = {rate / peak:.0%} of the matmul peak")

    teacher = make_bank((512,), [0], ("hard",), d)
    t = time.perf_counter()
    train_students(teacher, data.x, data.y, modes=["hard"], pgd=pgd)
    t_teacher = time.perf_counter() - t
    rate = training_flops(n, d, 512, epochs) / t_teacher / 1e9
    print(f"teacher (512 units): {t_teacher:.1f} s for {epochs} epochs, {rate:.1f} GFLOP/s = {rate / peak:.0%} of the peak")

    t = time.perf_counter()
    for spec in bank.specs:
        alone = StudentBank([spec], d)
        train_students(alone, data.x, data.y, modes=[spec.tag], pgd=pgd, soft_targets=p)
    t_loop = time.perf_counter() - t
    print(f"one student at a time: {t_loop:.1f} s; the bank is {t_loop / t_bank:.1f}x faster")


if __name__ == "__main__":
    main()
