"""``FocalLossTrainer`` and its ``EvidenceTrainingArguments`` (TrainingArguments plus the loss
settings), built from the ``training`` config group, and the progress output: the Trainer's
bars on a terminal, one line per epoch elsewhere."""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

from evidence_ft import data, hardware
from evidence_ft.errors import UserError
from evidence_ft.losses import focal_loss
from evidence_ft.metrics import SELECTION_METRICS

log = logging.getLogger(__name__)

# training.class_weights: balanced (inverse frequency on the train split, mean 1) | uniform.
CLASS_WEIGHT_MODES = ("balanced", "uniform")


def _number(value: Any) -> bool:
    """A finite int or float that is not a bool (YAML ``true`` is no gamma)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# The loss fields' checks, shared by __post_init__ and config.check_training_keys (which
# refuses a bad value before a run writes anything): (ok, allowed values, example).
LOSS_CHECKS: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "focal_gamma": (lambda v: _number(v) and v >= 0, "a number >= 0", "1.0"),
    "class_weights": (
        lambda v: v in CLASS_WEIGHT_MODES,
        " or ".join(CLASS_WEIGHT_MODES),
        CLASS_WEIGHT_MODES[-1],
    ),
    "class_alpha": (
        lambda v: v is None
        or (isinstance(v, (list, tuple)) and len(v) == 2 and all(_number(a) and a > 0 for a in v)),
        "null or two positive numbers",
        "[1.0,2.0]",
    ),
}


def loss_setting_problem(name: str, value: Any) -> str | None:
    """One line saying why ``training.<name>=value`` is refused, or None when it is fine.

    >>> loss_setting_problem("focal_gamma", -1)
    'training.focal_gamma=-1 must be a number >= 0, e.g. training.focal_gamma=1.0'
    """
    ok, allowed, example = LOSS_CHECKS[name]
    if ok(value):
        return None
    shown = "null" if value is None else str(value).replace(" ", "")
    shown = shown.lower() if isinstance(value, bool) else shown
    return f"training.{name}={shown} must be {allowed}, e.g. training.{name}={example}"


def selection_problem(metric: Any, greater_is_better: Any) -> str | None:
    """One line saying why ``training.metric_for_best_model`` (or ``greater_is_better`` with
    it) is refused, or None. The four metrics are all greater-is-better, so ``false`` is
    refused rather than silently flipped (null lets TrainingArguments set true).

    >>> selection_problem("loss", True).split(", e.g.")[0]
    'training.metric_for_best_model=loss must be f1, macro_f1, mcc or pr_auc'
    >>> selection_problem("mcc", None) is None  # null: TrainingArguments sets true
    True
    """
    if metric not in SELECTION_METRICS:
        shown = "null" if metric is None else metric
        choices = ", ".join(SELECTION_METRICS[:-1]) + f" or {SELECTION_METRICS[-1]}"
        return (
            f"training.metric_for_best_model={shown} must be {choices}, "
            "e.g. training.metric_for_best_model=mcc"
        )
    if greater_is_better is False:
        return (
            f"training.greater_is_better=false must be true or null with "
            f"training.metric_for_best_model={metric} (higher is better), "
            "e.g. training.greater_is_better=true"
        )
    return None


def ignored_fields(training: dict[str, Any]) -> dict[str, str]:
    """Fields that change nothing given the others, each with the field that overrides it."""
    return {"class_weights": "class_alpha"} if training.get("class_alpha") is not None else {}


@dataclass
class EvidenceTrainingArguments(TrainingArguments):
    """``TrainingArguments`` plus the focal loss settings (the TRL ``SFTConfig`` pattern).

    They are fields so that the Trainer's own search set-up (``_hp_search_setup``) sets them
    per trial like any other. Their defaults live here only: configs/loss/focal.yaml takes
    them from Hydra's ConfigStore (``loss_schema``, evidence_ft/schema.py).
    """

    focal_gamma: float = field(
        default=2.0,
        kw_only=True,
        metadata={"help": "Focal loss gamma >= 0; 0 with uniform weights is cross-entropy."},
    )
    class_weights: str = field(
        default="balanced",
        kw_only=True,
        metadata={
            "help": "Per-class alpha when class_alpha is null: balanced (inverse frequency of "
            "the train split's labels, mean 1) or uniform (all ones)."
        },
    )
    class_alpha: list[float] | None = field(
        default=None,
        kw_only=True,
        metadata={"help": "Explicit per-class alpha [alpha_0, alpha_1]; wins over class_weights."},
    )

    def __post_init__(self) -> None:
        # Before the parent's: it turns a None metric into "loss" when loading the best model.
        # None stays the library's choice for code that builds arguments by hand; the configs
        # always name one of SELECTION_METRICS (config.check_training_keys).
        if self.metric_for_best_model is not None:
            problem = selection_problem(self.metric_for_best_model, self.greater_is_better)
            if problem:
                raise ValueError(problem)
        super().__post_init__()
        for name in LOSS_CHECKS:
            problem = loss_setting_problem(name, getattr(self, name))
            if problem:
                raise ValueError(problem)
        # float, so that a searched gamma is not cast to int by _hp_search_setup (gamma: 0)
        self.focal_gamma = float(self.focal_gamma)
        if self.class_alpha is not None:
            self.class_alpha = [float(a) for a in self.class_alpha]


def class_alpha(
    labels: Sequence[int], class_weights: str, explicit: Sequence[float] | None
) -> list[float]:
    """The per-class alpha the loss uses: ``explicit`` if given, else from the train labels."""
    if explicit is not None:
        return [float(a) for a in explicit]
    return data.class_weights(list(labels), class_weights)


class FocalLossTrainer(Trainer):
    """A ``Trainer`` whose loss is the weighted focal loss set by ``EvidenceTrainingArguments``.

    ``compute_loss`` returns the mean over the micro-batch, so the Trainer must divide it by
    the gradient-accumulation steps and must not multiply it by the world size. BERT models
    claim ``accepts_loss_kwargs`` but ignore ``num_items_in_batch``, and the Trainer trusts
    that flag for both decisions, so we turn it off after ``Trainer.__init__`` sets it.
    """

    loss_is_scaled_for_ga = False
    args: EvidenceTrainingArguments

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, EvidenceTrainingArguments):
            raise TypeError("FocalLossTrainer needs EvidenceTrainingArguments (the loss settings)")
        self.model_accepts_loss_kwargs = False
        self._alpha: tuple[tuple[Any, ...], list[float]] | None = None

    @property
    def alpha(self) -> list[float]:
        """``class_alpha`` for the current args (a search trial changes them), computed once."""
        key = (self.args.class_weights, tuple(self.args.class_alpha or ()))
        if self._alpha is None or self._alpha[0] != key:
            assert self.train_dataset is not None
            labels = self.train_dataset["label"]
            self._alpha = (key, class_alpha(labels, self.args.class_weights, self.args.class_alpha))
        return self._alpha[1]

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = focal_loss(outputs["logits"], labels, self.alpha, gamma=self.args.focal_gamma)
        # Return the ModelOutput itself: a bare logits tensor makes prediction_step drop rows.
        return (loss, outputs) if return_outputs else loss


def build_training_args(
    training: dict[str, Any],
    output_dir: str,
    seed: int,
    caps: hardware.Capabilities | None = None,
) -> tuple[EvidenceTrainingArguments, list[str]]:
    """``EvidenceTrainingArguments(**training)`` after filling hardware-dependent nulls."""
    resolved, decisions = hardware.resolve(training, caps or hardware.detect())
    if resolved.get("activation_checkpointing") and not resolved.get(
        "activation_checkpointing_kwargs"
    ):
        resolved["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    known = {f.name for f in dataclasses.fields(EvidenceTrainingArguments)}
    resolved = {k: v for k, v in resolved.items() if k in known}
    if resolved.get("disable_tqdm") is None:
        resolved["disable_tqdm"] = not on_terminal()
    resolved.setdefault("seed", seed)
    resolved.setdefault("data_seed", seed)
    try:
        args = EvidenceTrainingArguments(output_dir=output_dir, **resolved)
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


def _metric(value: Any) -> str:
    """A metric on the progress line: four decimals, "-" when absent or not a number."""
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
            _metric(train_loss),
            _metric(metrics.get("eval_loss")),
            _metric(metrics.get("eval_f1")),
            _clock(elapsed),
            _clock(eta),
        )
