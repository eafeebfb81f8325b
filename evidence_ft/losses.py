"""Weighted focal loss (Lin et al., 2017) for the two-class evidence head.

torch has no built-in focal loss (torchvision's sigmoid_focal_loss is binary-logit only and
not installable here on CPU), so it is written out: a few tensor ops on log-softmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: torch.Tensor | Sequence[float] | None = None,
    *,
    gamma: float,
) -> torch.Tensor:
    """Mean over the batch of ``-alpha[y] * (1 - p_y) ** gamma * log p_y``.

    With ``gamma=0`` and ``alpha`` all ones (or None) this is exactly cross-entropy.

    >>> logits = torch.tensor([[2.0, -1.0], [0.5, 1.5]])
    >>> labels = torch.tensor([0, 1])
    >>> bool(torch.isclose(focal_loss(logits, labels, gamma=0.0), F.cross_entropy(logits, labels)))
    True
    """
    log_p = F.log_softmax(logits.float(), dim=-1)
    is_y = F.one_hot(labels.long(), log_p.shape[-1]).bool()
    log_p_y = log_p.masked_select(is_y)
    # (1 - p_y) ** gamma is computed as exp(gamma * log(1 - p_y)), with log(1 - p_y) the
    # log-sum-exp of the other classes' log-probabilities. The direct form rounds p_y to 1 for
    # a confident pair (a logit gap of ~17 in fp32) and, for 0 < gamma < 1, its gradient is
    # then inf * 0 = NaN; this form has a finite gradient at any finite logit gap.
    log_not_y = torch.logsumexp(log_p.masked_fill(is_y, float("-inf")), dim=-1)
    loss = -torch.exp(gamma * log_not_y) * log_p_y
    if alpha is not None:
        alpha_t = torch.as_tensor(alpha, dtype=loss.dtype, device=loss.device)
        loss = alpha_t[labels.long()] * loss
    return loss.mean()
