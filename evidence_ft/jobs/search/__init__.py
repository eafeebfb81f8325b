"""Hyperparameter search with Optuna through ``Trainer.hyperparameter_search``.

python run_search.py data=sample n_trials=5       # study "evidence_ft" in ./optuna.db, then refit
python run_search.py data=sample n_trials=5       # the same again: resumes the study, adds 5 trials
python run_search.py n_trials=30 study_name=x storage=sqlite:///optuna.db pruner=none sampler_seed=1
python run_search.py data=sample n_trials=0       # no new trial: export and refit the study
python run_train.py +experiment=evidence_ft       # the best configuration (configs/experiment/)

One MLflow run per invocation with a nested run per trial; details in docs/SEARCH.md. The
modules: ``space`` (what a trial varies), ``storage`` (Optuna), ``trials`` (the trial trainer
and its hooks), ``runs`` (an MLflow run per trial), ``results`` (summary, exports, tables).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any, Literal, cast

import mlflow
import optuna
import psutil
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from evidence_ft import tracking
from evidence_ft.config import to_yaml, validate
from evidence_ft.errors import UserError
from evidence_ft.jobs.search.results import (
    best_overrides,
    experiment_yaml,
    print_summary,
    study_summary,
    train_overrides,
    trials_table,
    write_results,
)
from evidence_ft.jobs.search.space import (
    SEARCH_KEYS,
    Dimension,
    check_settings,
    parse_space,
    train_config,
)
from evidence_ft.jobs.search.storage import best_trial, make_pruner, open_storage, open_study
from evidence_ft.jobs.search.trials import TrialHooks, trial_trainer
from evidence_ft.jobs.train import distributed_state, prepare_data, train
from evidence_ft.modeling import load_tokenizer
from evidence_ft.options import SEED_MAX
from evidence_ft.run_folder import run_dir
from evidence_ft.tracking import mask, one_creator
from evidence_ft.trainer import FocalLossTrainer

__all__ = [
    "SEARCH_KEYS",
    "Dimension",
    "best_overrides",
    "check_settings",
    "experiment_yaml",
    "make_pruner",
    "open_storage",
    "open_study",
    "parse_space",
    "print_summary",
    "refit",
    "search",
    "study_summary",
    "train_overrides",
    "trials_table",
]

log = logging.getLogger(__name__)


def search(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run ``n_trials`` more trials of the study, summarise it, write the best overrides, refit.

    ``overrides`` (the user's task overrides as typed: Hydra's ``overrides.task``) go into
    ``best_overrides.txt`` and ``configs/experiment/<study_name>.yaml`` minus the search-only
    keys, so that ``python run_train.py +experiment=<study_name>`` trains exactly the refit.
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
    study, storage = opened or open_study(cfg, direction)
    shown = mask(storage.url)  # what optuna-dashboard takes, without the password
    uri = one_creator(tracking.resolve_uri(cfg.tracking.uri), lambda: tracking.setup(cfg.tracking))
    experiment = mlflow.get_experiment_by_name(cfg.tracking.experiment)
    assert experiment is not None  # tracking.setup created it
    trials = TrialHooks(cfg, dims, shown, experiment.experiment_id)
    trials.runs.end_orphans(study)  # before counting: a dead worker's trial counts as failed
    before = len(study.trials)
    out = run_dir(cfg, state)

    # -- the trainer: trial settings on top of training.*, model_init, our MLflow callback
    trainer: FocalLossTrainer | None = None
    decisions: list[str] = []
    if cfg.n_trials > 0:
        trainer, decisions = trial_trainer(cfg, trials, prepared, tokenizer, out)

    # seeds are 32-bit (numpy): the offset wraps round instead of overflowing
    sampler_seed = (
        None if cfg.sampler_seed is None else (int(cfg.sampler_seed) + before) % (SEED_MAX + 1)
    )
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
            if "optimize" in frames or best_trial(study) is not None:
                raise
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            trials.runs.close(interrupted)
            if trainer is not None:
                trials.release()
            trials.rss_mb.append(psutil.Process().memory_info().rss / 2**20)

        summary = study_summary(study, trials.numbers, trials.rss_mb, cfg.search.show_best)
        summary.update(out=str(out), objective=trials.objective.key, tracking_uri=uri)
        summary["storage"] = shown
        context = train_overrides(overrides or [], dims)
        write_results(summary, study, out, context, Path(cfg.experiment_dir))
        if summary["best"] is not None and cfg.refit:
            summary["refit"] = refit(cfg, summary["best"], out)
    return summary


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
