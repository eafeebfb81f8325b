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
    gamma: float = 2.0,
) -> torch.Tensor:
    """Mean over the batch of ``-alpha[y] * (1 - p_y) ** gamma * log p_y``.

    With ``gamma=0`` and ``alpha`` all ones (or None) this is exactly cross-entropy.

    >>> logits = torch.tensor([[2.0, -1.0], [0.5, 1.5]])
    >>> labels = torch.tensor([0, 1])
    >>> bool(torch.isclose(focal_loss(logits, labels, gamma=0.0), F.cross_entropy(logits, labels)))
    True
    """
    log_p = F.log_softmax(logits.float(), dim=-1)
    log_p_y = log_p.gather(-1, labels.long().unsqueeze(-1)).squeeze(-1)
    loss = -((1.0 - log_p_y.exp()) ** gamma) * log_p_y
    if alpha is not None:
        alpha_t = torch.as_tensor(alpha, dtype=loss.dtype, device=loss.device)
        loss = alpha_t[labels.long()] * loss
    return loss.mean()
