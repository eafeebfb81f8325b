"""The Optuna side: the RDB storage (with heartbeats), the pruner and the study."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import optuna
from omegaconf import DictConfig
from optuna.trial import FrozenTrial

from evidence_ft import tracking
from evidence_ft.errors import UserError
from evidence_ft.jobs.search.runs import end_stale_trial_runs
from evidence_ft.jobs.search.space import objective_key
from evidence_ft.tracking import mask, one_creator


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
        if best_trial(study) is None:
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


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best trial, None while no trial has completed."""
    try:
        return study.best_trial
    except ValueError:
        return None
