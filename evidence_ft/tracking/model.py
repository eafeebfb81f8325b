"""The logged model (an MLflow pyfunc) and its registered versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from evidence_ft import serving
from evidence_ft.report import interval_note, with_interval


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """No Hub look-ups while MLflow logs a model (offline they cost ~47 s of retries)."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def log_model(model_dir: Path, input_example: pd.DataFrame, model_config: Mapping[str, Any]) -> str:
    """Log a saved model folder as an MLflow pyfunc (``runs:/<id>/model``); return its URI.

    The pyfunc is ``evidence_ft/serving.py`` logged as a model from code, with the folder as
    its artifact: it scores (criterion, sentence) pairs as pairs and decides at the folder's
    ``decision_threshold``, wherever it is loaded or served. ``model_config`` holds the
    tokenizer ``max_length`` and the prediction ``batch_size``.
    """
    import mlflow.pyfunc

    requirements = [
        f"{name}=={importlib.metadata.version(name).split('+')[0]}"  # no local "+cpu" tag
        for name in ("mlflow", "torch", "transformers", "pandas", "numpy")
    ]
    with _hub_offline():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=serving.__file__,
            artifacts={serving.HF_ARTIFACT: str(model_dir)},
            model_config=dict(model_config),
            signature=serving.model_signature(),
            input_example=input_example,
            pip_requirements=requirements,
        )
    return str(info.model_uri)


def should_register(tracking_cfg: Any, max_steps: int | None) -> bool:
    """Whether ``tracking.register`` (auto|always|never) registers this run's model.

    ``auto`` leaves out smoke runs, those cut short by ``training.max_steps > 0``; nothing is
    registered without a ``tracking.registered_model`` name.

    >>> from types import SimpleNamespace as NS
    >>> should_register(NS(registered_model="m", register="auto"), 2)
    False
    >>> should_register(NS(registered_model="m", register="auto"), -1)
    True
    >>> should_register(NS(registered_model="m", register="always"), 2)
    True
    """
    if not tracking_cfg.registered_model or tracking_cfg.register == "never":
        return False
    return tracking_cfg.register == "always" or not (max_steps or 0) > 0


# The metrics a registered version carries as tags (and in its description).
VERSION_METRICS = (
    "test_f1",
    "test_macro_f1",
    "test_mcc",
    "test_at_threshold_f1",
    "test_at_threshold_macro_f1",
    "test_at_threshold_mcc",
    "test_constant_f1",
    "test_constant_macro_f1",
    "test_at_threshold_f1_minus_constant",
    "decision_threshold",
)


def version_details(
    metrics: Mapping[str, Any], data_name: str, base_model: str, run_id: str
) -> tuple[str, dict[str, str]]:
    """A model version's description (markdown) and tags: test metrics with their bootstrap
    intervals, the baseline and the gain over it, data, run.

    >>> text, tags = version_details({"test_f1": 0.9, "test_f1_ci_low": 0.8,
    ...     "test_f1_ci_high": 0.95, "decision_threshold": 0.7}, "sample", "minilm", "r1")
    >>> tags["test_f1"], text.splitlines()[2].split(", macro")[0]
    ('0.9000', 'Test (threshold 0.5): F1 0.9000 [0.800, 0.950]')
    """
    tags = {k: f"{metrics[k]:.4f}" for k in VERSION_METRICS if k in metrics}
    tags |= {"data": data_name, "base_model": base_model, "run_id": run_id}
    tags["run_model_uri"] = f"runs:/{run_id}/model"

    def m(key: str) -> str:
        return with_interval(dict(metrics), key)

    description = (
        f"evidence_ft classifier fine-tuned from `{base_model}` on `{data_name}`; "
        f"training run `{run_id}` (`runs:/{run_id}/model`).\n\n"
        f"Test (threshold 0.5): F1 {m('test_f1')}, macro-F1 {m('test_macro_f1')}, "
        f"MCC {m('test_mcc')}. At the decision threshold {m('decision_threshold')}: "
        f"F1 {m('test_at_threshold_f1')}, macro-F1 {m('test_at_threshold_macro_f1')}, "
        f"MCC {m('test_at_threshold_mcc')}. A constant 'evidence' predictor: "
        f"F1 {m('test_constant_f1')}, macro-F1 {m('test_constant_macro_f1')}, MCC 0; "
        f"F1 at the threshold minus the constant's: "
        f"{m('test_at_threshold_f1_minus_constant')} (paired)."
    )
    if metrics.get("intervals"):
        description += "\n\n" + interval_note(metrics["intervals"]) + " of the test split."
    return description, tags


def register_model(model_uri: str, name: str, description: str, tags: Mapping[str, str]) -> str:
    """Register a logged model as a new version of ``name``; return the version number."""
    version = mlflow.register_model(model_uri, name, tags=dict(tags))
    mlflow.MlflowClient().update_model_version(name, version.version, description=description)
    return str(version.version)
