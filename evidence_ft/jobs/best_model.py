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
from evidence_ft.calibration import calibrated, fit_temperature
from evidence_ft.card import model_card
from evidence_ft.jobs.evaluate import build_report, interval_resampler
from evidence_ft.metrics import (
    Threshold,
    binary_metrics,
    calibration_metrics,
    choose_symptom_thresholds,
    choose_threshold,
    over_constant,
    row_thresholds,
)
from evidence_ft.serving import sigmoid
from evidence_ft.trainer import FocalLossTrainer

if TYPE_CHECKING:
    from evidence_ft.jobs.train import PreparedData

log = logging.getLogger(__name__)

# The sentence of the logged model's input example (written for it; never a dataset sentence).
EXAMPLE_SENTENCE = "I have barely slept for weeks and wake up at 4 am every night."


# evaluate_best's keyword -> the top-level config key that sets it.
DECISION_KEYS = {
    "calibration": "calibration",
    "threshold": "threshold",
    "min_positives": "threshold_min_positives",
}


def decision_options(cfg: DictConfig) -> dict[str, Any]:
    """``evaluate_best``'s keywords from a run's config (a key that older run folders'
    configs lack keeps its default)."""
    return {arg: cfg[key] for arg, key in DECISION_KEYS.items() if cfg.get(key) is not None}


