"""Hyperparameter search with Optuna through ``Trainer.hyperparameter_search``.

python run_search.py data=sample n_trials=5       # study "evidence_ft" in ./optuna.db, then refit
python run_search.py data=sample n_trials=5       # the same again: resumes the study, adds 5 trials
python run_search.py n_trials=30 study_name=x storage=sqlite:///optuna.db pruner=none sampler_seed=1
python run_search.py data=sample n_trials=0       # no new trial: export and refit the study
python run_train.py $(cat outputs/<date>/<time>/best_overrides.txt)   # the best configuration

One MLflow run per invocation with a nested run per trial; details in docs/SEARCH.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import math
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import mlflow
import optuna
import psutil
import torch
from mlflow.entities import RunStatus
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState
from transformers import EarlyStoppingCallback, set_seed
from transformers.integrations import MLflowCallback

from evidence_ft import data, tracking
from evidence_ft.config import check_training_keys, to_yaml, validate
from evidence_ft.errors import UserError
from evidence_ft.modeling import load_model, load_tokenizer
from evidence_ft.report import aligned
from evidence_ft.tracking import PID_TAG, mask, one_creator
from evidence_ft.train import (
    PreparedData,
    build_trainer,
    distributed_state,
    prepare_data,
    run_dir,
    train,
)
from evidence_ft.trainer import FocalLossTrainer

log = logging.getLogger(__name__)

# Top-level keys of configs/search.yaml that configs/train.yaml does not have.
SEARCH_KEYS = ("search", "n_trials", "study_name", "storage", "sampler_seed", "pruner", "refit")
# Keys a trial may change besides training.*: they live on the trainer, not in TrainingArguments.
LOSS_KEYS = ("loss.gamma", "loss.class_weights")


# ---------------------------------------------------------------------------- search space


@dataclass
class Dimension:
    """One entry of ``search.space``: an Optuna distribution over one key of the train config."""

    name: str
    key: str
    spec: dict[str, Any]

    def suggest(self, trial: optuna.Trial) -> Any:
        s = self.spec
        if s["type"] == "categorical":
            return trial.suggest_categorical(self.key, list(s["choices"]))
        if s["type"] == "int":
            return trial.suggest_int(
                self.key, s["low"], s["high"], step=s.get("step") or 1, log=bool(s.get("log"))
            )
        return trial.suggest_float(
            self.key, s["low"], s["high"], step=s.get("step"), log=bool(s.get("log"))
        )


def parse_space(cfg: DictConfig) -> list[Dimension]:
    """``search.space`` -> dimensions; null entries are left out (that key keeps its value)."""
    space = cast(dict[str, Any], OmegaConf.to_container(cfg.search.space, resolve=True))
    dims = []
    for name, spec in space.items():
        if spec is None:
            continue
        where = f"search.space.{name}"
        key = spec.get("key", "")
        if key.startswith("training."):
            check_training_keys({key.split(".", 1)[1]: None})
        elif key not in LOSS_KEYS:
            raise UserError(
                f"{where}.key={key!r}: a trial can vary training.* (TrainingArguments fields), "
                f"{' or '.join(LOSS_KEYS)}; other keys are fixed for the whole search"
            )
        kind = spec.get("type")
        if kind == "categorical":
            if not spec.get("choices"):
                raise UserError(f"{where}.choices must be a non-empty list")
        elif kind in ("float", "int"):
            low, high = spec.get("low"), spec.get("high")
            if low is None or high is None or low > high:
                raise UserError(f"{where}: needs low <= high (got low={low}, high={high})")
            if spec.get("log") and low <= 0:
                raise UserError(f"{where}: log=true needs low > 0 (got {low})")
        else:
            raise UserError(f"{where}.type={kind!r} must be float, int or categorical")
        dims.append(Dimension(name, key, spec))
    keys = [d.key for d in dims]
    if len(set(keys)) != len(keys):
        raise UserError(f"search.space: two entries vary the same key ({sorted(keys)})")
    for dim in dims:
        if dim.key == "loss.class_weights":
            bad = set(dim.spec["choices"]) - {"balanced", "uniform"}
            if bad:
                raise UserError(
                    f"search.space.{dim.name}.choices: {sorted(bad)} not balanced|uniform"
                )
            if cfg.loss.alpha is not None:
                raise UserError(
                    f"loss.alpha is set, so search.space.{dim.name} would change nothing; "
                    f"set loss.alpha=null or search.space.{dim.name}=null"
                )
        if dim.key == "loss.gamma" and dim.spec["type"] != "categorical" and dim.spec["low"] < 0:
            raise UserError(f"search.space.{dim.name}.low must be >= 0 (focal gamma)")
    return dims


def check_settings(cfg: DictConfig) -> None:
    """Top-level search settings a typo could break after an hour of trials."""
    if not isinstance(cfg.n_trials, int) or cfg.n_trials < 0:
        raise UserError(
            f"n_trials={cfg.n_trials} must be an integer >= 0 (0 = export and refit the study)"
        )
    if cfg.pruner not in ("median", "none"):
        raise UserError(f"pruner={cfg.pruner} must be median or none")
    if not cfg.study_name:
        raise UserError("study_name must not be empty")
    if cfg.training.eval_strategy != "epoch":
        raise UserError(
            "training.eval_strategy must be epoch for run_search.py: the pruner compares trials "
            "by their validation F1 after each epoch"
        )


# ---------------------------------------------------------------------------- Optuna pieces


def open_storage(url: str, search_cfg: DictConfig) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage with heartbeats, so a trial whose worker died is marked FAIL.

    Optuna calls ``end_stale_trial_runs`` for each trial it fails that way, on any host.
    """
    url = tracking.resolve_uri(url)

    def open_it() -> optuna.storages.RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=search_cfg.heartbeat_interval,
                grace_period=search_cfg.grace_period,
                failed_trial_callback=end_stale_trial_runs,
            )

    try:
        return one_creator(url, open_it)
    except Exception as err:  # bad URL, unreachable server, unwritable file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"storage={mask(url)}: cannot open the Optuna storage ({first[:200]}); "
            "use sqlite:///file.db or postgresql://user:password@host/db"
        ) from err


