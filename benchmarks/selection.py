"""What each selection metric's decision threshold does on majority-positive pairs.

python benchmarks/selection.py                          # simulated scores, 4 ROC-AUCs x 20 seeds
python benchmarks/selection.py --aucs 0.76 --seeds 50
python benchmarks/selection.py --predictions VAL.csv TEST.csv   # a run's probabilities

No model is retrained per metric: for each ``training.metric_for_best_model`` choice the
threshold is chosen on validation with ``metrics.choose_threshold`` and applied to test.
Simulated scores are binormal (negatives N(0, 1), positives N(d, 1), ROC-AUC = Phi(d / sqrt 2))
on validation and test sets of ``--pairs`` pairs with ``--positives`` of them evidence, as the
annotated pairs of ReDSM5 are (about four in five positive). ``--predictions`` reads two
run_eval.py predictions.csv files (``label``, ``probability``) instead. Printed per metric:
the threshold, the share of test pairs predicted evidence, and test F1, macro-F1 and MCC
(``metrics.binary_metrics``), next to the constant "evidence" predictor; means over seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evidence_ft.metrics import SELECTION_METRICS, binary_metrics, choose_threshold  # noqa: E402

COLUMNS = ("threshold", "predicted_positive", "f1", "macro_f1", "mcc")


def binormal(auc: float, pairs: int, positives: float, rng: np.random.Generator) -> tuple:
    """Labels and P(evidence)-like scores (a sigmoid of binormal scores) with ROC-AUC ``auc``."""
    labels = (rng.random(pairs) < positives).astype(int)
    shift = np.sqrt(2) * norm.ppf(auc)
    return labels, expit(rng.normal(size=pairs) + shift * labels)


def selection_rows(validation: tuple, test: tuple) -> dict[str, dict[str, float]]:
    """Per selection metric (and the constant predictor): threshold, test share and metrics."""
    (val_labels, val_scores), (test_labels, test_scores) = validation, test
    rows = {}
    for metric in SELECTION_METRICS:
        t = choose_threshold(val_labels, val_scores, metric)
        predicted = (test_scores >= t).astype(int)
        rows[metric] = {
            "threshold": t,
            "predicted_positive": float(predicted.mean()),
            **binary_metrics(test_labels, predicted),
        }
    constant = np.ones_like(test_labels)
    rows["constant"] = {"threshold": 0.0, "predicted_positive": 1.0}
    rows["constant"] |= binary_metrics(test_labels, constant)
    return rows


def table(frames: list[dict[str, dict[str, float]]]) -> pd.DataFrame:
    """Mean (and for several seeds the std) of every column over the seeds."""
    long = pd.concat(pd.DataFrame(f).T.assign(seed=i) for i, f in enumerate(frames))
    grouped = long.groupby(level=0, sort=False)[list(COLUMNS)]
    mean = grouped.mean().round(3)
    if len(frames) == 1:
        return mean
    std = grouped.std(ddof=1).round(3)
    return mean.astype(str) + " ± " + std.astype(str)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--aucs", type=float, nargs="+", default=[0.65, 0.76, 0.85, 0.95])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=300, help="pairs per split (default 300)")
    parser.add_argument("--positives", type=float, default=0.8, help="share of positive pairs")
    parser.add_argument("--predictions", type=Path, nargs=2, metavar=("VALIDATION", "TEST"))
    args = parser.parse_args()
    pd.set_option("display.width", 200)

    if args.predictions:
        val, test = (pd.read_csv(p) for p in args.predictions)
        splits = [(f["label"].to_numpy(), f["probability"].to_numpy()) for f in (val, test)]
        print(f"predictions: validation {len(val)} pairs, test {len(test)} pairs")
        print(table([selection_rows(*splits)]).to_string())
        return
    print(
        f"binormal scores, {args.pairs} validation and {args.pairs} test pairs, "
        f"{args.positives:.0%} positive, {args.seeds} seeds; means ± std over seeds"
    )
    for auc in args.aucs:
        frames = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            validation, test = (binormal(auc, args.pairs, args.positives, rng) for _ in "vt")
            frames.append(selection_rows(validation, test))
        print(f"\nROC-AUC {auc}")
        print(table(frames).to_string())


if __name__ == "__main__":
    main()