def evaluate_best(
    trainer: FocalLossTrainer,
    prepared: PreparedData,
    ci: DictConfig | None = None,
    calibration: str = "temperature",
    threshold: str = "global",
    min_positives: int = 10,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Validation and test metrics of the loaded best model, at 0.5 and at the threshold.

    ``calibration=temperature`` first fits a temperature T on the validation pairs
    (``calibration.fit_temperature``; recorded as ``temperature``) and every probability below
    is the calibrated one; ``eval_/test_ece`` and ``_brier`` are recorded before
    (``_uncalibrated``) and after. The threshold maximises ``training.metric_for_best_model``
    (recorded as ``decision_threshold_metric``) on validation only; test metrics never feed
    back into it. ``threshold=per_symptom`` also chooses one per symptom on its validation
    pairs (the global one where it has fewer than ``min_positives`` positives), recorded as
    ``symptom_thresholds`` and scored as ``*_at_symptom_thresholds_*`` beside the global ones.
    Also returns the test pairs with their P(evidence), for the run's evaluation plots. With
    ``ci`` (``ci.resamples`` > 0) every test figure gets its bootstrap interval over the test
    posts: ``test_f1_ci_low``, ``test_f1_ci_high`` (``_ci_undefined``: resamples without it).
    """
    metrics: dict[str, Any] = {}
    frames = {}
    for split, prefix in (("validation", "eval"), ("test", "test")):
        out = trainer.predict(prepared.datasets[split], metric_key_prefix=prefix)
        metrics |= {k: v for k, v in (out.metrics or {}).items() if isinstance(v, (int, float))}
        dataset = prepared.datasets[split]
        frames[split] = pd.DataFrame(
            {c: dataset[c] for c in ("post_id", "sentence_id", "symptom")}
        ).assign(label=np.asarray(out.label_ids), gap=serving.evidence_gap(out.predictions))
    metrics |= calibrate(frames, calibration)
    validation, test = frames["validation"], frames["test"]
    metric = trainer.args.metric_for_best_model
    assert metric is not None  # config.check_training_keys requires one of SELECTION_METRICS
    chosen = choose_threshold(validation["label"], validation["probability"], metric)
    metrics["decision_threshold"] = chosen
    metrics["decision_threshold_metric"] = metric
    log.info("decision threshold %.4f: maximises validation %s", chosen, metric)
    cuts: dict[str, Threshold] = {"at_threshold_": chosen}
    if threshold == "per_symptom":
        own = choose_symptom_thresholds(validation, chosen, metric, data.SYMPTOMS, min_positives)
        metrics["symptom_thresholds"] = own
        cuts["at_symptom_thresholds_"] = {s: row["threshold"] for s, row in own.items()}
        log.info(
            "per-symptom thresholds: %s",
            ", ".join(f"{s} {r['threshold']:.4f}{'' if r['own'] else ' (global)'}"
                      for s, r in own.items()),
        )  # fmt: skip
    for split, prefix in (("validation", "eval"), ("test", "test")):
        frame = frames[split]
        for name, cut in cuts.items():
            predicted = (frame["probability"] >= row_thresholds(frame, cut)).astype(int)
            tuned = binary_metrics(frame["label"], predicted)
            metrics |= {f"{prefix}_{name}{k}": v for k, v in tuned.items()}
    constant = binary_metrics(test["label"], [1] * len(test))
    metrics["test_constant_f1"] = constant["f1"]
    metrics["test_constant_macro_f1"] = constant["macro_f1"]
    for prefix in decision_prefixes(cuts):
        decided = {k: metrics[prefix + k] for k in bootstrap.COMPARED_WITH_CONSTANT}
        metrics |= {prefix + k: v for k, v in over_constant(decided, constant).items()}
    if metrics["temperature"] != 1.0:  # the plots and report show before and after
        test["uncalibrated_probability"] = sigmoid(test["gap"])
    test = test.drop(columns="gap")
    rs = interval_resampler(test["post_id"], ci)
    if rs is not None:
        add_test_intervals(metrics, test, cuts, rs)
    return metrics, test


def calibrate(frames: dict[str, pd.DataFrame], calibration: str) -> dict[str, Any]:
    """Give each split's frame (a ``gap`` column: the logit gap) its ``probability``: the
    calibrated one with ``calibration=temperature`` (T fitted on ``frames["validation"]``),
    else sigmoid(gap). Returns ``temperature``, the validation NLLs when fitted, and each
    split's Brier score and ECE before (``_uncalibrated``) and after."""
    metrics: dict[str, Any] = {"temperature": 1.0}
    if calibration == "temperature":
        validation = frames["validation"]
        fit = fit_temperature(validation["label"], validation["gap"])
        metrics |= fit.as_metrics()
        log.info(
            "calibration: temperature %.4f on %d validation pairs (NLL %.4f -> %.4f)%s",
            fit.value,
            fit.pairs,
            fit.nll_before,
            fit.nll_after,
            "; validation separates the classes, so T = 1 is kept" if fit.separable
            else "; the fit ended on its bound" if fit.at_bound else "",
        )  # fmt: skip
    for split, prefix in (("validation", "eval"), ("test", "test")):
        frame = frames[split]
        frame["probability"] = calibrated(frame["gap"], metrics["temperature"])
        raw = calibration_metrics(frame["label"], sigmoid(frame["gap"]), "_uncalibrated")
        now = calibration_metrics(frame["label"], frame["probability"])
        metrics |= {f"{prefix}_{name}": value for name, value in (raw | now).items()}
    return metrics


def decision_prefixes(cuts: dict[str, Threshold]) -> list[str]:
    """The metric prefixes of the test split's decision rules: 0.5, then each of ``cuts``.

    >>> decision_prefixes({"at_threshold_": 0.7})
    ['test_', 'test_at_threshold_']
    """
    return ["test_", *(f"test_{name}" for name in cuts)]


def add_test_intervals(
    metrics: dict[str, Any], frame: pd.DataFrame, cuts: dict[str, Threshold], rs: Resampler
) -> None:
    """Add the bootstrap intervals of the ``test_*`` figures of ``evaluate_best`` (in place):
    at 0.5, at each of ``cuts`` ({"at_threshold_": t, ...}), the constant predictor's, each
    rule's gain over it (paired: ``test_f1_minus_constant``), PR-AUC, and the Brier score and
    ECE before and after calibration; ``intervals`` says how they were made."""
    labels, probs = frame["label"].to_numpy(), frame["probability"].to_numpy()
    codes = rs.codes(frame["post_id"].astype(str).to_numpy())
    raw = frame.get("uncalibrated_probability", frame["probability"])
    before = bootstrap.calibration_samples(rs, labels, raw, codes)
    constant = bootstrap.constant_samples(rs, labels, codes)
    cut_of = {"test_": 0.5} | {f"test_{name}": cut for name, cut in cuts.items()}
    parts: dict[str, dict[str, np.ndarray]] = {"test_constant_": constant}
    for prefix in decision_prefixes(cuts):
        at = row_thresholds(frame, cut_of[prefix])
        decided = bootstrap.confusion_samples(rs, labels, probs, at, codes)
        parts[prefix] = decided | bootstrap.minus_constant(decided, constant)
    parts["test_"] |= (
        bootstrap.auc_samples(rs, labels, probs, codes)
        | bootstrap.calibration_samples(rs, labels, probs, codes)
        | {f"{name}_uncalibrated": values for name, values in before.items()}
    )
    for prefix, samples in parts.items():
        named = {k: metrics[prefix + k] for k in samples if prefix + k in metrics}
        bootstrap.add_intervals(named, {k: samples[k] for k in named}, rs)
        metrics |= {prefix + k: v for k, v in named.items()}
    metrics["intervals"] = bootstrap.method(rs)


def symptom_thresholds(metrics: dict[str, Any]) -> dict[str, float] | None:
    """``{symptom: t}`` of a ``threshold=per_symptom`` run's metrics (None: one threshold).

    >>> symptom_thresholds({"symptom_thresholds": {"FATIGUE": {"threshold": 0.4, "own": True}}})
    {'FATIGUE': 0.4}
    """
    rows = metrics.get("symptom_thresholds")
    return {s: row["threshold"] for s, row in rows.items()} if rows else None


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
    metrics: dict[str, Any],
    out: Path,
    ci: DictConfig | None = None,
) -> None:
    """Learning curves and the test split's evaluation plots (error bars: ``ci``'s intervals;
    the reliability diagram before and after calibration), in ``out/plots`` and on the run."""
    folder = out / "plots"
    report = build_report(
        test_frame,
        metrics["decision_threshold"],
        ci,
        symptom_thresholds(metrics),
        metrics.get("temperature", 1.0),
    )
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
    """Save the best model with its temperature, threshold(s), run id and card, log it,
    register it.

    The saved copy holds the temperature and the global threshold in its head
    (``serving.threshold_in_head``) so that every loader gets the calibrated probability and
    its argmax decides as run_eval.py does; per-symptom thresholds go to config.json
    (``evidence_criterion_thresholds``). The model in memory stays as it was. Returns the
    registered version (None when ``tracking.register`` leaves this run out).
    """
    model: Any = trainer.model
    threshold = metrics["decision_threshold"]
    model.config.decision_threshold = threshold
    model.config.mlflow_run_id = run_id
    setattr(model.config, serving.CRITERIA_KEY, data.criterion_texts(cfg.data))
    setattr(model.config, serving.MAX_LENGTH_KEY, int(cfg.data.max_length))
    own = symptom_thresholds(metrics)
    if own:
        by_criterion = {data.SYMPTOM_TO_CRITERION[s] or s: t for s, t in own.items()}
        setattr(model.config, serving.CRITERION_THRESHOLDS_KEY, by_criterion)
    with serving.threshold_in_head(model, threshold, metrics.get("temperature", 1.0)):
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
    if own:
        mlflow.log_metrics({f"symptom_threshold/{s}": t for s, t in own.items()})
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
