"""``FocalLossTrainer``, the ``TrainingArguments`` built from the ``training`` config group,
and the progress output: the Trainer's bars on a terminal, one line per epoch elsewhere."""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_utils import IntervalStrategy

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
    if resolved.get("disable_tqdm") is None:
        resolved["disable_tqdm"] = not on_terminal()
    resolved.setdefault("seed", seed)
    resolved.setdefault("data_seed", seed)
    try:
        args = TrainingArguments(output_dir=output_dir, **resolved)
    except (ValueError, TypeError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"training: TrainingArguments rejected the config: {first}") from err
    return args, decisions


def on_terminal() -> bool:
    """Whether progress bars have a terminal to draw on (tqdm writes to stderr)."""
    return sys.stderr.isatty()


def show_progress(trainer: Trainer) -> None:
    """Without bars (``disable_tqdm``), print one line per epoch instead of the raw log dicts.

    With bars the Trainer's own ``ProgressCallback`` is kept as it is.
    """
    if trainer.args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(EpochLineCallback())


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class EpochLineCallback(TrainerCallback):
    """Logs ``epoch k/n step s/S train_loss eval_loss eval_f1 elapsed ETA`` once per epoch.

    For logs, CI and pipes, where tqdm bars would be noise. The train loss is the mean of the
    losses logged during the epoch (``-`` when ``logging_steps`` is longer than an epoch).
    """

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.losses: list[float] = []
        self.pending = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.start = time.monotonic()
        self.losses = []
        self.pending = False

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        # With per-epoch evaluation the line waits for the validation metrics.
        if args.eval_strategy == IntervalStrategy.EPOCH:
            self.pending = True
        else:
            self._line(args, state, {})

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if self.pending:
            self.pending = False
            self._line(args, state, metrics or {})

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.pending:  # training stopped before the epoch's evaluation
            self._line(args, state, {})
        self.pending = False

    def _line(self, args: TrainingArguments, state: TrainerState, metrics: dict[str, Any]) -> None:
        if not state.is_world_process_zero:
            return
        elapsed = time.monotonic() - self.start
        done, total = state.global_step, state.max_steps
        eta = elapsed / done * (total - done) if done else 0.0
        train_loss = sum(self.losses) / len(self.losses) if self.losses else None
        self.losses = []
        log.info(
            "%sepoch %d/%d step %d/%d train_loss %s eval_loss %s eval_f1 %s elapsed %s ETA %s",
            f"trial {state.trial_name}: " if state.trial_name else "",
            math.ceil(state.epoch or 0),
            state.num_train_epochs,
            done,
            total,
            _fmt(train_loss),
            _fmt(metrics.get("eval_loss")),
            _fmt(metrics.get("eval_f1")),
            _clock(elapsed),
            _clock(eta),
        )
