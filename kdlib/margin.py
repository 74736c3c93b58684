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
search on the sample average over ``K`` fixed draws of ``z``. We keep
``P_ki = 1(<z_k, x_i> > 0) <g_p(z_k), x_i>`` and ``||g_p(z_k)||`` and update both
in ``O(K n)`` per step through the Gram matrix of the inputs (a step moves mass
between two points), so a step costs no ``K x n x d`` product. A control
variate lowers the sampling noise: since ``E||g_p||^2 = p^T Q p`` exactly, the
solver minimises ``mean_k [||g_k|| - ||g_k||^2 / (2c)] + p^T Q p / (2c)``, which
has the same expectation, with the constant ``c = sqrt(p0^T Q p0)`` fixed before
any draw. Mirrored (antithetic) draws: each ``z`` is used with ``-z`` (also
``N(0, I)``), whose masks are the complements and ``g_p(-z) = w - g_p(z)`` with
``w = sum_i p_i y_i x_i``, so the mirror costs no ``d``-dimensional product and the
two halves of a pair are negatively correlated (a point is active for exactly one of
them). The steps run on a working set (the support and the near-minimal margins),
with an exact rebuild and a full check of the duality gap every ``refresh`` steps.
(3) Certification on *fresh* draws (mirrored too), independent of the solver's:
``upper`` estimates ``F(p) >= gamma`` (unbiased), and per point the witness
margin ``m_i(p)`` is estimated with its standard error; ``lower = min_i m_i``
(``v_p`` is admissible, so the true ``min_i m_i(p) <= gamma``).
:meth:`MarginEstimate.certified_interval` turns the plain (no control variate) samples of
the same draws, which are bounded, into a finite-sample interval: an empirical Bernstein bound
at ``(1 - confidence)/2`` on each end (``confidence = CONFIDENCE = 0.99`` by default), valid for
any ``n_eval``. :meth:`MarginEstimate.asymptotic_interval` is the former
``[min_i (m_i - k se_i), upper + k upper_se]`` rule, whose coverage rests on the normal
approximation.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from kdlib.ntk import check_inputs, limit_kernel

__all__ = [
    "CONFIDENCE",
    "MarginEstimate",
    "check_labelled",
    "kernel_svm_dual",
    "estimate_gamma",
    "evaluate_witness",
    "witness",
    "witness_margins",
    "teacher_logits",
    "dual_weights",
]


#: The default confidence of :meth:`MarginEstimate.certified_interval` (two-sided, both ends together).
CONFIDENCE = 0.99


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
    error of that point's estimate (these four with the control variate).
    ``p``: the dual weights (simplex, length n).
    ``svm_upper``: ``sqrt(min_p E||g_p||^2)`` (exact, deterministic, >= gamma).
    ``train_gap``: the duality gap of the sample problem at the end of the solver.
    ``plain_margins``, ``plain_var``, ``plain_upper``, ``plain_upper_var``, ``margin_range``,
    ``norm_range``: the same fresh draws without the control variate, with the a priori
    ranges of one sample (:func:`witness_margins`), for :meth:`certified_interval`.
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
    c: float | None = None
    plain_margins: torch.Tensor | None = None
    plain_var: torch.Tensor | None = None
    plain_upper: float | None = None
    plain_upper_var: float | None = None
    margin_range: torch.Tensor | None = None
    norm_range: float | None = None

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def gamma(self) -> float:
        """Midpoint of the point estimates ``(lower + upper) / 2``."""
        return 0.5 * (self.lower + self.upper)

    def asymptotic_interval(self, k: float = 3.0) -> tuple[float, float]:
        """The asymptotic interval ``[min_i (m_i - k se_i), upper + k upper_se]`` (not a certificate).

        Each end is a ``k``-standard-error rule: its coverage rests on the normal approximation
        of the Monte-Carlo means, which holds only as ``n_eval`` grows. The lower end takes every
        point's own lower end (a point whose margin is estimated with a large error cannot hide
        below the minimum). :meth:`certified_interval` is the finite-sample version.
        """
        lo = float((self.margins - k * self.margins_se).min())
        return lo, self.upper + k * self.upper_se

    def certified_interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """An interval that contains gamma with probability at least ``confidence`` over the fresh draws.

        With ``alpha = 1 - confidence``, each end is an empirical Bernstein bound
        (:func:`kdlib.concentration.empirical_bernstein_radius`) at failure probability ``alpha/2``
        on the plain Monte-Carlo samples, which lie in intervals known in advance (``||v_p|| <= 1``,
        ``||x_i|| <= 1``: ``margin_range``, ``norm_range``):

            lower = min_i (m_i - b_i),    upper = F + b_F.

        Why it holds. ``p`` comes from the solver's draws, independent of the fresh ones, so it is
        fixed here. Let ``j`` be the point with the smallest *true* margin of ``v_p``; ``v_p`` is
        admissible, so ``gamma >= m_j(p)``, and ``lower > gamma`` needs ``m_j - b_j > m_j(p)``, an
        event of probability at most ``alpha/2`` for that one fixed point: the minimum over ``i``
        needs no union bound over the points. ``F(p) >= gamma`` (weak duality), so
        ``upper < gamma`` needs ``F + b_F < F(p)``, probability at most ``alpha/2``. A union bound
        over the two ends gives ``confidence``.
        """
        from kdlib.concentration import empirical_bernstein_radius

        if self.plain_margins is None or self.plain_upper is None:
            raise ValueError("this estimate holds no plain Monte-Carlo samples (it was rebuilt from a record); "
                             "the certified interval is the record's")
        conf = float(confidence)
        if not (0.0 < conf < 1.0):
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        a = 0.5 * (1.0 - conf)
        b = empirical_bernstein_radius(self.plain_var, self.n_eval, self.margin_range, a)
        bF = empirical_bernstein_radius(self.plain_upper_var, self.n_eval, self.norm_range, a)
        return float((self.plain_margins - b).min()), self.plain_upper + bF

    @staticmethod
    def relative_width(interval: tuple[float, float]) -> float:
        """``(hi - lo) / ((lo + hi) / 2)`` of an interval ``(lo, hi)``."""
        lo, hi = interval
        return (hi - lo) / max(0.5 * (lo + hi), 1e-300)

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


