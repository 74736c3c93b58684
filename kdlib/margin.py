"""The separation margin gamma of a labelled dataset (the paper's Assumption 1).

Definitions (paper, Section 3.1, after Ji & Telgarsky 2020). For inputs ``x_i``
with labels ``y_i in {-1, +1}`` and the feature map ``phi_i(z) = 1(<z, x_i> > 0) x_i``,
``z ~ N(0, I_d)``,

    gamma = max_{v : ||v(z)|| <= 1 for all z}  min_i  y_i E_z[<v(z), phi_i(z)>].

Duality (derived in Chapter 3). Write ``g_p(z) = sum_i p_i y_i phi_i(z)`` for ``p``
in the simplex ``Delta_n``. For any admissible ``v`` and any ``p``,

    min_i y_i E<v, phi_i> <= sum_i p_i y_i E<v, phi_i> = E<v, g_p> <= E||g_p||,

so ``gamma <= F(p) := E_z ||g_p(z)||`` for every ``p`` (weak duality); the
minimax theorem gives ``gamma = min_p F(p)``, attained by the witness
``v_p(z) = g_p(z) / ||g_p(z)||`` at the minimiser (``v_p = 0`` where ``g_p = 0``).
``F`` is convex and positively homogeneous, its gradient is the vector of the
witness's margins ``m_i(p) = y_i E[1(<z, x_i> > 0) <v_p(z), x_i>]`` and
``F(p) = sum_i p_i m_i(p)`` (Euler), so the duality gap at ``p`` is
``F(p) - min_i m_i(p)``, the Frank-Wolfe gap.

Estimator. (1) Warm start: the minimiser of ``E||g_p||^2 = p^T Q p`` with
``Q_ij = y_i y_j K(x_i, x_j)`` (``K`` the limiting kernel of :mod:`kdlib.ntk`, in
closed form); ``sqrt(min_p p^T Q p)`` is itself an upper bound on gamma (Jensen),
the hard-margin kernel-SVM margin. (2) Pairwise Frank-Wolfe with exact line
search on the sample average ``F_K(p) = (1/K) sum_k ||g_p(z_k)||`` over ``K``
fixed draws. We keep ``P_ki = 1(<z_k, x_i> > 0) <g_p(z_k), x_i>`` and
``||g_p(z_k)||`` and update both in ``O(K n)`` per step through the Gram matrix
of the inputs (a step moves mass between two points), so a step costs no
``K x n x d`` product. (3) Certification on *fresh* draws, independent of the
solver's: ``upper = mean ||g_p(z)||`` (an unbiased estimate of ``F(p) >= gamma``)
with its standard error, and per point the witness margin ``m_i(p)`` with its
standard error; ``lower = min_i m_i`` (``v_p`` is admissible, so every true
``m_i(p) <= ... `` and ``min_i m_i(p) <= gamma``). :meth:`MarginEstimate.interval`
turns these into a conservative interval ``[min_i (m_i - k se_i), upper + k upper_se]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from kdlib.ntk import check_inputs, limit_kernel

__all__ = [
    "MarginEstimate",
    "check_labelled",
    "kernel_svm_dual",
    "estimate_gamma",
    "witness",
    "witness_margins",
    "teacher_logits",
    "exact_gamma_2d",
]


def check_labelled(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a labelled dataset: n >= 2 finite non-zero inputs, labels in {-1,+1}, both classes present."""
    x = check_inputs(x)
    if x.shape[0] < 2:
        raise ValueError(f"gamma needs at least n = 2 points, got n = {x.shape[0]}")
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    y = y.to(device=x.device, dtype=x.dtype).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("labels must be -1 or +1")
    if bool((y == 1).all()) or bool((y == -1).all()):
        raise ValueError("the data hold a single class; gamma needs both labels")
    if bool((x.norm(dim=1) == 0).any()):
        raise ValueError("an input is all zeros: phi_x = 0 and no margin is possible")
    return x, y


def _check_count(name: str, k: int, minimum: int = 1) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {k!r}")
    return k


def kernel_svm_dual(Q: torch.Tensor, *, steps: int = 20000, tol: float = 1e-9) -> torch.Tensor:
    """``argmin_{p in simplex} p^T Q p`` by pairwise Frank-Wolfe with exact line search (float64)."""
    Q = Q.to(torch.float64)
    n = Q.shape[0]
    p = torch.zeros(n, dtype=Q.dtype, device=Q.device)
    i0 = int(torch.argmin(Q.diagonal()))
    p[i0] = 1.0
    Qp = Q[:, i0].clone()
    for _ in range(steps):
        s = int(torch.argmin(Qp))
        sup = p > 0
        a = int(torch.where(sup, Qp, torch.full_like(Qp, -math.inf)).argmax())
        gap = float(Qp[a] - Qp[s])
        if gap <= tol * max(float(p @ Qp), 1e-300):
            break
        curv = float(Q[s, s] + Q[a, a] - 2 * Q[s, a])
        t = float(p[a]) if curv <= 0 else min(float(p[a]), gap / curv)
        p[s] += t
        p[a] -= t
        if p[a] <= 1e-15:
            p[a] = 0.0
        Qp += t * (Q[:, s] - Q[:, a])
    return p / p.sum()


