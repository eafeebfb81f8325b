"""The best checkpoint of a training run: evaluated, its threshold chosen, saved and logged.

``train`` (and the CV folds and the search's refit, which call it) hands the Trainer here
once training ends: validation and test metrics, the decision threshold chosen on
validation, the test plots, and the model saved with its threshold, logged and registered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from evidence_ft import bootstrap, data, plots, serving, tracking
from evidence_ft.bootstrap import Resampler
from evidence_ft.card import model_card
from evidence_ft.jobs.evaluate import build_report, interval_resampler
from evidence_ft.metrics import binary_metrics, choose_threshold, positive_probability
from evidence_ft.trainer import FocalLossTrainer

if TYPE_CHECKING:
    from evidence_ft.jobs.train import PreparedData

log = logging.getLogger(__name__)

# The sentence of the logged model's input example (written for it; never a dataset sentence).
EXAMPLE_SENTENCE = "I have barely slept for weeks and wake up at 4 am every night."


def evaluate_best(
    trainer: FocalLossTrainer, prepared: PreparedData, ci: DictConfig | None = None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Validation and test metrics of the loaded best model, at 0.5 and at the threshold.

    The threshold maximises ``training.metric_for_best_model`` (recorded as
    ``decision_threshold_metric``) on validation only; test metrics never feed back into it.
    Also returns the test pairs with their P(evidence), for the run's evaluation plots. With
    ``ci`` (``ci.resamples`` > 0) every test figure gets its bootstrap interval over the test
    posts: ``test_f1_ci_low``, ``test_f1_ci_high`` (``_ci_undefined``: resamples without it).
    """
    metrics: dict[str, Any] = {}
    probs = {}
    for split, prefix in (("validation", "eval"), ("test", "test")):
        out = trainer.predict(prepared.datasets[split], metric_key_prefix=prefix)
        metrics |= {k: v for k, v in (out.metrics or {}).items() if isinstance(v, (int, float))}
        probs[split] = (positive_probability(out.predictions), np.asarray(out.label_ids))
    metric = trainer.args.metric_for_best_model
    assert metric is not None  # config.check_training_keys requires one of SELECTION_METRICS
    threshold = choose_threshold(probs["validation"][1], probs["validation"][0], metric)
    metrics["decision_threshold"] = threshold
    metrics["decision_threshold_metric"] = metric
    log.info("decision threshold %.4f: maximises validation %s", threshold, metric)
    for split, prefix in (("validation", "eval"), ("test", "test")):
        p, labels = probs[split]
        tuned = binary_metrics(labels, (p >= threshold).astype(int))
        metrics |= {f"{prefix}_at_threshold_{k}": v for k, v in tuned.items()}
    test_labels = probs["test"][1]
    constant = binary_metrics(test_labels, [1] * len(test_labels))
    metrics["test_constant_f1"] = constant["f1"]
    metrics["test_constant_macro_f1"] = constant["macro_f1"]
    test = prepared.datasets["test"]
    frame = pd.DataFrame(
        {c: test[c] for c in ("post_id", "sentence_id", "symptom", "label")}
    ).assign(probability=probs["test"][0])
    rs = interval_resampler(frame["post_id"], ci)
    if rs is not None:
        add_test_intervals(metrics, frame, threshold, rs)
    return metrics, frame


def add_test_intervals(
    metrics: dict[str, Any], frame: pd.DataFrame, threshold: float, rs: Resampler
) -> None:
    """Add the bootstrap intervals of the ``test_*`` figures of ``evaluate_best`` (in place):
    at 0.5, at the decision threshold, the constant predictor's, and PR-AUC; ``intervals``
    says how they were made."""
    labels, probs = frame["label"].to_numpy(), frame["probability"].to_numpy()
    codes = rs.codes(frame["post_id"].astype(str).to_numpy())
    parts = {
        "test_": bootstrap.confusion_samples(rs, labels, probs, 0.5, codes)
        | bootstrap.auc_samples(rs, labels, probs, codes),
        "test_at_threshold_": bootstrap.confusion_samples(rs, labels, probs, threshold, codes),
        "test_constant_": bootstrap.confusion_samples(rs, labels, np.ones(len(labels)), 1, codes),
    }
    for prefix, samples in parts.items():
        named = {k: metrics[prefix + k] for k in samples if prefix + k in metrics}
        bootstrap.add_intervals(named, {k: samples[k] for k in named}, rs)
        metrics |= {prefix + k: v for k, v in named.items()}
    metrics["intervals"] = bootstrap.method(rs)