def _kernel_part(p: torch.Tensor, x: torch.Tensor, y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``E_z[1(<z, q_j> > 0) <g_p(z), q_j>] = sum_i p_i y_i K(q_j, x_i)`` exactly (closed-form kernel)."""
    sup = torch.nonzero(p > 0).flatten()
    k = limit_kernel(q.to(torch.float64), x[sup].to(torch.float64))
    return k @ (p[sup] * y[sup]).to(torch.float64)


@torch.no_grad()
def witness_margins(
    p: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_z: int,
    seed: int,
    queries: torch.Tensor | None = None,
    c: float | None = None,
    chunk: int = 4096,
    antithetic: bool = False,
) -> dict[str, torch.Tensor | float]:
    """Monte Carlo over ``n_z`` fresh draws of ``E_z 1(<z, q_j> > 0) <v_p(z), q_j>`` per query ``q_j``
    (default: the data ``x``), with standard errors, and of ``F(p) = E||g_p(z)||``.

    Control variate (exact in expectation for any constant ``c > 0``): since
    ``E[1(<z,q> > 0) <g_p(z), q>] = sum_i p_i y_i K(q, x_i)`` in closed form, we average
    ``1(<z,q> > 0) <g_p(z), q> (1/||g_p(z)|| - 1/c)`` and add the exact term divided by
    ``c``; likewise ``E||g|| = E[||g|| - ||g||^2/(2c)] + p^T Q p / (2c)``. With ``c``
    near ``||g_p(z)||`` the variance drops (about 2x on MNIST). ``c=None``: plain Monte Carlo.

    ``antithetic``: each draw ``z`` is used together with its mirror image ``-z`` (also
    ``N(0, I)``), and the pair's mean is one sample (``n_z`` independent pairs, standard
    errors over pairs). The mirror costs almost nothing: its masks are the complements
    (``1(<-z, x> > 0) = 1 - 1(<z, x> > 0)`` except on the null set ``<z, x> = 0``) and
    ``g_p(-z) = w - g_p(z)`` with ``w = sum_i p_i y_i x_i``. It also lowers the variance of
    the margins: ``1(<z, q> > 0) 1(<-z, q> > 0) = 0``, so the two halves of a pair are
    negatively correlated.

    Evaluation: with ``s`` support points (``p_i > 0``) and ``s <= d``, through inner
    products only, ``<g_p(z), q_j> = sum_i 1(<z, x_i> > 0) p_i y_i <x_i, q_j>`` and
    ``||g_p(z)||^2`` from the support's Gram matrix (``O(s m + s^2)`` per draw after the
    masks' ``O(d m)``); otherwise through ``g_p(z)`` in ``R^d``.
    Returns ``mean`` (per query, without the label), ``se``, ``norm_mean``, ``norm_se`` (with the
    control variate when ``c`` is given) and, from the same draws without the control variate,
    ``plain_mean``, ``plain_var`` (unbiased sample variance of one sample), ``plain_norm_mean``,
    ``plain_norm_var``, with the a priori ranges of one plain sample, ``margin_range`` (per query:
    ``||q_j||`` with mirrored draws, whose pair mean lies in ``[-||q_j||/2, ||q_j||/2]``, else
    ``2 ||q_j||``) and ``norm_range`` (``sum_i p_i ||x_i||``, a bound on ``||g_p(z)||``). The plain
    samples are bounded by these ranges; the control-variate ones are not (they reach ``1/c``), so
    the finite-sample certificate (:meth:`MarginEstimate.certified_interval`) uses the plain ones.
    """
    _check_count("n_z", n_z, 2)
    q = x if queries is None else check_inputs(queries, "queries").to(x.dtype)
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features, the data {x.shape[1]}")
    if c is not None and not (c > 0 and math.isfinite(c)):
        raise ValueError(f"the control-variate constant c must be finite and > 0, got {c}")
    dt = x.dtype
    pd = p.to(dt)
    sup = torch.nonzero(pd > 0).flatten()
    xs = x[sup]
    w = pd[sup] * y[sup].to(dt)
    use_gram = sup.numel() <= x.shape[1]
    if use_gram:
        Gsq = xs @ q.T  # s x m
        Gss = xs @ xs.T  # s x s
        wq = w @ Gsq  # <w, q_j>
        ws = Gss @ w  # <w, x_i>, i in the support
    else:
        wbar = w @ xs  # w = sum_i p_i y_i x_i in R^d
        wq = q @ wbar
    gen = torch.Generator().manual_seed(int(seed))
    s1 = torch.zeros(q.shape[0], dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s1)
    t1 = torch.zeros_like(s1)  # plain terms (no control variate), for the certificate
    t2 = torch.zeros_like(s1)
    n1 = n2 = u1 = u2 = 0.0
    done = 0
    inv_c = 0.0 if c is None else 1.0 / c
    zero = torch.zeros((), dtype=dt, device=x.device)

    def inverse(r2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = r2.clamp_min(0).sqrt()
        return torch.where(r > 0, 1.0 / r.clamp_min(1e-30), zero), r

    while done < n_z:
        k = min(chunk, n_z - done)
        z = _draw(k, x.shape[1], gen, dt, x.device)
        Zq = z @ q.T  # k x m
        on = Zq > 0
        Ms = (on[:, sup] if queries is None else (z @ xs.T > 0)).to(dt)
        Mw = Ms * w  # k x s
        if use_gram:
            H = Mw @ Gsq  # <g(z), q_j>
            P = Mw @ Gss  # <g(z), x_i>, i in the support
            r2 = (P * Mw).sum(1)
        else:
            G = Mw @ xs
            H = G @ q.T
            r2 = (G * G).sum(1)
        inv_r, r = inverse(r2)
        Hon = torch.where(on, H, zero)
        Rp = Hon * inv_r[:, None]  # 1(<z,q> > 0) <v_p(z), q>
        R = Rp - inv_c * Hon if c is not None else Rp
        hp = r.to(torch.float64)
        h = hp - inv_c * 0.5 * hp * hp
        if antithetic:  # the mirror -z: complementary masks, g(-z) = w - g(z)
            Mw.neg_().add_(w)
            if use_gram:
                r2m = ((ws - P) * Mw).sum(1)
            else:
                r2m = ((wbar - G) ** 2).sum(1)
            inv_rm, rm = inverse(r2m)
            Hoff = torch.where(on, zero, wq - H)
            Rpm = Hoff * inv_rm[:, None]
            if c is not None:
                R = R + (Rpm - inv_c * Hoff)
            Rp = (Rp + Rpm).mul_(0.5)
            R = Rp if c is None else R.mul_(0.5)
            hm = rm.to(torch.float64)
            hp = 0.5 * (hp + hm)
            h = 0.5 * (h + hm - inv_c * 0.5 * hm * hm)
        R = R.to(torch.float64)
        Rp = Rp.to(torch.float64)
        s1 += R.sum(0)
        s2 += (R * R).sum(0)
        t1 += Rp.sum(0)
        t2 += (Rp * Rp).sum(0)
        n1 += float(h.sum())
        n2 += float((h * h).sum())
        u1 += float(hp.sum())
        u2 += float((hp * hp).sum())
        done += k
    mean = s1 / n_z
    var = (s2 / n_z - mean * mean).clamp_min(0) * n_z / (n_z - 1)
    nm = n1 / n_z
    nv = max(n2 / n_z - nm * nm, 0.0) * n_z / (n_z - 1)
    plain_mean = t1 / n_z
    plain_var = (t2 / n_z - plain_mean * plain_mean).clamp_min(0) * n_z / (n_z - 1)
    plain_nm = u1 / n_z
    plain_nv = max(u2 / n_z - plain_nm * plain_nm, 0.0) * n_z / (n_z - 1)
    # a priori ranges of one sample: |1(<z,q> > 0) <v_p(z), q>| <= ||q||, and with mirrored draws
    # exactly one of z, -z activates q, so the pair's mean lies in [-||q||/2, ||q||/2];
    # 0 <= ||g_p(z)|| <= sum_i p_i ||x_i||
    qn = q.to(torch.float64).norm(dim=1)
    margin_range = qn if antithetic else 2.0 * qn
    norm_range = float((p.to(torch.float64)[sup] * x[sup].to(torch.float64).norm(dim=1)).sum())
    if c is not None:
        p64 = p.to(torch.float64)
        mean = mean + _kernel_part(p64, x, y.to(torch.float64), q) / c
        sup = torch.nonzero(p64 > 0).flatten()
        xs = x[sup].to(torch.float64)
        w = p64[sup] * y[sup].to(torch.float64)
        Qs = (w[:, None] * w[None, :]) * limit_kernel(xs)
        nm = nm + float(Qs.sum()) / (2 * c)
    return {"mean": mean, "se": (var / n_z).sqrt(), "norm_mean": nm, "norm_se": math.sqrt(nv / n_z),
            "plain_mean": plain_mean, "plain_var": plain_var, "plain_norm_mean": plain_nm, "plain_norm_var": plain_nv,
            "margin_range": margin_range, "norm_range": norm_range}


def _line_search(
    aa: torch.Tensor, ab: torch.Tensor, bb: torch.Tensor, wts: torch.Tensor, t_max: float,
    inv_c: float = 0.0, lin: float = 0.0, quad: float = 0.0,
) -> float:
    """``argmin_{0 <= t <= t_max} h(t)``, ``h(t) = sum_k w_k [r_k(t) - inv_c r_k(t)^2 / 2] + inv_c (lin t + quad t^2 / 2)``
    with ``r_k(t) = sqrt(aa_k + 2 t ab_k + t^2 bb_k)`` (the control-variate sample objective
    along a pairwise direction; ``inv_c = 0``: plain).

    Bisection on the derivative, in float64 numpy over the draws the step touches.
    """
    act = ((ab != 0) | (bb != 0)).cpu().numpy()
    Wt = wts.cpu().numpy().astype(np.float64)[act]
    A = aa.cpu().numpy().astype(np.float64)[act]
    B = ab.cpu().numpy().astype(np.float64)[act]
    C = bb.cpu().numpy().astype(np.float64)[act]

    def dh(t: float) -> float:
        r = np.sqrt(np.maximum(A + 2 * t * B + t * t * C, 0.0))
        num = B + t * C
        return float((Wt * (np.where(r > 0, num / np.maximum(r, 1e-300), 0.0) - inv_c * num)).sum()) + inv_c * (lin + quad * t)

    lo, hi = 0.0, t_max
    if dh(hi) <= 0:
        return hi
    if dh(0.0) >= 0:
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if dh(mid) > 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def _move_mass(p: torch.Tensor, s: int, a: int, t: float, Qp: torch.Tensor | None, Qd: torch.Tensor | None) -> None:
    """One pairwise step on the simplex, in place: weight ``t`` moves from point ``a`` to point ``s``,
    ``Qp = Q p`` follows it (when the control variate keeps it), and a source weight left at
    round-off level (``<= 1e-12 max p``) is set to zero so the point leaves the support."""
    if Qp is not None:
        Qp += t * (Qd[:, s] - Qd[:, a])
    p[s] += t
    p[a] -= t
    if float(p[a]) <= 1e-12 * float(p.max()):
        p[a] = 0.0


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
    Q: torch.Tensor | None = None,
    c: float | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float, float, int, list[tuple[int, float, float]]]:
    """Pairwise Frank-Wolfe on the sample objective (see the module docstring).

    Plain: ``F_K(p) = sum_k w_k ||g_p(z_k)||`` (``weights`` w, default uniform ``1/K``). With ``Q`` (exact ``y_i y_j K(x_i, x_j)``) and
    ``c``: the control-variate objective ``mean_k [||g_k|| - ||g_k||^2/(2c)] + p^T Q p/(2c)``,
    which has the same expectation and a smaller sampling error.
    Returns ``p``, the sample value, the sample duality gap, the number of steps, a history.
    """
    dt = x.dtype
    M = (z @ x.T > 0).to(dt)  # K x n masks
    K = M.shape[0]
    wts = torch.full((K,), 1.0 / K, dtype=dt, device=x.device) if weights is None else weights.to(dt)
    gram = x @ x.T
    sq = gram.diagonal().clone()
    use_cv = Q is not None and c is not None
    inv_c = 1.0 / c if use_cv else 0.0
    Qd = Q.to(dt) if use_cv else None

    def rebuild(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sup = torch.nonzero(p > 0).flatten()
        G = (M[:, sup] * (p[sup] * y[sup])) @ x[sup]
        return (G @ x.T) * M, G.norm(dim=1)  # Pm_ki = M_ki <g_k, x_i>, ||g_k||

    Pm, nr = rebuild(p)
    Qp = Qd @ p if use_cv else None
    hist: list[tuple[int, float, float]] = []
    F = gap = math.inf
    t_steps = 0
    bar = tqdm(range(steps + 1), desc="gamma (pairwise FW)", disable=not progress, leave=False)
    for it in bar:
        if it and it % refresh == 0:
            Pm, nr = rebuild(p)
            if use_cv:
                Qp = Qd @ p
        w = torch.where(nr > 0, 1.0 / nr.clamp_min(1e-30), torch.zeros_like(nr)) - inv_c
        m = y * ((w * wts) @ Pm)  # witness margins on the sample = gradient of the objective
        if use_cv:
            m = m + inv_c * Qp
            F = float(((nr - 0.5 * inv_c * nr * nr) * wts).sum()) + 0.5 * inv_c * float(p @ Qp)
        else:
            F = float((nr * wts).sum())
        s = int(torch.argmin(m))
        a = int(torch.where(p > 0, m, torch.full_like(m, -math.inf)).argmax())
        gap = F - float(m[s])
        if it % 50 == 0:
            hist.append((it, F, float(m[s])))
            bar.set_postfix(F=f"{F:.5f}", gap=f"{gap:.2e}")
        if gap <= tol * F or s == a or it == steps:
            break
        # direction b_k = y_s M_ks x_s - y_a M_ka x_a ; t in [0, p_a]
        Ms, Ma = M[:, s], M[:, a]
        ab = y[s] * Pm[:, s] - y[a] * Pm[:, a]
        bb = Ms * sq[s] + Ma * sq[a] - 2 * y[s] * y[a] * Ms * Ma * gram[s, a]
        aa = nr * nr
        lin = quad = 0.0
        if use_cv:
            lin = float(Qp[s] - Qp[a])
            quad = float(Qd[s, s] + Qd[a, a] - 2 * Qd[s, a])
        t = _line_search(aa, ab, bb, wts, float(p[a]), inv_c, lin, quad)
        if t <= 0:
            break
        cs = (t * y[s]) * Ms
        ca = (t * y[a]) * Ma
        Pm.add_(torch.outer(cs, gram[s]).sub_(torch.outer(ca, gram[a])).mul_(M))
        nr = (aa + 2 * t * ab + t * t * bb).clamp_min(0).sqrt()
        _move_mass(p, s, a, t, Qp, Qd)
        t_steps += 1
    p = p / p.sum()
    return p, F, gap, t_steps, hist


@torch.no_grad()
def _pairwise_fw_mirror(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor,
    z: torch.Tensor,
    *,
    steps: int,
    tol: float,
    refresh: int,
    progress: bool,
    Q: torch.Tensor | None = None,
    c: float | None = None,
    slack: float | None = 0.25,
    pairs: int = 16,
) -> tuple[torch.Tensor, float, float, int, list[tuple[int, float, float]]]:
    """Pairwise Frank-Wolfe on the antithetic sample objective: the ``K`` draws ``z_k`` and their
    mirrors ``-z_k``, each of weight ``1/(2K)``,

        F_K(p) = (1/2K) sum_k [h(||g_p(z_k)||) + h(||g_p(-z_k)||)] (+ p^T Q p / (2c)),

    ``h(r) = r`` (plain) or ``r - r^2/(2c)`` (control variate, with ``Q`` and ``c``).

    State (stored transposed, n x K, so a point's row is contiguous): the unmasked inner
    products ``U_ik = <g_p(z_k), x_i>``, the masks ``M_ik = 1(<z_k, x_i> > 0)``, and
    ``wx_i = <w, x_i>`` with ``w = sum_j p_j y_j x_j``. The mirror needs no storage:
    its masks are ``1 - M`` and ``<g_p(-z_k), x_i> = wx_i - U_ik``. The gradient (the
    witness margins on the sample) is

        m_i = y_i sum_k [a_k M_ik U_ik + b_k (1 - M_ik)(wx_i - U_ik)] (+ (Qp)_i / c),

    ``a_k = h'(r_k)/(2K r_k)``, ``b_k`` the same for the mirror; a step moving mass ``t``
    from point ``a`` to point ``s`` changes ``U`` by a rank-2 term (one pass over ``U``).

    Working set (``slack``; ``None``: all points): between full evaluations (every ``refresh``
    steps, where ``U`` is also rebuilt exactly) the steps use only the support and the points
    whose margin is below ``(1 + slack) F_K``; mass moves only inside that set, and a point
    outside it can enter at the next full evaluation. The stopping rule is checked on a full
    evaluation: the Frank-Wolfe gap ``sum_i p_i m_i - min_i m_i <= tol F_K`` over all points
    (an upper bound on ``F_K(p) - min F_K`` for the convex ``F_K``). Returns ``p``, the sample
    value, that gap (at the last full evaluation), the number of steps, a history.

    Blocks of pairs (``pairs``): computing the margins is a pass over the whole ``U`` (memory
    bound), and so is a rank-2 update. So one pass chooses up to ``pairs`` disjoint pairs from
    the same margins (the lowest margins as targets ``s``, the highest support margins as sources
    ``a``, best first: :func:`_disjoint_pairs`) and takes their steps one after the other, each
    with an exact line search on the exact current state (the block's own rows of ``U``, ``r``,
    ``wx``, ``Qp`` and ``p`` are updated after every step; a pair that no longer descends is
    skipped), then applies all the block's rank-2 changes to ``U`` in one product. Every step
    still lowers ``F_K``; only the choice of the later pairs of a block uses margins from its
    start. A block holds at most ``pairs`` pairs and one pair per 64 points of the working set
    (small problems are not memory bound, and their few near-tied margins make stale choices
    poor); ``pairs = 1`` is the plain one-pair-per-pass method.
    """
    dt = x.dtype
    n = x.shape[0]
    MA = (x @ z.T > 0).to(dt)  # n x K
    K = MA.shape[1]
    half = 0.5 / K
    gram = x @ x.T
    sq = gram.diagonal().clone()
    use_cv = Q is not None and c is not None
    inv_c = 1.0 / c if use_cv else 0.0
    Qd = Q.to(dt) if use_cv else None
    zero = torch.zeros((), dtype=dt, device=x.device)
    every = torch.arange(n, device=x.device)

    def rebuild(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        sup = torch.nonzero(p > 0).flatten()
        w = p[sup] * y[sup]
        Ms = MA[sup]  # s x K
        UT = gram[:, sup] @ (Ms * w[:, None])  # n x K
        wx = gram[:, sup] @ w
        r2 = w @ (Ms * UT[sup])  # ||g||^2 = sum_i M_ik w_i <g, x_i>
        r2m = w @ ((1 - Ms) * (wx[sup, None] - UT[sup]))
        return UT, wx, r2.clamp_min(0).sqrt(), r2m.clamp_min(0).sqrt()

    def inv(r: torch.Tensor) -> torch.Tensor:
        return torch.where(r > 0, 1.0 / r.clamp_min(1e-30), zero) - inv_c

    def margins(UT, MT, buf, idx, wx, r, rm, Qp) -> tuple[torch.Tensor, float]:
        a_k = inv(r) * half
        b_k = inv(rm) * half
        torch.mul(MT, UT, out=buf)
        m = y[idx] * (buf @ (a_k + b_k) - UT @ b_k + wx[idx] * (b_k.sum() - MT @ b_k))
        F = float(((r - 0.5 * inv_c * r * r).sum() + (rm - 0.5 * inv_c * rm * rm).sum()) * half)
        if use_cv:
            m = m + inv_c * Qp[idx]
            F += 0.5 * inv_c * float(p @ Qp)
        return m, F

    hist: list[tuple[int, float, float]] = []
    F = gap = math.inf
    t_steps = since = 0
    full, stalled = True, False
    bar = tqdm(total=steps, desc="gamma (pairwise FW, mirrored draws)", disable=not progress, leave=False)
    while True:
        if full:  # exact rebuild, all points: the stopping rule, then a new working set
            UT, wx, r, rm = rebuild(p)
            Qp = Qd @ p if use_cv else None
            buf = torch.empty_like(UT)
            m, F = margins(UT, MA, buf, every, wx, r, rm, Qp)
            gap = float(p @ m) - float(m.min())
            hist.append((t_steps, F, float(m.min())))
            bar.set_postfix(F=f"{F:.5f}", gap=f"{gap:.2e}")
            if gap <= tol * F or t_steps >= steps or stalled:
                break
            if slack is None:
                idx, MT = every, MA
            else:
                idx = torch.nonzero((p > 0) | (m <= (1 + slack) * F)).flatten()
                UT, MT = UT[idx], MA[idx]
                buf = torch.empty_like(UT)
                m = m[idx]
            gW = gram[idx]  # |W| x n
            full, since, fresh = False, 0, True
        else:
            m, F = margins(UT, MT, buf, idx, wx, r, rm, Qp)
        pW = p[idx]
        s_loc = int(torch.argmin(m))
        a_loc = int(torch.where(pW > 0, m, torch.full_like(m, -math.inf)).argmax())
        if float(pW @ m) - float(m[s_loc]) <= tol * F or s_loc == a_loc:
            if fresh:  # the full evaluation just done says the same: nothing left to do
                break
            full = True
            continue
        fresh = False
        block = _disjoint_pairs(m, pW > 0, min(pairs, max(1, len(idx) // 64), steps - t_steps, refresh - since))
        members = sorted({i for pair in block for i in pair})
        row_of = {loc: j for j, loc in enumerate(members)}
        glob = idx[members]
        R = UT[members].clone()  # the current U rows of the block's points, kept exact step by step
        cols: list[int] = []
        coefs: list[torch.Tensor] = []
        for s_loc, a_loc in block:
            s, a = int(idx[s_loc]), int(idx[a_loc])
            Ms, Ma = MT[s_loc], MT[a_loc]
            Ns, Na = 1 - Ms, 1 - Ma
            ys, ya = y[s], y[a]
            Us, Ua = R[row_of[s_loc]], R[row_of[a_loc]]
            ab = torch.cat([ys * Ms * Us - ya * Ma * Ua, ys * Ns * (wx[s] - Us) - ya * Na * (wx[a] - Ua)])
            bb = torch.cat([
                Ms * sq[s] + Ma * sq[a] - 2 * ys * ya * Ms * Ma * gram[s, a],
                Ns * sq[s] + Na * sq[a] - 2 * ys * ya * Ns * Na * gram[s, a],
            ])
            aa = torch.cat([r * r, rm * rm])
            lin = quad = 0.0
            if use_cv:
                lin = float(Qp[s] - Qp[a])
                quad = float(Qd[s, s] + Qd[a, a] - 2 * Qd[s, a])
            t = _line_search(aa, ab, bb, torch.full_like(aa, half), float(p[a]), inv_c, lin, quad)
            if t <= 0:
                continue  # this pair no longer descends (its margins are from the start of the block)
            # g(z_k) gains t (y_s M_sk x_s - y_a M_ak x_a): a rank-2 change of U, applied to the
            # block's rows now and to all rows once at the end of the block
            step = torch.stack([(t * ys) * Ms, (-t * ya) * Ma])
            R.addmm_(gram[glob][:, [s, a]], step)
            cols += [s, a]
            coefs.append(step)
            wx += t * (ys * gram[s] - ya * gram[a])
            new = (aa + 2 * t * ab + t * t * bb).clamp_min(0).sqrt()
            r, rm = new[:K], new[K:]
            _move_mass(p, s, a, t, Qp, Qd)
            t_steps += 1
            since += 1
            bar.update(1)
        if not coefs:
            full = stalled = True  # no progress along any pair: stop after a full evaluation
            continue
        UT.addmm_(gW[:, cols], torch.cat(coefs))
        if since >= refresh or t_steps >= steps:
            full = True
    bar.close()
    p = p / p.sum()
    return p, F, gap, t_steps, hist


def _disjoint_pairs(m: torch.Tensor, on_support: torch.Tensor, j: int) -> list[tuple[int, int]]:
    """Up to ``j`` pairs ``(s, a)`` of distinct indices for a block of pairwise Frank-Wolfe steps:
    ``s`` runs over the lowest values of ``m``, ``a`` over the highest values of ``m`` among the
    ``on_support`` entries, both best first; a pair is kept while ``m[a] > m[s]`` (the pair's
    direction descends to first order), and no index is used twice. The first pair is always
    ``(argmin m, argmax of m on the support)``."""
    j = max(1, int(j))
    k = min(j, int(m.numel()))
    sup_m = torch.where(on_support, m, torch.full_like(m, -math.inf))
    s0, a0 = int(torch.argmin(m)), int(sup_m.argmax())
    low = [s0] + [int(i) for i in torch.topk(m, k, largest=False).indices if int(i) != s0]
    high = [a0] + [int(i) for i in torch.topk(sup_m, min(j, int(on_support.sum())), largest=True).indices
                   if int(i) != a0]
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    ia = 0
    for s in low:
        while ia < len(high) and high[ia] in used:
            ia += 1
        if ia >= len(high) or len(out) >= j:
            break
        a = high[ia]
        if s in used or s == a:
            continue
        if not float(m[a]) > float(m[s]):
            break
        out.append((int(s), a))
        used.update((int(s), a))
        ia += 1
    return out


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
    control_variate: bool = True,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    antithetic: bool = True,
    pairs: int = 16,
) -> MarginEstimate:
    """gamma of ``(x, y)`` with a certified interval.

    ``n_z`` draws of ``z`` for the solver, ``n_eval`` (default ``4 n_z``) fresh
    draws for the certificate (seeded ``seed + 1``; the solver's are seeded ``seed``).
    The solver starts from the exact kernel-SVM dual ``p0`` and takes at most
    ``steps`` pairwise Frank-Wolfe steps (0: keep ``p0``), stopping early when the
    sample duality gap falls under ``tol`` times the sample value.
    ``control_variate``: use the closed-form kernel as a control variate with the
    constant ``c = sqrt(p0^T Q p0)`` (fixed before any draw, so the estimates stay unbiased).
    ``antithetic``: every draw ``z`` (solver's and certificate's) is used with its mirror ``-z``
    (:func:`_pairwise_fw_mirror`, :func:`witness_margins`): twice the evaluations for
    little more than the cost of the draws, and a lower variance; ``n_z`` and ``n_eval``
    then count the independent pairs. ``False``: independent draws only (the former estimator).
    ``pairs``: pairwise steps per pass over the solver's state (mirrored solver only; see
    :func:`_pairwise_fw_mirror`); 1 is the one-pair-per-pass method. The certificate does not
    depend on how the solver got its ``p``: any ``p`` gives a valid interval.
    """
    x, y = check_labelled(x, y)
    _check_count("n_z", n_z, 1)
    _check_count("steps", steps, 0)
    n_eval = 4 * n_z if n_eval is None else _check_count("n_eval", n_eval, 2)
    x = x.to(dtype)
    y = y.to(dtype)
    Q = (y[:, None] * y[None, :]).to(torch.float64) * limit_kernel(x.to(torch.float64))
    p0 = kernel_svm_dual(Q)
    svm_upper = math.sqrt(max(float(p0 @ Q @ p0), 0.0))
    c = svm_upper if (control_variate and svm_upper > 0) else None
    gen = torch.Generator().manual_seed(int(seed))
    z = _draw(n_z, x.shape[1], gen, dtype, x.device)
    _check_count("pairs", pairs, 1)
    solver = functools.partial(_pairwise_fw_mirror, pairs=pairs) if antithetic else _pairwise_fw
    p, F, gap, t_steps, hist = solver(
        x, y, p0.to(dtype).clone(), z, steps=steps, tol=tol, refresh=refresh, progress=progress,
        Q=Q if c is not None else None, c=c,
    )
    del z
    return evaluate_witness(
        p, x, y, n_eval=n_eval, seed=seed + 1, c=c, antithetic=antithetic, n_z=n_z, solver_seed=seed,
        svm_upper=svm_upper, train_value=F, train_gap=gap, steps=t_steps, history=hist,
    )


@torch.no_grad()
def evaluate_witness(
    p: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, n_eval: int, seed: int, c: float | None = None,
    antithetic: bool = True, n_z: int = 0, solver_seed: int | None = None, svm_upper: float = math.nan,
    train_value: float = math.nan, train_gap: float = math.nan, steps: int = 0,
    history: list[tuple[int, float, float]] | None = None,
) -> MarginEstimate:
    """The certificate of fixed dual weights ``p`` on ``n_eval`` fresh draws seeded ``seed``
    (:func:`witness_margins`), as a :class:`MarginEstimate`; the solver's fields are passed through.

    ``p`` must not depend on these draws (in :func:`estimate_gamma` it comes from the solver's).
    """
    _check_count("n_eval", n_eval, 2)
    ev = witness_margins(p, x, y, n_z=n_eval, seed=seed, c=c, antithetic=antithetic)
    yd = y.to(torch.float64)
    margins = (yd * ev["mean"]).cpu()
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
        seed=seed if solver_seed is None else solver_seed,
        margins=margins,
        margins_se=se,
        svm_upper=svm_upper,
        train_value=train_value,
        train_gap=train_gap,
        steps=steps,
        history=[] if history is None else history,
        c=c,
        plain_margins=(yd * ev["plain_mean"]).cpu(),
        plain_var=ev["plain_var"].cpu(),
        plain_upper=float(ev["plain_norm_mean"]),
        plain_upper_var=float(ev["plain_norm_var"]),
        margin_range=ev["margin_range"].cpu(),
        norm_range=float(ev["norm_range"]),
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
    out = witness_margins(estimate.p, estimate.x, estimate.y, n_z=n_z, seed=seed, queries=x, c=estimate.c)
    return out["mean"].to(torch.float32).cpu()


def dual_weights(row: dict, n: int) -> torch.Tensor:
    """The dual weights ``p`` (in the simplex ``Delta_n``, float64) of a stored gamma record's row.

    A gamma record keeps only the support of ``p``: the indices ``support_idx`` and the
    weights ``support_p`` (:func:`estimate_gamma`'s ``p`` there); every other ``p_i`` is 0.
    This is the one reader of that format (Chapters 3 and 6 rebuild their witnesses with it).
    """
    p = torch.zeros(n, dtype=torch.float64)
    p[torch.tensor(row["support_idx"], dtype=torch.long)] = torch.tensor(row["support_p"], dtype=torch.float64)
    return p / p.sum()