def make_pruner(cfg: DictConfig) -> optuna.pruners.BasePruner:
    """``pruner=median``: stop a trial whose best epoch so far is below the median at that epoch."""
    if cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    median = cfg.search.median_pruner
    return optuna.pruners.MedianPruner(
        n_startup_trials=median.n_startup_trials, n_warmup_steps=median.warmup_epochs
    )


def objective_key(metric: str) -> str:
    """The key of ``training.metric_for_best_model`` in the Trainer's evaluation metrics.

    >>> objective_key("f1")
    'eval_f1'
    """
    return metric if metric.startswith("eval_") else f"eval_{metric}"


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


# ---------------------------------------------------------------------------- one run per trial


def end_trial_run(run_id: str, trial: FrozenTrial | None, interrupted: bool = False) -> None:
    """End a trial's MLflow run with the state Optuna recorded (tag ``optuna.state``, objective).

    COMPLETE and PRUNED end FINISHED; a failed trial ends KILLED when its worker was stopped or
    died, FAILED when it raised.
    """
    state = trial.state if trial is not None else TrialState.FAIL
    client = mlflow.MlflowClient()
    client.set_tag(run_id, "optuna.state", state.name)
    if state == TrialState.COMPLETE and trial is not None and trial.value is not None:
        client.log_metric(run_id, "objective", trial.value)
    if state in (TrialState.COMPLETE, TrialState.PRUNED):
        status = RunStatus.FINISHED
    else:
        status = RunStatus.KILLED if interrupted else RunStatus.FAILED
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(RunStatus.to_string(status))
    else:
        client.set_terminated(run_id, RunStatus.to_string(status))


