"""Benchmark: gamma with its certified interval for 2,000 MNIST points on 2 threads.

Run: ``KDLIB_DATA=... python benchmarks/bench_margin.py [--n 2000] [--threads 2] [--task full]``.
Targets: wall time under 300 s, certified interval width under 10 % of gamma.
Prints the measured time, the interval and both ratios (time / 300 s, width / gamma),
plus the split of the time between the solver and the certificate.
"""
from __future__ import annotations

import argparse
import time

import torch

from kdlib.data import binary_mnist
from kdlib.margin import estimate_gamma, witness_margins


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--task", default="full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-z", type=int, default=16384)
    ap.add_argument("--n-eval", type=int, default=524288)
    ap.add_argument("--steps", type=int, default=1600)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = binary_mnist(args.task, limit=args.n, subset_seed=0)
    t0 = time.perf_counter()
    e = estimate_gamma(d.x, d.y, n_z=args.n_z, n_eval=args.n_eval, steps=args.steps, seed=0)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    witness_margins(e.p.float(), e.x, e.y, n_z=args.n_eval, seed=99, c=e.c)
    cert = time.perf_counter() - t1
    lo, hi = e.interval(3.0)
    print(f"{args.task} task, n = {args.n}, K = {args.n_z} solver draws, {args.n_eval} fresh draws, "
          f"{e.steps} Frank-Wolfe steps, {args.threads} threads")
    print(f"gamma in [{lo:.5f}, {hi:.5f}]  (witness margin {e.lower:.5f} ± {e.lower_se:.5f}, "
          f"E||g_p|| {e.upper:.5f} ± {e.upper_se:.6f}, kernel-SVM bound {e.svm_upper:.5f})")
    print(f"time: {total:.1f} s in all, of which about {cert:.1f} s certificate")
    print(f"ratio time / 300 s   : {total / 300:.2f}  (target < 1)")
    print(f"ratio width / gamma  : {(hi - lo) / e.gamma:.3f}  (target < 0.10)")


if __name__ == "__main__":
    main()
