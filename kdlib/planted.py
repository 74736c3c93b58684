"""Planted-margin data on the unit sphere: a dataset whose margin gamma is known from below.

The paper's margin (Assumption 1, book Chapter 3) is

    gamma = max_{||v(z)|| <= 1}  min_i  y_i E_z <v(z), phi_{x_i}(z)>,   phi_x(z) = 1(<z, x> > 0) x.

We *plant* an admissible direction

    v*(z) = (1/J) sum_j a_j 1(<z, r_j> > 0) u_j,     a_j in {-1, +1}, ||u_j|| = 1,

so ``||v*(z)|| <= (1/J) sum_j ||u_j|| = 1`` for every ``z``. Its kernel-limit logit has a
closed form: for unit ``r`` and ``x`` at angle ``theta``, the two half-spaces
``{<z, r> > 0}`` and ``{<z, x> > 0}`` overlap on a fraction ``(pi - theta) / (2 pi)`` of
the directions of ``z ~ N(0, I_d)`` (the degree-0 arc-cosine kernel, Chapter 2), so

    z*(x) = E_z <v*(z), phi_x(z)> = (1/J) sum_j a_j ((pi - angle(r_j, x)) / (2 pi)) <u_j, x>.   (P1)

Labels are ``y = sign z*(x)``. Keeping only the points with ``|z*(x)| >= t`` makes
``y_i z*(x_i) >= t`` for every kept point, so ``v*`` is a feasible point of the max
and certifies ``gamma >= t`` (weak duality: the true gamma may be larger, since
another ``v`` can do better on the kept points). Inputs are uniform on the sphere
``S^{d-1}`` (unit norm, so the theory's ``c = 1``).

:func:`planted_dataset` draws candidates in batches until ``n`` are kept; if fewer
than one in ``max_draws / n`` candidates pass, it stops with an error that reports
the largest ``|z*|`` it saw (``t`` above what the planted direction reaches).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["PlantedDirection", "PlantedData", "planted_direction", "planted_logit", "planted_dataset",
           "monte_carlo_logit", "check_planted_params", "arcs_2d", "Certificate2D", "certify_gamma_2d",
           "solve_gamma_2d"]


@dataclass(frozen=True)
class PlantedDirection:
    """``v*(z) = (1/J) sum_j a_j 1(<z, r_j> > 0) u_j``: rows ``r`` (J x d, unit), ``u`` (J x d, unit), signs ``a`` (J)."""

    r: torch.Tensor
    u: torch.Tensor
    a: torch.Tensor

    @property
    def J(self) -> int:
        return int(self.r.shape[0])

    @property
    def d(self) -> int:
        return int(self.r.shape[1])

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``v*(z)`` for each row of ``z`` (K x d); every row has norm at most 1."""
        act = (z.to(torch.float64) @ self.r.T > 0).to(torch.float64)
        return (act * self.a) @ self.u / self.J


@dataclass
class PlantedData:
    """Kept points ``x`` (n x d, unit norm, float64), labels ``y = sign z*``, logits ``z`` = z*(x),
    the threshold ``t``, the planted direction and how many candidates were drawn."""

    x: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor
    t: float
    direction: PlantedDirection
    drawn: int

    def __len__(self) -> int:
        return int(self.x.shape[0])


def _int(name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return v


def check_planted_params(d: int, n: int, t: float, J: int = 1) -> None:
    """Reject ``d < 2``, ``n < 1``, ``J < 1`` and ``t`` outside ``(0, 1/2)`` (``|z*| <= 1/2`` always:
    ``(pi - theta)/(2 pi) <= 1/2`` and ``|<u, x>| <= 1``)."""
    _int("d (the input dimension)", d, 2)
    _int("n (the number of points)", n, 1)
    _int("J (the number of planted half-spaces)", J, 1)
    t = float(t)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"the margin threshold t must be a finite number > 0, got {t!r}")
    if t >= 0.5:
        raise ValueError(f"the margin threshold t = {t:g} is unreachable: |z*(x)| <= 1/2 for every x")


def _unit_rows(k: int, d: int, gen: torch.Generator) -> torch.Tensor:
    g = torch.randn(k, d, generator=gen, dtype=torch.float64)
    return g / g.norm(dim=1, keepdim=True)