def end_stale_trial_runs(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's ``failed_trial_callback``: the trial's heartbeat stopped, so its worker died
    (on any host): its MLflow run and the search run above it end KILLED."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    log.info("trial %d: no heartbeat for search.grace_period: FAIL", trial.number)
    if run_id is None:  # died before its run started
        return
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    if run.info.status == "RUNNING":
        end_trial_run(run_id, trial, interrupted=True)
    parent = run.data.tags.get("mlflow.parentRunId")
    ours = mlflow.active_run()
    if parent and (ours is None or parent != ours.info.run_id) and _running(client, parent):
        client.set_terminated(parent, RunStatus.to_string(RunStatus.KILLED))


def end_orphans(
    study: optuna.Study, tags: dict[str, str], experiment_id: str, grace_s: int
) -> None:
    """End what dead workers of this study left RUNNING, in Optuna and in MLflow.

    A worker killed with SIGKILL ends nothing: its trial stays RUNNING in Optuna, and its trial
    runs (also that of a trial Optuna had already recorded) and its search run stay RUNNING in
    MLflow. Optuna's heartbeat fails such a trial only after ``search.grace_period``. Here, on
    the worker's own host, its ``pid`` tag shows at once that it is gone: its running trial
    becomes FAIL, its trial runs end with their trial's state, its search run (and a refit
    under it) KILLED. A trial run of another host ends once its trial has been finished for
    longer than the grace period (a live worker ends it within seconds).
    """
    for unfinished in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not tracking.owner_alive(unfinished.user_attrs):  # died before its MLflow run started
            _fail(study, unfinished)
    client = mlflow.MlflowClient()
    numbers = {str(t.number): t for t in study.get_trials(deepcopy=False)}
    running = [
        run
        for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
        if all(run.data.tags.get(k) == v for k, v in tags.items())
    ]
    # trial runs first: a dead search run's children that are still RUNNING are then refits
    running.sort(key=lambda run: "optuna.trial" not in run.data.tags)
    for run in running:
        run_tags, run_id = run.data.tags, run.info.run_id
        dead = not tracking.owner_alive(run_tags)
        if "optuna.trial" not in run_tags:
            if dead:
                log.info(
                    "search run %s: its worker (pid %s) is gone: KILLED", run_id, run_tags[PID_TAG]
                )
                _kill_with_children(client, experiment_id, run_id)
            continue
        trial = numbers.get(run_tags["optuna.trial"])
        if trial is None or (trial.state == TrialState.RUNNING and not dead):
            continue  # a live worker's, or another study's with the same name
        if trial.state == TrialState.RUNNING:
            trial = _fail(study, trial)
        finished = trial.datetime_complete or datetime.now()
        if dead or datetime.now() - finished > timedelta(seconds=grace_s):
            log.info("trial %d: its worker is gone: run %s ends", trial.number, run_id)
            end_trial_run(run_id, trial, interrupted=True)


def _fail(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """Record a dead worker's running trial as FAIL (another worker may be doing the same)."""
    log.info(
        "trial %d: its worker (pid %s) is gone: FAIL", trial.number, trial.user_attrs.get(PID_TAG)
    )
    return study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _kill_with_children(client: mlflow.MlflowClient, experiment_id: str, run_id: str) -> None:
    children = client.search_runs(
        [experiment_id], f"attributes.status = 'RUNNING' and tags.mlflow.parentRunId = '{run_id}'"
    )
    for run in [*children, client.get_run(run_id)]:
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))


class TrialRuns:
    """Nested MLflow runs, one per trial, ended with the state Optuna recorded for it."""

    def __init__(self, study_name: str, storage: str, experiment_id: str, grace_s: int) -> None:
        self.tags = {"optuna.study": study_name, "optuna.storage": storage}
        self.experiment_id, self.grace_s = experiment_id, grace_s
        self.open: tuple[str, optuna.Trial] | None = None

    def end_orphans(self, study: optuna.Study) -> None:
        end_orphans(study, self.tags, self.experiment_id, self.grace_s)

    def start(self, trial: optuna.Trial, params: dict[str, Any], rss_mb: float) -> None:
        """The trial's run, its id and this process stored on the Optuna trial (user attrs)."""
        self.close()
        self.end_orphans(trial.study)
        me = tracking.process_tags()
        for key, value in me.items():
            trial.set_user_attr(key, value)
        run = mlflow.start_run(
            run_name=f"trial-{trial.number}",
            nested=True,
            tags={**self.tags, "optuna.trial": str(trial.number), **me},
        )
        trial.set_user_attr("mlflow_run_id", run.info.run_id)
        mlflow.log_params(params)
        mlflow.log_metric("rss_mb_at_start", rss_mb)
        self.open = (run.info.run_id, trial)

    def close(self, interrupted: bool = False) -> None:
        """End the open trial's run, and log one line about the trial."""
        if self.open is None:
            return
        run_id, trial = self.open
        self.open = None
        frozen = _frozen(trial)
        end_trial_run(run_id, frozen, interrupted)
        if frozen is not None:
            log.info("%s", trial_line(frozen))


