"""kdlib.losses against values computed by hand."""
from __future__ import annotations

import math

import pytest
import torch

from kdlib import losses as L

T = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731


def test_logistic_loss_hand_values():
    # ln(1 + e^{-y f}): at f = 0 it is ln 2; at y f = 2 it is ln(1 + e^-2)
    torch.testing.assert_close(L.logistic_loss(T(0.0, 2.0, -1.0), T(1.0, 1.0, 1.0)), T(math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.e)))
    # symmetric in (f, y) -> (-f, -y), and stable for large margins
    torch.testing.assert_close(L.logistic_loss(T(-3.0), T(-1.0)), L.logistic_loss(T(3.0), T(1.0)))
    assert float(L.logistic_loss(T(-800.0), T(1.0))) == pytest.approx(800.0)


def test_bernoulli_cross_entropy_and_kl_hand_values():
    p, f = 0.3, 0.0  # sigma(0) = 1/2
    ce = -p * math.log(0.5) - (1 - p) * math.log(0.5)
    kl = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    torch.testing.assert_close(L.bernoulli_cross_entropy(T(f), T(p)), T(ce))
    torch.testing.assert_close(L.bernoulli_kl(T(f), T(p)), T(kl))
    # KL vanishes exactly at sigma(f) = p, and is positive elsewhere
    torch.testing.assert_close(L.bernoulli_kl(T(math.log(p / (1 - p))), T(p)), T(0.0), atol=1e-12, rtol=0)
    assert float(L.bernoulli_kl(T(1.0), T(p))) > 0
    # entropy with the 0 ln 0 = 0 convention
    torch.testing.assert_close(L.bernoulli_entropy(T(0.0, 1.0, 0.5)), T(0.0, 0.0, math.log(2)))


def test_soft_label_gradient_is_sigmoid_minus_p():
    f = T(0.7, -1.2).requires_grad_()
    p = T(0.9, 0.2)
    L.bernoulli_kl(f, p).sum().backward()
    torch.testing.assert_close(f.grad, torch.sigmoid(f.detach()) - p)


def test_zero_one_error_counts_wrong_predictions():
    # the paper's eq. 8 counts y f > 0 (right answers); ours counts y f <= 0
    torch.testing.assert_close(L.zero_one_error(T(1.0, -1.0, 0.0), T(1.0, 1.0, 1.0)), T(0.0, 1.0, 1.0))


def test_soft_cross_entropy_hand_value():
    logits = T(0.0, math.log(3.0))[None]        # softmax = (1/4, 3/4)
    teacher = T(math.log(2.0), 0.0)[None]       # softmax = (2/3, 1/3)
    expected = -(2 / 3) * math.log(1 / 4) - (1 / 3) * math.log(3 / 4)
    torch.testing.assert_close(L.soft_cross_entropy(logits, teacher), T(expected).squeeze())
    # temperature divides both sets of logits
    torch.testing.assert_close(L.soft_cross_entropy(2 * logits, 2 * teacher, temperature=2.0), T(expected).squeeze())
    with pytest.raises(ValueError, match="temperature"):
        L.soft_cross_entropy(logits, teacher, temperature=0.0)
