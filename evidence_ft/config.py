"""The Hydra config of ``configs/``: composed, resolved and validated before anything runs.

The run_*.py scripts get it from ``@hydra.main`` (evidence_ft.cli); ``load_config`` composes
the same config with Hydra's compose API, for code and tests that call a job as a function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evidence_ft import schema
from evidence_ft.errors import UserError
from evidence_ft.options import checked_fields, choices_of
from evidence_ft.options import is_kind as _is
from evidence_ft.schema import SCHEMAS, EvalConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
# The typed configs (evidence_ft.schema) that configs/*.yaml start from.
schema.register()


def load_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with Hydra overrides, resolve and validate it."""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as err:
        raise UserError(one_line(err) + "  (list the keys with --cfg job)") from err
    return finish_config(cfg)


def finish_config(cfg: DictConfig) -> DictConfig:
    """Resolve every interpolation and validate (``validate``); errors are one-line UserErrors."""
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as err:
        raise UserError(one_line(err) + "  (list the keys with --cfg job)") from err
    validate(cfg)
    return cfg


@dataclass(frozen=True)
class Rule:
    """One config key's allowed values: ``kind`` (type), ``ok`` (range), shown as ``allowed``."""

    key: str
    kind: str  # number | int | str | list | bool
    ok: Callable[[Any], bool]
    allowed: str
    example: str
    nullable: bool = False


def _whole(v: float) -> bool:
    """Whether a number is a whole count (TrainingArguments reads >= 1 as steps)."""
    return float(v).is_integer()


# run_eval.py split=: posts of the run's manifest (test|validation|train) or every pair (all).
EVAL_SPLITS = choices_of(EvalConfig, "split")

# Every key a typo could break an hour into a run (or, worse, turn into a silent no-op such as
# a negative epoch count), checked after composing and before anything is written. A key that
# a config does not have (eval has no training.*) is skipped. The keys of the typed configs
# (evidence_ft.schema) carry their check in the field; ``schema_rules`` adds them.
RULES = (
    Rule("training.learning_rate", "number", lambda v: v > 0, "a number > 0", "5e-5"),
    Rule("training.num_train_epochs", "number", lambda v: v > 0, "a number > 0", "3"),
    Rule(
        "training.max_steps",
        "int",
        lambda v: v == -1 or v >= 1,
        "-1 (train num_train_epochs) or an integer >= 1",
        "100",
    ),
    Rule("training.per_device_train_batch_size", "int", lambda v: v >= 1, "an integer >= 1", "16"),
    Rule("training.per_device_eval_batch_size", "int", lambda v: v >= 1, "an integer >= 1", "64"),
    Rule("training.gradient_accumulation_steps", "int", lambda v: v >= 1, "an integer >= 1", "2"),
    Rule(
        "training.warmup_steps",
        "number",
        lambda v: 0 <= v < 1 or _whole(v),
        "a fraction of the total steps in [0, 1) or a whole number of steps",
        "0.1",
    ),
    Rule("training.weight_decay", "number", lambda v: v >= 0, "a number >= 0", "0.01"),
    Rule("training.max_grad_norm", "number", lambda v: v >= 0, "a number >= 0", "1.0"),
    Rule(
        "training.logging_steps",
        "number",
        lambda v: 0 < v < 1 or (v >= 1 and _whole(v)),
        "an integer >= 1 or a fraction of the total steps in (0, 1)",
        "10",
    ),
    Rule(
        "training.save_total_limit", "int", lambda v: v >= 1, "null or an integer >= 1", "2", True
    ),
    Rule("training.dataloader_num_workers", "int", lambda v: v >= 0, "an integer >= 0", "2"),
)


def schema_rules() -> tuple[Rule, ...]:
    """A ``Rule`` per checked field of the typed configs (a key shared by two schemas once)."""
    rules: dict[str, Rule] = {}
    for schema_type, prefix in SCHEMAS.values():
        for key, f in checked_fields(schema_type, f"{prefix}." if prefix else ""):
            check, meta = f.metadata["check"], f.metadata
            rules.setdefault(
                key,
                Rule(key, check.kind, check.ok, meta["allowed"], meta["example"], check.nullable),
            )
    return tuple(rules.values())


# What ``validate`` checks: the rules above and every checked field of evidence_ft.schema.
ALL_RULES = RULES + schema_rules()

_ABSENT = object()


def validate(cfg: DictConfig) -> None:
    """Check every key of ``ALL_RULES`` the config has: type and range; raise one-line UserError.

    OmegaConf types nothing here (the schemas' fields are ``Any``): ``training.learning_rate=abc``
    would reach TrainingArguments or the optimizer as a string and end in a traceback.
    """
    for rule in ALL_RULES:
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)
        group = rule.key.rpartition(".")[0]
        parent = OmegaConf.select(cfg, group, default=None) if group else cfg
        if parent is not None and not isinstance(parent, DictConfig):  # e.g. cv=3
            raise UserError(
                f"{group}={_show(parent)} must be a group of keys, e.g. {rule.key}={rule.example}"
            )
        if value is _ABSENT or (value is None and rule.nullable):
            continue
        if isinstance(value, ListConfig):
            value = OmegaConf.to_container(value)
        if not (_is(rule.kind, value) and rule.ok(value)):
            raise UserError(
                f"{rule.key}={_show(value)} must be {rule.allowed}, "
                f"e.g. {rule.key}={rule.example}"
            )
    if "training" in cfg:
        check_training_keys(OmegaConf.to_container(cfg.training))  # type: ignore[arg-type]


def _show(value: Any) -> str:
    """The value as the user would type it, kept on one line."""
    text = "null" if value is None else str(value) or "''"
    return text if "\n" not in text else repr(text)


def check_training_keys(training: dict[str, Any]) -> None:
    """Every ``training.*`` key must be an EvidenceTrainingArguments field (TrainingArguments
    plus the loss settings; they pass through unrenamed), the loss settings in range, and
    ``metric_for_best_model`` one of ``metrics.SELECTION_METRICS`` (with greater_is_better)."""
    from evidence_ft.trainer import (
        LOSS_CHECKS,
        EvidenceTrainingArguments,
        loss_setting_problem,
        selection_problem,
    )

    known = {f.name for f in dataclasses.fields(EvidenceTrainingArguments)}
    unknown = sorted(set(training) - known)
    if unknown:
        raise UserError(
            f"training.{unknown[0]} is not a transformers.TrainingArguments field; "
            "fix the spelling (keys pass through to TrainingArguments unrenamed)"
        )
    for name in LOSS_CHECKS:
        problem = loss_setting_problem(name, training[name]) if name in training else None
        if problem:
            raise UserError(problem)
    if "metric_for_best_model" in training:  # a run needs it: the threshold is chosen by it
        problem = selection_problem(
            training["metric_for_best_model"], training.get("greater_is_better")
        )
        if problem:
            raise UserError(problem)


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML (what gets saved next to a run)."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def one_line(err: BaseException) -> str:
    """Hydra/OmegaConf messages span lines (and repeat the key); fold them into one."""
    text = str(err).split("Config search path")[0]
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    keep = [p for p in parts if not p.startswith(("full_key:", "object_type", "reference_type"))]
    return " ".join(keep)