def trial_line(trial: FrozenTrial) -> str:
    """One line about a finished trial: number, state, objective, epochs, duration, params.

    >>> from optuna.distributions import FloatDistribution
    >>> t = optuna.trial.create_trial(value=0.8, params={"training.learning_rate": 3e-05},
    ...     distributions={"training.learning_rate": FloatDistribution(1e-5, 1e-4)},
    ...     intermediate_values={1: 0.7, 2: 0.8})
    >>> t.number = 4
    >>> trial_line(t).split(" in ")[0]
    'trial 4 COMPLETE: objective 0.8000 after 2 epochs'
    """
    value = "" if trial.value is None else f": objective {trial.value:.4f}"
    seconds = trial.duration.total_seconds() if trial.duration else float("nan")
    params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    epochs = len(trial.intermediate_values)
    return (
        f"trial {trial.number} {trial.state.name}{value} after {epochs} epoch"
        f"{'' if epochs == 1 else 's'}"
        f" in {seconds:.0f} s ({params})"
    )


def _running(client: mlflow.MlflowClient, run_id: str) -> bool:
    return client.get_run(run_id).info.status == "RUNNING"


def _frozen(trial: optuna.Trial) -> FrozenTrial | None:
    found = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
    return found[0] if found else None


# ---------------------------------------------------------------------------- the trials


class TrialHooks:
    """What the Trainer calls per trial: ``model_init`` (loss, fresh model) and ``hp_space``."""

    def __init__(
        self,
        cfg: DictConfig,
        dims: list[Dimension],
        alphas: dict[str, list[float]],
        storage_shown: str,
        experiment_id: str,
    ) -> None:
        self.cfg, self.dims, self.alphas = cfg, dims, alphas
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
        """TrainingArguments fields; the Trainer sets them on ``args`` (``_hp_search_setup``)."""
        return {
            k.split(".", 1)[1]: v
            for k, v in self.suggest(trial).items()
            if k.startswith("training.")
        }

    def model_init(self, trial: optuna.Trial | None = None) -> torch.nn.Module:
        """A fresh model; for a trial, first free the last one and set this trial's loss.

        ``_hp_search_setup`` only sets TrainingArguments fields, and focal gamma and the class
        weights are FocalLossTrainer attributes, so they are set here, where the trial is known
        before training starts (``Trainer.train`` calls ``model_init(trial)`` first).
        """
        if trial is not None:
            assert self.trainer is not None
            self.runs.close()  # the last trial's line before this one's
            self.release()
            values = self.suggest(trial)
            self.trainer.gamma = float(values.get("loss.gamma", self.cfg.loss.gamma))
            self.trainer.alpha = self.alphas[values.get("loss.class_weights", "configured")]
            self.objective.best = None
            rss = psutil.Process().memory_info().rss / 2**20
            self.rss_mb.append(rss)
            self.numbers.append(trial.number)
            log.info("trial %d starts: %s (resident memory %.0f MB)", trial.number, values, rss)
            self.runs.start(trial, {**values, "loss.alpha_used": self.trainer.alpha}, rss)
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


# ---------------------------------------------------------------------------- the job


