"""Classification metrics for the evidence class (label 1), from scikit-learn.

Pair level (``binary_metrics``, ``scored_metrics``, ``ranking_metrics``), per symptom, and
rolled up to posts (``post_level_metrics``); ``choose_threshold`` picks the decision threshold
on validation. The doctests run with the test suite (``pytest --doctest-modules``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
    roc_auc_score,
)

from evidence_ft import bootstrap
from evidence_ft.bootstrap import Resampler
from evidence_ft.serving import evidence_probability

# A decision threshold on P(evidence): one for every pair, or one per symptom {symptom: t}.
Threshold = float | Mapping[str, float]


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


def positive_probability(logits: Any) -> np.ndarray:
    """P(evidence) from the two-class logits of a model in memory (no threshold in its head)."""
    return evidence_probability(logits)


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """``Trainer`` hook: metrics at the 0.5 probability threshold (argmax of two logits), and
    PR-AUC of P(evidence), so that every ``SELECTION_METRICS`` choice has its ``eval_`` key.

    PR-AUC is 0.0 when validation holds one class only (undefined there; the key must exist).
    """
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    probabilities = positive_probability(logits)
    out = binary_metrics(labels, (probabilities >= 0.5).astype(int))
    out["pr_auc"] = ranking_metrics(labels, probabilities)["pr_auc"] or 0.0
    return out


# training.metric_for_best_model: the one selection metric (best checkpoint, early stopping,
# decision threshold, search objective). All four are greater-is-better.
SELECTION_METRICS = ("f1", "macro_f1", "mcc", "pr_auc")


def threshold_scores(tp: Any, fp: Any, fn: Any, tn: Any, metric: str) -> np.ndarray:
    """``metric`` at each cut from its confusion counts (arrays); 0 where it is 0/0, as in
    scikit-learn. ``pr_auc`` has no threshold: its cut is F1's (the best point of the PR curve).

    >>> [float(threshold_scores(3, 1, 1, 1, m)) for m in ("f1", "macro_f1", "mcc")]
    [0.75, 0.625, 0.25]
    >>> float(threshold_scores(0, 0, 4, 2, "mcc"))  # nothing predicted positive: 0/0
    0.0
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num * den), where=den > 0)

    if metric in ("f1", "pr_auc"):
        return ratio(2 * tp, 2 * tp + fp + fn)
    if metric == "macro_f1":
        return (ratio(2 * tp, 2 * tp + fp + fn) + ratio(2 * tn, 2 * tn + fn + fp)) / 2
    if metric == "mcc":
        return ratio(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    raise ValueError(f"metric={metric!r} must be one of {', '.join(SELECTION_METRICS)}")


def choose_threshold(labels: Any, probabilities: Any, metric: str = "f1") -> float:
    """The P(evidence) threshold that maximises ``metric`` (``SELECTION_METRICS``); pick it on
    validation. ``pr_auc`` has no threshold of its own: it takes F1's.

    Predict evidence when ``probability >= threshold``. Every distinct score is a candidate
    cut; the confusion counts at all of them come from cumulative sums over the sorted scores
    (``threshold_scores``). The threshold returned lies halfway between the best score and the
    next lower one, so a re-run whose probabilities differ in the last digits (another batch
    size or device) makes the same decisions. Ties go to the lowest cut. 0.5 when there is no
    positive.

    >>> choose_threshold([0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.9])  # best: >= 0.35
    0.225

    Labels [0, 1, 0, 1, 1] with scores [.1, .3, .4, .6, .9]: the cut >= 0.3 has TP 3, FP 1
    (F1 6/7, macro-F1 0.76, MCC 0.61), the cut >= 0.6 TP 2, FP 0 (F1 0.8, macro-F1 0.8, MCC
    0.67); no other cut beats them.

    >>> y, p = [0, 1, 0, 1, 1], [0.1, 0.3, 0.4, 0.6, 0.9]
    >>> [choose_threshold(y, p, m) for m in ("f1", "macro_f1", "mcc", "pr_auc")]
    [0.2, 0.5, 0.5, 0.2]
    >>> choose_threshold([0, 0], [0.2, 0.7])
    0.5
    """
    threshold_scores(0, 0, 0, 0, metric)  # an unknown metric fails here, whatever the labels
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    if not len(labels) or not labels.sum():
        return 0.5
    # scikit-learn's curves give rates (precision/recall, FPR/TPR), not the four counts that
    # macro-F1 and MCC need at each cut, so the counts are summed here.
    order = np.argsort(probabilities, kind="stable")
    scores, ordered = probabilities[order], labels[order] > 0
    cuts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])  # first index of each score
    positives_below = np.r_[0, np.cumsum(ordered)][cuts]  # predicted negative: below the cut
    negatives_below = cuts - positives_below
    p, n = int(ordered.sum()), len(ordered) - int(ordered.sum())
    tp, fn = p - positives_below, positives_below
    fp, tn = n - negatives_below, negatives_below
    best = int(np.argmax(threshold_scores(tp, fp, fn, tn, metric)))  # first max: lowest cut
    below = scores[cuts[best - 1]] if best > 0 else 0.0
    return round(float((scores[cuts[best]] + below) / 2), 12)


