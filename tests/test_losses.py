import math

import pytest
import torch
import torch.nn.functional as F

from evidence_ft.losses import focal_loss


def test_gamma_zero_uniform_alpha_is_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 2), torch.randint(0, 2, (16,))
    expected = F.cross_entropy(logits, labels)
    assert torch.allclose(focal_loss(logits, labels, gamma=0.0), expected)
    assert torch.allclose(focal_loss(logits, labels, alpha=[1.0, 1.0], gamma=0.0), expected)


def test_value_matches_hand_computation():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p(1) = 0.75
    label = torch.tensor([1])
    expected = 0.4 * (1 - 0.75) ** 2 * -math.log(0.75)
    assert focal_loss(logits, label, alpha=[0.6, 0.4], gamma=2.0).item() == pytest.approx(expected)


def test_gradient_matches_autograd_of_the_formula():
    torch.manual_seed(1)
    logits = torch.randn(8, 2, requires_grad=True)
    labels = torch.randint(0, 2, (8,))
    alpha = torch.tensor([0.3, 1.7])
    focal_loss(logits, labels, alpha=alpha, gamma=1.5).backward()
    ours = logits.grad.clone()

    ref_logits = logits.detach().clone().requires_grad_(True)
    p = torch.softmax(ref_logits, -1)[torch.arange(8), labels]
    (-(alpha[labels]) * (1 - p) ** 1.5 * torch.log(p)).mean().backward()
    assert torch.allclose(ours, ref_logits.grad, atol=1e-6)


def test_focusing_down_weights_easy_examples():
    easy = torch.tensor([[0.0, 4.0]])
    hard = torch.tensor([[0.0, -1.0]])
    label = torch.tensor([1])
    ratio_ce = (F.cross_entropy(easy, label) / F.cross_entropy(hard, label)).item()
    ratio_fl = (focal_loss(easy, label) / focal_loss(hard, label)).item()
    assert ratio_fl < ratio_ce / 10


def test_alpha_weights_each_class():
    logits = torch.zeros(2, 2)
    labels = torch.tensor([0, 1])
    base = focal_loss(logits, labels, gamma=0.0)
    weighted = focal_loss(logits, labels, alpha=[3.0, 1.0], gamma=0.0)
    assert weighted.item() == pytest.approx(base.item() * 2.0)
