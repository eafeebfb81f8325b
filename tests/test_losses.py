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
    ratio_fl = (focal_loss(easy, label, gamma=2.0) / focal_loss(hard, label, gamma=2.0)).item()
    assert ratio_fl < ratio_ce / 10


def test_alpha_weights_each_class():
    logits = torch.zeros(2, 2)
    labels = torch.tensor([0, 1])
    base = focal_loss(logits, labels, gamma=0.0)
    weighted = focal_loss(logits, labels, alpha=[3.0, 1.0], gamma=0.0)
    assert weighted.item() == pytest.approx(base.item() * 2.0)


GAMMAS = [0.0, 0.3, 0.5, 0.99, 1.0, 2.0, 5.0]
GAPS = [0.0, 5.0, 17.0, 30.0, 60.0, 100.0]


def _confident_batch(gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits with an evidence-minus-no-evidence gap of +-gap, labels both right and wrong."""
    logits = torch.tensor([[0.0, gap], [gap, 0.0], [0.0, gap], [gap, 0.0]])
    labels = torch.tensor([1, 0, 0, 1])
    return logits, labels


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("gap", GAPS)
def test_gradients_stay_finite_for_confident_pairs(gamma, gap):
    # 0 < gamma < 1 once gave inf * 0 = NaN: d/dp (1 - p) ** gamma is infinite where p rounds to 1.
    logits, labels = _confident_batch(gap)
    logits.requires_grad_(True)
    loss = focal_loss(logits, labels, alpha=[0.7, 1.3], gamma=gamma)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("gamma", GAMMAS)
def test_gradients_stay_finite_under_bf16_autocast(gamma):
    # A linear head run under CPU autocast produces bf16 logits, as a bf16 GPU run does.
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[-10.0, 0, 0, 0], [10.0, 0, 0, 0]]))
    features = torch.tensor([[5.0, 1, 1, 1], [-5.0, 1, 1, 1], [0.01, 0, 0, 0]])
    labels = torch.tensor([1, 0, 1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head(features)  # gaps of 100, -100 and 0.2
        assert logits.dtype == torch.bfloat16
        loss = focal_loss(logits, labels, gamma=gamma)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


@pytest.mark.parametrize("gamma", GAMMAS)
def test_values_and_gradients_unchanged_where_the_formula_is_finite(gamma):
    # The plain formula -(1 - p) ** gamma * log p, at gaps where it has no rounding problem.
    torch.manual_seed(2)
    logits = (torch.randn(32, 2) * 3).requires_grad_(True)
    labels = torch.randint(0, 2, (32,))
    alpha = torch.tensor([0.4, 1.6])
    loss = focal_loss(logits, labels, alpha=alpha, gamma=gamma)
    loss.backward()

    ref_logits = logits.detach().clone().requires_grad_(True)
    p = torch.softmax(ref_logits, -1)[torch.arange(32), labels]
    ref = (-(alpha[labels]) * (1 - p) ** gamma * torch.log(p)).mean()
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert torch.allclose(logits.grad, ref_logits.grad, atol=1e-6)
