"""Classification metrics for the evidence class (label 1), from scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
)


def binary_metrics(labels: Any, predictions: Any) -> dict[str, float]:
    """Accuracy, precision/recall/F1 of the evidence class, macro-F1 and MCC.

    >>> m = binary_metrics([1, 1, 0, 0], [1, 0, 0, 0])
    >>> m["accuracy"], m["precision"], m["recall"], m["f1"], m["macro_f1"], m["mcc"]
    (0.75, 1.0, 0.5, 0.6667, 0.7333, 0.5774)
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    p, r, f, _ = precision_recall_fscore_support(
        labels, predictions, average="binary", pos_label=1, zero_division=0
    )
    out = {
        "accuracy": accuracy_score(labels, predictions),
        "precision": p,
        "recall": r,
        "f1": f,
        "macro_f1": f1_score(labels, predictions, average="macro", labels=[0, 1], zero_division=0),
        "mcc": matthews_corrcoef(labels, predictions) if len(labels) else 0.0,
    }
    return {k: round(float(v), 4) for k, v in out.items()}


def positive_probability(logits: np.ndarray) -> np.ndarray:
    """P(evidence) from two-class logits."""
    return softmax(np.asarray(logits, dtype=np.float64), axis=-1)[:, 1]


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """``Trainer`` hook: metrics at the 0.5 probability threshold (argmax of two logits)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    return binary_metrics(labels, (positive_probability(logits) >= 0.5).astype(int))