def best_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers of ``evaluate_best`` as MLflow metrics: eval_* renamed best_* (per-epoch
    eval_* curves are MLflowCallback's), names such as decision_threshold_metric left out.

    >>> best_metrics({"eval_f1": 0.8, "test_f1": 0.7, "decision_threshold_metric": "f1"})
    {'best_eval_f1': 0.8, 'test_f1': 0.7}
    """
    return {
        (f"best_{k}" if k.startswith("eval_") else k): v
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    }


def log_evaluation_plots(
    trainer: FocalLossTrainer,
    test_frame: pd.DataFrame,
    threshold: float,
    out: Path,
    ci: DictConfig | None = None,
) -> None:
    """Learning curves and the test split's evaluation plots (error bars: ``ci``'s intervals),
    in ``out/plots`` and on the run."""
    folder = out / "plots"
    report = build_report(test_frame, threshold, ci)
    plots.write_plots(test_frame, report, folder)
    plots.learning_curves(trainer.state.log_history, folder / "learning_curves.png")
    mlflow.log_artifacts(str(folder), "plots")


def save_best(
    cfg: DictConfig,
    trainer: FocalLossTrainer,
    prepared: PreparedData,
    metrics: dict[str, Any],
    out: Path,
    run_id: str,
) -> str | None:
    """Save the best model with its threshold, run id and card, log it, register it.

    The saved copy holds the threshold in its head (``serving.threshold_in_head``) so that
    every loader's argmax decides as run_eval.py does; the model in memory stays as it was.
    Returns the registered version (None when ``tracking.register`` leaves this run out).
    """
    model: Any = trainer.model
    threshold = metrics["decision_threshold"]
    model.config.decision_threshold = threshold
    model.config.mlflow_run_id = run_id
    setattr(model.config, serving.CRITERIA_KEY, data.criterion_texts(cfg.data))
    setattr(model.config, serving.MAX_LENGTH_KEY, int(cfg.data.max_length))
    with serving.threshold_in_head(model, threshold):
        trainer.save_model(str(out / "model"))
    card = model_card(
        cfg.model.name_or_path,
        cfg.data.name,
        prepared.manifest,
        metrics,
        threshold,
        run_id,
    )
    (out / "model" / "README.md").write_text(card, encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    # Per-epoch eval_* curves are MLflowCallback's; the best model's numbers get their own names.
    mlflow.log_metrics(best_metrics(metrics), step=trainer.state.global_step)
    mlflow.log_param("decision_threshold_metric", metrics["decision_threshold_metric"])
    mlflow.log_artifact(str(out / "metrics.json"))
    example = pd.DataFrame(
        {"text": [prepared.datasets["train"][0]["criterion"]], "text_pair": [EXAMPLE_SENTENCE]}
    )
    options = {
        "max_length": cfg.data.max_length,
        "batch_size": cfg.training.per_device_eval_batch_size,
    }
    model_uri = tracking.log_model(out / "model", example, options)
    if not tracking.should_register(cfg.tracking, cfg.training.get("max_steps")):
        log.info(
            "model: not registered (tracking.register=%s, training.max_steps=%s); "
            "tracking.register=always registers smoke runs too",
            cfg.tracking.register,
            cfg.training.get("max_steps"),
        )
        return None
    description, tags = tracking.version_details(
        metrics, cfg.data.name, cfg.model.name_or_path, run_id
    )
    return tracking.register_model(model_uri, cfg.tracking.registered_model, description, tags)
