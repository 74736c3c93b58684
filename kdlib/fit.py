"""Scaling exponents of the needed width: least squares in log-log with a bootstrap interval.

Model: ``m* = C gamma^{-k}``, i.e. ``log m* = log C + k log(1/gamma)``. For each dataset
``g`` we have its margin ``gamma_g`` and the widths ``m*_{g,s}`` found on seeds ``s``
(``None`` = censored: no width of the grid reached the target). The point estimate
fits ordinary least squares to ``(log(1/gamma_g), log median_s m*_{g,s})`` over the
datasets whose median is not censored (a censored seed counts as ``+inf`` in the
median). The interval is a percentile bootstrap: each replicate resamples the datasets
with replacement and, inside each, its seeds with replacement, then refits; replicates
with fewer than two distinct gammas are skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["SlopeFit", "median_width", "fit_slope", "mean_sd", "standard_error", "mean_se"]


@dataclass(frozen=True)
class SlopeFit:
    """``slope`` k with the bootstrap interval ``[lo, hi]`` (level ``level``), ``intercept`` log C,
    ``points`` the datasets used, ``boot`` the replicates kept."""

    slope: float
    intercept: float
    lo: float
    hi: float
    level: float
    points: int
    boot: int


def median_width(values: Sequence[float | int | None]) -> float:
    """Median of the widths with ``None`` (censored) as ``+inf`` (``inf`` if half or more are censored)."""
    if len(values) == 0:
        raise ValueError("no widths to take the median of")
    v = np.array([math.inf if x is None else float(x) for x in values])
    return float(np.median(v))


def _ols(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    xm, ym = xs.mean(), ys.mean()
    sxx = ((xs - xm) ** 2).sum()
    if sxx <= 0:
        return math.nan, math.nan
    k = float(((xs - xm) * (ys - ym)).sum() / sxx)
    return k, float(ym - k * xm)


def _fit(gammas: np.ndarray, meds: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(meds) & (meds > 0)
    if ok.sum() < 2 or len(set(gammas[ok].tolist())) < 2:
        return math.nan, math.nan, int(ok.sum())
    k, b = _ols(np.log(1.0 / gammas[ok]), np.log(meds[ok]))
    return k, b, int(ok.sum())


def fit_slope(gammas: Sequence[float], widths: Sequence[Sequence[float | int | None]], *, n_boot: int = 2000,
              level: float = 0.9, seed: int = 0) -> SlopeFit:
    """Fit ``log median m* = log C + k log(1/gamma)`` with a bootstrap interval over datasets and seeds.

    ``gammas[g]`` > 0 and ``widths[g]`` the per-seed ``m*`` of dataset ``g`` (``None`` censored).
    """
    g = np.asarray(gammas, dtype=float)
    if g.ndim != 1 or len(g) != len(widths):
        raise ValueError(f"{len(g)} gammas but {len(widths)} lists of widths")
    if not np.all(np.isfinite(g) & (g > 0)):
        raise ValueError("every gamma must be a finite number > 0")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    W = [np.array([math.inf if x is None else float(x) for x in w]) for w in widths]
    if any(len(w) == 0 for w in W):
        raise ValueError("a dataset has no widths")
    meds = np.array([np.median(w) for w in W])
    k, b, npts = _fit(g, meds)
    rng = np.random.default_rng(seed)
    ks = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(g), len(g))
        mb = np.array([np.median(W[i][rng.integers(0, len(W[i]), len(W[i]))]) for i in pick])
        kb, _, _ = _fit(g[pick], mb)
        if math.isfinite(kb):
            ks.append(kb)
    if ks:
        lo, hi = np.quantile(ks, [(1 - level) / 2, (1 + level) / 2])
    else:
        lo = hi = math.nan
    return SlopeFit(slope=k, intercept=b, lo=float(lo), hi=float(hi), level=level, points=npts, boot=len(ks))


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (``n - 1`` in the denominator; NaN for one value)."""
    import statistics

    v = list(values)
    return (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else math.nan)


def standard_error(sd: float, n: int) -> float:
    """The standard error of a mean of ``n`` values with sample standard deviation ``sd``: ``sd / sqrt(n)``
    (NaN for fewer than two values)."""
    return sd / math.sqrt(n) if n > 1 else math.nan


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean and its standard error (:func:`mean_sd`, :func:`standard_error`)."""
    m, sd = mean_sd(values)
    return m, standard_error(sd, len(values))
