"""``FocalLossTrainer`` and the ``TrainingArguments`` built from the ``training`` config group."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from evidence_ft import hardware
from evidence_ft.errors import UserError
from evidence_ft.losses import focal_loss

log = logging.getLogger(__name__)


class FocalLossTrainer(Trainer):
    """A ``Trainer`` whose loss is the weighted focal loss; nothing else is overridden.

    ``compute_loss`` returns the mean over the micro-batch, so the Trainer must divide it by
    the gradient-accumulation steps and must not multiply it by the world size. BERT models
    claim ``accepts_loss_kwargs`` but ignore ``num_items_in_batch``, and the Trainer trusts
    that flag for both decisions, so we turn it off after ``Trainer.__init__`` sets it.
    """

    loss_is_scaled_for_ga = False

    def __init__(
        self, *args: Any, alpha: Sequence[float] | None = None, gamma: float = 2.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False
        self.alpha = list(alpha) if alpha is not None else None
        self.gamma = gamma

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = focal_loss(outputs["logits"], labels, alpha=self.alpha, gamma=self.gamma)
        # Return the ModelOutput itself: a bare logits tensor makes prediction_step drop rows.
        return (loss, outputs) if return_outputs else loss


def build_training_args(
    training: dict[str, Any],
    output_dir: str,
    seed: int,
    caps: hardware.Capabilities | None = None,
) -> tuple[TrainingArguments, list[str]]:
    """``TrainingArguments(**training)`` after filling hardware-dependent nulls; + decisions."""
    resolved, decisions = hardware.resolve(training, caps or hardware.detect())
    if resolved.get("activation_checkpointing") and not resolved.get(
        "activation_checkpointing_kwargs"
    ):
        resolved["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    resolved = {k: v for k, v in resolved.items() if k in known}
    resolved.setdefault("seed", seed)
    resolved.setdefault("data_seed", seed)
    try:
        args = TrainingArguments(output_dir=output_dir, **resolved)
    except (ValueError, TypeError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"training: TrainingArguments rejected the config: {first}") from err
    return args, decisions
