"""gamma exactly, for inputs in two dimensions (the exact program on the circle).

In two dimensions only the direction of ``z ~ N(0, I_2)`` matters, and every mask
``1(<z, x_i> > 0)`` is constant on the arcs between the angles ``angle(x_i) +- pi/2``
(:func:`arcs_2d`), so the expectations of :mod:`kdlib.margin` become finite sums: a dual
weight vector ``p`` gets the exact interval ``[min_i m_i(p), F(p)]`` that contains gamma
(:func:`certify_gamma_2d`, weak duality), and gamma itself is a linear program up to a
stated polygon factor (:func:`solve_gamma_2d`, :func:`exact_gamma_2d`). Used by the tests
as the ground truth of :func:`kdlib.margin.estimate_gamma` and by Chapter 6 for its planted
data on the circle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kdlib.margin import check_labelled

__all__ = ["arcs_2d", "Certificate2D", "certify_gamma_2d", "solve_gamma_2d", "exact_gamma_2d"]


def arcs_2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The arcs on which every mask ``1(<z, x_i> > 0)`` is constant, for inputs in two dimensions.

    Only the direction of ``z ~ N(0, I_2)`` matters (uniform on the circle), and the mask of
    ``x_i`` switches only where ``z`` is orthogonal to ``x_i``, at the angles
    ``angle(x_i) +- pi/2``. These ``2n`` angles cut the circle into arcs; returns their
    midpoints as unit vectors (A x 2, float64) and their lengths over ``2 pi`` (the
    probability of each arc, summing to 1).
    """
    x = x.to(torch.float64)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"arcs_2d needs inputs of shape n x 2, got {tuple(x.shape)}")
    phi = torch.atan2(x[:, 1], x[:, 0])
    cuts = torch.remainder(torch.cat([phi + math.pi / 2, phi - math.pi / 2]), 2 * math.pi).sort().values
    ends = torch.cat([cuts, cuts[:1] + 2 * math.pi])
    length = ends[1:] - ends[:-1]
    keep = length > 0
    mid = (0.5 * (ends[1:] + ends[:-1]))[keep]
    return torch.stack([mid.cos(), mid.sin()], 1), length[keep] / (2 * math.pi)


@dataclass(frozen=True)
class Certificate2D:
    """Exact bounds on gamma from the dual weights ``p`` of a witness, in two dimensions.

    ``upper = F(p) = E_z ||g_p(z)||`` (>= gamma by weak duality) and
    ``lower = min_i m_i(p)``, the smallest margin of the admissible witness
    ``v_p = g_p / ||g_p||`` (<= gamma), both computed by summing over the arcs of
    :func:`arcs_2d`, with no sampling error. ``margins``: every ``m_i(p)``.
    """

    lower: float
    upper: float
    margins: torch.Tensor
    p: torch.Tensor

    @property
    def gamma(self) -> float:
        """Midpoint of the certified interval."""
        return 0.5 * (self.lower + self.upper)

    def relative_width(self) -> float:
        """``(upper - lower) / gamma``."""
        return (self.upper - self.lower) / max(self.gamma, 1e-300)


def certify_gamma_2d(x: torch.Tensor, y: torch.Tensor, p: torch.Tensor) -> Certificate2D:
    """The exact interval ``[min_i m_i(p), F(p)]`` that contains gamma, for inputs in two dimensions.

    With ``g_p(z) = sum_i p_i y_i 1(<z, x_i> > 0) x_i`` constant on each arc ``k`` of
    :func:`arcs_2d` (probability ``w_k``, midpoint ``z_k``), ``G_k = g_p(z_k)``:

        F(p) = sum_k w_k ||G_k||,     m_i(p) = y_i sum_k w_k 1(<z_k, x_i> > 0) <G_k, x_i> / ||G_k||

    (``0`` where ``G_k = 0``). Weak duality (Chapter 3) gives ``min_i m_i(p) <= gamma <= F(p)``
    for any ``p`` in the simplex; the closer ``p`` is to the dual optimum, the narrower the
    interval. ``p`` is typically :func:`kdlib.margin.estimate_gamma`'s.
    """
    x = x.to(torch.float64)
    y = y.to(torch.float64).reshape(-1)
    p = p.to(torch.float64).reshape(-1)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"certify_gamma_2d needs inputs of shape n x 2, got {tuple(x.shape)}")
    if y.shape[0] != x.shape[0] or p.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs, {y.shape[0]} labels and {p.shape[0]} dual weights")
    if bool((p < 0).any()) or not p.sum() > 0:
        raise ValueError("the dual weights p must be >= 0 and not all zero")
    p = p / p.sum()
    z, w = arcs_2d(x)
    M = (z @ x.T > 0).to(torch.float64)  # A x n
    G = (M * (p * y)) @ x  # A x 2
    nr = G.norm(dim=1)
    V = torch.where(nr[:, None] > 0, G / nr.clamp_min(1e-300)[:, None], torch.zeros_like(G))
    margins = y * ((w[:, None] * M) * (V @ x.T)).sum(0)
    return Certificate2D(lower=float(margins.min()), upper=float((w * nr).sum()), margins=margins, p=p)


