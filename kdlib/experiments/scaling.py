"""Chapter 6: the width each kind of label needs, measured against a certified gamma.

``NAME = "scaling"``: one record per (dataset, regime). A dataset is either planted-margin
data (:mod:`kdlib.planted`: ``n`` points on the sphere in ``d`` dimensions, threshold ``t``)
or an MNIST digit pair ``a`` (label +1) against ``b`` (label -1), ``n`` training images
scaled to unit norm. For each label kind (hard, soft), each target ``eps`` and each seed,
the record holds the smallest width ``m*`` of the grid at which the student reaches a
training classification error ``<= eps`` within ``max_steps`` full-batch steps, or
``None`` (censored: no width of the grid did).

The student is the paper's model exactly: ``f(x) = m^{-1/2} sum_j a_j relu(<W_j, x>)``,
symmetric initialisation (:func:`kdlib.nets.symmetric_init`), ``a`` fixed, only ``W``
trained, full-batch gradient descent on the mean loss (logistic for hard labels,
Bernoulli cross-entropy against the soft labels, whose gradient is that of the KL).

Planted data in two dimensions
------------------------------
In ``d`` dimensions ``n`` random points leave gaps between the classes that do not
shrink with ``t`` once ``n`` is small against the number of directions (at ``d = 20``,
``n = 500`` the certified gamma stays near 0.05 for every ``t`` below that), so ``t``
cannot move gamma over a decade there. On the circle (``d = 2``) the points are dense:
the closest pair of opposite labels sits across the band ``|z*| < t`` removed around
each sign change of ``z*``, whose width is proportional to ``t``, and gamma follows ``t``
(about 3 to 7 times ``t`` at ``n = 500``). In two dimensions gamma is also computable
exactly (:func:`kdlib.planted.solve_gamma_2d`, no sampling error), which is the interval
used for planted data; the Monte-Carlo interval of :func:`kdlib.margin.estimate_gamma` is
kept beside it in the record.

Regimes
-------
``theory``: projected gradient descent onto ``||W_j - W_j(0)|| <= B / sqrt(m)``.
Soft: ``B = 1`` and the largest step of Theorem 2 at the loss target ``soft_beta``,
``eta = soft_beta / 3`` (with ``soft_beta = 0.1`` as in Chapters 4 and 5; Corollary 4's
step ``gamma^2 eps / 96`` would be below ``1e-5`` here and move nothing within any
affordable number of steps); soft labels from the kernel-limit teacher,
``sigmoid(z*(x_i))`` (the planted logit in closed form, or for MNIST pairs the logits of
the certified witness of gamma, :func:`kdlib.margin.teacher_logits`). Hard:
Proposition 5's radius ``B = (2/gamma) ln(2 / (ln2 beta))`` with ``beta = eps ln 2``
(one bank per eps, since ``B`` depends on eps) and its largest step ``eta = 1``; gamma
is the lower end of the certified interval. The step cap ``max_steps`` (default 900) is
Theorem 2's ``T = 9 / beta^2`` at ``beta = 0.1``, the run of Chapters 4 and 5.
``practice``: no projection; one step size for every dataset, width and label kind,
``practice_lr`` (default 8: the inverse of ``1/8``, a bound on the smoothness of the
linearised mean loss for unit-norm inputs, ``(1/4) * max_x K(x, x) = 1/8``); soft labels
``sigmoid(f_T(x_i))`` of a 512-unit teacher trained on the hard labels
(:func:`kdlib.train.train_teacher`, full batch, ``teacher_steps`` steps at the same step).
Same step cap.

Early stopping (stated in the chapter): the error is measured at every step; a student
stops at the first step where it has reached every target ``eps``, and also as soon as,
for every target it has not reached, a *smaller* width with the same seed has (it can
no longer be ``m*``). The bank stops when no student is left running.

Exact reduction of the input dimension: the gradient of row ``W_j`` is a combination
of the training inputs, so only the component of ``W_j`` in their span moves and only
it affects the outputs on them. We train in an orthonormal basis of that span
(``r = rank(X) <= n`` coordinates instead of ``d``); since ``W_j(0) ~ N(0, I_d)``, its
coordinates in an orthonormal basis are ``N(0, I_r)``, so this is the same model and
the same dynamics in distribution, at ``r/d`` of the cost (MNIST: 500 of 784).
The margin gamma, a function of the kernel ``K`` and of the masks ``1(<z, x_i> > 0)``,
is unchanged by the rotation too.

``GAMMA`` (``NAME = "scaling_gamma"``): gamma of each dataset with its certified
interval and the Monte-Carlo witness's dual weights, one record per dataset, shared by
both regimes.

Sweeps go through :func:`kdlib.sweep.run_sweep` (``python -m kdlib.experiments.scaling
--executor serial|local|ADDRESS``): the gamma records first, then the (dataset, regime)
records, which read their gamma record from the store (a worker without it computes it).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Sequence

import torch
from tqdm import tqdm

from kdlib import bounds
from kdlib.data import BinaryTask, binary_mnist
from kdlib.margin import MarginEstimate, estimate_gamma, teacher_logits
from kdlib.nets import check_width, symmetric_init
from kdlib.planted import check_planted_params, planted_dataset, solve_gamma_2d
from kdlib.results import RunOutput, load_or_run
from kdlib.validate import device as check_device, parameter_list

NAME = "scaling"
GAMMA_NAME = "scaling_gamma"
DATASETS = ("planted", "mnist")
REGIMES = ("theory", "practice")
MODES = ("soft", "hard")
DEFAULT_WIDTHS = tuple(2**k for k in range(1, 13))


def _int(name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return v


def _pos(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def check_eps(eps: Sequence[float]) -> tuple[float, ...]:
    """A non-empty list of distinct targets in (0, 1)."""
    eps = tuple(eps)
    if not eps:
        raise ValueError("the list of error targets eps is empty")
    for e in eps:
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0.0 < e < 1.0):
            raise ValueError(f"every error target eps must lie in (0, 1), got {e!r}")
    if len(set(eps)) != len(eps):
        raise ValueError(f"repeated error target in {eps}")
    return tuple(float(e) for e in eps)


def check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """A non-empty strictly increasing list of even widths >= 2."""
    widths = tuple(widths)
    if not widths:
        raise ValueError("the width grid is empty")
    for m in widths:
        check_width(m)
    if any(b <= a for a, b in zip(widths, widths[1:])):
        raise ValueError(f"the width grid must be strictly increasing, got {widths}")
    return widths


def check_digits(digits: Sequence[int]) -> tuple[int, int]:
    """A pair of two different digits 0-9."""
    digits = tuple(digits)
    if len(digits) != 2:
        raise ValueError(f"a digit pair has two digits, got {digits!r}")
    for g in digits:
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= 9:
            raise ValueError(f"digits must be integers 0-9, got {g!r} in {digits}")
    if digits[0] == digits[1]:
        raise ValueError(f"a digit pair needs two different digits, got {digits}")
    return digits  # type: ignore[return-value]


# --------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class GammaConfig:
    """One dataset and the settings of its gamma estimate (``n_z`` solver draws, ``n_eval`` fresh draws)."""

    dataset: str = "planted"
    n: int = 500
    d: int = 2
    J: int = 2
    t: float = 0.004
    digits: tuple[int, int] = (0, 1)
    data_seed: int = 0
    n_z: int = 4096
    n_eval: int = 16384
    gamma_steps: int = 400
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        _int("n (the number of points)", self.n, 2)
        if self.dataset == "planted":
            check_planted_params(self.d, self.n, self.t, self.J)
        else:
            object.__setattr__(self, "digits", check_digits(self.digits))
        _int("n_z", self.n_z, 1)
        _int("n_eval", self.n_eval, 2)
        _int("gamma_steps", self.gamma_steps, 0)

    @property
    def label(self) -> str:
        if self.dataset == "planted":
            return f"planted t={self.t:g}"
        return f"MNIST {self.digits[0]} vs {self.digits[1]}"


@dataclass
class Dataset:
    """Training inputs in the reduced orthonormal coordinates (n x r, float32), labels (+-1),
    the planted logits (planted data only) and the ambient dimension."""

    x: torch.Tensor
    y: torch.Tensor
    planted_z: torch.Tensor | None
    ambient_d: int


def reduce_to_span(x: torch.Tensor) -> torch.Tensor:
    """Coordinates of the rows of ``x`` in an orthonormal basis of their span (n x r), so
    ``x_r x_r^T = x x^T`` (all norms and angles kept)."""
    x64 = x.to(torch.float64)
    if x.shape[1] <= x.shape[0]:
        return x64
    q, _ = torch.linalg.qr(x64.T, mode="reduced")  # d x n, orthonormal columns
    return x64 @ q


def load_dataset(g: GammaConfig) -> Dataset:
    if g.dataset == "planted":
        p = planted_dataset(g.d, g.n, g.t, J=g.J, seed=g.data_seed, aligned=False)
        return Dataset(x=p.x.to(torch.float32), y=p.y.to(torch.float32), planted_z=p.z, ambient_d=g.d)
    a, b = g.digits
    task = BinaryTask(name=f"{a}v{b}", positive=(a,), negative=(b,))
    data = binary_mnist(task, train=True, scaling="unit", limit=g.n, subset_seed=g.data_seed)
    xr = reduce_to_span(data.x)
    return Dataset(x=xr.to(torch.float32), y=data.y, planted_z=None, ambient_d=int(data.x.shape[1]))


EXACT_SIDES = 256


def run_gamma(g: GammaConfig) -> RunOutput:
    """gamma of one dataset: :func:`kdlib.margin.estimate_gamma` (Monte Carlo, certified on fresh
    draws, three-sigma rule) always; for planted data in two dimensions also the exact program of
    :func:`kdlib.planted.solve_gamma_2d` (polygon of ``EXACT_SIDES`` sides), whose interval is then
    the one used (``ci_lo``, ``ci_hi``): it has no sampling error. The row keeps both."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    ds = load_dataset(g)
    e = estimate_gamma(ds.x, ds.y, n_z=g.n_z, n_eval=g.n_eval, steps=g.gamma_steps, seed=0)
    lo, hi = e.interval(3.0)
    sup = e.support()
    row = {
        "dataset": g.label, "kind": g.dataset, "t": g.t if g.dataset == "planted" else None,
        "digits": list(g.digits) if g.dataset == "mnist" else None, "n": len(ds.y),
        "coords": int(ds.x.shape[1]), "ambient_d": ds.ambient_d,
        "lower": e.lower, "upper": e.upper, "lower_se": e.lower_se, "upper_se": e.upper_se,
        "mc_lo": lo, "mc_hi": hi, "mc_rel_width": e.relative_width(3.0),
        "svm_upper": e.svm_upper, "c": e.c, "fw_steps": e.steps,
        "planted_min_margin": float((ds.y.double() * ds.planted_z).min()) if ds.planted_z is not None else None,
        "positive_fraction": float((ds.y > 0).float().mean()),
        "support_idx": [int(i) for i in sup], "support_p": [float(e.p[i]) for i in sup],
        "method": "monte carlo",
    }
    if g.dataset == "planted" and ds.x.shape[1] == 2:
        cert = solve_gamma_2d(ds.x, ds.y, sides=EXACT_SIDES)
        lo, hi = cert.lower, cert.upper
        row.update({"exact_lo": lo, "exact_hi": hi, "exact_sides": EXACT_SIDES, "method": "exact (2-D program)"})
    row.update({"ci_lo": lo, "ci_hi": hi, "gamma": 0.5 * (lo + hi), "rel_width": (hi - lo) / (0.5 * (lo + hi))})
    return RunOutput(rows=[row], seeds=[g.data_seed, 0, 1], device="cpu",
                     extra={"interval_rule": "Monte Carlo: [min_i (m_i - 3 se_i), upper + 3 upper_se] on fresh "
                                             "draws; exact 2-D: [min_i m_i(v), F(p)] over the arcs"})