def search(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run ``n_trials`` more trials of the study, summarise it, write the best overrides, refit.

    ``overrides`` (the command line) go into ``best_overrides.txt`` minus the search-only keys,
    so that ``python run_train.py $(cat best_overrides.txt)`` trains exactly the refit.
    ``n_trials=0`` adds no trial: it exports and refits the study as it is.
    """
    dims = parse_space(cfg)
    check_settings(cfg)
    state = distributed_state(cfg)
    if state.num_processes > 1:
        raise UserError("run_search.py runs one process per worker: start several workers instead")
    set_seed(cfg.seed)

    # -- data, storage, study, tracking: user errors raise here, before any trial
    direction: Literal["maximize", "minimize"] = (
        "maximize" if cfg.training.greater_is_better else "minimize"
    )
    # n_trials=0 creates nothing in the storage, so a missing study is reported before the data
    opened = open_study(cfg, direction) if cfg.n_trials == 0 else None
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    prepared = prepare_data(cfg, tokenizer, state)
    labels = prepared.datasets["train"]["label"]
    alphas = {mode: data.class_weights(labels, mode) for mode in ("balanced", "uniform")}
    alphas["configured"] = prepared.alpha
    study, storage = opened or open_study(cfg, direction)
    shown = mask(storage.url)  # what optuna-dashboard takes, without the password
    uri = one_creator(tracking.resolve_uri(cfg.tracking.uri), lambda: tracking.setup(cfg.tracking))
    experiment = mlflow.get_experiment_by_name(cfg.tracking.experiment)
    assert experiment is not None  # tracking.setup created it
    trials = TrialHooks(cfg, dims, alphas, shown, experiment.experiment_id)
    trials.runs.end_orphans(study)  # before counting: a dead worker's trial counts as failed
    before = len(study.trials)
    out = run_dir(cfg, state)

    # -- the trainer: trial settings on top of training.*, model_init, our MLflow callback
    trainer: FocalLossTrainer | None = None
    decisions: list[str] = []
    if cfg.n_trials > 0:
        trainer, decisions = trial_trainer(cfg, trials, prepared, tokenizer, out, dims)

    sampler_seed = None if cfg.sampler_seed is None else int(cfg.sampler_seed) + before
    tree = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    tree["storage"] = shown
    tags = {**trials.runs.tags, **tracking.process_tags()}
    with tracking.active_run(f"search-{cfg.study_name}", tags=tags):
        tracking.log_config_and_environment(
            to_yaml(cfg).replace(cfg.storage, shown),
            tree,
            files={
                "data_counts.json": prepared.counts,
                "split_manifest.json": prepared.manifest,
                "hardware.json": {"decisions": decisions, "world_size": 1},
            },
            params={"loss.alpha_used": prepared.alpha, "world_size": 1},
        )
        log.info("study %s in %s: %d trials so far", cfg.study_name, shown, before)
        interrupted = False
        try:
            if trainer is not None:
                trainer.hyperparameter_search(
                    hp_space=trials.hp_space,
                    compute_objective=trials.objective,
                    n_trials=cfg.n_trials,
                    direction=direction,
                    backend="optuna",
                    hp_name=lambda trial: f"trial-{trial.number}",
                    study_name=cfg.study_name,
                    storage=storage,
                    load_if_exists=True,
                    sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                    pruner=make_pruner(cfg),
                    gc_after_trial=True,
                    # A configuration that runs out of memory is a failed trial, not a failed
                    # search.
                    catch=(torch.OutOfMemoryError, MemoryError),
                )
        except ValueError as err:
            # After the trials, transformers asks for the best trial, which raises when every
            # trial was pruned or failed: a result, reported below. One raised in a trial
            # passes through study.optimize, and is a crash.
            frames = {frame.name for frame in traceback.extract_tb(err.__traceback__)}
            if "optimize" in frames or _best(study) is not None:
                raise
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            trials.runs.close(interrupted)
            if trainer is not None:
                trials.release()
            trials.rss_mb.append(psutil.Process().memory_info().rss / 2**20)

        summary = summarize(study, trials.numbers, trials.rss_mb, cfg.search.show_best)
        summary.update(out=str(out), objective=trials.objective.key, tracking_uri=uri)
        summary["storage"] = shown
        _write_results(summary, study, out, train_overrides(overrides or [], dims))
        if summary["best"] is not None and cfg.refit:
            summary["refit"] = refit(cfg, summary["best"], out)
    return summary


def open_study(
    cfg: DictConfig, direction: Literal["maximize", "minimize"]
) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    """The study to add trials to (made if new); for ``n_trials=0`` one that has a result.

    Its metric is named after the objective (``eval_f1``), so optuna-dashboard shows that name.
    """
    url = tracking.resolve_uri(cfg.storage)
    missing = (
        f"n_trials=0 exports and refits an existing study, but {mask(url)} has no study "
        f"{cfg.study_name!r}: check study_name and storage, or run trials with n_trials>0"
    )
    sqlite = "sqlite:///"
    if cfg.n_trials == 0 and url.startswith(sqlite) and not Path(url[len(sqlite) :]).exists():
        raise UserError(missing)  # checked first: opening the storage would create the file
    storage = open_storage(cfg.storage, cfg.search)
    if cfg.n_trials == 0:
        try:
            study = optuna.load_study(study_name=cfg.study_name, storage=storage)
        except KeyError as err:
            raise UserError(missing) from err
        if _best(study) is None:
            raise UserError(
                f"n_trials=0: study {cfg.study_name!r} in {mask(url)} has no complete trial to "
                "export or refit; run trials with n_trials>0"
            )
    else:
        study = optuna.create_study(
            study_name=cfg.study_name, storage=storage, direction=direction, load_if_exists=True
        )
    if study.direction.name.lower() != direction:
        raise UserError(
            f"study_name={cfg.study_name} in {mask(storage.url)} was made to {study.direction.name}"
            f" but training.greater_is_better={cfg.training.greater_is_better}: use a new study"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([objective_key(cfg.training.metric_for_best_model)])
    return study, storage


def trial_trainer(
    cfg: DictConfig,
    trials: TrialHooks,
    prepared: PreparedData,
    tokenizer: Any,
    out: Path,
    dims: list[Dimension],
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
    _keep_float_types(trainer.args, dims)
    # The refit (train.build_trainer) stops early on the same condition: so must a trial.
    if cfg.early_stopping_patience is not None and cfg.training.load_best_model_at_end:
        trainer.add_callback(TrialEarlyStopping(cfg.early_stopping_patience))
    if trainer.pop_callback(MLflowCallback) is not None:
        trainer.add_callback(TrialMLflowCallback())
    return trainer, decisions


def train_config(cfg: DictConfig) -> DictConfig:
    """The search config without its search-only keys: what configs/train.yaml would compose."""
    return OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k not in SEARCH_KEYS])


def _keep_float_types(args: Any, dims: list[Dimension]) -> None:
    """``_hp_search_setup`` casts a value to the type of the field's current value: an int
    ``warmup_steps: 0`` would truncate every sampled ratio to 0. Make such fields floats."""
    for dim in dims:
        field = dim.key.split(".", 1)[1]
        is_float = dim.key.startswith("training.") and dim.spec["type"] == "float"
        if is_float and isinstance(getattr(args, field), int):
            setattr(args, field, float(getattr(args, field)))


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


# ---------------------------------------------------------------------------- results


def summarize(
    study: optuna.Study, numbers: list[int], rss_mb: list[float], show: int
) -> dict[str, Any]:
    """Trial counts (whole study and this run), the best trial and the top ``show`` trials."""
    everything = study.get_trials(deepcopy=False)
    ours = set(numbers)
    mine = [t for t in everything if t.number in ours]
    complete = [t for t in everything if t.state == TrialState.COMPLETE]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    complete.sort(key=lambda t: cast(float, t.value), reverse=maximize)
    best = _best(study)
    return {
        "study": study.study_name,
        "trials": len(everything),
        "study_counts": _count(everything),
        "run_counts": _count(mine),
        "best": None if best is None else _describe(best),
        "top": [_describe(t) for t in complete[:show]],
        "rss_mb": [round(r, 1) for r in rss_mb],
    }


def _count(trials: list[FrozenTrial]) -> dict[str, int]:
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def _describe(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "value": trial.value,
        "epochs": len(trial.intermediate_values),
        "params": dict(trial.params),
    }


def train_overrides(argv: list[str], dims: list[Dimension]) -> list[str]:
    """The command line's overrides that run_train.py understands, minus the searched keys."""
    searched = {d.key for d in dims}
    kept = []
    for arg in argv:
        key = arg.split("=", 1)[0].lstrip("+~")
        if key.split(".")[0] in (*SEARCH_KEYS, "output_dir") or key in searched or arg == "--cfg":
            continue
        kept.append(arg)
    return kept


def best_overrides(context: list[str], params: dict[str, Any]) -> list[str]:
    """Override lines for run_train.py: the search's own context, then the best values.

    >>> best_overrides(["data=sample"], {"training.learning_rate": 3e-05, "loss.gamma": 1.5})
    ['data=sample', 'training.learning_rate=3e-05', 'loss.gamma=1.5']
    """

    def fmt(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [*context, *(f"{key}={fmt(value)}" for key, value in params.items())]


def _write_results(
    summary: dict[str, Any], study: optuna.Study, out: Path, context: list[str]
) -> None:
    """best_overrides.txt, trials.csv and search_summary.json in ``out``, and on the parent run."""
    files = [out / "trials.csv", out / "search_summary.json"]
    study.trials_dataframe().to_csv(files[0], index=False)
    files[1].write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    best = summary["best"]
    if best is not None:
        lines = best_overrides(context, best["params"])
        files.append(out / "best_overrides.txt")
        files[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary["overrides_file"] = str(files[-1])
        mlflow.log_params({f"best.{k}": v for k, v in best["params"].items()})
        mlflow.log_metric("best_objective", best["value"])
        mlflow.set_tag("best_trial", str(best["number"]))
    for scope in ("study", "run"):
        for state in ("complete", "pruned", "fail"):
            mlflow.log_metric(f"{scope}_trials_{state}", summary[f"{scope}_counts"][state])
    for path in files:
        mlflow.log_artifact(str(path))


def refit(cfg: DictConfig, best: dict[str, Any], out: Path) -> dict[str, Any]:
    """Train the best configuration like run_train.py does (the Trainer holds the LAST trial)."""
    refit_cfg = train_config(cfg)
    for key, value in best["params"].items():
        OmegaConf.update(refit_cfg, key, value)
    refit_cfg.output_dir = str(out / "refit")
    refit_cfg.tracking.run_name = f"refit-{cfg.study_name}-trial-{best['number']}"
    validate(refit_cfg)
    log.info("refit of trial %d: %s", best["number"], best["params"])
    metrics, objects = train(refit_cfg)
    return {
        "run_dir": str(objects["run_dir"]),
        "run_id": objects["run_id"],
        "registered": objects["registered"],
        "metrics": {k: v for k, v in metrics.items() if k.startswith(("eval_", "test_"))},
    }


def print_summary(summary: dict[str, Any]) -> None:
    """Counts, the best trials, memory, and where the results are."""
    run, study = summary["run_counts"], summary["study_counts"]
    print()
    print(
        f"study {summary['study']} ({summary['storage']}): {summary['trials']} trials "
        f"({_counts(study)})"
    )
    print(f"this run: {sum(run.values())} trials: {_counts(run)}")
    if summary["top"]:
        print(f"best trials by {summary['objective']} (validation, best epoch of the trial):")
        print(trials_table(summary["top"], summary["objective"]))
    rss = " ".join(f"{r:.0f}" for r in summary["rss_mb"])
    print(f"resident memory (MB) at each trial start, then after the search: {rss}")
    if summary.get("overrides_file"):
        print(f"best overrides: {summary['overrides_file']}")
        print(f"train them:     python run_train.py $(cat {summary['overrides_file']})")
    else:
        print("no trial completed: nothing to export or refit")
    if summary.get("refit"):
        refit_run = summary["refit"]
        f1 = refit_run["metrics"].get("test_f1")
        print(
            f"refit:          {refit_run['run_dir']}  (mlflow run {refit_run['run_id']}"
            + (f", test f1 {f1:.4f})" if f1 is not None else ")")
        )
    print(f"results:        {summary['out']}  (trials.csv, search_summary.json)")
    print(f"watch it:       optuna-dashboard {summary['storage']}")
    print(f"mlflow:         mlflow ui --backend-store-uri {summary['tracking_uri']}")


def _counts(counts: dict[str, int]) -> str:
    """``3 complete, 1 pruned, 0 failed``, and the running trials (other workers') if any.

    >>> _counts({"complete": 3, "pruned": 1, "fail": 0, "running": 2, "waiting": 0})
    '3 complete, 1 pruned, 0 failed, 2 running'
    """
    shown = f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed"
    return shown + (f", {counts['running']} running" if counts.get("running") else "")


def trials_table(rows: list[dict[str, Any]], objective: str) -> str:
    """One line per trial: number, objective, epochs run, then each parameter.

    >>> print(trials_table([{"number": 3, "value": 0.5, "epochs": 2,
    ...                      "params": {"training.learning_rate": 3e-05}}], "eval_f1"))
    trial  eval_f1  epochs  learning_rate
    3       0.5000       2          3e-05
    """
    keys = list(rows[0]["params"]) if rows else []
    header = ["trial", objective, "epochs", *(k.split(".")[-1] for k in keys)]
    body = [
        [
            str(r["number"]),
            f"{r['value']:.4f}",
            str(r["epochs"]),
            *(_short(r["params"].get(k)) for k in keys),
        ]
        for r in rows
    ]
    return aligned([header, *body])


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