@dataclass
class MarginEstimate:
    """gamma of ``(x, y)`` with a certified interval (see the module docstring).

    ``upper``: mean of ``||g_p(z)||`` over ``n_eval`` fresh draws (>= gamma in
    expectation), ``upper_se`` its standard error. ``lower``: ``min_i`` of the
    witness margins ``margins`` on the same fresh draws, ``lower_se`` the standard
    error of that point's estimate. ``p``: the dual weights (simplex, length n).
    ``svm_upper``: ``sqrt(min_p E||g_p||^2)`` (exact, deterministic, >= gamma).
    ``train_gap``: the duality gap of the sample problem at the end of the solver.
    """

    lower: float
    upper: float
    lower_se: float
    upper_se: float
    p: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    n_z: int
    n_eval: int
    seed: int
    margins: torch.Tensor
    margins_se: torch.Tensor
    svm_upper: float
    train_value: float
    train_gap: float
    steps: int
    history: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def gamma(self) -> float:
        """Midpoint of the point estimates ``(lower + upper) / 2``."""
        return 0.5 * (self.lower + self.upper)

    def interval(self, k: float = 3.0) -> tuple[float, float]:
        """Conservative interval ``[min_i (m_i - k se_i), upper + k upper_se]``.

        The lower end takes every point's own lower confidence end (so a point
        whose margin is estimated with a large error cannot hide below the
        minimum); the default ``k = 3`` is a per-point 3-sigma rule.
        """
        lo = float((self.margins - k * self.margins_se).min())
        return lo, self.upper + k * self.upper_se

    def relative_width(self, k: float = 3.0) -> float:
        lo, hi = self.interval(k)
        return (hi - lo) / max(self.gamma, 1e-300)

    def support(self, tol: float = 1e-6) -> torch.Tensor:
        """Indices of the points carrying dual weight, heaviest first."""
        idx = torch.nonzero(self.p > tol).flatten()
        return idx[torch.argsort(self.p[idx], descending=True)]

    def witness(self, z: torch.Tensor) -> torch.Tensor:
        """``v_p(z) = g_p(z) / ||g_p(z)||`` for each row of ``z`` (K x d), 0 where ``g_p = 0``."""
        return witness(self, z)


