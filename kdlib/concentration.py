"""Finite-sample confidence bounds for the mean of bounded i.i.d. samples.

Empirical Bernstein (Maurer & Pontil 2009, Theorem 4). Let ``X_1, ..., X_N`` be i.i.d.
with values in an interval of length ``R`` and let ``V`` be their unbiased sample
variance. For ``alpha`` in (0, 1), with probability at least ``1 - alpha``,

    E X <= mean(X) + sqrt(2 V ln(2/alpha) / N) + 7 R ln(2/alpha) / (3 (N - 1)),      (EB)

and the same bound holds for ``E X >= mean(X) - ...`` (apply (EB) to ``-X``). The theorem
is stated for ``[0, 1]``; an interval of length ``R`` is that case scaled by ``R``, which
scales ``sqrt(V)`` and the last term alike. (EB) is one-sided: a two-sided interval at
level ``1 - alpha`` takes ``alpha/2`` on each side.

Hoeffding, for comparison: ``E X <= mean(X) + R sqrt(ln(1/alpha) / (2N))``, which ignores
the variance and is much wider when ``V`` is far below ``R^2/4``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["empirical_bernstein_radius", "hoeffding_radius"]


def _check(n: int, alpha: float, value_range) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"the number of samples must be an integer >= 2, got {n!r}")
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha (one-sided failure probability) must lie in (0, 1), got {alpha!r}")
    r = torch.as_tensor(value_range, dtype=torch.float64)
    if not bool(torch.isfinite(r).all()) or bool((r < 0).any()):
        raise ValueError(f"the range of the samples must be finite and >= 0, got {value_range!r}")


def empirical_bernstein_radius(var, n: int, value_range, alpha: float):
    """The one-sided radius of (EB): ``sqrt(2 var ln(2/alpha) / n) + 7 R ln(2/alpha) / (3 (n - 1))``.

    ``var``: unbiased sample variance(s) (a float or a tensor, elementwise); ``value_range``:
    ``R``, the length of an interval known *a priori* to hold every sample (not the observed
    range); ``alpha``: the failure probability of this one side.
    """
    _check(n, alpha, value_range)
    lg = math.log(2.0 / alpha)
    if isinstance(var, torch.Tensor):
        return (2.0 * var.clamp_min(0) * lg / n).sqrt() + 7.0 * torch.as_tensor(value_range, dtype=var.dtype) * lg / (3.0 * (n - 1))
    return math.sqrt(2.0 * max(float(var), 0.0) * lg / n) + 7.0 * float(value_range) * lg / (3.0 * (n - 1))


def hoeffding_radius(n: int, value_range: float, alpha: float) -> float:
    """Hoeffding's one-sided radius ``R sqrt(ln(1/alpha) / (2 n))`` for samples in an interval of length ``R``."""
    _check(n, alpha, value_range)
    return float(value_range) * math.sqrt(math.log(1.0 / alpha) / (2.0 * n))