GAMMA = SimpleNamespace(NAME=GAMMA_NAME, run=run_gamma, Config=GammaConfig)


def estimate_from_gamma_record(g: GammaConfig, row: dict, ds: Dataset) -> MarginEstimate:
    """The witness of a stored gamma record, rebuilt from its dual weights (no re-solve)."""
    n = len(ds.y)
    p = torch.zeros(n, dtype=torch.float64)
    p[torch.tensor(row["support_idx"], dtype=torch.long)] = torch.tensor(row["support_p"], dtype=torch.float64)
    p = p / p.sum()
    nan = torch.full((n,), math.nan, dtype=torch.float64)
    return MarginEstimate(
        lower=row["lower"], upper=row["upper"], lower_se=row["lower_se"], upper_se=row["upper_se"], p=p,
        x=ds.x, y=ds.y, n_z=g.n_z, n_eval=g.n_eval, seed=0, margins=nan, margins_se=nan,
        svm_upper=row["svm_upper"], train_value=math.nan, train_gap=math.nan, steps=row["fw_steps"], c=row["c"],
    )


# --------------------------------------------------------------------------- the width search
def smallest_width(widths: Sequence[int], success: Sequence[bool | None]) -> int | None:
    """``m*``: the smallest width whose entry in ``success`` is ``True`` (``None`` if none is).

    ``success[k]`` is ``True`` (width ``widths[k]`` reached the target), ``False`` (it did
    not within the budget) or ``None`` (not run to the end: a smaller width had already
    reached the target). A width that failed is never returned.
    """
    if len(widths) != len(success):
        raise ValueError(f"{len(widths)} widths but {len(success)} success entries")
    best = None
    for m, ok in zip(widths, success):
        if ok is True and (best is None or m < best):
            best = m
    return best


# --------------------------------------------------------------------------- the bank
@dataclass
class BankResult:
    """``first[s][k][e]``: first step at which seed ``s``, width ``k`` reached target ``e``;
    ``-1``: not within the budget; ``None``: stopped early (a smaller width had reached it)."""

    first: list[list[list[int | None]]]
    steps_run: int
    row_steps: int
    final_error: list[list[float]]
    projected: bool = False


