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
        "decision_threshold_metric": "mcc",
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
        "decision threshold (maximises validation mcc): 0.4200\n"
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
    # constant: every pair evidence, TP 2 FP 4: F1 4/8, macro-F1 (0.5 + 0) / 2
    assert pairs.splitlines()[:2] == [
        "pair level             @0.5  @0.6500  constant",
        "accuracy             0.8333   0.6667    0.3333",
    ]
    assert pairs.splitlines()[4:14] == [
        "f1                   0.8000   0.5000    0.5000",
        "macro_f1             0.8286   0.6250    0.2500",
        "mcc                  0.7071   0.2500    0.0000",
        "specificity          0.7500   0.7500    0.0000",
        "f1 - constant        0.3000   0.0000",
        "macro_f1 - constant  0.5786   0.3750",
        "roc_auc              0.8750",
        "pr_auc               0.8333",
        "brier                0.1333",
        "ece                  0.3000",
    ]
    assert pairs.splitlines()[-4:] == [
        "TN                        3        3         0",
        "FP                        1        1         4",
        "FN                        0        1         0",
        "TP                        2        1         2",
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
    assert posts.splitlines()[0] == "annotated posts    posts  f1@0.5  f1@0.6500"
    assert posts.splitlines()[-1] == "macro_f1                  1.0000     1.0000"


def all_sentence_tree() -> dict:
    """``all_sentence_report`` on two posts x three sentences x two criteria, plus a post with
    no sentence; the model ranks well but misses FATIGUE at its threshold."""
    from evidence_ft.sentence_metrics import all_sentence_report

    sentences = {
        "p1": ["I feel sad and hopeless", "I watched a film", "I am always tired"],
        "p2": ["The bus was late", "No energy at all, so tired", "We ate pizza"],
    }
    evidence = {("p1", 0, "A.1"), ("p1", 2, "A.6"), ("p2", 1, "A.6")}
    model = {("p1", 0, "A.1"): 0.9, ("p1", 2, "A.6"): 0.45, ("p2", 1, "A.6"): 0.4}
    rows = [
        {
            "post_id": post,
            "sentence_index": i,
            "sentence": text,
            "criterion_id": criterion,
            "symptom": symptom,
            "label": int((post, i, criterion) in evidence),
            "probability": model.get((post, i, criterion), 0.1 + 0.1 * i),
        }
        for post, texts in sentences.items()
        for i, text in enumerate(texts)
        for criterion, symptom in (("A.1", "DEPRESSED_MOOD"), ("A.6", "FATIGUE"))
    ]
    criteria = {"A.1": "Depressed mood: sad, hopeless", "A.6": "Fatigue: tired, no energy"}
    tree = all_sentence_report(pd.DataFrame(rows), 0.5, criteria, ["p1", "p2", "p3"], seed=0)
    return json.loads(json.dumps(tree))  # as report.json holds it


def test_the_all_sentence_report():
    tree = all_sentence_tree()
    text = report.format_all_sentence_report(tree)
    ranking, deciding, gains, symptoms, posts, labels = text.split("\n\n")
    assert max(len(line) for line in text.splitlines()) <= 110
    # model: TP 1 (0.9), FN 2 (0.45, 0.4), TN 9: P 1, R 1/3, F1 1/2, MCC 9/sqrt(1*3*9*11)
    # constant: each ranking 1 evidence among 3 tied: nDCG (1 + 1/log2(3) + 1/2) / 3,
    # R@1 1/3, MAP (1 + 1/2 + 1/3) / 3 = 11/18; P 3/12, MCC undefined
    assert ranking.splitlines() == [
        "all sentences: 12 pairs, 3 evidence; 2 of the split's 3 posts have sentences",
        "retrieval: mean over the 3 (post, criterion) rankings with evidence; "
        "tied scores count as a random order",
        "retrieval  nDCG@10     R@1     R@3    R@10     MAP",
        "model       1.0000  1.0000  1.0000  1.0000  1.0000",
        "constant    0.7103  0.3333  1.0000  1.0000  0.6111",
        "random      0.8770  0.6667  1.0000  1.0000  0.8333",
        "lexical     1.0000  1.0000  1.0000  1.0000  1.0000",
    ]
    assert deciding.splitlines() == [
        "sentence level  thresh       P       R      F1     MCC  PR-AUC",
        "model           0.5000  1.0000  0.3333  0.5000  0.5222  1.0000",
        "constant        0.5000  0.2500  1.0000  0.4000       -  0.2500",
        "random          0.5000  0.3750  1.0000  0.5455  0.4082  0.8333",
        "lexical         0.0962  1.0000  1.0000  1.0000  1.0000  1.0000",
        "constant: every pair evidence; random: seed 0, threshold 0.5000",
        "lexical: TF-IDF cosine, threshold 0.0962 tuned on the evaluated pairs "
        "(an upper bound for this baseline)",
    ]
    # the model's figures minus each baseline's (the rows above)
    assert gains.splitlines()[:4] == [
        "model - baseline  nDCG@10     MAP       F1",
        "constant           0.2897  0.3889   0.1000",
        "random             0.1230  0.1667  -0.0455",
        "lexical            0.0000  0.0000  -0.5000",
    ]
    assert gains.splitlines()[4].startswith("paired: the model and the baseline on the same")
    assert symptoms.splitlines() == [
        "per symptom     rankings  pos  nDCG@10     MAP      F1  PR-AUC  lex nDCG  lex F1",
        "DEPRESSED_MOOD         1    1   1.0000  1.0000  1.0000  1.0000    1.0000  1.0000",
        "FATIGUE                2    2   1.0000  1.0000  0.0000  1.0000    1.0000  1.0000",
    ]
    # FATIGUE: nothing predicted, so precision and MCC are undefined (None), not 0
    fatigue = tree["model"]["per_criterion"]["FATIGUE"]["sentence"]
    assert fatigue["precision"] is None and fatigue["mcc"] is None and fatigue["recall"] == 0.0
    # model: true p1 {DM, FATIGUE}, p2 {FATIGUE}, p3 {NO}; predicted p1 {DM}, p2 {NO}, p3 {NO}:
    # TP 2, FP 1, FN 2 -> micro 4/7; macro (1 + 0 + 2/3) / 10; weighted (1 + 2*0 + 2/3) / 4
    assert posts.splitlines() == [
        "ten labels  micro-F1  macro-F1  weighted-F1   exact",
        "model         0.5714    0.1667       0.4167  0.3333",
        "constant      0.8889    0.2667       0.9167  0.6667",
        "random        0.8889    0.2667       0.9167  0.6667",
        "lexical       1.0000    0.3000       1.0000  1.0000",
    ]
    assert labels.splitlines()[0] == "per label          posts   model  constant  random  lexical"
    assert "NO_SYMPTOMS            1  0.6667    1.0000  1.0000   1.0000" in labels
    assert "ANHEDONIA              0       -         -       -        -" in labels
    assert labels.splitlines()[-2].startswith("post level: all 3 posts of the split")
