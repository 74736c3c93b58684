"""Losses of the paper, in numerically stable forms.

Notation: ``f`` a logit (the student's output), ``y`` in {-1, +1} a hard label,
``p`` in [0, 1] a soft label (the teacher's probability of class +1),
``sigma`` the logistic sigmoid (which the paper calls "softmax").

- Hard labels, logistic loss (paper eq. 12): ``ln(1 + exp(-y f)) = softplus(-y f)``.
- Soft labels, Bernoulli cross-entropy: ``-p ln sigma(f) - (1 - p) ln(1 - sigma(f))
  = softplus(f) - p f``.
- Soft labels, Bernoulli KL (paper eq. 4, with the sign corrected):
  ``KL(p || sigma(f)) = CE(p, f) - H(p)``, ``H(p) = -p ln p - (1-p) ln(1-p)``; it is
  >= 0 and zero exactly when ``sigma(f) = p``. CE and KL differ by a constant
  in ``f``, so they have the same gradient ``sigma(f) - p`` (times ``x_i`` and the
  chain rule, which printed eq. 5 omits).
- Multi-class distillation: cross-entropy against the teacher's softmax at temperature T.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def logistic_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise ``ln(1 + exp(-y f))`` (paper eq. 12)."""
    return F.softplus(-y * f)


def bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    """``H(p) = -p ln p - (1 - p) ln(1 - p)`` with ``0 ln 0 = 0``."""
    return -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))


def bernoulli_cross_entropy(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Elementwise ``-p ln sigma(f) - (1-p) ln(1 - sigma(f)) = softplus(f) - p f``."""
    return F.softplus(f) - p * f


def bernoulli_kl(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(Bern(p) || Bern(sigma(f)))`` (paper eq. 4, sign corrected)."""
    return bernoulli_cross_entropy(f, p) - bernoulli_entropy(p)


def zero_one_error(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise classification error ``1(y f <= 0)`` (paper eq. 8 with the inequality corrected)."""
    return (y * f <= 0).to(f.dtype)


def soft_cross_entropy(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean over the batch of ``-sum_k q_k ln softmax(logits / T)_k``, ``q = softmax(teacher_logits / T)``.

    At ``T = 1`` this is the plain cross-entropy against the teacher's probabilities.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    q = torch.softmax(teacher_logits / temperature, dim=-1)
    return -(q * torch.log_softmax(logits / temperature, dim=-1)).sum(-1).mean()


def softmax_confidence(logits: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean over the rows of ``max_k softmax(z / T)_k``: how sure the soft labels are (1/2 to 1 for two classes)."""
    return float(torch.softmax(logits.float() / temperature, dim=1).max(dim=1).values.mean())