@torch.no_grad()
def train_bank(
    x: torch.Tensor, y: torch.Tensor, widths: Sequence[int], seeds: Sequence[int], eps: Sequence[float], *,
    soft_targets: torch.Tensor | None, lr: float, B: float, max_steps: int, progress: bool = False, desc: str = "",
    chunk: int | None = None, form: str | None = None,
) -> BankResult:
    """All ``widths x seeds`` students as one bank of rows, full-batch (projected) gradient descent with
    hand-written gradients and the early stopping of the module docstring.

    Mean loss ``R(W) = (1/n) sum_i l(f_i)``; ``dR/dW_j = (1/n) sum_i l'(f_i) (a_j/sqrt(m)) 1(<W_j, x_i> > 0) x_i``,
    with ``l'(f) = -y sigmoid(-y f)`` (logistic) or ``sigmoid(f) - p`` (cross-entropy to ``p``). After each
    step every row is projected onto ``||W_j - W_j(0)|| <= B / sqrt(m)`` (``B = inf``: none). The error of
    student ``s`` is ``mean_i 1(y_i f_s(x_i) <= 0)`` at the current iterate (``f = 0`` counts as an error).

    Layout (for speed; the maths is the same): the rows of all active students are stacked into one
    bank of ``M`` rows, each student's rows grouped by the sign of ``a_j`` (the order of a student's rows
    does not change its output). With ``Z = W X^T`` (``M x n``) and ``R = relu(Z)``, the outputs are two
    segment sums, ``f_s = m_s^{-1/2} (sum_{j in s, a_j = +1} R_j - sum_{j in s, a_j = -1} R_j)``, one
    ``index_add`` over the ``2k`` groups; the backward pass gathers each row's signed, scaled ``l'``
    (``M x n``) and masks it with ``Z > 0``, which gives ``D = lr dR/dZ``, and the step is ``W <- W - D X``.
    Rows are independent given the outputs, so both passes run over blocks of ``chunk`` rows (by default
    about 1 MiB of ``Z``, which stays in cache). Two forms of the same iteration:

    - ``"weights"`` keeps ``W`` (``M x r``): per step ``Z = W X^T`` and ``W -= D X``, ``4 M n r``
      operations. For few coordinates (``r <= 32``) the backward pass recomputes its block of ``Z``
      (cheaper than reading it back) and forms ``D X`` as ``(X^T D^T)^T`` (for ``r = 2``, seven times
      faster in BLAS than the product with two output columns); else the forward pass keeps ``Z``
      in a buffer.
    - ``"outputs"`` keeps ``Z`` itself: every step moves ``W_j`` by a combination of the inputs, so
      ``W_j - W_j(0) = C_j X`` with ``C = -sum_t D_t``, and ``Z <- Z - D K`` with the Gram matrix
      ``K = X X^T``: ``2 M n^2`` operations, half of the other form when ``n = r`` (an MNIST pair in
      the span of its ``n`` inputs). The projection needs ``||W_j - W_j(0)||^2 = C_j K C_j^T =
      <C_j, Z_j - Z_j(0)>``, so with a finite ``B`` the form also keeps ``C`` and ``Z(0)``, and a
      projection scales ``C_j`` and ``Z_j - Z_j(0)`` by the same factor.

    ``form=None`` takes the cheaper one (``"outputs"`` when ``n < 2r``). The forms differ only in
    float rounding (``Z`` is updated, not recomputed), which the tests bound over tens of steps; over
    hundreds of steps the rounding adds up where a wide student's outputs are small differences of
    large sums, and there the weights form was seen to drift further from a float64 run than the
    outputs form. The blocks do not change the iterates at all.
    """
    widths, seeds, eps = list(widths), list(seeds), list(eps)
    n, d = x.shape
    chunk = max(64, (1 << 18) // max(n, 1)) if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of rows, got {chunk}")
    form = form or ("outputs" if n < 2 * d else "weights")
    if form not in ("weights", "outputs"):
        raise ValueError(f"form must be 'weights' or 'outputs', got {form!r}")
    recompute = form == "weights" and d <= 32
    x = x.to(torch.float32).contiguous()
    xT = x.T.contiguous()
    K = torch.mm(x, xT) if form == "outputs" else None
    y = y.to(torch.float32)
    p = None if soft_targets is None else soft_targets.to(torch.float32)
    specs = [(si, ki) for si in range(len(seeds)) for ki in range(len(widths))]
    Ws, grps, scales, rads = [], [], [], []
    for s, (si, ki) in enumerate(specs):
        m = widths[ki]
        W0, a = symmetric_init(m, d, seeds[si])
        order = torch.argsort(-a, stable=True)  # a = +1 rows first, then a = -1
        Ws.append(W0[order])
        grps.append(2 * s + (a[order] < 0).long())
        scales.append(1.0 / math.sqrt(m))
        rads.append(torch.full((m,), B / math.sqrt(m)))
    project = math.isfinite(B)
    grp_all, rad_all = torch.cat(grps), torch.cat(rads)
    scale_all = torch.tensor(scales, dtype=torch.float32)
    # the per-row state of the form, as whole-bank arrays ("cur" is the iterate: W or Z)
    if form == "weights":
        cur0 = torch.cat(Ws)
    else:
        cur0 = torch.cat([torch.mm(W, xT) for W in Ws])
    state_all = {"cur": cur0.clone()}
    if project:
        state_all["start"] = cur0
        if form == "outputs":
            state_all["C"] = torch.zeros_like(cur0)
    del Ws, cur0
    k = len(specs)
    first: list[list[list[int | None]]] = [[[-1] * len(eps) for _ in widths] for _ in seeds]
    final_err = [[math.nan] * len(widths) for _ in seeds]
    active = torch.ones(k, dtype=torch.bool)
    projected = False  # did the projection ever move a row?
    row_steps = 0
    t = 0

    def compact() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = torch.nonzero(active).flatten()
        rows = torch.nonzero(active[grp_all // 2]).flatten()
        remap = torch.full((k,), -1, dtype=torch.long)
        remap[ids] = torch.arange(ids.numel())
        g = grp_all[rows]
        st = {name: a[rows].contiguous() for name, a in state_all.items()}
        return ids, rows, st, rad_all[rows], 2 * remap[g // 2] + g % 2, scale_all[ids]

    # block-sized scratch arrays, allocated once: a hot loop that allocated its blocks would ask the
    # allocator for megabytes thousands of times per second, and under a glibc set to return freed
    # memory at once (Dask's workers set MALLOC_TRIM_THRESHOLD_) every block would fault its pages in
    # again: seven times slower on the circle
    rows_max = min(chunk, int(grp_all.numel()))
    zbuf, rbuf, gbuf, dbuf = (torch.empty(rows_max, n) for _ in range(4))
    pbuf = torch.empty(rows_max, d) if form == "weights" and project else None

    def block_z(st: dict[str, torch.Tensor], b: int, R: torch.Tensor | None) -> torch.Tensor:
        """The block of ``Z`` starting at row ``b`` (computed, read from the buffer, or the state)."""
        if form == "outputs":
            return st["cur"][b:b + chunk]
        if R is None:
            Wb = st["cur"][b:b + chunk]
            return torch.mm(Wb, xT, out=zbuf[:Wb.shape[0]])
        return R[b:b + chunk]

    def outputs(st: dict[str, torch.Tensor], grp: torch.Tensor, sc: torch.Tensor, kk: int,
                R: torch.Tensor | None) -> torch.Tensor:
        """``f`` (``k_active x n``), block by block; ``R`` (or ``None``) receives ``W X^T`` in the weights form."""
        f2 = torch.zeros(2 * kk, n)
        M = st["cur"].shape[0]
        for b in range(0, M, chunk):
            rb = min(chunk, M - b)
            if form == "weights":
                Z = torch.mm(st["cur"][b:b + chunk], xT, out=zbuf[:rb] if R is None else R[b:b + chunk])
            else:
                Z = st["cur"][b:b + chunk]
            f2.index_add_(0, grp[b:b + chunk], torch.clamp(Z, min=0, out=rbuf[:rb]))
        return (f2[0::2] - f2[1::2]) * sc[:, None]

    def buffer(M: int) -> torch.Tensor | None:
        return torch.empty(M, n) if form == "weights" and not recompute else None

    def reached(si: int, ki: int, e: int) -> bool:
        v = first[si][ki][e]
        return v is not None and v >= 0

    ids, rows, st, rad, grp, sc = compact()
    R = buffer(st["cur"].shape[0])
    bar = tqdm(total=max_steps, desc=desc or "bank", disable=not progress, leave=False)
    while True:
        f = outputs(st, grp, sc, ids.numel(), R)
        err = (y * f <= 0).float().mean(1).tolist()
        changed = False
        for j, s in enumerate(ids.tolist()):
            si, ki = specs[s]
            final_err[si][ki] = err[j]
            for e in range(len(eps)):
                if first[si][ki][e] == -1 and err[j] <= eps[e]:
                    first[si][ki][e] = t
        # stop the students that are done or can no longer be m*
        for j, s in enumerate(ids.tolist()):
            si, ki = specs[s]
            needed = False
            for e in range(len(eps)):
                if reached(si, ki, e):
                    continue
                if any(reached(si, kk, e) for kk in range(ki)):
                    first[si][ki][e] = None
                    continue
                needed = True
            if not needed:
                active[s] = False
                changed = True
        if t == max_steps or not bool(active.any()):
            break
        if changed:
            for name, a in st.items():
                state_all[name][rows] = a
            ids, rows, st, rad, grp, sc = compact()
            R = buffer(st["cur"].shape[0])
            f = outputs(st, grp, sc, ids.numel(), R)
        if p is None:
            g = torch.sigmoid(-y * f).mul_(-y)
        else:
            g = torch.sigmoid(f).sub_(p)
        g.mul_(sc[:, None] * (lr / n))
        G2 = torch.stack([g, -g], 1).reshape(2 * g.shape[0], n)  # group 2s: +l', group 2s+1: -l'
        cur = st["cur"]
        step_by = x if form == "weights" else K
        for b in range(0, cur.shape[0], chunk):
            rb = min(chunk, cur.shape[0] - b)
            Gb = torch.index_select(G2, 0, grp[b:b + chunk], out=gbuf[:rb])
            D = torch.ops.aten.threshold_backward.grad_input(Gb, block_z(st, b, R), 0.0, grad_input=dbuf[:rb])
            cb = cur[b:b + chunk]
            if recompute:  # D X with few columns: as X^T D^T, a product BLAS runs several times faster
                cb.sub_(torch.mm(xT, D.T).T)
            else:
                cb.addmm_(D, step_by, alpha=-1.0)
            if project:  # row by row, so within the block while it is in cache
                sb = st["start"][b:b + chunk]
                if form == "weights":
                    delta = torch.sub(cb, sb, out=pbuf[:rb])
                    factor = torch.clamp(rad[b:b + chunk] / torch.linalg.vector_norm(delta, dim=1).clamp_min(1e-30),
                                         max=1.0)
                    torch.addcmul(sb, delta, factor[:, None], out=cb)
                    moved = bool((factor < 1).any())
                else:  # ||C_j X||^2 = <C_j, Z_j - Z_j(0)> = <C_j, Z_j> - <C_j, Z_j(0)>
                    Cb = st["C"][b:b + chunk].sub_(D)
                    norm2 = torch.linalg.vecdot(Cb, cb, dim=1) - torch.linalg.vecdot(Cb, sb, dim=1)
                    factor = torch.clamp(rad[b:b + chunk] / norm2.clamp_min_(0).sqrt_().clamp_min(1e-30), max=1.0)
                    moved = bool((factor < 1).any())
                    if moved:  # only then: a factor of 1 leaves the row as it is (D is spent: its block is free)
                        torch.addcmul(sb, torch.sub(cb, sb, out=dbuf[:rb]), factor[:, None], out=cb)
                        Cb.mul_(factor[:, None])
                if moved:
                    projected = True
        row_steps += int(cur.shape[0])
        t += 1
        bar.update(1)
    bar.close()
    for si in range(len(seeds)):
        for ki in range(len(widths)):
            for e in range(len(eps)):
                if first[si][ki][e] == -1 and any(reached(si, kk, e) for kk in range(ki)):
                    first[si][ki][e] = None
    return BankResult(first=first, steps_run=t, row_steps=row_steps, final_error=final_err, projected=projected)


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class Config:
    """One record: one dataset (``gamma``: the dataset and its gamma estimate), one regime, both label kinds."""

    gamma: GammaConfig = field(default_factory=GammaConfig)
    regime: str = "theory"
    eps: tuple[float, ...] = (0.05, 0.01)
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    max_steps: int = 900
    soft_beta: float = 0.1
    delta: float = 0.1
    hard_lr: float = 1.0
    practice_lr: float = 8.0
    teacher_width: int = 512
    teacher_steps: int = 300
    teacher_seed: int = 1000
    n_z_logits: int = 65536
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.gamma, dict):
            g = dict(self.gamma)
            if "digits" in g:
                g["digits"] = tuple(g["digits"])
            object.__setattr__(self, "gamma", GammaConfig(**g))
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        check_device("device", self.device, here=False)  # whether it is on this machine: before computing
        # papermill -p WIDTHS "[2, 4]" passes a string
        object.__setattr__(self, "eps", check_eps(parameter_list("eps", self.eps)))
        object.__setattr__(self, "widths", check_widths(parameter_list("widths", self.widths)))
        seeds = parameter_list("seeds", self.seeds)
        if len(seeds) < 1:
            raise ValueError("at least one seed is needed")
        for s in seeds:
            _int("a seed", s, 0)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seed in {seeds}")
        object.__setattr__(self, "seeds", seeds)
        _int("max_steps", self.max_steps, 1)
        if not 0 < self.soft_beta < 1:
            raise ValueError(f"soft_beta must lie in (0, 1), got {self.soft_beta}")
        if not 0 < self.delta < 1 / 3:
            raise ValueError(f"delta must lie in (0, 1/3), got {self.delta}")
        if not (0 < self.hard_lr <= 1):
            raise ValueError(f"Proposition 5 needs a step 0 < hard_lr <= 1, got {self.hard_lr}")
        _pos("practice_lr", self.practice_lr)
        check_width(self.teacher_width)
        _int("teacher_steps", self.teacher_steps, 1)
        _int("n_z_logits", self.n_z_logits, 2)


def make_config(*, dataset: str, regime: str, n: int, t: float = 0.004, d: int = 2, J: int = 2,
                digits: Sequence[int] = (0, 1), **kw) -> Config:
    """A :class:`Config` from flat parameters (all validated before anything runs)."""
    gkw = {k: kw.pop(k) for k in ("data_seed", "n_z", "n_eval", "gamma_steps") if k in kw}
    g = GammaConfig(dataset=dataset, n=n, d=d, J=J, t=t, digits=tuple(digits), **gkw)
    return Config(gamma=g, regime=regime, **kw)


def cost_hint(cfg: Config) -> float:
    """Relative compute of one record, for the order in which a sweep starts them (:mod:`kdlib.sweep`):
    a step of the bank costs about ``rows x n x (r + 30)`` (two products with the ``r`` input coordinates
    and some thirty cheap passes per entry), ``r = min(n, 784)`` for an MNIST pair in its span, ``d`` for
    a planted set; both regimes run the same banks up to the step cap."""
    g = cfg.gamma
    r = min(g.n, 784) if g.dataset == "mnist" else g.d
    return float(sum(cfg.widths) * len(cfg.seeds) * cfg.max_steps * g.n * (r + 30))


def _train_teacher(cfg: Config, ds: Dataset) -> torch.Tensor:
    """The 512-unit teacher (hard labels, full batch, ``teacher_steps`` steps of ``practice_lr``);
    its probabilities ``sigmoid(f(x_i))`` on the training points."""
    from kdlib.train import PGDConfig, soft_labels, train_teacher
    from kdlib.data import BinaryData

    data = BinaryData(x=ds.x, y=ds.y, digits=torch.zeros(len(ds.y), dtype=torch.long),
                      task=BinaryTask("teacher", (1,), (0,)), scaling="unit")
    pgd = PGDConfig(lr=cfg.practice_lr, epochs=cfg.teacher_steps, batch_size=0)
    net = train_teacher(data, width=cfg.teacher_width, pgd=pgd, seed=cfg.teacher_seed)
    return soft_labels(net, ds.x).to(torch.float32)


def run(cfg: Config) -> RunOutput:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    g = cfg.gamma
    grec = load_or_run(GAMMA, g)
    grow = grec["rows"][0]
    ds = load_dataset(g)
    gamma_lo = max(float(grow["ci_lo"]), 1e-6)
    p = _soft_labels(cfg, ds, grow)
    teacher_err = float(((p - 0.5) * ds.y <= 0).float().mean())
    rows: list[dict] = []
    cost = {}
    def bank(mode: str, eps_list: list[float], B: float, lr: float) -> BankResult:
        res = train_bank(ds.x, ds.y, cfg.widths, cfg.seeds, eps_list, soft_targets=p if mode == "soft" else None,
                         lr=lr, B=B, max_steps=cfg.max_steps, progress=cfg.progress,
                         desc=f"{g.label} {cfg.regime} {mode}")
        cost[f"{mode} eps={eps_list} B={B:.4g}"] = {"steps": res.steps_run, "row_steps": res.row_steps,
                                                     "projected": res.projected}
        return res

    for mode in MODES:
        if mode == "soft":
            lr = cfg.soft_beta / 3.0 if cfg.regime == "theory" else cfg.practice_lr
            B = 1.0 if cfg.regime == "theory" else math.inf
            res = bank(mode, list(cfg.eps), B, lr)
            runs = [(e_i, e, B, lr, res) for e_i, e in enumerate(cfg.eps)]
        elif cfg.regime == "theory":
            # Proposition 5's radius depends on eps. One bank at the smallest radius serves every eps
            # when its projection never moved a row: then no run with a larger radius projects either,
            # and all of them follow the same trajectory. Otherwise one bank per eps.
            lr = cfg.hard_lr
            radii = [bounds.proposition5_for_error(len(ds.y), 1.0, min(gamma_lo, 1.0), e, cfg.delta, eta=lr).radius
                     for e in cfg.eps]
            res = bank(mode, list(cfg.eps), min(radii), lr)
            if not res.projected:
                runs = [(e_i, e, radii[e_i], lr, res) for e_i, e in enumerate(cfg.eps)]
            else:
                runs = [(0, e, radii[e_i], lr, bank(mode, [e], radii[e_i], lr)) for e_i, e in enumerate(cfg.eps)]
        else:
            lr, B = cfg.practice_lr, math.inf
            res = bank(mode, list(cfg.eps), B, lr)
            runs = [(e_i, e, B, lr, res) for e_i, e in enumerate(cfg.eps)]
        for e_i, e, B, lr, res in runs:
            for s_i, seed in enumerate(cfg.seeds):
                col = [res.first[s_i][k][e_i] for k in range(len(cfg.widths))]
                success = [None if v is None else v >= 0 for v in col]
                mstar = smallest_width(cfg.widths, success)
                rows.append({
                    "dataset": g.label, "kind": g.dataset, "regime": cfg.regime, "mode": mode, "eps": e,
                    "seed": seed, "m_star": mstar, "censored": mstar is None,
                    "steps_at_m_star": None if mstar is None else col[cfg.widths.index(mstar)],
                    "success": success, "first_step": col, "final_error": res.final_error[s_i], "lr": lr, "B": B,
                    "projected": res.projected,
                    "gamma": grow["gamma"], "gamma_lo": grow["ci_lo"], "gamma_hi": grow["ci_hi"], "t": grow["t"],
                    "teacher_error": teacher_err,
                })
    return RunOutput(
        rows=rows, seeds=list(cfg.seeds), device="cpu",
        extra={"gamma_record": grec["key"], "cost": cost,
               "early_stopping": "a student stops at the first step where it reached every eps, or once a smaller "
                                 "width of its seed reached every eps it has not",
               "coordinates": f"{ds.x.shape[1]} (orthonormal basis of the span of the {len(ds.y)} inputs; "
                              f"ambient d = {ds.ambient_d})"},
    )


def _soft_labels(cfg: Config, ds: Dataset, grow: dict) -> torch.Tensor:
    g = cfg.gamma
    if cfg.regime == "theory":
        if ds.planted_z is not None:
            return torch.sigmoid(ds.planted_z).to(torch.float32)
        est = estimate_from_gamma_record(g, grow, ds)
        z = teacher_logits(est, ds.x, n_z=cfg.n_z_logits, seed=7)
        return torch.sigmoid(z.to(torch.float64)).to(torch.float32)
    return _train_teacher(cfg, ds)


# --------------------------------------------------------------------------- the default sweep
DEFAULT_THRESHOLDS = (0.0005, 0.002, 0.004, 0.008, 0.016, 0.032)
DEFAULT_PAIRS = ((0, 1), (3, 5), (4, 9))


def sweep_configs(*, d: int = 2, J: int = 2, n_planted: int = 500, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                  pairs: Sequence[Sequence[int]] = DEFAULT_PAIRS, n_mnist: int = 500,
                  regimes: Sequence[str] = REGIMES, **kw) -> list[Config]:
    """Every (dataset, regime) record of the chapter, all validated before anything runs."""
    thresholds, pairs, regimes = (parameter_list(name, v) for name, v in
                                  (("thresholds", thresholds), ("pairs", pairs), ("regimes", regimes)))
    for r in regimes:
        if r not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {r!r}")
    out = []
    for regime in regimes:
        for t in thresholds:
            out.append(make_config(dataset="planted", regime=regime, n=n_planted, t=t, d=d, J=J, **dict(kw)))
        for pr in pairs:
            out.append(make_config(dataset="mnist", regime=regime, n=n_mnist, digits=tuple(pr), **dict(kw)))
    return out


def _interval(lo: float, hi: float) -> str:
    return f"[{lo:.4g}, {hi:.4g}]"


def mc_witness_exactly(rec: dict) -> tuple[float, float] | None:
    """For a planted 2-D gamma record: the exact interval ``[min_i m_i(p), F(p)]`` of the Monte-Carlo
    solver's own dual weights ``p`` (:func:`kdlib.planted.certify_gamma_2d`, no sampling error), which
    separates the solver's optimisation error from its sampling error; ``None`` for other records."""
    g = rec["config"]
    if g["dataset"] != "planted" or g["d"] != 2:
        return None
    from kdlib.planted import certify_gamma_2d

    ds = load_dataset(GammaConfig(**{**g, "digits": tuple(g["digits"])}))
    row = rec["rows"][0]
    p = torch.zeros(len(ds.y), dtype=torch.float64)
    p[torch.tensor(row["support_idx"], dtype=torch.long)] = torch.tensor(row["support_p"], dtype=torch.float64)
    c = certify_gamma_2d(ds.x, ds.y, p)
    return c.lower, c.upper


def gamma_rows(records: Sequence[dict], *, check_mc: bool = False) -> list[dict]:
    """One row per gamma record, by increasing gamma: the planted threshold ``t``, the certified
    interval of gamma (exact in 2-D, else Monte Carlo) and its relative width, the Monte-Carlo
    interval of :func:`kdlib.margin.estimate_gamma` with its width (``> 100 %`` when its lower end
    is below 0 or the width exceeds the estimate), the smallest planted margin ``min_i y_i z*(x_i)``
    and the kernel-SVM upper bound. ``check_mc``: also the Monte-Carlo witness's interval computed
    exactly (:func:`mc_witness_exactly`, planted 2-D data only)."""
    out = []
    for rec in sorted(records, key=lambda r: r["rows"][0]["gamma"]):
        r = rec["rows"][0]
        mc_w = r.get("mc_rel_width", r["rel_width"])
        mc_lo, mc_hi = r.get("mc_lo", r["ci_lo"]), r.get("mc_hi", r["ci_hi"])
        row = {
            "dataset": r["dataset"], "t": "—" if r["t"] is None else f"{r['t']:g}", "n": r["n"], "d": r["ambient_d"],
            "interval": _interval(r["ci_lo"], r["ci_hi"]), "gamma": r["gamma"],
            "width": f"{100 * r['rel_width']:.2g} %", "method": r.get("method", "monte carlo"),
            "mc": _interval(mc_lo, mc_hi),
            "mc_width": "> 100 %" if (mc_lo <= 0 or mc_w > 1) else f"{100 * mc_w:.2g} %",
            "planted": "—" if r["planted_min_margin"] is None else f"{r['planted_min_margin']:.4g}",
            "svm": r["svm_upper"],
        }
        if check_mc:
            ex = mc_witness_exactly(rec)
            row["mc_exact"] = "—" if ex is None else _interval(*ex)
        out.append(row)
    return out


def gamma_configs(configs: Sequence[Config]) -> list[GammaConfig]:
    """The distinct datasets (gamma configurations) of ``configs``, in their first order."""
    return list(dict.fromkeys(c.gamma for c in configs))


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the default sweep through :func:`kdlib.sweep.run_sweep`: the gamma records first
    (the sweep records read them), then one record per (dataset, regime)."""
    import argparse
    import importlib
    import os

    from kdlib.sweep import run_sweep

    ap = argparse.ArgumentParser(prog="python -m kdlib.experiments.scaling", description="Chapter 6's default sweep")
    ap.add_argument("--executor", default=os.environ.get("KDLIB_EXECUTOR", "local"),
                    help="serial, local (default; $KDLIB_EXECUTOR overrides) or a Dask scheduler address")
    ap.add_argument("--regime", action="append", choices=REGIMES, help="only this regime (repeatable)")
    ap.add_argument("--progress", action="store_true", help="a progress bar per student bank")
    args = ap.parse_args(argv)
    # the experiment as an importable module (not __main__), so that Dask workers can import it
    exp = importlib.import_module("kdlib.experiments.scaling")
    cfgs = exp.sweep_configs(regimes=tuple(args.regime or REGIMES), progress=args.progress)
    for rec in run_sweep(exp.GAMMA, exp.gamma_configs(cfgs), executor=args.executor):
        r = rec["rows"][0]
        print(f"gamma {r['dataset']}: [{r['ci_lo']:.5f}, {r['ci_hi']:.5f}] "
              f"({rec['provenance']['wall_time_s']:.0f} s)", flush=True)
    for rec in run_sweep(exp, cfgs, executor=args.executor):
        print(f"scaling {rec['config']['regime']} {rec['rows'][0]['dataset']}: "
              f"{rec['provenance']['wall_time_s']:.0f} s", flush=True)
    return 0


# --------------------------------------------------------------------------- report helpers
def _groups(records: Sequence[dict]) -> dict[tuple, dict]:
    """``(regime, mode, eps) -> {dataset: {"gamma", "t", "kind", "widths": [m* per seed]}}``."""
    out: dict[tuple, dict] = {}
    for rec in records:
        for r in rec["rows"]:
            if "m_star" not in r:
                continue
            key = (r["regime"], r["mode"], r["eps"])
            ent = out.setdefault(key, {}).setdefault(r["dataset"], {"gamma": r["gamma"], "gamma_lo": r["gamma_lo"],
                                                                    "t": r["t"], "kind": r["kind"], "widths": [],
                                                                    "top": rec["config"]["widths"][-1],
                                                                    "final": [], "steps": [],
                                                                    "teacher": r.get("teacher_error")})
            ent["widths"].append(r["m_star"])
            ent["steps"].append(r.get("steps_at_m_star"))
            if "final_error" in r:
                ent["final"].append(r["final_error"])
    return out


def _fmt_width(v: float) -> str:
    if not math.isfinite(v):
        return f"> {DEFAULT_WIDTHS[-1]}"
    return f"{v:g}"


def _median_range(widths: Sequence[int | None], top: int) -> str:
    """``"median [min, max]"`` over seeds, ``> top`` for censored values."""
    from kdlib.fit import median_width

    med = median_width(widths)
    finite = [v for v in widths if v is not None]
    lo = min(finite) if finite else math.inf
    hi = math.inf if any(v is None for v in widths) else max(finite)
    fmt = lambda v: f"> {top}" if not math.isfinite(v) else f"{v:g}"  # noqa: E731
    if lo == hi:
        return fmt(med)
    return f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"


def mstar_rows(records: Sequence[dict], regime: str, eps: float) -> list[dict]:
    """Per dataset: gamma and, per label kind, the median m* over seeds with its range ``[min, max]``
    (``> 4096``: censored) and the ratio of the medians hard / soft."""
    from kdlib.fit import median_width

    groups = _groups(records)
    soft, hard = groups.get((regime, "soft", eps), {}), groups.get((regime, "hard", eps), {})
    rows = []
    for name in sorted(soft, key=lambda k: soft[k]["gamma"]):
        row = {"dataset": name, "gamma": soft[name]["gamma"]}
        meds = {}
        for mode, grp in (("soft", soft), ("hard", hard)):
            if name not in grp:
                continue
            w = grp[name]["widths"]
            med = median_width(w)
            meds[mode] = med
            finite = [v for v in w if v is not None]
            lo = min(finite) if finite else math.inf
            hi = math.inf if any(v is None for v in w) else max(w)
            row[f"{mode}_median"] = _fmt_width(med)
            row[f"{mode}_range"] = f"[{_fmt_width(lo)}, {_fmt_width(hi)}]"
        if "soft" in meds and "hard" in meds and math.isfinite(meds["soft"]) and math.isfinite(meds["hard"]):
            row["ratio"] = meds["hard"] / meds["soft"]
        rows.append(row)
    return rows


def mstar_table(records: Sequence[dict], regime: str, eps_list: Sequence[float]) -> tuple[list[dict], list]:
    """Rows and columns for one regime: per dataset (by increasing gamma) the training error of the
    soft labels' teacher, and the median m* over seeds with its range over seeds in brackets, for each
    eps and label kind; where every seed was censored, the training error of the widest student at
    the step cap (median over seeds) in parentheses."""
    groups = _groups(records)
    names: dict[str, float] = {}
    for (reg, _, _), grp in groups.items():
        if reg == regime:
            for k, v in grp.items():
                names[k] = v["gamma"]
    rows, cols = [], [("dataset", "dataset"), ("gamma", "gamma"), ("teacher", "teacher error")]
    for e in eps_list:
        for mode in MODES:
            cols.append((f"{mode}_{e:g}", f"{mode}, eps {e:g}"))
    for name in sorted(names, key=names.get):
        row: dict = {"dataset": name, "gamma": names[name]}
        teach = [grp[name]["teacher"] for (reg, mode, _), grp in groups.items()
                 if reg == regime and mode == "soft" and name in grp]
        if teach and teach[0] is not None:
            row["teacher"] = f"{100 * teach[0]:.2g} %"
        for e in eps_list:
            for mode in MODES:
                ent = groups.get((regime, mode, e), {}).get(name)
                if ent is not None:
                    cell = _median_range(ent["widths"], ent["top"])
                    if all(v is None for v in ent["widths"]) and ent["final"]:
                        import numpy as np

                        cell += f" (error {float(np.median([f[-1] for f in ent['final']])):.2g})"
                    row[f"{mode}_{e:g}"] = cell
        rows.append(row)
    return rows, cols


def fit_rows(records: Sequence[dict], *, kinds: Sequence[str] = ("planted", "all"), n_boot: int = 2000,
             level: float = 0.9, quantity: str = "width", min_points: int = 3) -> list[dict]:
    """The exponent k of ``m* ~ gamma^-k`` per regime, label kind, eps and data family, with its bootstrap
    interval (:func:`kdlib.fit.fit_slope`), beside the theory's 2 (soft) and 4 (hard).

    ``quantity="steps"``: the same fit for the number of steps the student of width ``m*`` took to reach
    eps (per seed; censored seeds as ``+inf``), beside the exponents of the iteration counts the results
    ask for, 4 (Corollary 4, ``T >= 9216 / (gamma^4 eps^2)``) and 2 (Proposition 5,
    ``T ~ ln^2(1/eps) / (gamma^2 eps)``). A fit needs ``min_points`` datasets whose median is not
    censored (the others are left out); with fewer, the row shows no exponent."""
    from kdlib.fit import fit_slope

    if quantity not in ("width", "steps"):
        raise ValueError(f"quantity must be 'width' or 'steps', got {quantity!r}")
    field_ = "widths" if quantity == "width" else "steps"
    theory = {"soft": 2, "hard": 4} if quantity == "width" else {"soft": 4, "hard": 2}
    out = []
    for (regime, mode, eps), grp in sorted(_groups(records).items()):
        for kind in kinds:
            names = [k for k in grp if kind == "all" or grp[k]["kind"] == kind]
            if len(names) < 2:
                continue
            f = fit_slope([grp[k]["gamma"] for k in names], [grp[k][field_] for k in names],
                          n_boot=n_boot, level=level, seed=0)
            ok = f.points >= min_points and math.isfinite(f.slope)
            out.append({"regime": regime, "labels": mode, "eps": eps, "data": kind, "k": f.slope if ok else math.nan,
                        "interval": f"[{f.lo:.2f}, {f.hi:.2f}]" if ok and math.isfinite(f.lo) else "—",
                        "theory": theory[mode], "datasets": f"{f.points} of {len(names)}",
                        "lo": f.lo, "hi": f.hi})
    return out


def ratio_points(records: Sequence[dict], regime: str) -> list[tuple[float, float]]:
    """``(gamma / eps, median m*_hard / median m*_soft)`` over datasets and eps (both medians reached)."""
    pts = []
    for eps in sorted({r["eps"] for rec in records for r in rec["rows"] if "eps" in r}):
        for row in mstar_rows(records, regime, eps):
            if "ratio" in row:
                pts.append((row["gamma"] / eps, row["ratio"]))
    return pts


def _plot_regime(ax, groups: dict, regime: str, eps: float) -> list[float]:
    """One panel: median m* against gamma per label kind, bars over seeds, censored medians as open
    triangles above the grid, the fitted lines; returns the gammas drawn."""
    import numpy as np

    from kdlib.fit import fit_slope, median_width

    colors = {"soft": "#2471a3", "hard": "#c0392b"}
    gam_all: list[float] = []
    top = DEFAULT_WIDTHS[-1]
    for mode in MODES:
        grp = groups.get((regime, mode, eps), {})
        if not grp:
            continue
        names = sorted(grp, key=lambda k: grp[k]["gamma"])
        top = max(grp[k]["top"] for k in names)
        g = np.array([grp[k]["gamma"] for k in names])
        gam_all += list(g)
        med = np.array([median_width(grp[k]["widths"]) for k in names])
        lo = np.array([min([v for v in grp[k]["widths"] if v is not None], default=top) for k in names])
        hi = np.array([max([v if v is not None else top for v in grp[k]["widths"]]) for k in names])
        ok = np.isfinite(med)
        shift = 0.96 if mode == "soft" else 1.04  # side by side where both kinds sit at one gamma
        for kind, marker in (("planted", "o"), ("mnist", "s")):
            sel = ok & np.array([grp[k]["kind"] == kind for k in names])
            if sel.any():
                ax.errorbar(g[sel] * shift, med[sel], yerr=[med[sel] - lo[sel], hi[sel] - med[sel]], fmt=marker,
                            color=colors[mode], ms=5, capsize=3,
                            label=f"{mode}, {'planted' if kind == 'planted' else 'MNIST pairs'}")
        if (~ok).any():
            ax.scatter(g[~ok] * shift, np.full(int((~ok).sum()), 2.0 * top), marker="^", facecolors="none",
                       edgecolors=colors[mode], label=f"{mode}: median censored (> {top})")
        f = fit_slope(g, [grp[k]["widths"] for k in names], n_boot=0)
        if math.isfinite(f.slope) and f.points >= 3:  # the rule of fit_rows
            gg = np.geomspace(g[ok].min(), g[ok].max(), 20)
            ax.plot(gg, np.exp(f.intercept) * gg ** (-f.slope), "-", color=colors[mode], lw=1,
                    label=f"{mode}: fit (all datasets)")
    if gam_all:
        gg = np.geomspace(min(gam_all), max(gam_all), 20)
        for k, ls in ((2, ":"), (4, "--")):
            ax.plot(gg, 2 * (gg / gg.max()) ** (-k), ls, color="0.4", lw=1, label=f"slope $-{k}$ (bounds' order)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, 8 * top)
    ax.set_xlabel(r"certified margin $\gamma$")
    ax.set_ylabel(rf"needed width $m^*$ (neurons, error $\leq {eps:g}$)")
    ax.set_title(f"{regime} regime", fontsize=9)
    return gam_all


def plot_scaling(records: Sequence[dict], eps: float, *, n: int, delta: float = 0.1,
                 regimes: Sequence[str] = REGIMES):
    """One log-log panel per regime: median m* (bars: range over seeds; open triangles above the grid:
    censored medians) against gamma, per label kind, with the fitted lines and reference slopes -2 and
    -4 through the data. Last panel: the widths Corollary 4 and Proposition 5 ask for (kdlib.bounds)
    at the same gammas, on their own scale."""
    import numpy as np

    from kdlib.plots import new_figure

    fig, axes = new_figure(ncols=len(regimes) + 1, width=4.2 * (len(regimes) + 1), height=4.2)
    groups = _groups(records)
    gam_all: list[float] = []
    for ax, regime in zip(axes, regimes):
        gam_all += _plot_regime(ax, groups, regime, eps)
    ax2 = axes[-1]
    if gam_all:
        gg = np.geomspace(min(gam_all), max(gam_all), 20)
        ax2.plot(gg, [bounds.corollary4(n, 1.0, float(v), eps, delta).width for v in gg], "-", color="#2471a3",
                 label="Corollary 4 (soft)")
        ax2.plot(gg, [bounds.proposition5_for_error(n, 1.0, float(v), eps, delta).width for v in gg], "-",
                 color="#c0392b", label="Proposition 5 (hard)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"certified margin $\gamma$")
    ax2.set_ylabel(rf"width asked for (neurons, error $\leq {eps:g}$)")
    ax2.set_title(f"the bounds (n = {n}, delta = {delta:g})", fontsize=9)
    ax2.legend(fontsize=7)
    handles: dict = {}
    for ax in axes[:-1]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=5, fontsize=7,
                   frameon=False)
    return fig


def eps_rows(records: Sequence[dict], eps1: float, eps2: float) -> list[dict]:
    """Per regime and dataset: median m* at ``eps2`` over median m* at ``eps1`` for each label kind
    (``None`` where either median is censored); gamma as text with three significant digits."""
    from kdlib.fit import median_width

    groups = _groups(records)
    out = []
    for regime in REGIMES:
        soft1 = groups.get((regime, "soft", eps1), {})
        for name in sorted(soft1, key=lambda k: soft1[k]["gamma"]):
            row = {"regime": regime, "dataset": name, "gamma": f"{soft1[name]['gamma']:.3g}"}
            for mode in MODES:
                a = groups.get((regime, mode, eps1), {}).get(name)
                b = groups.get((regime, mode, eps2), {}).get(name)
                if a and b:
                    ma, mb = median_width(a["widths"]), median_width(b["widths"])
                    row[mode] = mb / ma if math.isfinite(ma) and math.isfinite(mb) else None
            out.append(row)
    return out


def crossing_rows(records: Sequence[dict], regimes: Sequence[str] = REGIMES) -> list[dict]:
    """Per regime: how many (dataset, eps) points have the ratio of the medians hard / soft above 1 (soft
    labels needed fewer neurons), equal to 1, below 1; its range; and where it crosses 1 against
    ``gamma / eps`` (:func:`kdlib.fit.crossing`; "never" when it stays on one side)."""
    from kdlib.fit import crossing

    out = []
    for regime in regimes:
        pts = ratio_points(records, regime)
        if not pts:
            out.append({"regime": regime, "points": 0})
            continue
        c = crossing([p[0] for p in pts], [p[1] for p in pts])
        out.append({"regime": regime, "points": len(pts), "min": min(p[1] for p in pts),
                    "max": max(p[1] for p in pts), "above": sum(p[1] > 1 for p in pts),
                    "equal": sum(p[1] == 1 for p in pts), "below": sum(p[1] < 1 for p in pts),
                    "crossing": "never" if c is None else f"{c:.3g}"})
    return out


def cost_rows(records: Sequence[dict]) -> list[dict]:
    """Compute time per regime and data family: records, student banks, students trained (every width
    and seed of every bank), and the summed wall time of the records in minutes."""
    out: dict[tuple[str, str], dict] = {}
    for rec in records:
        cfg = rec["config"]
        key = (cfg["regime"], "planted" if cfg["gamma"]["dataset"] == "planted" else "MNIST pairs")
        ent = out.setdefault(key, {"regime": key[0], "data": key[1], "records": 0, "banks": 0, "students": 0,
                                   "minutes": 0.0})
        banks = len(rec["provenance"].get("cost", {}))
        ent["records"] += 1
        ent["banks"] += banks
        ent["students"] += banks * len(cfg["widths"]) * len(cfg["seeds"])
        ent["minutes"] += float(rec["provenance"]["wall_time_s"]) / 60
    return [out[k] for k in sorted(out)]


def sweep_span(records: Sequence[dict]) -> dict:
    """When and how fast the records were computed: ``start`` (the earliest record's end time minus its
    wall time), ``end`` (the latest end time), ``wall_minutes = end - start``, ``compute_minutes`` (the
    records' wall times summed) and ``concurrency = compute / wall`` (about the number of workers that
    were busy, when the records came from one sweep). Times from the provenance, UTC."""
    from datetime import datetime, timedelta

    if not records:
        raise ValueError("no records")
    ends = [datetime.fromisoformat(r["provenance"]["date"]) for r in records]
    walls = [float(r["provenance"]["wall_time_s"]) for r in records]
    start = min(e - timedelta(seconds=w) for e, w in zip(ends, walls))
    end = max(ends)
    wall = (end - start).total_seconds() / 60
    compute = sum(walls) / 60
    return {"start": start, "end": end, "wall_minutes": wall, "compute_minutes": compute,
            "concurrency": compute / wall if wall > 0 else float("nan")}


def describe_span(records: Sequence[dict]) -> str:
    """One sentence on :func:`sweep_span`, for the chapter."""
    sp = sweep_span(records)
    return (f"These {len(records)} records were computed between {sp['start']:%Y-%m-%d %H:%M} and "
            f"{sp['end']:%H:%M} UTC: **{sp['wall_minutes']:.1f} minutes** of wall-clock time for "
            f"{sp['compute_minutes']:.1f} minutes of compute, {sp['concurrency']:.2f} records at a time "
            f"on average.")


def cap_errors(records: Sequence[dict], regime: str, mode: str, *, min_seeds: int = 3) -> dict[str, dict]:
    """Training error at the step cap against width: ``dataset -> {"gamma", "widths", "error"}`` with the
    median over the seeds whose student of that width ran to the cap without reaching the smallest
    target (``first_step == -1`` in its row; a student stopped early has no error at the cap), ``nan``
    where fewer than ``min_seeds`` seeds did."""
    import numpy as np

    out: dict[str, dict] = {}
    for rec in records:
        rows = [r for r in rec["rows"] if r.get("regime") == regime and r["mode"] == mode and "final_error" in r]
        if not rows:
            continue
        e_min = min(r["eps"] for r in rows)
        rows = [r for r in rows if r["eps"] == e_min]
        widths = list(rec["config"]["widths"])
        err = []
        for k in range(len(widths)):
            vals = [r["final_error"][k] for r in rows if r["first_step"][k] == -1]
            err.append(float(np.median(vals)) if len(vals) >= min_seeds else math.nan)
        out[rows[0]["dataset"]] = {"gamma": rows[0]["gamma"], "widths": widths, "error": err, "eps": e_min}
    return out


def plot_cap_error(records: Sequence[dict], regime: str = "theory"):
    """Two panels (soft, hard labels): the training error at the step cap against the width, median over
    the seeds that ran to the cap, one line per dataset (darker: smaller gamma), the smallest target
    dashed."""
    import matplotlib.pyplot as plt

    from kdlib.plots import new_figure

    fig, axes = new_figure(ncols=2, width=9.0, height=3.6)
    for ax, mode in zip(axes, MODES):
        data = cap_errors(records, regime, mode)
        names = sorted(data, key=lambda k: data[k]["gamma"])
        for i, name in enumerate(names):
            ent = data[name]
            shade = plt.cm.viridis(i / max(1, len(names) - 1))
            ax.plot(ent["widths"], ent["error"], "o-" if name.startswith("planted") else "s--", ms=3, lw=1,
                    color=shade, label=f"{name} ($\\gamma$ = {ent['gamma']:.3g})")
        if names:
            ax.axhline(data[names[0]]["eps"], color="0.5", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width m (neurons)")
        ax.set_ylabel("training error at the step cap")
        ax.set_title(f"{regime} regime, {mode} labels", fontsize=9)
        if names:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    sys.exit(main())