def row_thresholds(frame: pd.DataFrame, threshold: Threshold) -> Any:
    """The threshold each pair of ``frame`` is decided at: the one global ``threshold``, or
    its symptom's (a ``{symptom: t}`` mapping; a symptom missing from it is an error).

    >>> f = pd.DataFrame({"symptom": ["A", "B", "A"]})
    >>> row_thresholds(f, 0.5), row_thresholds(f, {"A": 0.3, "B": 0.7}).tolist()
    (0.5, [0.3, 0.7, 0.3])
    """
    if not isinstance(threshold, Mapping):
        return threshold
    cuts = frame["symptom"].map(threshold)
    if cuts.isna().any():
        missing = sorted(set(frame["symptom"][cuts.isna()]))
        raise ValueError(f"no threshold for symptom(s) {missing}")
    return cuts.to_numpy(np.float64)


def choose_symptom_thresholds(
    frame: pd.DataFrame,
    fallback: float,
    metric: str,
    symptoms: Sequence[str],
    min_positives: int,
) -> dict[str, dict[str, Any]]:
    """One threshold per symptom, each ``choose_threshold`` on the symptom's pairs of
    ``frame`` (validation: columns symptom, label, probability).

    A symptom with fewer than ``min_positives`` positive pairs, or without a negative one
    (every cut would tie), takes ``fallback`` (the global threshold): ``own`` says which.

    >>> f = pd.DataFrame({"symptom": ["A"] * 4 + ["B"] * 2, "label": [0, 0, 1, 1, 0, 1],
    ...                   "probability": [0.1, 0.7, 0.8, 0.9, 0.2, 0.4]})
    >>> rows = choose_symptom_thresholds(f, 0.5, "f1", ["A", "B"], 2)
    >>> rows["A"], rows["B"]["threshold"], rows["B"]["own"]
    ({'threshold': 0.75, 'own': True, 'positives': 2}, 0.5, False)
    """
    out = {}
    for symptom in symptoms:
        sub = frame[frame["symptom"] == symptom]
        positives = int(sub["label"].sum())
        own = positives >= min_positives and positives < len(sub)
        t = choose_threshold(sub["label"], sub["probability"], metric) if own else fallback
        out[symptom] = {"threshold": t, "own": own, "positives": positives}
    return out


def expected_calibration_error(labels: Any, probabilities: Any, n_bins: int = 10) -> float:
    """Expected calibration error of P(evidence): sum over bins of |mean prob - positive rate|
    weighted by the bin's share of pairs.

    scikit-learn has no ECE function (``calibration_curve`` returns the bins' rates but not
    their sizes), so it is written here with the same equal-width bins as ``calibration_curve``.

    >>> expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])  # (.1+.2+.3+.1)/4
    0.175
    """
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not len(labels):
        return 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], probabilities)
    total = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=probabilities, minlength=n_bins)
        - np.bincount(bins, weights=labels, minlength=n_bins)
    )
    return round(float(gap.sum() / total.sum()), 4)


def calibration_metrics(
    labels: Any, probabilities: Any, suffix: str = ""
) -> dict[str, float | None]:
    """Brier score and ECE of P(evidence) (None without pairs), named ``brier<suffix>`` and
    ``ece<suffix>`` (``_uncalibrated`` for the probabilities before the temperature).

    >>> calibration_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], "_x")
    {'brier_x': 0.185, 'ece_x': 0.35}
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not len(labels):
        return {f"brier{suffix}": None, f"ece{suffix}": None}
    brier = round(float(brier_score_loss(labels, probabilities, pos_label=1)), 4)
    ece = expected_calibration_error(labels, probabilities)
    return {f"brier{suffix}": brier, f"ece{suffix}": ece}


def ranking_metrics(labels: Any, probabilities: Any) -> dict[str, float | None]:
    """Threshold-free: ROC-AUC, PR-AUC (average precision), Brier score, ECE.

    The AUCs are None when only one class is present (they are undefined there).

    >>> ranking_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    {'roc_auc': 0.75, 'pr_auc': 0.8333, 'brier': 0.185, 'ece': 0.35}
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    both = len(np.unique(labels)) == 2
    out = {
        "roc_auc": roc_auc_score(labels, probabilities) if both else None,
        "pr_auc": average_precision_score(labels, probabilities) if both else None,
    }
    rounded = {k: None if v is None else round(float(v), 4) for k, v in out.items()}
    return rounded | calibration_metrics(labels, probabilities)


