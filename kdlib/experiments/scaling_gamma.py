"""Chapter 6: gamma of each dataset of the width search, certified (``NAME = "scaling_gamma"``).

One record per dataset (:class:`Config`: planted data of :mod:`kdlib.planted`, or an MNIST
digit pair, ``n`` unit-norm points), shared by both regimes of :mod:`kdlib.experiments.scaling`,
which reads it (:data:`kdlib.registry.READS`): gamma with its certified interval and the
Monte-Carlo witness's dual weights (read back by :func:`kdlib.margin.dual_weights`).

Inputs are kept in the coordinates of an orthonormal basis of their span
(:func:`reduce_to_span`; exact, see :mod:`kdlib.experiments.scaling`). For planted data in two
dimensions gamma is computed exactly as well (:func:`kdlib.margin_2d.solve_gamma_2d`, no
sampling error), and that interval is the one used; the Monte-Carlo interval of
:func:`kdlib.margin.estimate_gamma` is kept beside it in the record.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from kdlib.data import BinaryTask, binary_mnist
from kdlib.margin import MarginEstimate, dual_weights, estimate_gamma
from kdlib.margin_2d import solve_gamma_2d
from kdlib.planted import check_planted_params, planted_dataset
from kdlib.results import RunOutput
from kdlib.validate import integer

NAME = "scaling_gamma"


DATASETS = ("planted", "mnist")


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


@dataclass(frozen=True)
class Config:
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
        integer("n (the number of points)", self.n, 2)
        if self.dataset == "planted":
            check_planted_params(self.d, self.n, self.t, self.J)
        else:
            object.__setattr__(self, "digits", check_digits(self.digits))
        integer("n_z", self.n_z, 1)
        integer("n_eval", self.n_eval, 2)
        integer("gamma_steps", self.gamma_steps, 0)

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


def load_dataset(g: Config) -> Dataset:
    if g.dataset == "planted":
        p = planted_dataset(g.d, g.n, g.t, J=g.J, seed=g.data_seed, aligned=False)
        return Dataset(x=p.x.to(torch.float32), y=p.y.to(torch.float32), planted_z=p.z, ambient_d=g.d)
    a, b = g.digits
    task = BinaryTask(name=f"{a}v{b}", positive=(a,), negative=(b,))
    data = binary_mnist(task, train=True, scaling="unit", limit=g.n, subset_seed=g.data_seed)
    xr = reduce_to_span(data.x)
    return Dataset(x=xr.to(torch.float32), y=data.y, planted_z=None, ambient_d=int(data.x.shape[1]))


EXACT_SIDES = 256


def run(g: Config) -> RunOutput:
    """gamma of one dataset: :func:`kdlib.margin.estimate_gamma` (Monte Carlo on fresh draws, the
    asymptotic three-standard-error interval, :meth:`kdlib.margin.MarginEstimate.asymptotic_interval`,
    which these records have used since before the finite-sample certificate) always; for planted
    data in two dimensions also the exact program of
    :func:`kdlib.margin_2d.solve_gamma_2d` (polygon of ``EXACT_SIDES`` sides), whose interval is then
    the one used (``ci_lo``, ``ci_hi``): it has no sampling error. The row keeps both."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    ds = load_dataset(g)
    e = estimate_gamma(ds.x, ds.y, n_z=g.n_z, n_eval=g.n_eval, steps=g.gamma_steps, seed=0)
    lo, hi = e.asymptotic_interval(3.0)
    sup = e.support()
    row = {
        "dataset": g.label, "kind": g.dataset, "t": g.t if g.dataset == "planted" else None,
        "digits": list(g.digits) if g.dataset == "mnist" else None, "n": len(ds.y),
        "coords": int(ds.x.shape[1]), "ambient_d": ds.ambient_d,
        "lower": e.lower, "upper": e.upper, "lower_se": e.lower_se, "upper_se": e.upper_se,
        "mc_lo": lo, "mc_hi": hi, "mc_rel_width": (hi - lo) / max(e.gamma, 1e-300),
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


def estimate_from_gamma_record(g: Config, row: dict, ds: Dataset) -> MarginEstimate:
    """The witness of a stored gamma record, rebuilt from its dual weights (no re-solve)."""
    n = len(ds.y)
    p = dual_weights(row, n)
    nan = torch.full((n,), math.nan, dtype=torch.float64)
    return MarginEstimate(
        lower=row["lower"], upper=row["upper"], lower_se=row["lower_se"], upper_se=row["upper_se"], p=p,
        x=ds.x, y=ds.y, n_z=g.n_z, n_eval=g.n_eval, seed=0, margins=nan, margins_se=nan,
        svm_upper=row["svm_upper"], train_value=math.nan, train_gap=math.nan, steps=row["fw_steps"], c=row["c"],
    )
