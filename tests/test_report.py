"""The printed tables of train, cv, evaluation and prediction: one home, exact lines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evidence_ft import report
from evidence_ft.jobs.evaluate import build_report
from evidence_ft.jobs.predict import OUTPUT_FILES

CV_RESULT = {
    "folds": [
        {"eval_f1": 0.5, "eval_mcc": 0.25, "test_f1": 0.4, "decision_threshold": 0.35, "epoch": 1},
        {"eval_f1": 0.7, "eval_mcc": 0.45, "test_f1": 0.6, "decision_threshold": 0.45, "epoch": 1},
    ],
    "mean": {"eval_f1": 0.6, "eval_mcc": 0.35, "test_f1": 0.5, "decision_threshold": 0.4},
    "std": {"eval_f1": 0.1414, "eval_mcc": 0.1414, "test_f1": 0.1414, "decision_threshold": 0.0707},
    "run_dir": Path("outputs/cv"),
    "run_id": "abc123",
    "tracking_uri": "sqlite:///mlflow.db",
}

CV_TABLE = """\
metric                mean     std  fold 0  fold 1
eval_f1             0.6000  0.1414  0.5000  0.7000
eval_mcc            0.3500  0.1414  0.2500  0.4500
test_f1             0.5000  0.1414  0.4000  0.6000
decision_threshold  0.4000  0.0707  0.3500  0.4500"""


def test_the_cv_table_and_summary(capsys):
    assert report.format_cv(CV_RESULT) == CV_TABLE
    report.print_cv_summary(CV_RESULT)
    assert capsys.readouterr().out == "\n" + CV_TABLE + "\n" + (
        "run folder:  outputs/cv  (cv_results.json, fold_<i>/split_manifest.json)\n"
        "mlflow run:  abc123  (one nested run per fold)\n"
        "browse runs: mlflow ui --backend-store-uri sqlite:///mlflow.db\n"
    )


def test_the_train_summary(capsys):
    metrics = {
        "eval_f1": 0.5,
        "test_f1": 0.25,
        "eval_loss": 0.7,
        "test_accuracy": 0.8,
        "test_mcc": None,
        "decision_threshold": 0.42,
        "test_constant_f1": 0.3,
        "test_constant_macro_f1": 0.2,
    }
    objects = {
        "run_dir": Path("outputs/train"),
        "run_id": "r1",
        "registered": ("evidence_ft", "3"),
        "tracking_uri": "sqlite:///mlflow.db",
    }
    report.print_train_summary(metrics, objects)
    assert capsys.readouterr().out == (
        "\n"
        "metric      eval    test\n"
        "accuracy       -  0.8000\n"
        "f1        0.5000  0.2500\n"
        "mcc            -       -\n"
        "loss      0.7000       -\n"
        "decision threshold (chosen on validation): 0.4200\n"
        "constant 'evidence' predictor on test: f1 0.3000, macro_f1 0.2000\n"
        "run folder:  outputs/train  (model/, split_manifest.json, metrics.json, config.yaml)\n"
        "mlflow run:  r1  (model: runs:/r1/model)\n"
        "registered:  models:/evidence_ft/3\n"
        "browse runs: mlflow ui --backend-store-uri sqlite:///mlflow.db\n"
    )


def test_the_predict_summary():
    summary = {
        "checkpoint": "outputs/x/model",
        "input": "posts.jsonl",
        "posts": 3,
        "sentences": 7,
        "pairs": 63,
        "seconds": 1.234,
        "posts_with_evidence": 2,
        "evidence_pairs": 5,
        "decision_threshold": 0.4123,
        "empty_posts_skipped": 1,
        "posts_per_symptom": {"DEPRESSED_MOOD": 2, "ANHEDONIA": 0},
    }
    text = report.format_predict_summary(summary, Path("outputs/predict"), OUTPUT_FILES)
    assert text == (
        "outputs/x/model on posts.jsonl: 3 posts, 7 sentences, 63 pairs scored in 1.2 s; "
        "2 posts with evidence, 5 evidence pairs at threshold 0.4123; 1 empty post(s) skipped\n"
        "\n"
        "symptom         posts with evidence\n"
        "DEPRESSED_MOOD                    2\n"
        "ANHEDONIA                         0\n"
        "\n"
        "output folder: outputs/predict  (predictions.jsonl, predictions.csv, profile.jsonl, "
        "profile.csv, report.html, summary.json)\n"
        "open report.html in a browser to see the evidence"
    )


def test_the_eval_report():
    frame = pd.DataFrame(
        {
            "post_id": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "sentence_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
            "symptom": ["DEPRESSED_MOOD"] * 2 + ["ANHEDONIA"] * 2 + ["FATIGUE"] * 2,
            "label": [1, 0, 1, 0, 0, 0],
            "probability": [0.9, 0.3, 0.6, 0.7, 0.1, 0.2],
        }
    )
    tree = json.loads(json.dumps(build_report(frame, threshold=0.65)))  # as report.json holds
    pairs, symptoms, posts = report.format_eval_report(tree).split("\n\n")
    assert pairs.splitlines()[:2] == [
        "pair level     @0.5  @0.6500",
        "accuracy     0.8333   0.6667",
    ]
    assert pairs.splitlines()[-5:] == [
        "ece          0.3000",
        "TN                3        3",
        "FP                1        1",
        "FN                0        1",
        "TP                2        1",
    ]
    assert symptoms.splitlines()[:3] == [
        "per symptom        pairs  pos  f1@0.5  f1@0.6500"
        "    prec  recall    spec      mcc  roc_auc",
        "DEPRESSED_MOOD         2    1  1.0000     1.0000"
        "  1.0000  1.0000  1.0000   1.0000   1.0000",
        "ANHEDONIA              2    1  0.6667     0.0000"
        "  0.0000  0.0000  0.0000  -1.0000   0.0000",
    ]
    assert (
        "FATIGUE                2    0       -          -       -       -  1.0000        -        -"
        in symptoms
    )
    assert posts.splitlines()[0] == "post level         posts  f1@0.5  f1@0.6500"
    assert posts.splitlines()[-1] == "macro_f1                  1.0000     1.0000"
