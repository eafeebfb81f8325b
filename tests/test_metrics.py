"""The selection metric: compute_metrics has every choice, choose_threshold maximises each, and
evaluate_best records which one chose the threshold."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from datasets import Dataset
from scipy.special import logit
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef
from transformers import EvalPrediction
from transformers.trainer_utils import PredictionOutput

from evidence_ft.jobs.best_model import best_metrics, evaluate_best
from evidence_ft.metrics import SELECTION_METRICS, choose_threshold, compute_metrics

SKLEARN = {
    "f1": lambda y, d: f1_score(y, d, zero_division=0),
    "macro_f1": lambda y, d: f1_score(y, d, average="macro", labels=[0, 1], zero_division=0),
    "mcc": matthews_corrcoef,
}


def two_class_logits(probabilities):
    """Logits whose softmax gives P(evidence) = ``probabilities``."""
    p = np.asarray(probabilities, dtype=np.float64)
    return np.stack([np.zeros_like(p), logit(p)], axis=1)


def test_compute_metrics_has_pr_auc_of_the_probabilities_for_every_selection_metric():
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([0.3, 0.45, 0.4, 0.8, 0.9])
    out = compute_metrics(EvalPrediction(two_class_logits(probabilities), labels))
    assert out["pr_auc"] == pytest.approx(average_precision_score(labels, probabilities), abs=1e-4)
    assert out["pr_auc"] != pytest.approx(average_precision_score(labels, probabilities >= 0.5))
    assert set(SELECTION_METRICS) <= set(out)
    one_class = compute_metrics(EvalPrediction(two_class_logits([0.2, 0.7]), np.array([1, 1])))
    assert one_class["pr_auc"] == 0.0  # undefined, but the key must exist for the Trainer


@pytest.mark.parametrize("metric", sorted(SKLEARN))
@pytest.mark.parametrize("seed", range(4))
def test_choose_threshold_equals_a_brute_force_loop_with_sklearn(metric, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 200))
    labels = (rng.random(n) < rng.uniform(0.2, 0.9)).astype(int)
    scores = np.clip(labels * rng.uniform(0, 0.4) + rng.random(n) * 0.7, 0, 1)
    scores = np.round(scores, 2)  # ties: several pairs share a score
    values = {c: SKLEARN[metric](labels, scores >= c) for c in np.unique(scores)}
    best = max(values.values())
    lowest_best = min(c for c, v in values.items() if v >= best - 1e-12)

    t = choose_threshold(labels, scores, metric)

    assert SKLEARN[metric](labels, scores >= t) == pytest.approx(best, abs=1e-12)
    below = scores[scores < lowest_best]
    assert t == pytest.approx((lowest_best + (below.max() if len(below) else 0.0)) / 2)


def test_pr_auc_takes_the_f1_threshold_and_an_unknown_metric_is_refused():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 100)
    scores = rng.random(100)
    assert choose_threshold(labels, scores, "pr_auc") == choose_threshold(labels, scores, "f1")
    with pytest.raises(ValueError, match="metric='loss' must be one of f1, macro_f1, mcc"):
        choose_threshold(labels, scores, "loss")


def test_the_selection_metrics_can_pick_different_thresholds_on_majority_positive_data():
    """What the option is for: with most pairs positive, F1 keeps more pairs positive."""
    rng = np.random.default_rng(3)
    labels = (rng.random(2000) < 0.8).astype(int)
    scores = 1 / (1 + np.exp(-(rng.normal(size=2000) + labels * 1.0)))
    f1_cut, mcc_cut = (choose_threshold(labels, scores, m) for m in ("f1", "mcc"))
    assert (scores >= f1_cut).mean() > (scores >= mcc_cut).mean()


def fake_run(metric):
    """A trainer whose predict returns fixed logits, and the prepared splits it scores."""
    splits = {
        "validation": ([0, 1, 0, 1, 1], [0.1, 0.3, 0.4, 0.6, 0.9]),
        "test": ([1, 0, 1, 1], [0.2, 0.35, 0.55, 0.95]),
    }
    datasets = {
        name: Dataset.from_dict(
            {
                "post_id": [f"p{i}" for i in range(len(y))],
                "sentence_id": [f"s{i}" for i in range(len(y))],
                "symptom": ["FATIGUE"] * len(y),
                "label": y,
            }
        )
        for name, (y, _) in splits.items()
    }

    def predict(dataset, metric_key_prefix):
        split = "validation" if metric_key_prefix == "eval" else "test"
        labels, probabilities = splits[split]
        logits = two_class_logits(probabilities)
        out = compute_metrics(EvalPrediction(logits, np.array(labels)))
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in out.items()}
        return PredictionOutput(logits, np.array(labels), metrics)

    trainer = SimpleNamespace(args=SimpleNamespace(metric_for_best_model=metric), predict=predict)
    return trainer, SimpleNamespace(datasets=datasets)


@pytest.mark.parametrize(("metric", "threshold"), [("f1", 0.2), ("mcc", 0.5), ("pr_auc", 0.2)])
def test_evaluate_best_chooses_the_threshold_by_the_selection_metric_and_records_it(
    metric, threshold
):
    trainer, prepared = fake_run(metric)
    metrics, frame = evaluate_best(trainer, prepared, calibration="none")  # type: ignore[arg-type]
    assert metrics["decision_threshold"] == threshold  # the doctest's hand-checked cuts
    assert metrics["temperature"] == 1.0
    assert metrics["decision_threshold_metric"] == metric
    assert "eval_pr_auc" in metrics and len(frame) == 4
    logged = best_metrics(metrics)  # what MLflow gets as metrics: numbers only
    assert "decision_threshold_metric" not in logged and logged["decision_threshold"] == threshold


def test_evaluate_best_calibrates_then_chooses_the_threshold_on_calibrated_probabilities():
    trainer, prepared = fake_run("f1")
    raw, _ = evaluate_best(trainer, prepared, calibration="none")  # type: ignore[arg-type]
    metrics, frame = evaluate_best(trainer, prepared)  # type: ignore[arg-type]
    t = metrics["temperature"]
    assert t != 1.0 and metrics["eval_nll"] < metrics["eval_nll_uncalibrated"]
    # the same decisions on validation, so the same validation figures at the threshold
    assert metrics["decision_threshold"] != raw["decision_threshold"]
    for key in ("eval_at_threshold_f1", "eval_at_threshold_mcc", "test_f1", "test_pr_auc"):
        assert metrics[key] == raw[key]
    for split in ("eval", "test"):
        assert metrics[f"{split}_ece_uncalibrated"] == raw[f"{split}_ece"]
    # the test frame holds both probabilities
    np.testing.assert_allclose(frame["uncalibrated_probability"], [0.2, 0.35, 0.55, 0.95])
    gap = np.log(frame["uncalibrated_probability"] / (1 - frame["uncalibrated_probability"]))
    np.testing.assert_allclose(frame["probability"], 1 / (1 + np.exp(-gap / t)))


def test_evaluate_best_scores_per_symptom_thresholds_beside_the_global_one():
    trainer, prepared = fake_run("f1")
    metrics, _ = evaluate_best(  # type: ignore[arg-type]
        trainer, prepared, calibration="none", threshold="per_symptom", min_positives=2
    )
    rows = metrics["symptom_thresholds"]
    assert rows["FATIGUE"] == {"threshold": 0.2, "own": True, "positives": 3}
    assert rows["SLEEP_ISSUES"] == {"threshold": 0.2, "own": False, "positives": 0}
    # one symptom only: its own threshold is the global one, so the figures agree
    for key in ("f1", "mcc", "precision"):
        assert metrics[f"test_at_symptom_thresholds_{key}"] == metrics[f"test_at_threshold_{key}"]
    assert "test_at_symptom_thresholds_f1" not in evaluate_best(trainer, prepared)[0]  # type: ignore[arg-type]
