"""The search space (``search.space``) and the search's own settings, checked before any trial."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import optuna
from omegaconf import DictConfig, OmegaConf, open_dict

from evidence_ft.config import check_training_keys, validate
from evidence_ft.errors import UserError
from evidence_ft.options import choices_of
from evidence_ft.search_schema import SearchConfig
from evidence_ft.trainer import ignored_fields

# Top-level keys of configs/search.yaml that configs/train.yaml does not have: the search
# group and SearchConfig's fields.
SEARCH_KEYS = ("search", *(f.name for f in dataclasses.fields(SearchConfig)))
# pruner=: checked here, not by config.validate, to keep its tested message (see SearchConfig).
PRUNERS = choices_of(SearchConfig, "pruner")


@dataclass
class Dimension:
    """One entry of ``search.space``: an Optuna distribution over one ``training.*`` key."""

    name: str
    key: str
    spec: dict[str, Any]

    @property
    def field(self) -> str:
        """The EvidenceTrainingArguments field the Trainer sets per trial."""
        return self.key.split(".", 1)[1]

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

    def extremes(self) -> list[Any]:
        """The values a trial can take at the edges: every choice, or low and high."""
        s = self.spec
        return list(s["choices"]) if s["type"] == "categorical" else [s["low"], s["high"]]


def parse_space(cfg: DictConfig) -> list[Dimension]:
    """``search.space`` -> dimensions; null entries are left out (that key keeps its value).

    Every edge value of a dimension must pass the checks a run's config passes (``validate``),
    so a value a run would refuse stops the command before the first trial.
    """
    space = cast(dict[str, Any], OmegaConf.to_container(cfg.search.space, resolve=True))
    dims = []
    for name, spec in space.items():
        if spec is None:
            continue
        where = f"search.space.{name}"
        key = spec.get("key", "")
        if not key.startswith("training."):
            raise UserError(
                f"{where}.key={key!r}: a trial can vary training.* (TrainingArguments fields, "
                "the loss settings among them); other keys are fixed for the whole search"
            )
        check_training_keys({key.split(".", 1)[1]: cfg.training.get(key.split(".", 1)[1])})
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
    ignored = ignored_fields(cast(dict[str, Any], OmegaConf.to_container(cfg.training)))
    for dim in dims:
        if dim.field in ignored:
            by = f"training.{ignored[dim.field]}"
            raise UserError(
                f"{by} is set, so search.space.{dim.name} would change nothing; "
                f"set {by}=null or search.space.{dim.name}=null"
            )
        for value in dim.extremes():
            _check_value(cfg, dim, value)
    return dims


def _check_value(cfg: DictConfig, dim: Dimension, value: Any) -> None:
    """A trial's value must pass the checks of ``training.<field>`` that a run's config passes."""
    tried = copy.deepcopy(cfg)
    with open_dict(tried):  # the field may be one training/*.yaml does not list
        OmegaConf.update(tried, dim.key, value)
    try:
        validate(tried)
    except UserError as err:
        raise UserError(f"search.space.{dim.name}: {err}") from err


def check_settings(cfg: DictConfig) -> None:
    """Search settings ``config.validate`` leaves out: the pruner and the training it needs.

    n_trials, study_name and the other keys are checked with the config (SearchConfig's fields).
    """
    if cfg.pruner not in PRUNERS:
        raise UserError(f"pruner={cfg.pruner} must be {' or '.join(PRUNERS)}")
    if cfg.training.eval_strategy != "epoch":
        raise UserError(
            "training.eval_strategy must be epoch for run_search.py: the pruner compares trials "
            "by their validation training.metric_for_best_model after each epoch"
        )


def train_config(cfg: DictConfig) -> DictConfig:
    """The search config without its search-only keys: what configs/train.yaml would compose."""
    return OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k not in SEARCH_KEYS])


def objective_key(metric: str) -> str:
    """The key of ``training.metric_for_best_model`` in the Trainer's evaluation metrics.

    >>> objective_key("f1"), objective_key("pr_auc")  # compute_metrics has both
    ('eval_f1', 'eval_pr_auc')
    """
    return metric if metric.startswith("eval_") else f"eval_{metric}"
