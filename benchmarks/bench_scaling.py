"""Benchmark: Chapter 6's student bank against training the same students one at a time.

Run: ``python benchmarks/bench_scaling.py [--steps N] [--threads 1] [--d 2 500] [--max-width 4096]``.
For each input dimension, trains every (width, seed) student of the chapter's grid (widths
2 to 4096, 5 seeds) on planted-margin data (J = 2, n = 500; d = 2 is the chapter's circle,
d = 500 as many coordinates as its MNIST pairs in their span) for a fixed number of
full-batch steps (no early stopping: the target is never reached), once as one bank
(:func:`kdlib.train.train_bank`) and once student by student through the same
function, and prints students trained per second for both, their ratio, the gain of the
bank's blocks of rows over a single block, for n < 2d the gain of its outputs form over its
weights form (see ``train_bank``), and the time of one step of the whole bank, all measured
in this process. One thread by default, as the sweep's workers run.

For ``d = 2`` it also times the circle trainer (:mod:`kdlib.train_circle`, prefix sums over the
angle-sorted points, float64) on the same students, hard labels and soft labels (projected onto
``B = 1``, the theory regime's soft bank), and prints student-steps per second of both paths
and their ratio (``--circle-steps`` steps for the circle path, which is much faster).
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch

from kdlib.planted import planted_dataset
from kdlib.train import train_bank
from kdlib.train_circle import CircleBank


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None, help="default: 50 for d <= 32, else 10")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--d", type=int, nargs="+", default=[2, 500])
    ap.add_argument("--J", type=int, default=2)
    ap.add_argument("--max-width", type=int, default=4096)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--circle-steps", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for d in args.d:
        bench(args, d, args.steps or (50 if d <= 32 else 10))


def bench(args: argparse.Namespace, d: int, steps: int) -> None:
    data = planted_dataset(d, args.n, 0.004, J=args.J, seed=0, aligned=False)
    x, y = data.x.float(), data.y.float()
    widths = [2**k for k in range(1, int(math.log2(args.max_width)) + 1)]
    seeds = list(range(args.seeds))
    k = len(widths) * len(seeds)
    kw = dict(soft_targets=None, lr=8.0, B=math.inf, max_steps=steps)
    train_bank(x, y, widths[:2], seeds[:1], [1e-9], **{**kw, "max_steps": 2})  # warm-up
    t0 = time.perf_counter()
    train_bank(x, y, widths, seeds, [1e-9], **kw)
    t_bank = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in seeds:
        for w in widths:
            train_bank(x, y, [w], [s], [1e-9], **kw)
    t_alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_bank(x, y, widths, seeds, [1e-9], chunk=10**9, **kw)  # one block: the whole M x n array per pass
    t_whole = time.perf_counter() - t0
    print(f"{k} students (widths {widths[0]}..{widths[-1]} x {len(seeds)} seeds), n = {args.n}, d = {d}, "
          f"{steps} full-batch steps, {args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    print(f"bank:        {t_bank:7.2f} s   {k / t_bank:8.2f} students/s")
    print(f"one by one:  {t_alone:7.2f} s   {k / t_alone:8.2f} students/s")
    print(f"speed-up of the bank: {t_alone / t_bank:.2f}x")
    print(f"speed-up of blocks of rows over one block of the whole bank: {t_whole / t_bank:.2f}x")
    if args.n < 2 * d:  # the bank keeps Z = W X^T and steps it through the Gram matrix: time the other form too
        t0 = time.perf_counter()
        train_bank(x, y, widths, seeds, [1e-9], form="weights", **kw)
        print(f"speed-up of the outputs form (Z through X X^T) over the weights form: "
              f"{(time.perf_counter() - t0) / t_bank:.2f}x")
    print(f"one step of the whole bank ({sum(widths) * len(seeds)} rows): {1000 * t_bank / steps:.1f} ms")
    if d == 2:
        bench_circle(args, x, y, torch.sigmoid(data.z).float(), widths, seeds, steps, t_bank)


def bench_circle(args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, widths: list[int],
                 seeds: list[int], bank_steps: int, t_bank: float) -> None:
    """Student-steps per second of the circle trainer against the dense bank (timed just before)."""
    k = len(widths) * len(seeds)
    dense = k * bank_steps / t_bank
    for label, kw in (("hard, B = inf, lr 8", dict(soft_targets=None, lr=8.0, B=math.inf)),
                      ("soft, B = 1, lr 1/30", dict(soft_targets=p, lr=0.1 / 3, B=1.0))):
        cb = CircleBank(x, y, widths, seeds, [1e-9], early_stop=False, **kw)
        t0 = time.perf_counter()
        cb.advance(args.circle_steps)
        t = time.perf_counter() - t0
        rate = k * args.circle_steps / t
        print(f"circle path ({label}): {t:7.2f} s for {args.circle_steps} steps   {rate:10.0f} student-steps/s")
        print(f"dense bank (hard, lr 8):                          {dense:10.0f} student-steps/s")
        print(f"speed-up of the circle path over the dense bank ({label}): {rate / dense:.1f}x")


if __name__ == "__main__":
    main()
