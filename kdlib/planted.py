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

from kdlib.validate import integer

__all__ = ["PlantedDirection", "PlantedData", "planted_direction", "planted_logit", "planted_dataset",
           "monte_carlo_logit", "check_planted_params"]


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


def check_planted_params(d: int, n: int, t: float, J: int = 1) -> None:
    """Reject ``d < 2``, ``n < 1``, ``J < 1`` and ``t`` outside ``(0, 1/2)`` (``|z*| <= 1/2`` always:
    ``(pi - theta)/(2 pi) <= 1/2`` and ``|<u, x>| <= 1``)."""
    integer("d (the input dimension)", d, 2)
    integer("n (the number of points)", n, 1)
    integer("J (the number of planted half-spaces)", J, 1)
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
    integer("d (the input dimension)", d, 2)
    integer("J (the number of planted half-spaces)", J, 1)
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
    integer("n_z", n_z, 2)
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
    integer("max_draws", max_draws, 1)
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