def _g(p: torch.Tensor, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``g_p(z_k) = sum_i p_i y_i 1(<z_k, x_i> > 0) x_i`` (K x d), over the support of p only."""
    sup = torch.nonzero(p > 0).flatten()
    xs = x[sup]
    mask = (z @ xs.T > 0).to(x.dtype)
    return (mask * (p[sup] * y[sup])) @ xs


def witness(estimate: MarginEstimate, z: torch.Tensor) -> torch.Tensor:
    """The witness ``v(z) = g_p(z) / ||g_p(z)||`` (K x d, each row of norm 1 or 0)."""
    z = check_inputs(z, "z").to(estimate.x.dtype)
    if z.shape[1] != estimate.x.shape[1]:
        raise ValueError(f"z has {z.shape[1]} coordinates, the data {estimate.x.shape[1]}")
    G = _g(estimate.p.to(estimate.x.dtype), estimate.x, estimate.y, z)
    nr = G.norm(dim=1, keepdim=True)
    return torch.where(nr > 0, G / nr.clamp_min(1e-30), torch.zeros_like(G))


def _draw(k: int, d: int, gen: torch.Generator, dtype: torch.dtype, device) -> torch.Tensor:
    return torch.randn(k, d, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)


@torch.no_grad()
def witness_margins(
    p: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_z: int,
    seed: int,
    queries: torch.Tensor | None = None,
    chunk: int = 4096,
) -> dict[str, torch.Tensor | float]:
    """Monte-Carlo over ``n_z`` fresh draws of ``E_z 1(<z, q_j> > 0) <v_p(z), q_j>`` per query ``q_j``
    (default: the data ``x``), with standard errors, and of ``E||g_p(z)||``.

    Returns ``mean`` (per query, without the label), ``se``, ``norm_mean``, ``norm_se``.
    """
    _check_count("n_z", n_z, 2)
    q = x if queries is None else check_inputs(queries, "queries").to(x.dtype)
    gen = torch.Generator().manual_seed(int(seed))
    s1 = torch.zeros(q.shape[0], dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s1)
    n1 = n2 = 0.0
    done = 0
    while done < n_z:
        k = min(chunk, n_z - done)
        z = _draw(k, x.shape[1], gen, x.dtype, x.device)
        G = _g(p.to(x.dtype), x, y, z)
        nr = G.norm(dim=1)
        V = G / nr.clamp_min(1e-30)[:, None]
        zq = z @ q.T
        R = torch.where(zq > 0, V @ q.T, torch.zeros((), dtype=x.dtype, device=x.device)).to(torch.float64)
        s1 += R.sum(0)
        s2 += (R * R).sum(0)
        nr64 = nr.to(torch.float64)
        n1 += float(nr64.sum())
        n2 += float((nr64 * nr64).sum())
        done += k
    mean = s1 / n_z
    var = (s2 / n_z - mean * mean).clamp_min(0) * n_z / (n_z - 1)
    nm = n1 / n_z
    nv = max(n2 / n_z - nm * nm, 0.0) * n_z / (n_z - 1)
    return {"mean": mean, "se": (var / n_z).sqrt(), "norm_mean": nm, "norm_se": math.sqrt(nv / n_z)}


@torch.no_grad()
def _pairwise_fw(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor,
    z: torch.Tensor,
    *,
    steps: int,
    tol: float,
    refresh: int,
    progress: bool,
) -> tuple[torch.Tensor, float, float, int, list[tuple[int, float, float]]]:
    """Pairwise Frank-Wolfe on ``F_K(p) = mean_k ||g_p(z_k)||`` (see the module docstring)."""
    dt = x.dtype
    M = (z @ x.T > 0).to(dt)  # K x n masks
    K = M.shape[0]
    gram = x @ x.T
    sq = gram.diagonal().clone()

    def rebuild(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sup = torch.nonzero(p > 0).flatten()
        G = (M[:, sup] * (p[sup] * y[sup])) @ x[sup]
        return (G @ x.T) * M, G.norm(dim=1)  # Pm_ki = M_ki <g_k, x_i>, ||g_k||

    Pm, nr = rebuild(p)
    hist: list[tuple[int, float, float]] = []
    F = gap = math.inf
    t_steps = 0
    bar = tqdm(range(steps), desc="gamma (pairwise FW)", disable=not progress, leave=False)
    for it in bar:
        if it and it % refresh == 0:
            Pm, nr = rebuild(p)
        inv = torch.where(nr > 0, 1.0 / nr.clamp_min(1e-30), torch.zeros_like(nr))
        m = y * (inv @ Pm) / K  # witness margins on the sample = gradient of F_K
        F = float(nr.mean())
        s = int(torch.argmin(m))
        a = int(torch.where(p > 0, m, torch.full_like(m, -math.inf)).argmax())
        gap = F - float(m[s])
        if it % 50 == 0:
            hist.append((it, F, float(m[s])))
            bar.set_postfix(F=f"{F:.5f}", gap=f"{gap:.2e}")
        if gap <= tol * F or s == a:
            break
        # direction b_k = y_s M_ks x_s - y_a M_ka x_a ; t in [0, p_a]
        Ms, Ma = M[:, s], M[:, a]
        ab = y[s] * Pm[:, s] - y[a] * Pm[:, a]
        bb = Ms * sq[s] + Ma * sq[a] - 2 * y[s] * y[a] * Ms * Ma * gram[s, a]
        aa = nr * nr
        lo, hi = 0.0, float(p[a])

        def dh(t: float) -> float:
            r = (aa + 2 * t * ab + t * t * bb).clamp_min(0).sqrt()
            num = ab + t * bb
            return float(torch.where(r > 0, num / r.clamp_min(1e-30), torch.zeros_like(r)).mean())

        if dh(hi) <= 0:
            t = hi
        else:
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                if dh(mid) > 0:
                    hi = mid
                else:
                    lo = mid
            t = 0.5 * (lo + hi)
        if t <= 0:
            break
        cs = (t * y[s]) * Ms
        ca = (t * y[a]) * Ma
        Pm.add_(torch.outer(cs, gram[s]).sub_(torch.outer(ca, gram[a])).mul_(M))
        nr = (aa + 2 * t * ab + t * t * bb).clamp_min(0).sqrt()
        p[s] += t
        p[a] -= t
        if float(p[a]) <= 1e-12 * float(p.max()):
            p[a] = 0.0
        t_steps += 1
    p = p / p.sum()
    return p, F, gap, t_steps, hist


@torch.no_grad()
def estimate_gamma(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_z: int = 8192,
    seed: int = 0,
    n_eval: int | None = None,
    steps: int = 3000,
    tol: float = 1e-4,
    refresh: int = 200,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> MarginEstimate:
    """gamma of ``(x, y)`` with a certified interval.

    ``n_z`` draws of ``z`` for the solver, ``n_eval`` (default ``4 n_z``) fresh
    draws for the certificate (seeded ``seed + 1``; the solver's are seeded ``seed``).
    ``steps`` pairwise Frank-Wolfe steps at most, stopping early when the sample
    duality gap falls under ``tol`` times the sample value.
    """
    x, y = check_labelled(x, y)
    _check_count("n_z", n_z, 1)
    _check_count("steps", steps, 1)
    n_eval = 4 * n_z if n_eval is None else _check_count("n_eval", n_eval, 2)
    x = x.to(dtype)
    y = y.to(dtype)
    Q = (y[:, None] * y[None, :]).to(torch.float64) * limit_kernel(x.to(torch.float64))
    p0 = kernel_svm_dual(Q)
    svm_upper = math.sqrt(max(float(p0 @ Q @ p0), 0.0))
    gen = torch.Generator().manual_seed(int(seed))
    z = _draw(n_z, x.shape[1], gen, dtype, x.device)
    p, F, gap, t_steps, hist = _pairwise_fw(
        x, y, p0.to(dtype).clone(), z, steps=steps, tol=tol, refresh=refresh, progress=progress
    )
    del z
    ev = witness_margins(p, x, y, n_z=n_eval, seed=seed + 1)
    margins = (y.to(torch.float64) * ev["mean"]).cpu()
    se = ev["se"].cpu()
    i = int(torch.argmin(margins))
    return MarginEstimate(
        lower=float(margins[i]),
        upper=float(ev["norm_mean"]),
        lower_se=float(se[i]),
        upper_se=float(ev["norm_se"]),
        p=p.detach().cpu().to(torch.float64),
        x=x,
        y=y,
        n_z=n_z,
        n_eval=n_eval,
        seed=seed,
        margins=margins,
        margins_se=se,
        svm_upper=svm_upper,
        train_value=F,
        train_gap=gap,
        steps=t_steps,
        history=hist,
    )


@torch.no_grad()
def teacher_logits(estimate: MarginEstimate, x: torch.Tensor, *, n_z: int = 16384, seed: int = 0) -> torch.Tensor:
    """The kernel-limit teacher's logits ``z_j = E_z[<v(z), phi_{x_j}(z)>]`` for inputs ``x`` (n,).

    ``v`` is the estimate's witness; ``sigmoid(z_j)`` are the theory's soft labels
    (paper, Section 3.1). Monte Carlo over ``n_z`` draws seeded by ``seed``; on the
    training points ``y_i z_i`` are the witness margins (>= gamma in the limit).
    """
    x = check_inputs(x).to(estimate.x.dtype)
    if x.shape[1] != estimate.x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features, the estimate's data {estimate.x.shape[1]}")
    out = witness_margins(estimate.p, estimate.x, estimate.y, n_z=n_z, seed=seed, queries=x)
    return out["mean"].to(torch.float32).cpu()


def exact_gamma_2d(x: torch.Tensor, y: torch.Tensor, *, grid: int = 200000) -> float:
    """gamma in two dimensions by exact angular integration over a fine grid of directions.

    In 2-D, z's direction is an angle ``alpha`` (uniform), the masks are arcs, and
    ``F(p) = (1/2pi) int ||g_p(alpha)|| d alpha``, a piecewise-smooth integral we
    evaluate on ``grid`` equally spaced angles (midpoint rule; the integrand is
    piecewise smooth with at most 2n kinks, so the error is O(n / grid^2)
    per smooth piece plus O(n / grid) at the kinks), then minimise over the simplex by
    the same pairwise Frank-Wolfe solver. Used by the tests.
    """
    x, y = check_labelled(x.to(torch.float64), y.to(torch.float64))
    if x.shape[1] != 2:
        raise ValueError("exact_gamma_2d needs two-dimensional inputs")
    alpha = (torch.arange(grid, dtype=torch.float64) + 0.5) * (2 * math.pi / grid)
    z = torch.stack([alpha.cos(), alpha.sin()], 1)
    Q = (y[:, None] * y[None, :]) * limit_kernel(x)
    p0 = kernel_svm_dual(Q)
    p, F, gap, _, _ = _pairwise_fw(x, y, p0.clone(), z, steps=5000, tol=1e-12, refresh=100, progress=False)
    return F