def scored_metrics(labels: Any, probabilities: Any, threshold: Any) -> dict[str, Any]:
    """``binary_metrics`` of ``probability >= threshold`` (a number, or one per pair),
    specificity and the confusion matrix.

    The matrix is [[TN, FP], [FN, TP]] (rows: true label 0/1; columns: predicted 0/1). The
    other metrics keep scikit-learn's 0 for 0/0, as the Trainer's ``compute_metrics`` does,
    so a run's metrics.json and a re-evaluation agree; specificity is None without negatives.

    >>> m = scored_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], 0.5)
    >>> m["f1"], m["specificity"], m["confusion_matrix"]
    (0.5, 0.5, [[1, 1], [1, 1]])
    """
    labels = np.asarray(labels)
    predictions = (np.asarray(probabilities, dtype=np.float64) >= threshold).astype(int)
    with warnings.catch_warnings():  # MCC of a one-class symptom is 0; no warning per row
        warnings.filterwarnings("ignore", message="A single label was found")
        out: dict[str, Any] = binary_metrics(labels, predictions)
    matrix = confusion_matrix(labels, predictions, labels=[0, 1])
    negatives = int(matrix[0].sum())
    out["specificity"] = round(float(matrix[0, 0] / negatives), 4) if negatives else None
    out["confusion_matrix"] = matrix.tolist()
    return out


def undefined_as_none(metrics: dict[str, Any]) -> dict[str, Any]:
    """``scored_metrics`` with None instead of scikit-learn's 0 where a metric is 0/0.

    For per-symptom rows, where a symptom may have no positive pair at all: then precision,
    recall and F1 of the evidence class are undefined; precision also when nothing is predicted
    positive; macro-F1 when either class is missing (it would average an undefined F1); MCC
    when any row or column of the confusion matrix is empty.

    >>> m = undefined_as_none(scored_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5))  # perfect
    >>> m["accuracy"], m["specificity"], m["f1"], m["macro_f1"], m["mcc"], m["precision"]
    (1.0, 1.0, None, None, None, None)
    """
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    positives, negatives, predicted = tp + fn, tn + fp, tp + fp
    out = dict(metrics)
    if not positives:
        out |= {"precision": None, "recall": None, "f1": None}
    if not predicted:
        out["precision"] = None
    if not positives or not negatives:
        out["macro_f1"] = None
    if not (positives and negatives and predicted and tn + fn):
        out["mcc"] = None
    return out


def over_constant(figures: Mapping[str, Any], constant: Mapping[str, Any]) -> dict[str, float]:
    """A decision rule's ``COMPARED_WITH_CONSTANT`` figures minus the constant "evidence"
    predictor's, as ``<m>_minus_constant``.

    >>> over_constant({"f1": 0.95, "macro_f1": 0.9}, {"f1": 0.88, "macro_f1": 0.44})
    {'f1_minus_constant': 0.07, 'macro_f1_minus_constant': 0.46}
    """
    return {
        name + bootstrap.MINUS_CONSTANT: round(figures[name] - constant[name], 4)
        for name in bootstrap.COMPARED_WITH_CONSTANT
        if figures.get(name) is not None and constant.get(name) is not None
    }


def pair_metrics(
    frame: pd.DataFrame, thresholds: Mapping[str, Threshold], rs: Resampler | None = None
) -> dict[str, Any]:
    """``ranking_metrics`` of the frame's pairs, ``scored_metrics`` at each named threshold
    and of the constant "evidence" predictor (``constant``), and each threshold's F1 and
    macro-F1 minus the constant's (``f1_minus_constant``); with ``rs``, bootstrap intervals
    over the frame's posts beside every figure (paired ones for the differences)."""
    labels, probs = frame["label"].to_numpy(), frame["probability"].to_numpy()
    out: dict[str, Any] = ranking_metrics(labels, probs)
    constant = scored_metrics(labels, np.ones(len(labels)), 1.0)
    for name, t in thresholds.items():
        out[name] = scored_metrics(labels, probs, row_thresholds(frame, t))
        out[name] |= over_constant(out[name], constant)
    out["constant"] = constant
    if rs is not None:
        _add_pair_intervals(out, frame, thresholds, rs)
    return out


