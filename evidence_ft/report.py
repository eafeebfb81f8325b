"""What the jobs print at the end: the tables of train, cv, evaluation and prediction.

Every printed table is built here from ``aligned`` rows, with one number format (``_fmt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelerate import PartialState

from evidence_ft.data import SYMPTOMS

# The metrics the train table (and the model card) show, one row each, one column per split.
TRAIN_METRICS_SHOWN = ("accuracy", "precision", "recall", "f1", "macro_f1", "mcc", "loss")
# The fold metrics the cv table shows (mean, std and each fold's value), then the threshold.
CV_METRICS_SHOWN = (
    "eval_f1",
    "eval_macro_f1",
    "eval_mcc",
    "test_f1",
    "test_macro_f1",
    "test_mcc",
    "decision_threshold",
)


def aligned(rows: list[list[str]]) -> str:
    """Rows of cells as text columns: the first left-aligned (names), the rest right (numbers).

    >>> print(aligned([["name", "value"], ["f1", "0.5"]]))
    name  value
    f1      0.5
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    )


def _fmt(value: Any) -> str:
    """A metric in a table: four decimals, "-" where it is undefined (never a fake 0)."""
    return "-" if value is None else f"{value:.4f}"


# ---------------------------------------------------------------------------- train


def metrics_table(metrics: dict[str, Any], prefixes: tuple[str, ...] = ("eval", "test")) -> str:
    """An aligned table: one row per metric, one column per split prefix.

    >>> print(metrics_table({"eval_f1": 0.5, "test_f1": 0.25}))
    metric    eval    test
    f1      0.5000  0.2500
    """
    rows = [["metric", *prefixes]]
    for name in TRAIN_METRICS_SHOWN:
        if any(f"{p}_{name}" in metrics for p in prefixes):
            rows.append([name, *(_fmt(metrics.get(f"{p}_{name}")) for p in prefixes)])
    return aligned(rows)


def print_train_summary(metrics: dict[str, Any], objects: dict[str, Any]) -> None:
    """Metrics of the best checkpoint, the constant baseline, and where everything went."""
    if not PartialState().is_main_process:
        return
    out = objects["run_dir"]
    print()
    print(metrics_table(metrics))
    print(f"decision threshold (chosen on validation): {metrics['decision_threshold']:.4f}")
    print(
        f"constant 'evidence' predictor on test: f1 {metrics['test_constant_f1']:.4f}, "
        f"macro_f1 {metrics['test_constant_macro_f1']:.4f}"
    )
    print(f"run folder:  {out}  (model/, split_manifest.json, metrics.json, config.yaml)")
    if objects.get("run_id"):
        print(f"mlflow run:  {objects['run_id']}  (model: runs:/{objects['run_id']}/model)")
        if objects.get("registered"):
            name, version = objects["registered"]
            print(f"registered:  models:/{name}/{version}")
        print(f"browse runs: mlflow ui --backend-store-uri {objects['tracking_uri']}")


# ---------------------------------------------------------------------------- cv


def format_cv(result: dict[str, Any]) -> str:
    """Aligned table: mean, std and each fold's value of the main metrics."""
    folds = result["folds"]
    rows = [["metric", "mean", "std", *(f"fold {i}" for i in range(len(folds)))]]
    for key in CV_METRICS_SHOWN:
        if key in result["mean"]:
            values = [_fmt(m[key]) for m in folds]
            rows.append([key, _fmt(result["mean"][key]), _fmt(result["std"][key]), *values])
    return aligned(rows)


def print_cv_summary(result: dict[str, Any]) -> None:
    """What ``run_train.py cv.folds=k`` prints at the end (main process only)."""
    if not PartialState().is_main_process:
        return
    print()
    print(format_cv(result))
    print(f"run folder:  {result['run_dir']}  (cv_results.json, fold_<i>/split_manifest.json)")
    if result.get("run_id"):
        print(f"mlflow run:  {result['run_id']}  (one nested run per fold)")
        print(f"browse runs: mlflow ui --backend-store-uri {result['tracking_uri']}")


# ---------------------------------------------------------------------------- evaluation


def format_eval_report(report: dict[str, Any]) -> str:
    """``run_eval.py``'s terminal view of its report: pair-level, per-symptom and post-level."""
    t = report["decision_threshold"]
    at_t = f"@{t:.4f}"
    pair = report["pair_level"]
    rows = [["pair level", "@0.5", at_t]]
    for m in ("accuracy", "precision", "recall", "f1", "macro_f1", "mcc", "specificity"):
        rows.append([m, _fmt(pair["at_0.5"][m]), _fmt(pair["at_threshold"][m])])
    rows += [[m, _fmt(pair[m]), ""] for m in ("roc_auc", "pr_auc", "brier", "ece")]
    for name, i, j in (("TN", 0, 0), ("FP", 0, 1), ("FN", 1, 0), ("TP", 1, 1)):
        rows.append(
            [name, *(str(pair[k]["confusion_matrix"][i][j]) for k in ("at_0.5", "at_threshold"))]
        )
    # "-": undefined (no positive pair, nothing predicted positive), never a fake 0
    sym = [
        ["per symptom", "pairs", "pos", "f1@0.5", f"f1{at_t}", "prec", "recall", "spec", "mcc"]
        + ["roc_auc"]
    ]
    for name, r in report["per_symptom"].items():
        tuned = r["at_threshold"] or {}
        base = r["at_0.5"] or {}
        sym.append(
            [name, str(r["support"]), str(r["positives"]), _fmt(base.get("f1"))]
            + [_fmt(tuned.get(k)) for k in ("f1", "precision", "recall", "specificity", "mcc")]
            + [_fmt(r["roc_auc"])]
        )
    post = report["post_level"]
    posts = [["post level", "posts", "f1@0.5", f"f1{at_t}"]]
    for name in SYMPTOMS:
        a, b = post["at_0.5"]["per_symptom"][name], post["at_threshold"]["per_symptom"][name]
        posts.append([name, str(a["support"]), _fmt(a["f1"]), _fmt(b["f1"])])
    for m in ("micro_f1", "macro_f1"):
        posts.append([m, "", _fmt(post["at_0.5"][m]), _fmt(post["at_threshold"][m])])
    return "\n\n".join(aligned(r) for r in (rows, sym, posts))


# ---------------------------------------------------------------------------- prediction


def format_predict_summary(summary: dict[str, Any], out: Path, files: Sequence[str]) -> str:
    """``run_predict.py``'s terminal view: counts, posts with evidence per symptom, and where
    the ``files`` it wrote are."""
    rows = [["symptom", "posts with evidence"]]
    rows += [[s, str(n)] for s, n in summary["posts_per_symptom"].items()]
    head = (
        f"{summary['checkpoint']} on {summary['input']}: {summary['posts']} posts, "
        f"{summary['sentences']} sentences, {summary['pairs']} pairs scored in "
        f"{summary['seconds']:.1f} s; {summary['posts_with_evidence']} posts with evidence, "
        f"{summary['evidence_pairs']} evidence pairs at threshold "
        f"{summary['decision_threshold']:.4f}"
    )
    if summary["empty_posts_skipped"]:
        head += f"; {summary['empty_posts_skipped']} empty post(s) skipped"
    return (
        head
        + "\n\n"
        + aligned(rows)
        + f"\n\noutput folder: {out}  ("
        + ", ".join(files)
        + ")\nopen report.html in a browser to see the evidence"
    )
