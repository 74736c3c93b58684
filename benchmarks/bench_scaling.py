"""Benchmark: Chapter 6's student bank against training the same students one at a time.

Run: ``python benchmarks/bench_scaling.py [--steps 100] [--threads 2] [--d 2] [--max-width 1024]``.
Trains every (width, seed) student of a grid on planted-margin data (the chapter's: d = 2,
J = 2, n = 500; ``--d 500`` gives inputs as wide as the chapter's MNIST pairs in their
reduced coordinates) for a fixed number of full-batch steps (no early stopping: the
target is never reached), once as one bank (:func:`kdlib.experiments.scaling.train_bank`)
and once student by student through the same function, and prints students trained per
second for both and their ratio, and the time of one step of the whole bank, measured in
this process.
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch

from kdlib.experiments.scaling import train_bank
from kdlib.planted import planted_dataset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--J", type=int, default=2)
    ap.add_argument("--max-width", type=int, default=1024)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = planted_dataset(args.d, args.n, 0.004, J=args.J, seed=0, aligned=False)
    x, y = data.x.float(), data.y.float()
    widths = [2**k for k in range(1, int(math.log2(args.max_width)) + 1)]
    seeds = list(range(args.seeds))
    k = len(widths) * len(seeds)
    kw = dict(soft_targets=None, lr=8.0, B=math.inf, max_steps=args.steps)
    train_bank(x, y, widths[:2], seeds[:1], [1e-9], **{**kw, "max_steps": 2})  # warm-up
    t0 = time.perf_counter()
    train_bank(x, y, widths, seeds, [1e-9], **kw)
    t_bank = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in seeds:
        for w in widths:
            train_bank(x, y, [w], [s], [1e-9], **kw)
    t_alone = time.perf_counter() - t0
    print(f"{k} students (widths {widths[0]}..{widths[-1]} x {len(seeds)} seeds), n = {args.n}, d = {args.d}, "
          f"{args.steps} full-batch steps, {args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    print(f"bank:        {t_bank:7.2f} s   {k / t_bank:8.2f} students/s")
    print(f"one by one:  {t_alone:7.2f} s   {k / t_alone:8.2f} students/s")
    print(f"speed-up of the bank: {t_alone / t_bank:.2f}x")
    print(f"one step of the whole bank ({sum(widths) * len(seeds)} rows): {1000 * t_bank / args.steps:.1f} ms")


if __name__ == "__main__":
    main()
