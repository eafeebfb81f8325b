"""Temperature scaling on trained runs: validation F1 at the threshold and test ECE / Brier,
before and after; and per-symptom thresholds beside the global one.

python benchmarks/calibration.py RUN_DIR [RUN_DIR ...]          # run folders of run_train.py
python benchmarks/calibration.py /tmp/negfull/none-{0,1,2} --json out.json
python benchmarks/calibration.py RUN_DIR --min-positives 3 10   # per-symptom thresholds too

The issue's rule for ``calibration``'s default: on if it does not lower validation F1 at the
threshold over three seeds of the realistic corpus. Temperature scaling comes after training
and changes nothing the Trainer does, so it is measured on the trained models, not by
retraining: each run's validation and test annotated pairs are scored (run_eval.py's
``split_gaps``), the probability before any temperature is recovered (a model saved with one
holds T in its config), then for T = 1 and for the fitted T the threshold is chosen on
validation as training does (``training.metric_for_best_model``) and the figures printed.
With ``--min-positives``, the calibrated test pairs are also decided at per-symptom
thresholds (``metrics.choose_symptom_thresholds``, each minimum in turn) and their test F1,
macro-F1 and MCC printed beside the global threshold's: ``threshold=per_symptom`` likewise
changes nothing before the threshold is chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evidence_ft import data  # noqa: E402
from evidence_ft.calibration import calibrated, fit_temperature  # noqa: E402
from evidence_ft.checkpoints import load_checkpoint, resolve_checkpoint  # noqa: E402
from evidence_ft.config import load_config  # noqa: E402
from evidence_ft.jobs.evaluate import data_config, select_split, split_gaps  # noqa: E402
from evidence_ft.metrics import (  # noqa: E402
    binary_metrics,
    choose_symptom_thresholds,
    choose_threshold,
    ranking_metrics,
    row_thresholds,
)
from evidence_ft.serving import TEMPERATURE_KEY  # noqa: E402


def run_gaps(run: Path, batch_size: int) -> tuple[dict[str, pd.DataFrame], str]:
    """{split: frame of symptom, label and uncalibrated logit ``gap``} of a run's validation
    and test annotated pairs, and its selection metric."""
    with resolve_checkpoint(str(run / "model")) as ckpt:
        model, tokenizer = load_checkpoint(ckpt)
    data_cfg = data_config(load_config([], "eval"), ckpt, [])
    corpus = data.load_corpus(data_cfg)
    manifest = ckpt.run_files["manifest"]
    temperature = float(getattr(model.config, TEMPERATURE_KEY, None) or 1.0)
    out = {}
    for split in ("validation", "test"):
        chosen = select_split(corpus.pairs, split, manifest, str(run), corpus.posts["post_id"])
        gaps = split_gaps(model, tokenizer, chosen, int(data_cfg.max_length), batch_size)
        out[split] = chosen[["symptom", "label"]].assign(gap=np.asarray(gaps) * temperature)
    metric = ckpt.run_files["config"].training.metric_for_best_model
    return out, str(metric)


def measure(run: Path, batch_size: int, min_positives: list[int]) -> dict[str, Any]:
    splits, metric = run_gaps(run, batch_size)
    validation, test_frame = splits["validation"], splits["test"]
    val_y, val_g = validation["label"].to_numpy(), validation["gap"].to_numpy()
    test_y, test_g = test_frame["label"].to_numpy(), test_frame["gap"].to_numpy()
    fit = fit_temperature(val_y, val_g)
    row: dict[str, Any] = {"run": str(run), "temperature": fit.value, "separable": fit.separable}
    for name, t in (("before", 1.0), ("after", fit.value)):
        val_p, test_p = calibrated(val_g, t), calibrated(test_g, t)
        threshold = choose_threshold(val_y, val_p, metric)
        test = ranking_metrics(test_y, test_p)
        row[name] = {
            "threshold": round(threshold, 4),
            "val_f1_at_threshold": binary_metrics(val_y, val_p >= threshold)["f1"],
            "test_f1_at_threshold": binary_metrics(test_y, test_p >= threshold)["f1"],
            "val_ece": ranking_metrics(val_y, val_p)["ece"],
            "test_ece": test["ece"],
            "test_brier": test["brier"],
            "test_roc_auc": test["roc_auc"],
        }
    # per-symptom thresholds on the calibrated probabilities, beside the global one
    validation = validation.assign(probability=calibrated(val_g, fit.value))
    test_frame = test_frame.assign(probability=calibrated(test_g, fit.value))
    global_t = choose_threshold(val_y, validation["probability"], metric)
    rules: dict[str, Any] = {"global": global_t}
    for least in min_positives:
        rows = choose_symptom_thresholds(validation, global_t, metric, data.SYMPTOMS, least)
        rules[f"per_symptom_min{least}"] = {s: r["threshold"] for s, r in rows.items()}
        row[f"own_thresholds_min{least}"] = sum(r["own"] for r in rows.values())
    for name, rule in rules.items():
        decided = test_frame["probability"] >= row_thresholds(test_frame, rule)
        scored = binary_metrics(test_y, decided.astype(int))
        row[name] = {f"test_{k}": scored[k] for k in ("f1", "macro_f1", "mcc")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run_train.py run folders")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--min-positives", type=int, nargs="*", default=[], help="per-symptom minimums to try"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = [measure(run, args.batch_size, args.min_positives) for run in args.runs]
    rules = ["global", *(f"per_symptom_min{m}" for m in args.min_positives)]
    flat = pd.DataFrame(
        [
            {"run": r["run"], "T": r["temperature"], "separable": r["separable"]}
            | {f"{k} {when}": r[when][k] for k in r["before"] for when in ("before", "after")}
            | {f"{k} {rule}": r[rule][k] for rule in rules for k in r[rule]}
            | {k: v for k, v in r.items() if k.startswith("own_thresholds")}
            for r in rows
        ]
    )
    with pd.option_context("display.width", 250, "display.max_columns", 60):
        print(flat.T.to_string(header=False))
        print("\nmean (sd) over runs:")
        numbers = flat.drop(columns=["run"]).astype(float)
        print(pd.DataFrame({"mean": numbers.mean(), "sd": numbers.std()}).round(4).to_string())
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
