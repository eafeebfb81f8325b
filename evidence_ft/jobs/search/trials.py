"""What every trial runs with: the trial trainer, its callbacks, ``model_init`` and ``hp_space``."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
from pathlib import Path
from typing import Any

import mlflow
import optuna
import psutil
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import EarlyStoppingCallback
from transformers.integrations import MLflowCallback

from evidence_ft.jobs.search.runs import TrialRuns
from evidence_ft.jobs.search.space import Dimension, objective_key, train_config
from evidence_ft.jobs.train import PreparedData, build_trainer
from evidence_ft.modeling import load_model
from evidence_ft.trainer import FocalLossTrainer

log = logging.getLogger(__name__)


class BestValue:
    """``compute_objective``: the best validation value of the trial so far.

    The refit keeps its best epoch (``load_best_model_at_end``), so a trial is scored by its
    best epoch too, not its last. Reset at the start of every trial (in ``model_init``).
    """

    def __init__(self, metric: str, maximize: bool) -> None:
        self.key = objective_key(metric)
        self.maximize = maximize
        self.best: float | None = None

    def __call__(self, metrics: dict[str, float]) -> float:
        value = float(metrics[self.key])
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = value
        return self.best


class EpochReportingTrainer(FocalLossTrainer):
    """Reports each evaluation to Optuna at its epoch number instead of its global step.

    The median pruner compares trials at equal steps. The batch size is searched, so the same
    epoch ends at a different global step in each trial and step-keyed values never line up.
    """

    def _report_to_hp_search(self, trial: Any, step: int, metrics: dict[str, float]) -> None:
        super()._report_to_hp_search(trial, math.ceil(self.state.epoch or 0), metrics)

    def _hp_search_setup(self, trial: Any) -> None:
        """After the Trainer has set the trial's fields, record the alpha its loss will use.

        ``Trainer.train`` calls ``model_init(trial)`` (which opens the trial's run) before
        this, so the run is open and ``self.alpha`` already follows the trial's settings.
        """
        super()._hp_search_setup(trial)
        if trial is not None:
            mlflow.log_param("loss.alpha_used", self.alpha)


class TrialMLflowCallback(MLflowCallback):
    """The stock callback, set up again for every trial, logging into that trial's own run.

    The stock one initialises once, so later trials would log into auto-created runs without
    params. ``TrialHooks.model_init`` opens the trial's nested run first; ``setup`` then finds it
    active and logs TrainingArguments (with this trial's values) and the model config into it.
    The run is ended by ``TrialRuns.close`` once Optuna has recorded the trial's outcome.
    """

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        self._initialized = False
        super().on_train_begin(args, state, control, model=model, **kw)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Keep the trial's run open: a pruned trial calls this before Optuna records PRUNED."""


class TrialEarlyStopping(EarlyStoppingCallback):
    """The refit's early stopping, in every trial: a trial runs the epochs its refit runs.

    The stock callback keeps its patience counter from one ``train()`` to the next, and warns
    at each start that no best model will be loaded (trials keep no checkpoints by design).
    """

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.early_stopping_patience_counter = 0


class TrialHooks:
    """What the Trainer calls per trial: ``model_init`` (new model, trial run) and ``hp_space``."""

    def __init__(
        self, cfg: DictConfig, dims: list[Dimension], storage_shown: str, experiment_id: str
    ) -> None:
        self.cfg, self.dims = cfg, dims
        self.trainer: FocalLossTrainer | None = None
        self.runs = TrialRuns(cfg.study_name, storage_shown, experiment_id, cfg.search.grace_period)
        self.objective = BestValue(
            cfg.training.metric_for_best_model, bool(cfg.training.greater_is_better)
        )
        self.rss_mb: list[float] = []
        self.numbers: list[int] = []  # the trials this process ran

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Every dimension's value; asking again in the same trial returns the same values."""
        return {dim.key: dim.suggest(trial) for dim in self.dims}

    def hp_space(self, trial: optuna.Trial) -> dict[str, Any]:
        """EvidenceTrainingArguments fields (the loss settings among them); the Trainer sets
        them on ``args`` (``_hp_search_setup``)."""
        return {dim.field: dim.suggest(trial) for dim in self.dims}

    def model_init(self, trial: optuna.Trial | None = None) -> torch.nn.Module:
        """A fresh model; for a trial, first free the last one and open this trial's run."""
        if trial is not None:
            assert self.trainer is not None
            self.runs.close()  # the last trial's line before this one's
            self.release()
            values = self.suggest(trial)
            self.objective.best = None
            rss = psutil.Process().memory_info().rss / 2**20
            self.rss_mb.append(rss)
            self.numbers.append(trial.number)
            log.info("trial %d starts: %s (resident memory %.0f MB)", trial.number, values, rss)
            self.runs.start(trial, values, rss)
        return load_model(self.cfg.model.name_or_path, self.cfg.model.attn_implementation)

    def release(self) -> None:
        """Drop the last trial's model, optimizer and scheduler wherever the Trainer keeps them.

        After a completed trial the Trainer frees the model but keeps the optimizer (and the
        callback handler keeps both); a pruned trial leaves everything in place.
        """
        trainer = self.trainer
        assert trainer is not None
        trainer.model = trainer.model_wrapped = None  # type: ignore[assignment]
        trainer.optimizer = trainer.lr_scheduler = None
        for attr in ("model", "optimizer", "lr_scheduler", "train_dataloader", "eval_dataloader"):
            setattr(trainer.callback_handler, attr, None)
        trainer.accelerator.free_memory()
        gc.collect()
        _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand freed heap pages back to the OS, where the C library is glibc.

    After ``release`` no tensor of the last trial is alive, but glibc keeps the freed pages of
    the largest batch's activations. Measured in one MiniLM search on the sample, resident
    memory at the start of trials 1-5 was 695, 1035, 1704, 1694, 1692 MB before this call and
    688, 712, 714, 714, 714 MB after it.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def trial_trainer(
    cfg: DictConfig, trials: TrialHooks, prepared: PreparedData, tokenizer: Any, out: Path
) -> tuple[FocalLossTrainer, list[str]]:
    """The Trainer every trial trains with: the trial settings on top of ``training.*``,
    ``TrialHooks.model_init``, the refit's early stopping and our MLflow callback."""
    trial_cfg = train_config(cfg)
    OmegaConf.update(trial_cfg, "training", dict(cfg.search.trial_training), merge=True)
    trainer, decisions = build_trainer(
        trial_cfg, prepared, tokenizer, out, trials.model_init, EpochReportingTrainer
    )
    # Trainer.__init__ makes args.output_dir even when nothing will be saved: trials save no
    # checkpoint, so remove the empty folder rather than leave it in the run folder.
    with contextlib.suppress(OSError):
        Path(str(trainer.args.output_dir)).rmdir()
    trials.trainer = trainer
    _keep_float_types(trainer.args, trials.dims)
    # The refit (train.build_trainer) stops early on the same condition: so must a trial.
    if cfg.early_stopping_patience is not None and cfg.training.load_best_model_at_end:
        trainer.add_callback(TrialEarlyStopping(cfg.early_stopping_patience))
    if trainer.pop_callback(MLflowCallback) is not None:
        trainer.add_callback(TrialMLflowCallback())
    return trainer, decisions


def _keep_float_types(args: Any, dims: list[Dimension]) -> None:
    """``_hp_search_setup`` casts a value to the type of the field's current value: an int
    ``warmup_steps: 0`` would truncate every sampled ratio to 0. Make such fields floats."""
    for dim in dims:
        if dim.spec["type"] == "float" and isinstance(getattr(args, dim.field), int):
            setattr(args, dim.field, float(getattr(args, dim.field)))
