"""Independent cross-checks used only by the tests.

:class:`Witness` and :func:`teacher_logits` re-implement the kernel-limit teacher of
:mod:`kdlib.margin` (``v(z) = g(z) / ||g(z)||`` and ``z_i = E_z <v(z), phi_i(z)>``) by another
code path, so that the tests of Chapters 3-5 compare the library against them (moved here
from ``kdlib/experiments/theory.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Witness:
    """``v(z) = g(z) / ||g(z)||`` with ``g(z) = sum_i coef_i 1(<z, x_i> > 0) x_i`` (so ``||v|| <= 1``)."""

    x: torch.Tensor  # n x d, float64
    coef: torch.Tensor  # n, float64: q_i y_i

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(self.x.dtype)
        g = ((z @ self.x.T > 0).to(self.x.dtype) * self.coef) @ self.x
        return g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)

    def inner_phi(self, z: torch.Tensor) -> torch.Tensor:
        """``<v(z_k), phi_i(z_k)> = 1(<z_k, x_i> > 0) <v(z_k), x_i>`` (k x n)."""
        z = z.to(self.x.dtype)
        act = (z @ self.x.T > 0).to(self.x.dtype)
        g = (act * self.coef) @ self.x
        v = g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
        return act * (v @ self.x.T)


@torch.no_grad()
def teacher_logits(witness: Witness, n: int, d: int, *, n_z: int, seed: int, chunk: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ``z_i = E_z <v(z), phi_i(z)>`` and its standard error, on ``n_z`` directions from ``seed``.

    An independent re-implementation of :func:`kdlib.margin.teacher_logits` for a :class:`Witness`
    (used by the tests as a cross-check).
    """
    g = torch.Generator().manual_seed(int(seed))
    s1 = torch.zeros(n, dtype=torch.float64)
    s2 = torch.zeros(n, dtype=torch.float64)
    done = 0
    while done < n_z:
        k = min(chunk, n_z - done)
        vals = witness.inner_phi(torch.randn(k, d, generator=g, dtype=torch.float64))
        s1 += vals.sum(0)
        s2 += (vals**2).sum(0)
        done += k
    mean = s1 / n_z
    var = (s2 / n_z - mean**2).clamp_min(0) * n_z / max(n_z - 1, 1)
    return mean, (var / n_z).sqrt()