def planted_direction(d: int, J: int, seed: int, *, aligned: bool = True) -> PlantedDirection:
    """A planted ``v*`` with ``J`` half-spaces from ``seed``: ``r_j`` uniform on the sphere, ``a_j`` uniform signs,
    ``u_j = r_j`` if ``aligned`` (the largest logits: ``<u_j, x>`` is large where the half-space overlap is)
    else independent uniform unit vectors."""
    _int("d (the input dimension)", d, 2)
    _int("J (the number of planted half-spaces)", J, 1)
    gen = torch.Generator().manual_seed(int(seed))
    r = _unit_rows(J, d, gen)
    u = r.clone() if aligned else _unit_rows(J, d, gen)
    a = (torch.randint(0, 2, (J,), generator=gen) * 2 - 1).to(torch.float64)
    return PlantedDirection(r=r, u=u, a=a)


def planted_logit(direction: PlantedDirection, x: torch.Tensor) -> torch.Tensor:
    """``z*(x)`` of equation (P1) in closed form, for unit-norm rows of ``x`` (n x d), float64."""
    x = x.to(torch.float64)
    if x.dim() != 2 or x.shape[1] != direction.d:
        raise ValueError(f"x must be n x {direction.d}, got shape {tuple(x.shape)}")
    norms = x.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("an input is all zeros: its angle to r_j is undefined")
    cos = ((x / norms) @ direction.r.T).clamp(-1.0, 1.0)
    overlap = (math.pi - torch.arccos(cos)) / (2 * math.pi)
    return (overlap * (x @ direction.u.T) * direction.a).sum(1) / direction.J


@torch.no_grad()
def monte_carlo_logit(direction: PlantedDirection, x: torch.Tensor, n_z: int, seed: int,
                      chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_k <v*(z_k), 1(<z_k, x> > 0) x>`` over ``n_z`` Gaussian draws, and its standard error
    (the independent check of (P1))."""
    _int("n_z", n_z, 2)
    x = x.to(torch.float64)
    gen = torch.Generator().manual_seed(int(seed))
    s1 = torch.zeros(x.shape[0], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    done = 0
    while done < n_z:
        k = min(chunk, n_z - done)
        z = torch.randn(k, direction.d, generator=gen, dtype=torch.float64)
        vals = (z @ x.T > 0).to(torch.float64) * (direction(z) @ x.T)
        s1 += vals.sum(0)
        s2 += (vals * vals).sum(0)
        done += k
    mean = s1 / n_z
    var = (s2 / n_z - mean * mean).clamp_min(0) * n_z / (n_z - 1)
    return mean, (var / n_z).sqrt()


def planted_dataset(d: int, n: int, t: float, *, J: int = 1, seed: int = 0, aligned: bool = True,
                    max_draws: int = 2_000_000, batch: int = 65536) -> PlantedData:
    """``n`` points uniform on ``S^{d-1}`` with ``|z*(x)| >= t``, labels ``sign z*(x)`` (the direction and
    the points both come from ``seed``). At most ``max_draws`` candidates are drawn; if fewer than ``n``
    pass, a ``ValueError`` reports how many passed and the largest ``|z*|`` seen."""
    check_planted_params(d, n, t, J)
    _int("max_draws", max_draws, 1)
    direction = planted_direction(d, J, seed, aligned=aligned)
    gen = torch.Generator().manual_seed(int(seed) + 1_000_003)
    xs, zs = [], []
    kept = drawn = 0
    best = 0.0
    while kept < n and drawn < max_draws:
        k = min(batch, max_draws - drawn)
        x = _unit_rows(k, d, gen)
        z = planted_logit(direction, x)
        drawn += k
        best = max(best, float(z.abs().max()))
        keep = z.abs() >= t
        xs.append(x[keep])
        zs.append(z[keep])
        kept += int(keep.sum())
    if kept < n:
        raise ValueError(
            f"only {kept} of {drawn} points drawn on the sphere in d = {d} have |z*(x)| >= t = {t:g} "
            f"(the largest |z*| seen is {best:.4g}); lower t, raise max_draws, or change d or J"
        )
    x = torch.cat(xs)[:n]
    z = torch.cat(zs)[:n]
    y = torch.where(z > 0, 1.0, -1.0).to(torch.float64)
    if bool((y == y[0]).all()):
        raise ValueError(
            f"all {n} points with |z*(x)| >= t = {t:g} have the same label: the planted direction reaches "
            f"that threshold on one side only; lower t or change J or the seed"
        )
    return PlantedData(x=x, y=y, z=z, t=float(t), direction=direction, drawn=drawn)


# --------------------------------------------------------------------------- exact gamma certificate in 2-D
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
