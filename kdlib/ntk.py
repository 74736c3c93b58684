"""The neural tangent kernel of the paper's student: finite width and the limit.

The student (paper, Section 3.1) is ``f(x; W) = m^{-1/2} sum_j a_j relu(<W_j, x>)``
with ``a_j in {-1, +1}`` fixed. Its gradient with respect to row ``W_j`` is
``m^{-1/2} a_j 1(<W_j, x> > 0) x``, so the (finite-width) NTK with respect to
``W`` is

    K_m(x, x') = (1/m) sum_j 1(<W_j, x> > 0) 1(<W_j, x'> > 0) <x, x'>      (a_j^2 = 1).

At initialisation the rows are ``W_j ~ N(0, I_d)``; as ``m -> inf`` the average
becomes an expectation over ``z ~ N(0, I_d)``:

    K(x, x') = E_z[1(<z, x> > 0) 1(<z, x'> > 0)] <x, x'> = <phi_x, phi_x'>_H,

with the paper's feature map ``phi_x(z) = 1(<z, x> > 0) x``. Only the direction
of ``z`` matters, and in the plane of ``x, x'`` the two half-spaces
``{<z, x> > 0}`` and ``{<z, x'> > 0}`` overlap on an arc of ``pi - theta`` out of
``2 pi``, ``theta`` the angle between ``x`` and ``x'``. Hence the closed form
(the degree-0 arc-cosine kernel of Cho & Saul, times the linear kernel)

    K(x, x') = <x, x'> (pi - theta) / (2 pi).

``theta = arccos(cos)`` loses precision near ``theta = 0`` (the derivative of
arccos is infinite at 1): a rounding error ``delta`` in the cosine becomes an
angle error ``sqrt(2 delta)``. No formula fed with a Gram-matrix cosine can do
better (the stable ``2 atan2(||u - v||, ||u + v||)`` with ``||u -+ v||^2 = 2 -+ 2 cos``
sees the same rounded cosine; :func:`angle_from_gram` implements it for
reference), so :func:`limit_kernel` uses the cheaper clamped arccos and sets the
diagonal, where the angle is exactly 0, to exactly ``||x||^2 / 2``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["limit_kernel", "empirical_ntk", "ntk_features", "angle_from_gram", "check_inputs", "kernel_gd",
           "KernelGDResult", "limit_directions"]


def check_inputs(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """A 2-D floating tensor of finite values with no all-zero row (which has no direction)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be a matrix (n x d), got shape {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    return x


def angle_from_gram(cos: torch.Tensor) -> torch.Tensor:
    """The angle ``theta in [0, pi]`` from cosines, stably: ``2 atan2(sqrt(2-2c), sqrt(2+2c))``.

    ``c`` is clamped to [-1, 1] first (round-off can push it slightly outside).
    At ``c = 1`` exactly the result is 0 exactly.
    """
    c = cos.clamp(-1.0, 1.0)
    return 2.0 * torch.atan2(torch.sqrt((2.0 - 2.0 * c).clamp_min(0.0)), torch.sqrt((2.0 + 2.0 * c).clamp_min(0.0)))


@torch.no_grad()
def limit_kernel(x: torch.Tensor, x2: torch.Tensor | None = None, *, chunk: int = 2048, sub: int = 128) -> torch.Tensor:
    """The infinite-width NTK ``K(x_i, x2_j) = <x_i, x2_j> (pi - theta_ij) / (2 pi)``.

    One matrix product of the row-normalised inputs ``u @ u2.T`` (the cosines),
    written straight into the output, then in-place elementwise work on
    cache-sized blocks of ``sub`` rows: ``theta = arccos(clamp(cos, -1, 1))`` and
    ``K = ||x|| ||x'|| cos (pi - theta) / (2 pi)``. Works in the dtype of ``x``
    (float32 or float64; anything else is promoted to float32). With ``x2=None``
    (or ``x2 is x``) the kernel of ``x`` with itself, whose diagonal is set to
    exactly ``||x_i||^2 / 2`` (angle 0).

    Precision: the angle is a function of the computed cosine, so its error near
    ``theta = 0`` is ``~sqrt(2 * rounding error of cos)`` whichever formula
    (arccos, or ``2 atan2(||u-v||, ||u+v||)`` with the norms taken from the
    Gram matrix) turns the cosine into an angle: about ``3e-4`` rad in fp32, a
    relative kernel error of about ``1e-4`` for nearly parallel distinct inputs,
    and nothing on the diagonal, which never goes through the cosine.
    """
    x = check_inputs(x)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    same = x2 is None or x2 is x
    x2 = x if same else check_inputs(x2, "x2").to(x.dtype)
    if x2.shape[1] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but x2 has {x2.shape[1]}")
    n1 = x.norm(dim=1)
    n2 = n1 if same else x2.norm(dim=1)
    if bool((n1 == 0).any()) or bool((n2 == 0).any()):
        raise ValueError("an input row is all zeros: its angle to other inputs is undefined")
    u = x / n1[:, None]
    u2 = u if same else x2 / n2[:, None]
    out = torch.empty(x.shape[0], x2.shape[0], dtype=x.dtype, device=x.device)
    tmp = torch.empty(min(sub, x.shape[0]), x2.shape[0], dtype=x.dtype, device=x.device)
    scale = -0.5 / math.pi
    for s in range(0, x.shape[0], chunk):
        o = out[s : s + chunk]
        torch.matmul(u[s : s + chunk], u2.T, out=o)  # cosines
        for t in range(0, o.shape[0], sub):
            oo = o[t : t + sub]
            tt = tmp[: oo.shape[0]]
            torch.clamp(oo, -1.0, 1.0, out=tt)
            tt.acos_().mul_(scale).add_(0.5)  # (pi - theta) / (2 pi)
            tt.mul_(n1[s + t : s + t + oo.shape[0], None]).mul_(n2[None, :])
            oo.mul_(tt)
    if same:
        d = torch.arange(x.shape[0], device=x.device)
        out[d, d] = 0.5 * (x * x).sum(1)
    return out


def ntk_features(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Activation pattern ``1(<W_j, x_i> > 0) / sqrt(m)`` (n x m); ``K_m = (A A^T) * (x x^T)``."""
    if W.dim() != 2 or W.shape[1] != x.shape[1]:
        raise ValueError(f"W must be m x d with d = {x.shape[1]}, got shape {tuple(W.shape)}")
    return (x @ W.T > 0).to(x.dtype) / math.sqrt(W.shape[0])


@torch.no_grad()
def empirical_ntk(W: torch.Tensor, x: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
    """The finite-width NTK with respect to ``W`` at the weights ``W`` (m x d):

    ``K_m(x, x') = (1/m) sum_j 1(<W_j, x> > 0) 1(<W_j, x'> > 0) <x, x'>``
    (the outer weights satisfy ``a_j^2 = 1``). At ``W = W(0)`` with ``W_j ~ N(0, I)``
    it is a Monte-Carlo estimate of :func:`limit_kernel` with ``m`` samples, whose
    error shrinks like ``1/sqrt(m)``. The symmetric initialisation repeats each row
    twice, which leaves ``K_m`` unchanged relative to the ``m/2`` distinct rows.
    """
    x = check_inputs(x)
    W = W.to(x.dtype)
    x2 = x if x2 is None else check_inputs(x2, "x2").to(x.dtype)
    A = ntk_features(W, x)
    A2 = A if x2 is x else ntk_features(W, x2)
    return (A @ A2.T) * (x @ x2.T)


# --------------------------------------------------------------------------- the infinite-width dynamics
@dataclass
class KernelGDResult:
    """Kernel gradient descent from ``f = 0``: ``first[e]`` the first step with training error ``<= eps[e]``
    (``-1``: not within ``steps_run``), ``final_error``, the outputs ``f`` at the last step, ``coef`` the
    accumulated ``c_i = -(lr/n) sum_t l'_i(t)`` (so ``f = K c``), ``trace`` the outputs at the steps asked
    for, and ``bind_step``: the first checked step at which the limit's rescaled displacement
    ``sup_z ||sum_i c_i 1(<z, x_i> > 0) x_i||`` exceeded the radius ``B`` (``None``: never, or no ``B``)."""

    first: list[int]
    steps_run: int
    final_error: float
    f: torch.Tensor
    coef: torch.Tensor
    trace: dict[int, torch.Tensor]
    bind_step: int | None = None
    sup_displacement: float = 0.0


def limit_directions(x: torch.Tensor, n_z: int = 4096, seed: int = 0) -> torch.Tensor:
    """Directions ``z`` at which the limit's displacement is evaluated: in two dimensions the midpoints of
    the ``2n`` arcs between the angles orthogonal to the inputs (every activation pattern once: the sup
    over them is exact); else ``n_z`` Gaussian draws (a lower estimate of the sup)."""
    x = x.to(torch.float64)
    if x.shape[1] == 2:
        th = torch.atan2(x[:, 1], x[:, 0])
        b = torch.sort(torch.remainder(torch.cat([th + math.pi / 2, th - math.pi / 2]), 2 * math.pi))[0]
        mid = 0.5 * (b + torch.cat([b[1:], b[:1] + 2 * math.pi]))
        return torch.stack([torch.cos(mid), torch.sin(mid)], 1)
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n_z, x.shape[1], generator=g, dtype=torch.float64)


@torch.no_grad()
def kernel_gd(x: torch.Tensor, y: torch.Tensor, eps: list[float] | tuple[float, ...], *, lr: float, max_steps: int,
              soft_targets: torch.Tensor | None = None, B: float = math.inf, check_every: int = 100,
              trace_steps: tuple[int, ...] = (), K: torch.Tensor | None = None, n_z: int = 4096) -> KernelGDResult:
    """Full-batch gradient descent of the infinite-width student in function space (float64).

    A step of width ``m`` moves row ``j`` by ``-lr (1/n) sum_i l'_i a_j m^{-1/2} 1(<W_j, x_i> > 0) x_i``,
    so to first order the outputs move by ``-(lr/n) sum_i K_m(x, x_i) l'_i`` (Chapter 2's NTK). As
    ``m -> inf`` the activation patterns stop changing (a row moves ``O(m^{-1/2})``), ``K_m`` tends to
    :func:`limit_kernel` ``K`` and the step becomes exact:

        f_{t+1} = f_t - (lr/n) K l'(f_t),   f_0 = 0 (the symmetric initialisation),              (K1)

    with ``l'(f) = -y sigmoid(-y f)`` (hard labels, logistic loss) or ``sigmoid(f) - p`` (soft labels).
    Writing ``f_t = K c_t``, ``c_t = -(lr/n) sum_{s<t} l'(f_s)``.

    The projection. Projected descent keeps each row within ``B/sqrt(m)`` of its start; the rescaled
    displacement of the row started at ``z`` tends to ``u_t(z) = a(z) sum_i c_{t,i} 1(<z, x_i> > 0) x_i``,
    so the radius does not vanish in the limit: the projected limit moves ``u(z)`` back into the ball of
    radius ``B`` direction by direction, which no longer is a step (K1) in function space. (K1) is that
    limit exactly up to the first step at which ``sup_z ||u_t(z)||`` exceeds ``B``; with a finite ``B``
    it is checked every ``check_every`` steps (and at the last) over :func:`limit_directions`, and the
    first failing check is ``bind_step`` (from there on the projected students differ from (K1) at every
    width). ``n_z``: the number of Gaussian directions of the check outside the plane.
    ``trace_steps``: steps at which ``f`` is kept (for the comparison with wide students).
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the step size lr must be a finite number > 0, got {lr!r}")
    for e in eps:
        if not 0 < e < 1:
            raise ValueError(f"every error target eps must lie in (0, 1), got {e!r}")
    x = check_inputs(x).to(torch.float64)
    n = x.shape[0]
    yd = y.to(torch.float64)
    K = limit_kernel(x) if K is None else K.to(torch.float64)
    p = None if soft_targets is None else soft_targets.to(torch.float64)
    Z = limit_directions(x, n_z=n_z) if math.isfinite(B) else None
    masks = (Z @ x.T > 0).to(torch.float64) if Z is not None else None
    f = torch.zeros(n, dtype=torch.float64)
    c = torch.zeros(n, dtype=torch.float64)
    first = [-1] * len(eps)
    trace: dict[int, torch.Tensor] = {}
    bind, sup = None, 0.0
    step = lr / n
    t = 0
    err = 1.0
    while True:
        if t in trace_steps:
            trace[t] = f.clone()
        err = float((yd * f <= 0).to(torch.float64).mean())
        for e_i, e in enumerate(eps):
            if first[e_i] == -1 and err <= e:
                first[e_i] = t
        done = t == max_steps or (all(v >= 0 for v in first) and t >= max(trace_steps, default=0))
        if masks is not None and (t % check_every == 0 or done):  # the last step is always checked
            s = float(torch.linalg.vector_norm(masks @ (c[:, None] * x), dim=1).max())
            sup = max(sup, s)
            if bind is None and s > B:
                bind = t
        if done:
            break
        g = torch.sigmoid(-yd * f).mul_(-yd) if p is None else torch.sigmoid(f).sub_(p)
        c.add_(g, alpha=-step)
        f.addmv_(K, g, alpha=-step)
        t += 1
    return KernelGDResult(first=first, steps_run=t, final_error=err, f=f, coef=c, trace=trace, bind_step=bind,
                          sup_displacement=sup)
