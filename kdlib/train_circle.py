"""Chapter 6's students on the circle (d = 2): full-batch (projected) gradient descent by prefix sums.

The student is the paper's ``f(x) = m^{-1/2} sum_j a_j relu(<W_j, x>)`` with fixed outer signs
``a_j``; the loss and the step are those of :func:`kdlib.train.train_bank` (the dense
bank), which this module reproduces to float rounding at a fraction of its cost when the inputs
lie in the plane.

The arc structure. Write the inputs by angle, ``x_i = r_i (cos theta_i, sin theta_i)``, sorted so
that ``theta_1 <= ... <= theta_n`` (in ``[-pi, pi]``), and a row by its angle ``phi_j``. Neuron ``j``
is active on ``x_i`` iff ``<W_j, x_i> > 0`` iff ``theta_i`` lies in the open half-circle
``(phi_j - pi/2, phi_j + pi/2)``: a contiguous run of the sorted points (one run, or two pieces
where the half-circle wraps past ``pi``). Its two ends are tracked from step to step by the signs
of ``<W_j, x_i>`` at the neighbouring points (the dense bank's own test of activity; a row turns
little per step, so a few moves of one point suffice; a row that moved further is found from all
its dot products). Hence

    f_s(x_i) = < V_s(i), x_i >,   V_s(i) = sum_{j in s, j active on x_i} a_j m^{-1/2} W_j      (C1)

and ``V_s`` is piecewise constant along the sorted points: a difference array that gets
``+c_j`` at the first index of row ``j``'s run and ``-c_j`` one past its last
(``c_j = a_j m^{-1/2} W_j``), summed cumulatively. The gradient of the mean loss,

    dR/dW_j = (1/n) sum_i l'(f_s(x_i)) a_j m^{-1/2} 1(<W_j, x_i> > 0) x_i,                   (C2)

is ``a_j m^{-1/2} / n`` times the sum of ``g_i x_i`` (``g_i = l'(f_s(x_i))``) over row ``j``'s run,
a difference of two prefix sums. Per step: ``O(M)`` for the ``M`` rows in all (times the moves of
the run ends), ``O(k n)`` for the ``k`` students' prefix sums, ``O(n log n)`` once to sort; the
dense bank takes ``O(M n)``. The inputs must lie all around the circle (every gap between
neighbouring angles below ``pi``), so that no run is empty or holds every point.
``l'(f) = -y sigmoid(-y f)`` (logistic, hard labels) or ``sigmoid(f) - p`` (cross-entropy
to the soft label ``p``, the gradient of the KL of eq. 4). After each step every row is
projected onto ``||W_j - W_j(0)|| <= B / sqrt(m)`` (``B = inf``: none).

Exact zeros: at step 0 the symmetric initialisation gives ``f = 0`` exactly (paired rows cancel in the
dense sums); and a point on which no row of a student is active has ``f = 0`` exactly. Both are
kept exact here (a count of active rows runs beside (C1)), since ``f = 0`` counts as an error and
a rounding residue of the prefix sums would give it a random sign.

Ties: a point exactly on a boundary (``<W_j, x_i> = 0``) is inactive on both paths. The angles
only sort the points; activity is decided by the sign of the dot product, as in the dense bank.

Early stopping is the dense bank's (module docstring of :mod:`kdlib.experiments.scaling`): a
student stops once it has reached every target, or once a smaller width of its seed has
reached every target it has not (it can then no longer be the smallest width for any
budget, so ``m*(T)`` stays exact for every ``T`` up to the cap). :class:`CircleBank`
can be advanced to a larger cap and continues where it stopped (full-batch descent is
deterministic), which the frontier's rule for raising caps uses.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from kdlib.experiments.scaling import check_eps, check_widths
from kdlib.train import BankResult
from kdlib.nets import symmetric_init

__all__ = ["CircleBank", "train_circle_bank"]

_TWO_PI = 2.0 * math.pi


class CircleBank:
    """All ``widths x seeds`` students on inputs in the plane, trained by prefix sums ((C1), (C2)).

    ``first[s][k][e]``: the first step at which seed ``s``, width ``k`` reached target ``e``
    (``-1``: not yet); :meth:`result` gives the dense bank's :class:`BankResult` at the
    current step. ``advance(cap)`` trains on to ``cap`` steps. ``early_stop=False`` trains every
    student to the cap (the first steps are still recorded).
    """

    @torch.no_grad()
    def __init__(self, x: torch.Tensor, y: torch.Tensor, widths: Sequence[int], seeds: Sequence[int],
                 eps: Sequence[float], *, soft_targets: torch.Tensor | None, lr: float, B: float,
                 dtype: torch.dtype = torch.float64, early_stop: bool = True) -> None:
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"the circle trainer needs inputs in the plane (n x 2), got shape {tuple(x.shape)}")
        n = int(x.shape[0])
        if n < 1 or y.shape != (n,):
            raise ValueError(f"expected n >= 1 inputs and n labels, got {tuple(x.shape)} and {tuple(y.shape)}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"the step size lr must be a finite number > 0, got {lr!r}")
        if not B > 0:
            raise ValueError(f"the radius B must be > 0 (inf: no projection), got {B!r}")
        if soft_targets is not None and soft_targets.shape != (n,):
            raise ValueError(f"soft_targets must have one value per input, got shape {tuple(soft_targets.shape)}")
        self.widths, self.seeds, self.eps = list(check_widths(widths)), list(seeds), list(check_eps(eps))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"the seeds must be a non-empty list of distinct seeds, got {seeds!r}")
        self.n, self.lr, self.B, self.dtype = n, float(lr), float(B), dtype
        self.early_stop = bool(early_stop)
        xd = x.to(dtype)
        theta = torch.atan2(xd[:, 1], xd[:, 0])
        if bool((xd.norm(dim=1) == 0).any()):
            raise ValueError("an input is the zero vector: it has no angle")
        order = torch.argsort(theta)
        self.order = order
        self._x0, self._x1 = xd[order, 0].contiguous(), xd[order, 1].contiguous()
        self.theta, self.xs = theta[order].contiguous(), xd[order].contiguous()
        self.ys = y.to(dtype)[order].contiguous()
        self.ps = None if soft_targets is None else soft_targets.to(dtype)[order].contiguous()
        self.specs = [(si, ki) for si in range(len(self.seeds)) for ki in range(len(self.widths))]
        Ws, As, sids, scs = [], [], [], []
        for s, (si, ki) in enumerate(self.specs):
            m = self.widths[ki]
            W0, a = symmetric_init(m, 2, self.seeds[si], dtype=dtype)
            Ws.append(W0)
            As.append(a)
            sids.append(torch.full((m,), s, dtype=torch.long))
            scs.append(torch.full((m,), 1.0 / math.sqrt(m), dtype=dtype))
        self.Wt_all = torch.cat(Ws).T.contiguous()        # 2 x M: the rows' two coordinates
        self.W0t_all = self.Wt_all.clone()
        self.coef_all = torch.cat(As) * torch.cat(scs)           # a_j m^{-1/2}
        self.rad_all = self.B * torch.cat(scs)                    # B / sqrt(m)
        self.sid_all = torch.cat(sids)
        self.project = math.isfinite(self.B)
        k = len(self.specs)
        self.first: list[list[list[int]]] = [[[-1] * len(self.eps) for _ in self.widths] for _ in self.seeds]
        self._err_all = torch.full((k,), math.nan, dtype=dtype)
        self._spec_index = {spec: i for i, spec in enumerate(self.specs)}
        self._eps_t = torch.tensor(self.eps, dtype=torch.float64)
        self.active = torch.ones(k, dtype=torch.bool)
        self.projected = False
        self.row_steps = 0
        self.t = 0
        gaps = torch.diff(torch.cat([self.theta, self.theta[:1] + _TWO_PI]))
        if float(gaps.max()) >= math.pi:
            raise ValueError("the circle trainer needs inputs all around the circle (every gap between "
                             f"neighbouring angles below pi; the largest is {float(gaps.max()):.3g})")
        self.start_all, self.end_all = self._runs_dense(self.Wt_all)
        self._compact()

    # ------------------------------------------------------------------ the bank's rows
    def _compact(self) -> None:
        """Keep only the rows of active students (the state of the dropped ones written back first)."""
        if hasattr(self, "rows"):
            self.Wt_all[:, self.rows] = self.Wt
            self.start_all[self.rows] = self.start
            self.end_all[self.rows] = self.end
        ids = torch.nonzero(self.active).flatten()
        self.ids = ids
        self.rows = torch.nonzero(self.active[self.sid_all]).flatten()
        remap = torch.full((len(self.specs),), -1, dtype=torch.long)
        remap[ids] = torch.arange(ids.numel())
        self.Wt = self.Wt_all[:, self.rows].contiguous()
        self.W0t = self.W0t_all[:, self.rows].contiguous()
        M = int(self.rows.numel())
        # both ends of every run in one tensor (starts, then ends), tracked together by _track
        self._ends = torch.cat([self.start_all[self.rows], self.end_all[self.rows]])
        self.start, self.end = self._ends[:M], self._ends[M:]
        self._is_end = torch.arange(2 * M) >= M
        self._row2 = torch.arange(2 * M) % max(M, 1)
        self.coef = self.coef_all[self.rows].contiguous()
        self.rad = self.rad_all[self.rows].contiguous()
        self.base = (remap[self.sid_all[self.rows]] * (self.n + 1)).contiguous()  # offset of the row's student
        self.ka = int(ids.numel())
        # the targets each active student has not reached yet (a step that reaches none leaves the
        # Python bookkeeping of _record alone)
        self._open = torch.tensor([[self.first[self.specs[s][0]][self.specs[s][1]][e] == -1 for e in range(len(self.eps))]
                                   for s in ids.tolist()], dtype=torch.bool).reshape(self.ka, len(self.eps))
        # buffers, allocated once per compaction (a loop that allocated its arrays at every step would
        # fault their pages in again and again under an allocator that returns freed memory at once)
        K = self.ka * (self.n + 1)
        self._cc = torch.ones(3, M, dtype=self.dtype)
        self._ccn = torch.empty(3, M, dtype=self.dtype)
        self._D = torch.empty(3, K, dtype=self.dtype)
        self._P = torch.zeros(2, self.ka, self.n + 1, dtype=self.dtype)
        self._wrap = torch.empty(M, dtype=self.dtype)

    def _runs_dense(self, Wt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end (one past the last point) of each row's cyclic run, from all ``n`` dot products."""
        act = (Wt.T @ self.xs.T) > 0                      # rows x n
        before = torch.roll(act, 1, dims=1)
        start = torch.argmax((act & ~before).to(torch.uint8), dim=1)
        end = torch.argmax((~act & before).to(torch.uint8), dim=1)
        return start, end

    def _track(self, max_moves: int = 8) -> None:
        """Move every run's two ends (in place) to where activity changes along the sorted points: a
        start has point ``pos`` active and ``pos - 1`` not, an end the reverse. The rows turn little per
        step, so a few moves of one point suffice; ends not settled after ``max_moves`` moves are
        found from all their rows' dot products."""
        n = self.n
        x0, x1 = self._x0, self._x1
        pos, rows, flip = self._ends, self._row2, self._is_end
        todo = None
        for _ in range(max_moves):
            r = rows if todo is None else rows.index_select(0, todo)
            w0, w1 = self.Wt[0].index_select(0, r), self.Wt[1].index_select(0, r)
            cur = pos if todo is None else pos.index_select(0, todo)
            fl = flip if todo is None else flip.index_select(0, todo)
            prev = torch.remainder(cur - 1, n)
            a_prev = ((w0 * x0.index_select(0, prev) + w1 * x1.index_select(0, prev)) > 0) != fl
            a_cur = ((w0 * x0.index_select(0, cur) + w1 * x1.index_select(0, cur)) > 0) != fl
            move = torch.where(a_prev, -1, torch.where(a_cur, 0, 1))
            moving = torch.nonzero(move).flatten()
            if moving.numel() == 0:
                return
            idx = moving if todo is None else todo.index_select(0, moving)
            pos.index_copy_(0, idx, torch.remainder(cur.index_select(0, moving) + move.index_select(0, moving), n))
            todo = idx
        r = rows.index_select(0, todo)
        start, end = self._runs_dense(self.Wt.index_select(1, r))
        pos.index_copy_(0, todo, torch.where(flip.index_select(0, todo), end, start))

    def outputs_sorted(self) -> torch.Tensor:
        """``f_s(x_i)`` (active students x points in angle order), by (C1)."""
        return self._forward()

    def _forward(self) -> torch.Tensor:
        n, ka = self.n, self.ka
        torch.le(self.end, self.start, out=self._wrap)     # the runs that wrap: [start, n) and [0, end)
        if self.t == 0:  # the symmetric initialisation: f = 0 exactly (the dense bank's rows cancel exactly)
            return torch.zeros(ka, n, dtype=self.dtype)
        cc, D = self._cc, self._D
        torch.mul(self.Wt, self.coef, out=cc[:2])          # c_j = a_j m^{-1/2} W_j, and a 1 per row
        D.zero_()                                          # the runs' +-c_j and +-1 (active rows, exact)
        D.index_add_(1, self.base + self.start, cc)
        # (index_add_ with alpha=-1 is many times slower than adding the negated rows)
        D.index_add_(1, self.base + self.end, torch.neg(cc, out=self._ccn))
        # a run that wraps also starts at 0
        D.index_add_(1, self.base, torch.mul(cc, self._wrap, out=self._ccn))
        V = torch.cumsum(D.view(3, ka, n + 1)[:, :, :n], dim=2)
        f = V[0] * self.xs[:, 0] + V[1] * self.xs[:, 1]
        # a point no row is active on has f = 0 exactly (as relu sums give), not the sums' rounding residue
        return f.masked_fill_(V[2] < 0.5, 0.0)

    @torch.no_grad()
    def outputs(self) -> torch.Tensor:
        """``f_s(x_i)`` of every student (k x n, inputs in their original order), at the current step."""
        keep = self.active.clone()
        self.active[:] = True
        self._compact()
        f = self.outputs_sorted()
        self.active[:] = keep
        self._compact()
        out = torch.empty_like(f)
        out[:, self.order] = f  # position p in angle order is input order[p]
        return out

    # ------------------------------------------------------------------ the loop
    def _reached(self, si: int, ki: int, e: int) -> bool:
        v = self.first[si][ki][e]
        return v is not None and v >= 0

    def _record(self, f: torch.Tensor) -> bool:
        """Errors at step ``t``; first steps; stop the students that are done or can no longer be m*.
        Only a step at which some student reaches a target it had not reached touches the Python
        lists (``first`` changes only then, and with it whether a student is still needed)."""
        err = (self.ys * f <= 0).to(self.dtype).mean(1)
        self._err_all.index_copy_(0, self.ids, err)
        # compared in float64, as the Python floats of eps are (float32(0.1) > 0.1)
        hit = (err.to(torch.float64)[:, None] <= self._eps_t) & self._open
        if not bool(hit.any()):
            return False
        self._open &= ~hit
        changed = False
        ids = self.ids.tolist()
        for j, e in torch.nonzero(hit).tolist():
            si, ki = self.specs[ids[j]]
            self.first[si][ki][e] = self.t
        if not self.early_stop:
            return False
        for s in ids:
            si, ki = self.specs[s]
            needed = False
            for e in range(len(self.eps)):
                if self._reached(si, ki, e) or any(self._reached(si, kk, e) for kk in range(ki)):
                    continue
                needed = True
            if not needed:
                self.active[s] = False
                changed = True
        return changed

    @property
    def final_error(self) -> list[list[float]]:
        """The training error of every student at the last step it was recorded (``nan``: never)."""
        e = self._err_all.tolist()
        return [[e[self._spec_index[(si, ki)]] for ki in range(len(self.widths))] for si in range(len(self.seeds))]

    @torch.no_grad()
    def advance(self, max_steps: int) -> "CircleBank":
        """Train on until step ``max_steps`` (or until no student is left); returns ``self``."""
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
            raise ValueError(f"max_steps must be an integer >= 0, got {max_steps!r}")
        n = self.n
        step = self.lr / n
        while self.ka > 0:
            f = self._forward()
            if self._record(f):
                self._compact()
                if self.ka == 0:
                    break
                f = self._forward()
            if self.t >= max_steps:
                break
            if self.ps is None:
                g = torch.sigmoid(-self.ys * f).mul_(-self.ys)
            else:
                g = torch.sigmoid(f).sub_(self.ps)
            P = self._P  # its column 0 stays 0
            torch.cumsum(g[None] * self.xs.T[:, None, :], dim=2, out=P[:, :, 1:])
            Pf = P.view(2, -1)
            arc = Pf.index_select(1, self.base + self.end) - Pf.index_select(1, self.base + self.start)
            arc.addcmul_(Pf.index_select(1, self.base + n), self._wrap)  # wrapping runs: + P_s(n)
            self.Wt.addcmul_(arc, self.coef, value=-step)
            if self.project:
                delta = self.Wt - self.W0t
                norm = (delta[0] * delta[0]).addcmul_(delta[1], delta[1]).sqrt_()  # (vector_norm over dim 0 is slow)
                factor = torch.clamp(self.rad / norm.clamp_min_(1e-300), max=1.0)
                if bool((factor < 1).any()):
                    self.projected = True
                    torch.addcmul(self.W0t, delta, factor, out=self.Wt)
            self._track()
            self.row_steps += int(self.Wt.shape[1])
            self.t += 1
        return self

    def result(self) -> BankResult:
        """The dense bank's :class:`BankResult` at the current step (a width that never reached a target
        that a smaller width of its seed reached is ``None``, as there)."""
        first = [[list(col) for col in row] for row in self.first]
        for si in range(len(self.seeds)):
            for ki in range(len(self.widths)):
                for e in range(len(self.eps)):
                    if first[si][ki][e] == -1 and any(self._reached(si, kk, e) for kk in range(ki)):
                        first[si][ki][e] = None
        return BankResult(first=first, steps_run=self.t, row_steps=self.row_steps,
                          final_error=self.final_error, projected=self.projected)

    def weights(self) -> list[list[torch.Tensor]]:
        """``W`` of every student (``[seed][width]``, rows in :func:`kdlib.nets.symmetric_init`'s order)."""
        W = self.Wt_all.clone()
        W[:, self.rows] = self.Wt
        W = W.T
        out = [[None] * len(self.widths) for _ in self.seeds]
        off = 0
        for si, ki in self.specs:
            m = self.widths[ki]
            out[si][ki] = W[off:off + m]
            off += m
        return out  # type: ignore[return-value]


def train_circle_bank(x: torch.Tensor, y: torch.Tensor, widths: Sequence[int], seeds: Sequence[int],
                      eps: Sequence[float], *, soft_targets: torch.Tensor | None, lr: float, B: float,
                      max_steps: int, dtype: torch.dtype = torch.float64) -> BankResult:
    """:func:`kdlib.train.train_bank`'s contract (same students, steps, early stopping and
    result) for inputs in the plane, by :class:`CircleBank`."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    bank = CircleBank(x, y, widths, seeds, eps, soft_targets=soft_targets, lr=lr, B=B, dtype=dtype)
    return bank.advance(max_steps).result()
