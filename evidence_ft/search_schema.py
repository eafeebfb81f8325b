"""Typed configs of run_search.py: ``configs/search.yaml``'s own keys and the ``search`` group.

Registered with the other schemas (``evidence_ft.schema.register``); the group's ``space`` is
free-form data (a mapping of entries, checked by ``evidence_ft.jobs.search.space.parse_space``)
whose entries live in ``configs/search/default.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evidence_ft.options import (
    BOOL,
    TRUE_OR_FALSE,
    Check,
    int_option,
    option,
    seed_option,
    shown,
)


def _name(default: str, help: str, allowed: str, example: str | None = None) -> Any:
    """A non-empty text option."""
    return option(
        default,
        help,
        check=Check("str", bool),
        allowed=allowed,
        example=default if example is None else example,
    )


@dataclass
class MedianPrunerConfig:
    """``search.median_pruner.*``: optuna.pruners.MedianPruner's settings (pruner=median)."""

    n_startup_trials: Any = int_option(3, "Completed trials before any trial is pruned.", 0)
    warmup_epochs: Any = int_option(1, "Epochs every trial runs before it may be pruned.", 0)


_TRIAL_TRAINING = {"save_strategy": "no", "load_best_model_at_end": False}


@dataclass
class SearchGroupConfig:
    """``search=``: the search space (YAML data) and the search's own settings."""

    # Free-form: a mapping of entries, filled by configs/search/default.yaml (a field here only
    # so that it keeps its place, first, in the composed config).
    space: Any = field(
        default_factory=dict,
        metadata={
            "help": "The search space: one entry per varied training.* key, {key, type: float|int "
            "(low, high, log, step) | categorical (choices)}, set in configs/search/default.yaml; "
            "an entry set to null is left out.",
            "allowed": None,
            "example": shown(None),
            "check": None,
            "free_form": True,
        },
    )
    median_pruner: Any = field(default_factory=MedianPrunerConfig)
    heartbeat_interval: Any = int_option(
        30,
        "Seconds between a worker's Optuna heartbeats during a trial.",
        1,
    )
    grace_period: Any = int_option(
        120,
        "A trial without a heartbeat for this many seconds (its worker was killed or lost) is "
        "marked FAIL when any worker starts its next trial; a dead worker on the same machine is "
        "found at once, by the pid on its runs.",
        1,
    )
    trial_training: Any = field(
        default_factory=lambda: dict(_TRIAL_TRAINING),
        metadata={
            "help": "training.* settings for the trials only (their models are thrown away, so "
            "no checkpoints; the refit uses the training config as it is). Trials still stop "
            "early as the refit does (early_stopping_patience).",
            "allowed": None,
            "example": shown(None),
            "check": None,
        },
    )
    show_best: Any = int_option(5, "Rows of the best-trials table printed at the end.", 0)


_PRUNERS = ("median", "none")


@dataclass
class SearchConfig:
    """The top-level keys ``configs/search.yaml`` adds to ``configs/train.yaml``'s."""

    n_trials: Any = int_option(
        20,
        "Trials this command adds to the study (a resumed study keeps the trials it has); 0 adds "
        "none and only exports and refits an existing study's best trial.",
        0,
        allowed="an integer >= 0 (0 = export and refit the study)",
    )
    study_name: Any = _name(
        "evidence_ft",
        "The study's name in the storage: the same name and storage resume it (or share it "
        "between workers).",
        "a non-empty name",
    )
    storage: Any = _name(
        "sqlite:///optuna.db",
        "Any Optuna RDB URL: sqlite:///optuna.db (relative to the folder the command runs from) "
        "for one machine, postgresql://user:password@host:5432/db for workers on several "
        "machines.",
        "an Optuna RDB URL",
    )
    sampler_seed: Any = seed_option(
        None,
        "TPE sampler seed (null = random). A resumed study offsets it by the trials it already "
        "has, so a resume does not replay the first trials; give each concurrent worker its own "
        "seed.",
        nullable=True,
        allowed="null (random) or an integer >= 0 and <= 4294967295",
        example=1,
    )
    # Checked by check_settings (evidence_ft.jobs.search.space), not by config.validate: its
    # message ("pruner=hyperband must be median or none") is part of the tested interface.
    pruner: Any = field(
        default="median",
        metadata={
            "help": "median: stop a trial whose best validation training.metric_for_best_model "
            "so far is below the median of "
            "the completed trials at the same epoch (settings in search.median_pruner) | none",
            "allowed": " or ".join(_PRUNERS),
            "example": "none",
            "check": None,
            "choices": _PRUNERS,
        },
    )
    experiment_dir: Any = _name(
        "${project_root:}/configs/experiment",
        "Where the best configuration goes as a Hydra experiment, <study_name>.yaml (a later "
        "export of the same study overwrites it): python run_train.py +experiment=<study_name> "
        "runs it. Hydra finds experiments in configs/experiment/ only; the tests point this "
        "elsewhere.",
        "a folder",
    )
    refit: Any = option(
        True,
        "After the trials, train the study's best configuration with train() (evaluated on "
        "validation and test, registered in MLflow); false = only write best_overrides.txt and "
        "the experiment file <experiment_dir>/<study_name>.yaml.",
        check=BOOL,
        allowed=TRUE_OR_FALSE,
        example=False,
    )
