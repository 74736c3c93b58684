"""How often the Monte-Carlo intervals for gamma miss, on data whose gamma is known exactly.

In two dimensions :func:`kdlib.margin_2d.solve_gamma_2d` gives gamma up to a stated polygon factor,
and for fixed dual weights ``p`` :func:`kdlib.margin_2d.certify_gamma_2d` gives, with no sampling
error, the two targets of the certificate: ``min_i m_i(p)``, which the lower end must not exceed,
and ``F(p)``, which the upper end must not fall below. Repeating the certificate on independent
fresh draws (:func:`kdlib.margin.evaluate_witness`) counts the misses of each end and of gamma;
:meth:`~kdlib.margin.MarginEstimate.certified_interval` promises at most ``(1 - confidence)/2``
per end, the asymptotic rule promises nothing at a finite ``n_eval``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kdlib.margin import evaluate_witness
from kdlib.margin_2d import certify_gamma_2d, solve_gamma_2d

__all__ = ["Coverage", "certificate_coverage"]


@dataclass(frozen=True)
class Coverage:
    """Miss counts over ``repeats`` certificates of the same ``p`` on independent draws.

    ``lower_misses``: lower end above ``min_i m_i(p)``; ``upper_misses``: upper end below ``F(p)``;
    ``gamma_misses``: gamma outside the interval; ``mean_width``, ``max_width``: ``(hi - lo) / gamma``.
    The same for the asymptotic ``k``-standard-error rule (``asymptotic_*``).
    """

    repeats: int
    confidence: float
    n_eval: int
    gamma: float
    target_lower: float
    target_upper: float
    lower_misses: int
    upper_misses: int
    gamma_misses: int
    mean_width: float
    max_width: float
    asymptotic_lower_misses: int
    asymptotic_upper_misses: int
    asymptotic_gamma_misses: int
    asymptotic_mean_width: float


@torch.no_grad()
def certificate_coverage(
    x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, *, n_eval: int, repeats: int, confidence: float,
    seed: int = 1000, k: float = 3.0, sides: int = 1024,
) -> Coverage:
    """Repeat the certificate of fixed weights ``p`` (inputs ``x`` in two dimensions) ``repeats`` times,
    on draws seeded ``seed, seed + 1, ...``, and count the misses (see :class:`Coverage`)."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    x, y = x.to(torch.float64), y.to(torch.float64)
    gamma = solve_gamma_2d(x, y, sides=sides).gamma
    exact = certify_gamma_2d(x, y, p)
    lo_m = hi_m = g_m = alo_m = ahi_m = ag_m = 0
    widths, awidths = [], []
    for r in range(repeats):
        e = evaluate_witness(exact.p, x, y, n_eval=n_eval, seed=seed + r)
        lo, hi = e.certified_interval(confidence)
        alo, ahi = e.asymptotic_interval(k)
        lo_m += lo > exact.lower
        hi_m += hi < exact.upper
        g_m += not (lo <= gamma <= hi)
        alo_m += alo > exact.lower
        ahi_m += ahi < exact.upper
        ag_m += not (alo <= gamma <= ahi)
        widths.append((hi - lo) / gamma)
        awidths.append((ahi - alo) / gamma)
    return Coverage(
        repeats=repeats, confidence=confidence, n_eval=n_eval, gamma=gamma, target_lower=exact.lower,
        target_upper=exact.upper, lower_misses=lo_m, upper_misses=hi_m, gamma_misses=g_m,
        mean_width=sum(widths) / repeats, max_width=max(widths), asymptotic_lower_misses=alo_m,
        asymptotic_upper_misses=ahi_m, asymptotic_gamma_misses=ag_m, asymptotic_mean_width=sum(awidths) / repeats,
    )