def solve_gamma_2d(x: torch.Tensor, y: torch.Tensor, *, sides: int = 256) -> Certificate2D:
    """gamma in two dimensions, exactly up to a stated polygon factor, as one linear program.

    On the arcs of :func:`arcs_2d` (probabilities ``w_k``, masks ``M_ki``) an admissible
    ``v`` that is constant on each arc has margins ``y_i sum_k w_k M_ki <v_k, x_i>``, and an
    optimal ``v`` can be taken constant on each arc (the witness ``g_p / ||g_p||`` is), so

        gamma = max { g : y_i sum_k w_k M_ki <v_k, x_i> >= g for all i, ||v_k|| <= 1 } .

    Replacing each disc ``||v_k|| <= 1`` by the inscribed regular polygon with ``sides``
    sides, ``<u_q, v_k> <= cos(pi / sides)`` for ``u_q`` at the angles ``2 pi q / sides``,
    makes it a linear program (HiGHS, :func:`scipy.optimize.linprog`) whose solution is still
    admissible, so its margins bound gamma from below; the program's dual values on the
    margin constraints are dual weights ``p``, and :func:`certify_gamma_2d` returns the exact
    interval ``[min_i m_i(v_p), F(p)]`` and, if larger, the program's own lower bound (in
    ``lower``). LP duality bounds the width by ``1 / cos(pi / sides) - 1`` (0.008 % at 256
    sides) up to the solver's tolerance.
    """
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    x = x.to(torch.float64)
    y = y.to(torch.float64).reshape(-1)
    n = x.shape[0]
    if x.dim() != 2 or x.shape[1] != 2 or y.shape[0] != n:
        raise ValueError(f"solve_gamma_2d needs inputs n x 2 and n labels, got {tuple(x.shape)}, {tuple(y.shape)}")
    if isinstance(sides, bool) or not isinstance(sides, int) or sides < 3:
        raise ValueError(f"sides must be an integer >= 3, got {sides!r}")
    z, w = arcs_2d(x)
    A = z.shape[0]
    M = (z @ x.T > 0).numpy()  # A x n
    xn, yn, wn = x.numpy(), y.numpy(), w.numpy()
    # variables: v_k1, v_k2 (k < A, interleaved), then g; minimise -g
    k_idx, i_idx = np.nonzero(M)
    coef = wn[k_idx] * yn[i_idx]
    rows = np.concatenate([i_idx, i_idx, np.arange(n)])
    cols = np.concatenate([2 * k_idx, 2 * k_idx + 1, np.full(n, 2 * A)])
    vals = np.concatenate([-coef * xn[i_idx, 0], -coef * xn[i_idx, 1], np.ones(n)])
    margin_rows = coo_matrix((vals, (rows, cols)), shape=(n, 2 * A + 1))
    ang = 2 * np.pi * np.arange(sides) / sides
    q_rows = np.arange(A * sides)
    kk = np.repeat(np.arange(A), sides)
    poly = coo_matrix((np.concatenate([np.tile(np.cos(ang), A), np.tile(np.sin(ang), A)]),
                       (np.concatenate([q_rows, q_rows]), np.concatenate([2 * kk, 2 * kk + 1]))),
                      shape=(A * sides, 2 * A + 1))
    c = np.zeros(2 * A + 1)
    c[-1] = -1.0
    b = np.concatenate([np.zeros(n), np.full(A * sides, math.cos(math.pi / sides))])
    bounds = [(-1.0, 1.0)] * (2 * A) + [(None, None)]
    res = linprog(c, A_ub=vstack([margin_rows, poly]).tocsr(), b_ub=b, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the 2-D margin program did not solve: {res.message}")
    V = torch.from_numpy(res.x[: 2 * A].reshape(A, 2))
    lp_margins = y * ((w[:, None] * torch.from_numpy(M).to(torch.float64)) * (V @ x.T)).sum(0)
    p = torch.from_numpy(-res.ineqlin.marginals[:n]).clamp_min(0)
    cert = certify_gamma_2d(x, y, p)
    lower = max(cert.lower, float(lp_margins.min()))
    return Certificate2D(lower=lower, upper=cert.upper, margins=cert.margins, p=cert.p)


def exact_gamma_2d(x: torch.Tensor, y: torch.Tensor, *, sides: int = 4096) -> float:
    """gamma in two dimensions: the midpoint of the exact certified interval of
    :func:`solve_gamma_2d` with a polygon of ``sides`` sides (relative width at most
    ``1 / cos(pi / sides) - 1``, 3e-7 at the default; the program grows with ``n x sides``,
    so this is for small ``n``).

    An earlier version minimised the arc sum ``F(p)`` by pairwise Frank-Wolfe; ``F`` is not
    differentiable where ``g_p`` vanishes on an arc, and there the method could stall far
    from the minimum (0.110 against 0.075 on 60 planted points), so the linear program
    replaced it.
    """
    x, y = check_labelled(x.to(torch.float64), y.to(torch.float64))
    if x.shape[1] != 2:
        raise ValueError("exact_gamma_2d needs two-dimensional inputs")
    return solve_gamma_2d(x, y, sides=sides).gamma