def _add_pair_intervals(
    figures: dict[str, Any],
    frame: pd.DataFrame,
    thresholds: Mapping[str, Threshold],
    rs: Resampler,
) -> None:
    """Intervals beside the figures of ``pair_metrics`` / a ``per_symptom_metrics`` row (and
    the constant predictor's and the paired differences, where ``figures`` has a
    ``constant`` entry)."""
    codes = rs.codes(frame["post_id"].astype(str).to_numpy())
    labels, probs = frame["label"].to_numpy(), frame["probability"].to_numpy()
    samples = bootstrap.auc_samples(rs, labels, probs, codes)
    bootstrap.add_intervals(figures, samples | bootstrap.calibration_samples(
        rs, labels, probs, codes), rs)  # fmt: skip
    constant = None
    if "constant" in figures:
        constant = bootstrap.constant_samples(rs, labels, codes)
        bootstrap.add_intervals(figures["constant"], constant, rs)
    for name, t in thresholds.items():
        decided = bootstrap.confusion_samples(rs, labels, probs, row_thresholds(frame, t), codes)
        if constant is not None:
            decided |= bootstrap.minus_constant(decided, constant)
        bootstrap.add_intervals(figures[name], decided, rs)


def per_symptom_metrics(
    frame: pd.DataFrame,
    thresholds: Mapping[str, Threshold],
    symptoms: Sequence[str],
    rs: Resampler | None = None,
) -> dict[str, dict[str, Any]]:
    """One row per symptom (columns ``symptom``, ``label``, ``probability`` of ``frame``).

    Every symptom in ``symptoms`` gets a row; one absent from ``frame`` has support 0 and no
    metrics (None). ``thresholds`` maps a name (e.g. "at_0.5") to a threshold; each of those
    entries is ``scored_metrics`` through ``undefined_as_none`` (a 0/0 metric is None). With
    ``rs``, every defined figure has its bootstrap interval (the symptom's pairs of the drawn
    posts; a resample without the symptom's positives leaves F1 undefined and is counted).
    """
    out: dict[str, dict[str, Any]] = {}
    for symptom in symptoms:
        sub = frame[frame["symptom"] == symptom]
        row: dict[str, Any] = {"support": len(sub), "positives": int(sub["label"].sum())}
        row |= ranking_metrics(sub["label"], sub["probability"])
        for name, threshold in thresholds.items():
            row[name] = (
                undefined_as_none(
                    scored_metrics(sub["label"], sub["probability"], row_thresholds(sub, threshold))
                )
                if len(sub)
                else None
            )
        if rs is not None and len(sub):
            _add_pair_intervals(row, sub, thresholds, rs)
        out[symptom] = row
    return out


def post_level_metrics(
    frame: pd.DataFrame,
    threshold: Threshold,
    symptoms: Sequence[str],
    rs: Resampler | None = None,
) -> dict[str, Any]:
    """Roll pairs up to posts: a symptom is present in a post if any of its pairs is.

    Truth: any pair of (post, symptom) labelled 1; prediction: any pair with probability >=
    threshold. A (post, symptom) without pairs counts as absent in both, which only adds true
    negatives, so F1 is what a post-level multi-label classifier would be scored on. A symptom
    with no true and no predicted post has F1 None and is left out of macro-F1. With ``rs``
    (resampling the frame's posts), micro-, macro- and each symptom's F1 have intervals.

    >>> f = pd.DataFrame({"post_id": ["a", "a", "b"], "symptom": ["X", "X", "Y"],
    ...                   "label": [0, 1, 1], "probability": [0.9, 0.2, 0.8]})
    >>> m = post_level_metrics(f, 0.5, ["X", "Y", "Z"])
    >>> m["micro_f1"], m["macro_f1"], m["per_symptom"]["Z"]["f1"]
    (1.0, 1.0, None)
    """
    posts = sorted(frame["post_id"].unique())
    flags = frame.assign(
        predicted=(frame["probability"] >= row_thresholds(frame, threshold)).astype(int)
    )

    def indicator(column: str) -> np.ndarray:  # posts x symptoms, 1 = any pair is 1
        wide = flags.pivot_table(index="post_id", columns="symptom", values=column, aggfunc="max")
        return wide.reindex(index=posts, columns=list(symptoms)).fillna(0).astype(int).to_numpy()

    truth, predicted = indicator("label"), indicator("predicted")
    p, r, f, support = precision_recall_fscore_support(
        truth, predicted, average=None, labels=range(len(symptoms)), zero_division=np.nan
    )
    per_symptom = {
        s: {
            "support": int(support[i]),
            "predicted": int(predicted[:, i].sum()),
            **{k: _rounded(v[i]) for k, v in (("precision", p), ("recall", r), ("f1", f))},
        }
        for i, s in enumerate(symptoms)
    }
    defined = f[~np.isnan(f)]
    micro = f1_score(truth, predicted, average="micro", zero_division=0) if len(posts) else None
    out = {
        "posts": len(posts),
        "per_symptom": per_symptom,
        "micro_f1": _rounded(micro),
        "macro_f1": round(float(defined.mean()), 4) if len(defined) else None,
    }
    if rs is not None:
        bootstrap.multilabel_intervals(
            out, rs, posts, (truth, predicted), symptoms, None, "per_symptom"
        )
    return out


def _rounded(value: Any) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
