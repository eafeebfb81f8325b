"""Compose the Hydra config from ``configs/`` plus command-line overrides, and validate it.

We use Hydra's compose API rather than ``@hydra.main`` so that a bad override becomes one
clear line (``@hydra.main`` prints a multi-line report) and so that results land in the
folder the command runs from, not in a folder Hydra changes into.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evidence_ft.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# tracking.register: which runs register their model (evidence_ft.tracking.should_register).
REGISTER_CHOICES = ("auto", "always", "never")
CONFIG_DIR = PROJECT_ROOT / "configs"

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


def load_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with Hydra overrides, resolve and validate it."""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as err:
        raise UserError(_one_line(err) + "  (list the keys with --cfg)") from err
    validate(cfg)
    return cfg


def validate(cfg: DictConfig) -> None:
    """Check value ranges that a typo could break an hour into a run; raise UserError."""
    if "data" in cfg:
        ratios = list(cfg.data.split_ratios)
        if len(ratios) != 3 or any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0):
            raise UserError(
                f"data.split_ratios={ratios} must be three non-negative numbers summing to 1, "
                "e.g. data.split_ratios=[0.7,0.15,0.15]"
            )
        if cfg.data.conflict_policy not in ("error", "keep_positive", "drop"):
            raise UserError("data.conflict_policy must be one of error|keep_positive|drop")
        if cfg.data.max_length < 16:
            raise UserError(f"data.max_length={cfg.data.max_length} is too small; use >= 16")
    if "loss" in cfg:
        if cfg.loss.gamma < 0:
            raise UserError(f"loss.gamma={cfg.loss.gamma} must be >= 0")
        if cfg.loss.class_weights not in ("balanced", "uniform"):
            raise UserError("loss.class_weights must be balanced or uniform")
        if cfg.loss.alpha is not None and (
            len(cfg.loss.alpha) != 2 or any(a <= 0 for a in cfg.loss.alpha)
        ):
            raise UserError(f"loss.alpha={list(cfg.loss.alpha)} must be two positive numbers")
    if "tracking" in cfg and cfg.tracking.get("register") not in REGISTER_CHOICES:
        raise UserError(
            f"tracking.register={cfg.tracking.register} must be one of {'|'.join(REGISTER_CHOICES)}"
        )
    if "training" in cfg:
        check_training_keys(OmegaConf.to_container(cfg.training))  # type: ignore[arg-type]


def check_training_keys(training: dict[str, Any]) -> None:
    """Every ``training.*`` key must be a TrainingArguments field (they pass through unrenamed)."""
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(set(training) - known)
    if unknown:
        raise UserError(
            f"training.{unknown[0]} is not a transformers.TrainingArguments field; "
            "fix the spelling (keys pass through to TrainingArguments unrenamed)"
        )


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML (what gets saved next to a run)."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def _one_line(err: BaseException) -> str:
    """Hydra/OmegaConf messages span lines (and repeat the key); fold them into one."""
    text = str(err).split("Config search path")[0]
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    keep = [p for p in parts if not p.startswith(("full_key:", "object_type", "reference_type"))]
    return " ".join(keep)
