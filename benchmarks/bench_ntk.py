"""Benchmark: the 12,000-point limiting-kernel Gram matrix in fp32 against the bare X @ X.T.

Run: ``KDLIB_DATA=... python benchmarks/bench_ntk.py [--n 12000] [--threads 2]``.
Prints the time ratio (target <= 1.5) and the maximum error against float64,
measured in this process (best of ``--repeats`` runs each). MNIST unit-norm inputs
when available, otherwise Gaussian inputs of the same shape.
"""
from __future__ import annotations

import argparse
import time

import torch

from kdlib.ntk import limit_kernel


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from kdlib.data import DataUnavailableError, binary_mnist

        x = binary_mnist("full", limit=args.n, subset_seed=0).x.contiguous()
        source = "MNIST (full task, unit norm)"
    except DataUnavailableError:
        x = torch.randn(args.n, 784)
        x = x / x.norm(dim=1, keepdim=True)
        source = "Gaussian (MNIST unavailable)"
    t_mm = best_time(lambda: x @ x.T, args.repeats)
    t_k = best_time(lambda: limit_kernel(x), args.repeats)
    K = limit_kernel(x)
    rows = slice(0, min(2000, args.n))  # float64 reference on a block of rows (memory)
    ref = limit_kernel(x[rows].double(), x.double())
    ref[torch.arange(ref.shape[0]), torch.arange(ref.shape[0])] = 0.5 * (x[rows].double() ** 2).sum(1)
    err = (K[rows].double() - ref).abs().max().item()
    diag_exact = bool(torch.equal(K.diagonal(), 0.5 * (x * x).sum(1)))
    print(f"inputs: {source}, n = {args.n}, d = {x.shape[1]}, threads = {args.threads}")
    print(f"X @ X.T          : {t_mm:.3f} s")
    print(f"limit_kernel fp32: {t_k:.3f} s")
    print(f"ratio            : {t_k / t_mm:.2f}  (target <= 1.5)")
    print(f"max |K32 - K64|  : {err:.2e} (rows 0..{rows.stop - 1} against all, max |K| = {K.abs().max().item():.3f})")
    print(f"diagonal exactly ||x||^2/2: {diag_exact}")


if __name__ == "__main__":
    main()
