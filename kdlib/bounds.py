"""The paper's width, step-size, iteration and radius requirements (Section 3.2).

Every function takes the data size ``n``, the smallest input norm ``c`` (inputs
satisfy ``c <= ||x_i|| <= 1``), the margin ``gamma`` of Assumption 1 where it
enters, the target (``beta`` for an averaged loss, ``eps`` for an averaged
classification error) and the failure probability ``delta``, and returns a
:class:`Requirement`: the width ``m``, the largest step size ``eta``, the number of
iterations ``T`` and the projection radius ``B`` that the result demands.

Printed forms and corrected forms
---------------------------------
``form="corrected"`` (the default) is what the statements give once the slips
listed in the book's appendix are fixed; ``form="printed"`` is the text as
published. They differ in:

- **Theorem 2, iterations.** The averaged-loss bound of projected gradient descent
  is ``1/(2 eta T) + eta/2 + (comparator term)``; the printed ``T >= 9/beta^2`` makes
  ``1/(2 eta T) <= beta/6`` only at ``eta = beta/3`` exactly. For a smaller step the
  corrected requirement is ``T >= 3/(eta beta)`` (equal to ``9/beta^2`` at
  ``eta = beta/3``).
- **Corollary 4.** It is Theorem 2 with ``beta = gamma^2 eps / 32`` (Lemma 3), hence
  ``eta <= gamma^2 eps / 96`` and ``T >= 96 / (eta gamma^2 eps)``, which is
  ``9216 / (gamma^4 eps^2)`` at the largest step; the printed ``eta <= gamma^2 eps / 3`` and
  ``T >= 9 / (gamma^4 eps^2)`` drop the 32 and, like Theorem 2's, keep ``T`` fixed as the step shrinks.
- **Proposition 5, headline.** Expanding the square gives ``m = O(ln^2(1/beta) / gamma^4)``;
  the paper's headline says ``ln(1/eps)``. The formula itself is the same in both forms.

Lemma 6's printed radius ``sqrt(2 ln(2n/delta) / m)`` holds as printed (both forms): with the
symmetric initialisation only ``m/2`` rows of ``W(0)`` are independent, but each term vanishes
on half of the directions, which halves its sub-Gaussian variance proxy (book, Chapter 4).
Hoeffding over the ``m/2`` rows, which ignores that, gives the weaker
``sqrt(4 ln(2n/delta) / m)`` (:func:`lemma6_hoeffding_radius`).

Also here: the width that *our* proof of Theorem 2 (book, Chapter 4) gives,
:func:`theorem2_width_our_proof`, which is smaller than the printed one.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = [
    "FORMS",
    "C1",
    "C2",
    "Requirement",
    "soft_bracket",
    "hard_bracket",
    "theorem2",
    "theorem2_width_our_proof",
    "lemma3_factor",
    "lemma3_factor_our_proof",
    "lemma3_error_bound",
    "lemma6_radius",
    "lemma6_hoeffding_radius",
    "corollary4",
    "proposition5",
    "proposition5_for_error",
    "proposition5_log",
    "proposition5_terms",
    "proposition5_eps_where",
    "headline_order",
    "soft_wins",
    "even_ceil",
]

FORMS = ("corrected", "printed")
#: Theorem 2's constant, as printed: 96 / (1 + e^2) ~= 11.44.
C1 = 96.0 / (1.0 + math.e**2)
#: Corollary 4's constant: 32 * C1 ~= 366.2.
C2 = 32.0 * C1
LN2 = math.log(2.0)


def _check_form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return form


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of data points n must be an integer >= 1, got {n!r}")
    return n


def _check_open01(name: str, v: float, upper: float = 1.0) -> float:
    v = float(v)
    if not (0.0 < v < upper):
        raise ValueError(f"{name} must lie in (0, {upper:g}), got {v!r}")
    return v


def _check_c(c: float) -> float:
    c = float(c)
    if not (0.0 < c <= 1.0):
        raise ValueError(f"the smallest input norm c must lie in (0, 1] (inputs satisfy c <= ||x|| <= 1), got {c!r}")
    return c


def _check_gamma(gamma: float) -> float:
    g = float(gamma)
    if not (0.0 < g <= 1.0):
        raise ValueError(f"the margin gamma must lie in (0, 1] (|z_i| <= 1 bounds it by 1), got {gamma!r}")
    return g


def even_ceil(m: float) -> int:
    """Smallest even integer ``>= m`` and ``>= 2`` (the symmetric initialisation pairs neurons)."""
    if not math.isfinite(m):
        raise ValueError(f"width {m!r} is not finite")
    k = max(2, math.ceil(m))
    return k + (k % 2)


@dataclass(frozen=True)
class Requirement:
    """What one result demands.

    ``width``: the real lower bound on ``m`` (use :attr:`min_width` for the smallest
    admissible even width); ``lr``: the step size used (at most the result's
    largest); ``steps``: the iteration count ``T``; ``radius``: ``B``; ``loss_target``:
    the bound on the averaged loss; ``error_target``: the bound on the averaged
    classification error it implies (``None`` when the result says none);
    ``confidence``: the probability with which it holds.
    """

    result: str
    form: str
    width: float
    lr: float
    steps: float
    radius: float
    loss_target: float
    error_target: float | None
    confidence: float

    @property
    def min_width(self) -> int:
        return even_ceil(self.width)

    @property
    def min_steps(self) -> int:
        return max(1, math.ceil(self.steps - 1e-9 * self.steps))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["min_width"] = self.min_width
        d["min_steps"] = self.min_steps
        return d


def soft_bracket(n: int, c: float, delta: float) -> float:
    """``sqrt(2/pi)/c + 3 sqrt(ln(2n/delta))``, the bracket of Theorem 2 and Corollary 4."""
    _check_n(n)
    c = _check_c(c)
    delta = _check_open01("delta", delta)
    return math.sqrt(2.0 / math.pi) / c + 3.0 * math.sqrt(math.log(2.0 * n / delta))


def proposition5_log(beta: float) -> float:
    """``L = ln(2 / (ln 2 * beta))``, the logarithm of Proposition 5."""
    beta = _check_open01("beta", beta)
    return math.log(2.0 / (LN2 * beta))


def hard_bracket(n: int, c: float, beta: float, delta: float) -> float:
    """``(2 sqrt 2 / (c sqrt pi)) L + 3 sqrt(ln(2n/delta))`` of Proposition 5."""
    _check_n(n)
    c = _check_c(c)
    delta = _check_open01("delta", delta)
    return 2.0 * math.sqrt(2.0) / (c * math.sqrt(math.pi)) * proposition5_log(beta) + 3.0 * math.sqrt(math.log(2.0 * n / delta))


def theorem2(n: int, c: float, beta: float, delta: float, *, eta: float | None = None, form: str = "corrected") -> Requirement:
    """Theorem 2 (soft labels): ``(1/T) sum_{t<T} R^KL(W(t)) <= beta`` w.p. ``>= 1 - 3 delta`` when

    ``m >= (C1 / beta) (sqrt(2/pi)/c + 3 sqrt(ln(2n/delta)))^2``, ``C1 = 96/(1+e^2)``,
    ``B = 1``, ``eta <= beta/3`` and ``T >= 9/beta^2`` (printed) or ``T >= 3/(eta beta)``
    (corrected; the same at ``eta = beta/3``). ``eta=None`` takes the largest step,
    ``beta/3``. ``beta`` in (0, 1), ``delta`` in (0, 1/3).
    """
    form = _check_form(form)
    beta = _check_open01("beta", beta)
    delta = _check_open01("delta", delta, 1.0 / 3.0)
    eta_max = beta / 3.0
    if eta is None:
        eta = eta_max
    eta = float(eta)
    if not (0.0 < eta <= eta_max * (1 + 1e-12)):
        raise ValueError(f"Theorem 2 needs a step size 0 < eta <= beta/3 = {eta_max:g}, got {eta!r}")
    width = C1 / beta * soft_bracket(n, c, delta) ** 2
    steps = 9.0 / beta**2 if form == "printed" else 3.0 / (eta * beta)
    return Requirement("Theorem 2", form, width, eta, steps, 1.0, beta, None, 1.0 - 3.0 * delta)


def theorem2_width_our_proof(n: int, c: float, beta: float, delta: float) -> float:
    """The width our proof of Theorem 2 (book, Chapter 4) needs, with ``B = 1``, ``eta = beta/3``, ``T >= 9/beta^2``:

    ``m >= (3 / (4 beta)) (sqrt(2/pi)/c + 2 sqrt(ln(2n/delta)))^2`` (probability ``>= 1 - 2 delta``).

    It comes from ``|f_i^t(W(0)+U) - z_i| <= 2 (sqrt(2/pi)/c + 2 sqrt(ln(2n/delta))) / sqrt(m)``,
    the reverse Pinsker step ``KL <= gap^2/8`` and the requirement ``gap^2/8 <= 2 beta/3``.
    """
    _check_n(n)
    c = _check_c(c)
    beta = _check_open01("beta", beta)
    delta = _check_open01("delta", delta, 1.0 / 3.0)
    bracket = math.sqrt(2.0 / math.pi) / c + 2.0 * math.sqrt(math.log(2.0 * n / delta))
    return 0.75 / beta * bracket**2


def lemma3_factor(gamma: float) -> float:
    """Lemma 3: ``R(W) <= (32 / gamma^2) R^KL(W)``; returns ``32 / gamma^2``."""
    return 32.0 / _check_gamma(gamma) ** 2


def lemma3_factor_our_proof(gamma: float) -> float:
    """The factor our proof of Lemma 3 gives (book, Chapter 4): ``R(W) <= (2 / tanh^2(gamma/2)) R^KL(W)``.

    A misclassified point keeps ``|sigma(z_i) - sigma(f_i)| >= tanh(gamma/2)/2``, hence (Pinsker)
    a KL of at least ``tanh^2(gamma/2)/2``. It is ``~ 8/gamma^2`` as ``gamma -> 0``: the printed
    ``32/gamma^2`` over it is ``16 tanh^2(gamma/2)/gamma^2``, which decreases from 4 (as gamma -> 0).
    """
    return 2.0 / math.tanh(_check_gamma(gamma) / 2.0) ** 2


def lemma3_error_bound(kl: float, gamma: float) -> float:
    """The classification-error bound ``min(1, 32 R^KL / gamma^2)`` of Lemma 3."""
    if not kl >= 0:
        raise ValueError(f"a KL divergence is >= 0, got {kl!r}")
    return min(1.0, lemma3_factor(gamma) * float(kl))


def _check_lemma6(n: int, m: int, delta: float) -> float:
    _check_n(n)
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise ValueError(f"width m must be an integer >= 2, got {m!r}")
    return _check_open01("delta", delta)


def lemma6_radius(n: int, m: int, delta: float, *, form: str = "corrected") -> float:
    """Lemma 6: ``max_i |f_i^0(U) - z_i| <= sqrt(2 ln(2n/delta) / m)`` with probability ``>= 1 - delta``.

    The printed radius is correct, so both forms give it. Proof (book, Chapter 4): ``f_i^0(U)``
    is the mean of ``k = m/2`` independent terms ``1(<z, x_i> > 0) <v(z), x_i>``, each 0 on half of
    the directions and in ``[-1, 1]`` on the other half; by convexity of the exponential the
    moment-generating function of a centred term is at most that of the three-point law on
    ``{-1, 0, 1}`` with mass 1/2 at 0 and the same mean, whose sub-Gaussian variance proxy is at
    most 1/2. Chernoff's bound gives ``P(|f_i^0(U) - z_i| >= s) <= 2 exp(-k s^2)``
    ``= 2 exp(-m s^2 / 2)``, and a union bound over the ``n`` points the radius.
    """
    _check_form(form)
    delta = _check_lemma6(n, m, delta)
    return math.sqrt(2.0 * math.log(2.0 * n / delta) / m)


def lemma6_hoeffding_radius(n: int, m: int, delta: float) -> float:
    """The weaker radius ``sqrt(4 ln(2n/delta) / m)`` that Hoeffding's inequality gives for Lemma 6.

    Hoeffding over the ``m/2`` independent rows treats each term as an arbitrary variable in
    ``[-1, 1]`` (variance proxy 1), ignoring that it vanishes on half of the directions:
    ``P(|f_i^0(U) - z_i| >= s) <= 2 exp(-m s^2 / 4)``. Valid, but ``sqrt 2`` larger than
    :func:`lemma6_radius` (the book's former "corrected" radius).
    """
    delta = _check_lemma6(n, m, delta)
    return math.sqrt(4.0 * math.log(2.0 * n / delta) / m)


def corollary4(n: int, c: float, gamma: float, eps: float, delta: float, *, eta: float | None = None,
               form: str = "corrected") -> Requirement:
    """Corollary 4 (soft labels, classification error ``<= eps``): Theorem 2 with ``beta = gamma^2 eps / 32``.

    Width ``(C2 / (gamma^2 eps)) (bracket)^2``, ``C2 = 32 C1``, in both forms; ``B = 1``.
    Corrected: a step ``eta <= gamma^2 eps / 96`` (``beta/3``; ``eta=None`` takes the largest) and
    ``T >= 3 / (eta beta) = 96 / (eta gamma^2 eps)`` iterations, which is ``9216 / (gamma^4 eps^2)``
    at the largest step: the iteration count grows as the step shrinks (book, appendix, slips 5 and 8).
    Printed: ``eta <= gamma^2 eps / 3`` and ``T >= 9 / (gamma^4 eps^2)`` whatever the step.
    """
    form = _check_form(form)
    gamma = _check_gamma(gamma)
    eps = _check_open01("eps", eps)
    delta = _check_open01("delta", delta, 1.0 / 3.0)
    beta = gamma**2 * eps / 32.0
    eta_max = beta / 3.0 if form == "corrected" else gamma**2 * eps / 3.0
    eta = eta_max if eta is None else float(eta)
    if not (0.0 < eta <= eta_max * (1 + 1e-12)):
        raise ValueError(f"Corollary 4 ({form}) needs a step size 0 < eta <= {eta_max:g}, got {eta!r}")
    width = C2 / (gamma**2 * eps) * soft_bracket(n, c, delta) ** 2
    steps = 3.0 / (eta * beta) if form == "corrected" else 9.0 / (gamma**4 * eps**2)
    return Requirement("Corollary 4", form, width, eta, steps, 1.0, beta, eps, 1.0 - 3.0 * delta)


def proposition5(n: int, c: float, gamma: float, beta: float, delta: float, *, eta: float = 1.0, form: str = "corrected") -> Requirement:
    """Proposition 5 (hard labels): ``(1/T) sum_{t<T} R^h(W(t)) <= beta`` w.p. ``>= 1 - 3 delta`` when, with
    ``L = ln(2 / (ln2 beta))``,

    ``B = (2/gamma) L``, ``eta <= 1``, ``T >= (8 / (gamma^2 eta)) L^2 / (ln2 beta)`` and
    ``m >= (16/gamma^4) ((2 sqrt2 / (c sqrt pi)) L + 3 sqrt(ln(2n/delta)))^2``.

    The averaged error is then ``<= beta / ln 2``. The printed and corrected forms agree
    here (the slip is in the headline order, see :func:`headline_order`).
    """
    form = _check_form(form)
    gamma = _check_gamma(gamma)
    beta = _check_open01("beta", beta)
    delta = _check_open01("delta", delta, 1.0 / 3.0)
    eta = float(eta)
    if not (0.0 < eta <= 1.0):
        raise ValueError(f"Proposition 5 needs a step size 0 < eta <= 1, got {eta!r}")
    L = proposition5_log(beta)
    width = 16.0 / gamma**4 * hard_bracket(n, c, beta, delta) ** 2
    steps = 8.0 / (gamma**2 * eta) * L**2 / (LN2 * beta)
    return Requirement("Proposition 5", form, width, eta, steps, 2.0 / gamma * L, beta, min(1.0, beta / LN2), 1.0 - 3.0 * delta)


def proposition5_for_error(n: int, c: float, gamma: float, eps: float, delta: float, *, eta: float = 1.0, form: str = "corrected") -> Requirement:
    """Proposition 5 for an averaged classification error ``<= eps``: ``beta = eps ln 2``."""
    eps = _check_open01("eps", eps)
    return proposition5(n, c, gamma, eps * LN2, delta, eta=eta, form=form)


def proposition5_terms(n: int, c: float, eps: float, delta: float) -> dict[str, float]:
    """The three terms of Proposition 5's squared bracket at error ``eps`` (``beta = eps ln 2``).

    ``(a L + b)^2 = a^2 L^2 + 2 a b L + b^2`` with ``a = 2 sqrt2 / (c sqrt pi)``, ``b = 3 sqrt(ln(2n/delta))``,
    ``L = ln(2 / (ln2 beta))``: returns ``a``, ``b``, ``L``, ``square`` (``a^2 L^2``, the ``ln^2(1/eps)``
    term of the headline), ``cross`` (``2 a b L``), ``constant`` (``b^2``) and ``log_slope``, the local
    exponent ``d ln(width) / d ln L = 2 a L / (a L + b)``: 2 where the square dominates, below 1 while
    ``a L < b``.
    """
    _check_n(n)
    c = _check_c(c)
    eps = _check_open01("eps", eps)
    delta = _check_open01("delta", delta)
    a = 2.0 * math.sqrt(2.0) / (c * math.sqrt(math.pi))
    b = 3.0 * math.sqrt(math.log(2.0 * n / delta))
    L = proposition5_log(eps * LN2)
    return {"a": a, "b": b, "L": L, "square": (a * L) ** 2, "cross": 2 * a * b * L, "constant": b * b,
            "log_slope": 2 * a * L / (a * L + b)}


def proposition5_eps_where(n: int, c: float, delta: float, *, ratio: float) -> float:
    """The error target below which ``a L >= ratio * b`` in Proposition 5's bracket (see :func:`proposition5_terms`).

    ``ratio = 1``: the ``ln^2`` term ``a^2 L^2`` exceeds the constant ``b^2``; ``ratio = 2``: it exceeds the
    cross term ``2 a b L``. Solves ``L = ratio b / a`` with ``L = ln(2 / (ln2^2 eps))``.
    """
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    t = proposition5_terms(n, c, 0.5, delta)
    L = ratio * t["b"] / t["a"]
    return 2.0 / (LN2**2 * math.exp(L))


def headline_order(mode: str, gamma: float, eps: float, *, form: str = "corrected") -> float:
    """The headline width orders, constants and ``n``, ``delta`` dropped.

    ``soft``: ``1 / (gamma^2 eps)``. ``hard``: ``ln^2(1/eps) / gamma^4`` (corrected) or
    ``ln(1/eps) / gamma^4`` (printed).
    """
    form = _check_form(form)
    gamma = _check_gamma(gamma)
    eps = _check_open01("eps", eps)
    if mode == "soft":
        return 1.0 / (gamma**2 * eps)
    if mode == "hard":
        lg = math.log(1.0 / eps)
        return (lg**2 if form == "corrected" else lg) / gamma**4
    raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")


def soft_wins(n: int, c: float, gamma: float, eps: float, delta: float, *, form: str = "corrected") -> bool:
    """Whether Corollary 4 asks for fewer neurons than Proposition 5 at error ``eps``."""
    soft = corollary4(n, c, gamma, eps, delta, form=form).width
    hard = proposition5_for_error(n, c, gamma, eps, delta, form=form).width
    return soft < hard
