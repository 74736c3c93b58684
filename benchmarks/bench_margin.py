"""Benchmark: gamma with its certified interval for 2,000 MNIST points of both tasks, on 2 threads.

Run: ``KDLIB_DATA=... python benchmarks/bench_margin.py [--n 2000] [--threads 2] [--tasks full reduced]``.
Solver settings: the defaults of :class:`kdlib.experiments.margin.Config` (what Chapter 3 runs),
unless given. Targets per task: wall time under 300 s, certified interval width under 10 % of gamma.
Prints, per task and in one process: the interval, width / gamma, the wall time (and the split
between solver and certificate), the process CPU time, and the machine's load average
(``os.getloadavg()``) before and after, since the machine may be shared: a wall time measured
under a load above the thread count is slower than the code.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

import kdlib.margin as margin
from kdlib.experiments.margin import Config


def _timed(fn, store: dict, key: str):
    def wrapper(*a, **k):
        t = time.perf_counter()
        out = fn(*a, **k)
        store[key] = store.get(key, 0.0) + time.perf_counter() - t
        return out
    return wrapper


def run_task(task: str, n: int, n_z: int, n_eval: int, steps: int) -> dict:
    cfg = Config(task=task, n=n, n_z=n_z, n_eval=n_eval, steps=steps)
    d = cfg.data()
    parts: dict[str, float] = {}
    solver, cert = margin._pairwise_fw_mirror, margin.witness_margins
    margin._pairwise_fw_mirror = _timed(solver, parts, "solver")
    margin.witness_margins = _timed(cert, parts, "certificate")
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        e = margin.estimate_gamma(d.x, d.y, n_z=cfg.n_z, n_eval=cfg.n_eval, steps=cfg.steps, seed=cfg.seed)
    finally:
        margin._pairwise_fw_mirror, margin.witness_margins = solver, cert
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    lo, hi = e.certified_interval()
    return {"task": task, "e": e, "lo": lo, "hi": hi, "wall": wall, "cpu": cpu, "parts": parts,
            "load0": load0, "load1": os.getloadavg(), "width": (hi - lo) / e.gamma}


def main() -> None:
    base = Config()
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tasks", nargs="+", default=["full", "reduced"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-z", type=int, default=base.n_z)
    ap.add_argument("--n-eval", type=int, default=base.n_eval)
    ap.add_argument("--steps", type=int, default=base.steps)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"n = {args.n}, K = {args.n_z} solver draw pairs (z, -z), {args.n_eval} fresh pairs, "
          f"at most {args.steps} Frank-Wolfe steps, {args.threads} threads, {os.cpu_count()} CPUs")
    out = []
    for task in args.tasks:
        r = run_task(task, args.n, args.n_z, args.n_eval, args.steps)
        e = r["e"]
        out.append(r)
        print(f"\n{task} task: gamma in [{r['lo']:.5f}, {r['hi']:.5f}]  (witness margin {e.lower:.5f} ± {e.lower_se:.5f}, "
              f"E||g_p|| {e.upper:.5f} ± {e.upper_se:.6f}, kernel-SVM bound {e.svm_upper:.5f}; "
              f"{e.steps} steps, sample gap {e.train_gap:.2e})")
        print(f"  wall {r['wall']:.1f} s (solver {r['parts'].get('solver', 0):.1f} s, certificate "
              f"{r['parts'].get('certificate', 0):.1f} s), CPU {r['cpu']:.1f} s; load average "
              f"{r['load0'][0]:.2f} before, {r['load1'][0]:.2f} after (1-min)")
    print("\nsummary (targets: width / gamma < 0.10, time / 300 s < 1):")
    for r in out:
        print(f"  {r['task']:8s} ratio width / gamma {r['width']:.3f}   ratio time / 300 s {r['wall'] / 300:.2f}   "
              f"(wall {r['wall']:.0f} s, CPU {r['cpu']:.0f} s, load {r['load0'][0]:.1f} -> {r['load1'][0]:.1f})")


if __name__ == "__main__":
    main()
