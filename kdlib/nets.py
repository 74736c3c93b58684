"""The paper's two-layer student, and many of them trained as one wide layer.

The student (paper, Section 3.1) with ``m`` hidden units is

    f(x; W, a) = m^{-1/2} * sum_j a_j * relu(<W_j, x>),

with only ``W`` (m x d) trained and ``a`` fixed. The *symmetric*
initialisation takes ``m`` even; for ``j < m/2`` it draws ``a_j`` uniformly
from {-1, +1} and ``W_j(0) ~ N(0, I_d)``, then sets ``a_{j+m/2} = -a_j`` and
``W_{j+m/2}(0) = W_j(0)``, so that ``f(x; W(0)) = 0`` for every ``x``.

:class:`StudentBank` holds several such students (any widths, any seeds) as one
``M x d`` matrix, ``M`` being the sum of their widths. Their outputs are one
matrix product ``relu(X W^T) @ S`` where the block matrix ``S`` (M x k) holds
``a_j / sqrt(m_s)`` in student ``s``'s rows of column ``s``. Since the blocks are
disjoint, the gradient of the *sum* of the students' losses with respect to a
student's rows is exactly that student's own gradient, so one optimiser step of
the bank is one step of every student.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def check_width(m: int) -> int:
    """A width for the symmetric initialisation: an even integer >= 2."""
    if isinstance(m, bool) or not isinstance(m, int) or m < 2 or m % 2:
        raise ValueError(
            f"the symmetric initialisation needs an even width m >= 2 (pairs of neurons with "
            f"opposite outer weights), got m={m!r}"
        )
    return m


def symmetric_init(m: int, d: int, seed: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W0, a)`` of the paper's symmetric initialisation (drawn on the CPU from ``seed``).

    >>> W0, a = symmetric_init(4, 3, seed=0)
    >>> bool(torch.equal(W0[:2], W0[2:])), bool(torch.equal(a[:2], -a[2:]))
    (True, True)
    """
    check_width(m)
    if d < 1:
        raise ValueError(f"input dimension must be >= 1, got {d}")
    g = torch.Generator().manual_seed(int(seed))
    half = m // 2
    w = torch.randn(half, d, generator=g, dtype=torch.float64)
    a = torch.randint(0, 2, (half,), generator=g).to(torch.float64) * 2 - 1
    return torch.cat([w, w]).to(dtype), torch.cat([a, -a]).to(dtype)


@dataclass(frozen=True)
class StudentSpec:
    """One student in a bank: its width, its initialisation seed and a free-form tag (e.g. 'hard')."""

    width: int
    seed: int
    tag: str = ""


class StudentBank(torch.nn.Module):
    """Several two-layer students as one wide layer.

    ``forward(x)`` returns an ``n x k`` matrix, column ``s`` being student ``s``'s
    output ``f_s(x)``. ``train_outer=True`` makes ``a`` trainable (a variant the
    paper does not use; the book labels it as such).
    """

    def __init__(self, specs: list[StudentSpec], d: int, *, train_outer: bool = False, device: str | torch.device = "cpu") -> None:
        super().__init__()
        if not specs:
            raise ValueError("a bank needs at least one student")
        self.specs = list(specs)
        ws, as_, seg = [], [], []
        for s, spec in enumerate(self.specs):
            w, a = symmetric_init(check_width(spec.width), d, spec.seed)
            ws.append(w)
            as_.append(a)
            seg.append(torch.full((spec.width,), s, dtype=torch.long))
        W0 = torch.cat(ws).to(device)
        a = torch.cat(as_).to(device)
        self.segment = torch.cat(seg).to(device)
        widths = torch.tensor([s.width for s in self.specs], dtype=torch.float32, device=device)
        self.register_buffer("W0", W0.clone())
        self.register_buffer("a0", a.clone())
        self.W = torch.nn.Parameter(W0.clone())
        self.a = torch.nn.Parameter(a.clone(), requires_grad=train_outer)
        # 0/1 membership scaled by 1/sqrt(m_s): (M x k)
        member = torch.zeros(len(a), len(self.specs), device=device)
        member[torch.arange(len(a), device=device), self.segment] = 1.0
        self.register_buffer("member", member / widths.sqrt())
        # per-row radius factor 1/sqrt(m_s) for the projection onto S_B
        self.register_buffer("row_scale", (1.0 / widths.sqrt())[self.segment])

    @property
    def n_students(self) -> int:
        return len(self.specs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(x @ self.W.T)
        return (h * self.a) @ self.member

    @torch.no_grad()
    def project(self, B: float) -> None:
        """Project every row back onto ``||W_j - W_j(0)|| <= B / sqrt(m)`` (the set S_B)."""
        if math.isinf(B):
            return
        if B < 0:
            raise ValueError(f"the radius B must be >= 0, got {B}")
        delta = self.W - self.W0
        radius = B * self.row_scale
        norms = delta.norm(dim=1)
        factor = torch.clamp(radius / norms.clamp_min(1e-30), max=1.0)
        self.W.copy_(self.W0 + delta * factor[:, None])

    @torch.no_grad()
    def distance_ratio(self) -> torch.Tensor:
        """``sqrt(m) * ||W_j - W_j(0)||`` per row: at most B after a projection."""
        return (self.W - self.W0).norm(dim=1) / self.row_scale

    def student_slice(self, s: int) -> slice:
        start = sum(sp.width for sp in self.specs[:s])
        return slice(start, start + self.specs[s].width)


class TwoLayerNet(StudentBank):
    """A single student: ``forward(x)`` returns a vector of n outputs."""

    def __init__(self, width: int, d: int, seed: int = 0, *, train_outer: bool = False, device: str | torch.device = "cpu") -> None:
        super().__init__([StudentSpec(width, seed)], d, train_outer=train_outer, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[:, 0]
