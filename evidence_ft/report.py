"""What the jobs print at the end: the tables of train, cv, evaluation and prediction.

Every printed table is built here from ``aligned`` rows, with one number format (``_fmt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelerate import PartialState

from evidence_ft.data import SYMPTOMS

if TYPE_CHECKING:  # seed_summary imports SD_NOTE from here
    from evidence_ft.seed_summary import GroupSummary

# The metrics the train table (and the model card) show, one row each, one column per split.
TRAIN_METRICS_SHOWN = ("accuracy", "precision", "recall", "f1", "macro_f1", "mcc", "loss")
# How the seed summaries' sd is computed (printed under each table, logged with it).
SD_NOTE = "sd: sample standard deviation (ddof=1)"
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


def _threshold(value: Any) -> str:
    """A threshold in a table: the number, or "per symptom" for {symptom: t}."""
    return "per symptom" if isinstance(value, dict) else _fmt(value)


def with_interval(figures: dict[str, Any] | None, key: str) -> str:
    """``figures[key]`` with its bootstrap interval when ``figures`` holds one (``key_ci_low``,
    ``key_ci_high``), else as ``_fmt``.

    >>> with_interval({"f1": 0.9091, "f1_ci_low": 0.85, "f1_ci_high": 0.96}, "f1")
    '0.9091 [0.850, 0.960]'
    >>> with_interval({"f1": 0.5}, "f1"), with_interval(None, "f1")
    ('0.5000', '-')
    """
    if not figures:
        return "-"
    value, low, high = (figures.get(key + end) for end in ("", "_ci_low", "_ci_high"))
    if value is None or low is None or high is None:
        return _fmt(value)
    return f"{value:.4f} [{low:.3f}, {high:.3f}]"


def interval_note(intervals: dict[str, Any] | None) -> str:
    """The line under a table with intervals: how they were made ("" without intervals)."""
    if not intervals:
        return ""
    return (
        f"[low, high]: {intervals['level']:.0%} percentile bootstrap interval, "
        f"{intervals['resamples']} resamples of the {intervals['posts']} posts "
        f"(seed {intervals['seed']})"
    )


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
            rows.append([name, *(with_interval(metrics, f"{p}_{name}") for p in prefixes)])
    return aligned(rows)


def decisions_table(metrics: dict[str, Any]) -> str:
    """Test figures of each decision rule side by side: 0.5, the validation-chosen threshold,
    the per-symptom thresholds (when chosen) and the constant predictor.

    The last column is the rule's F1 minus the constant's, with its paired interval: the
    model beats the constant on these posts only where that interval lies above 0.

    >>> print(decisions_table({"test_f1": 0.8, "test_at_threshold_f1": 0.9, "test_mcc": 0.4,
    ...                        "decision_threshold": 0.7, "test_constant_f1": 0.85,
    ...                        "test_at_threshold_f1_minus_constant": 0.05}))
    test decisions        f1  macro_f1     mcc  f1 - constant
    threshold 0.5     0.8000         -  0.4000              -
    threshold 0.7000  0.9000         -       -         0.0500
    constant          0.8500         -       0
    """
    rules = [
        ("threshold 0.5", "test_"),
        (f"threshold {metrics['decision_threshold']:.4f}", "test_at_threshold_"),
    ]
    if "test_at_symptom_thresholds_f1" in metrics:
        rules.append(("per-symptom thresholds", "test_at_symptom_thresholds_"))
    shown = ("f1", "macro_f1", "mcc", "f1_minus_constant")
    rows = [["test decisions", "f1", "macro_f1", "mcc", "f1 - constant"]]
    rows += [[name, *(with_interval(metrics, prefix + k) for k in shown)]
             for name, prefix in rules]  # fmt: skip
    constant = [with_interval(metrics, f"test_constant_{k}") for k in ("f1", "macro_f1")]
    rows.append(["constant", *constant, "0", ""])
    return aligned(rows)


def calibration_line(metrics: dict[str, Any]) -> str:
    """The temperature and the test ECE / Brier score before and after it.

    >>> print(calibration_line({"temperature": 0.5, "eval_nll": 0.3, "eval_nll_uncalibrated": 0.4,
    ...       "test_ece": 0.05, "test_ece_uncalibrated": 0.2, "test_brier": 0.1,
    ...       "test_brier_uncalibrated": 0.15}).replace("; ", ";\\n"))
    calibration: temperature 0.5000 (validation NLL 0.4000 -> 0.3000);
    test ECE 0.2000 -> 0.0500, Brier 0.1500 -> 0.1000
    """
    t, after, before = (
        metrics.get(k) for k in ("temperature", "eval_nll", "eval_nll_uncalibrated")
    )
    if after is None:
        how = "calibration=none"
    elif after == before:
        how = "nothing to fit: validation has one class or separates the classes"
    else:
        how = f"validation NLL {before:.4f} -> {after:.4f}"
    figures = ", ".join(
        f"{label} {with_interval(metrics, f'test_{key}_uncalibrated')} -> "
        f"{with_interval(metrics, f'test_{key}')}"
        for label, key in (("ECE", "ece"), ("Brier", "brier"))
    )
    return f"calibration: temperature {t:.4f} ({how}); test {figures}"


def print_train_summary(metrics: dict[str, Any], objects: dict[str, Any]) -> None:
    """Metrics of the best checkpoint, the constant baseline, and where everything went."""
    if not PartialState().is_main_process:
        return
    out = objects["run_dir"]
    print()
    print(metrics_table(metrics))
    chosen = f"maximises validation {metrics.get('decision_threshold_metric', 'f1')}"
    print(f"decision threshold ({chosen}): {metrics['decision_threshold']:.4f}")
    if "test_at_threshold_f1" in metrics:
        print(decisions_table(metrics))
    if metrics.get("temperature") is not None and "test_ece" in metrics:
        print(calibration_line(metrics))
    print(
        f"constant 'evidence' predictor on test: f1 {with_interval(metrics, 'test_constant_f1')}, "
        f"macro_f1 {with_interval(metrics, 'test_constant_macro_f1')}"
    )
    if metrics.get("intervals"):
        print(interval_note(metrics["intervals"]) + " of the test split (ci.* in the config)")
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


# ---------------------------------------------------------------------------- seed summaries


def format_seed_summary(summary: GroupSummary) -> str:
    """A ``seed_summary.GroupSummary`` as a table: n, mean, sd, min, max and each seed's value
    of every metric, then the jobs left out and the parent run (tests/jobs/test_summary.py)."""
    runs = summary.runs
    group = summary.group or "(none)"
    head = f"sweep {summary.sweep_dir}, group {group}: {len(runs)} jobs; {SD_NOTE}"
    rows = [["metric", "n", "mean", "sd", "min", "max", *(f"seed {r.seed}" for r in runs)]]
    for name, s in summary.stats.items():
        each = [_fmt(r.metrics.get(name)) if r.counted else "-" for r in runs]
        rows.append([name, str(s["n"]), *(_fmt(s[k]) for k in ("mean", "sd", "min", "max")), *each])
    lines = [head, aligned(rows)]
    lines += [f"left out: {line}" for line in summary.left_out]
    if summary.parent_run_id:
        lines.append(f"mlflow run:  {summary.parent_run_id}  (parent of the seed runs)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- evaluation


def format_eval_report(report: dict[str, Any]) -> str:
    """``run_eval.py``'s terminal view of its report: pair-level, per-symptom and post-level
    (a column per decision rule: 0.5, the threshold, and the per-symptom thresholds when the
    model has them), and the calibration before and after the temperature."""
    t = report["decision_threshold"]
    at_t = f"@{t:.4f}"
    columns = {"@0.5": "at_0.5", at_t: "at_threshold"}
    if "at_symptom_thresholds" in report["pair_level"]:
        columns["@symptom"] = "at_symptom_thresholds"
    keys = list(columns.values())
    pair = report["pair_level"]
    # the constant "evidence" predictor's column, where the report has it (older ones do not)
    decided = keys + (["constant"] if "constant" in pair else [])
    rows = [["pair level", *columns, *(["constant"] if "constant" in pair else [])]]
    for m in ("accuracy", "precision", "recall", "f1", "macro_f1", "mcc", "specificity"):
        rows.append([m, *(with_interval(pair[k], m) for k in decided)])
    for m in ("f1", "macro_f1"):  # paired: the rule and the constant on the same resamples
        if f"{m}_minus_constant" in pair[keys[0]]:
            gain = (with_interval(pair[k], f"{m}_minus_constant") for k in keys)
            rows.append([f"{m} - constant", *gain, *[""] * (len(decided) - len(keys))])
    rows += [
        [m, with_interval(pair, m), *[""] * (len(decided) - 1)]
        for m in ("roc_auc", "pr_auc", "brier", "ece")
    ]
    for name, i, j in (("TN", 0, 0), ("FP", 0, 1), ("FN", 1, 0), ("TP", 1, 1)):
        rows.append([name, *(str(pair[k]["confusion_matrix"][i][j]) for k in decided)])
    # "-": undefined (no positive pair, nothing predicted positive), never a fake 0
    own = report.get("symptom_thresholds")
    sym = [
        ["per symptom", "pairs", "pos", "f1@0.5", f"f1{at_t}", "prec", "recall", "spec", "mcc"]
        + ["roc_auc"]
        + (["threshold", "f1@symptom"] if own else [])
    ]
    for name, r in report["per_symptom"].items():
        tuned = r["at_threshold"] or {}
        base = r["at_0.5"] or {}
        sym.append(
            [name, str(r["support"]), str(r["positives"]), with_interval(base, "f1")]
            + [with_interval(tuned, k) for k in ("f1", "precision", "recall", "specificity", "mcc")]
            + [with_interval(r, "roc_auc")]
            + (
                [_fmt(own.get(name)), with_interval(r.get("at_symptom_thresholds"), "f1")]
                if own
                else []
            )
        )
    post = report["annotated_post_level"]
    posts = [["annotated posts", "posts", *(f"f1{c}" for c in columns)]]
    for name in SYMPTOMS:
        cells = [post[k]["per_symptom"][name] for k in keys]
        posts.append([name, str(cells[0]["support"]), *(with_interval(c, "f1") for c in cells)])
    for m in ("micro_f1", "macro_f1"):
        posts.append([m, "", *(with_interval(post[k], m) for k in keys)])
    tables = [rows, sym, posts]
    calibration = report.get("calibration")
    if calibration:
        head = f"calibration (T = {calibration['temperature']:.4f})"
        tables.append(
            [[head, "before", "after"]]
            + [[m, with_interval(calibration, f"{m}_uncalibrated"), with_interval(calibration, m)]
               for m in ("brier", "ece")]  # fmt: skip
        )
    text = "\n\n".join(aligned(r) for r in tables)
    note = interval_note(report.get("intervals"))
    return text + ("\n" + note if note else "")


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
        + (" (or the criterion's own)" if summary.get("criterion_thresholds") else "")
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


# ---------------------------------------------------------------------------- all sentences

SCORERS = ("model", "constant", "random", "lexical")
# Column header -> key of the figures, for the all-sentence and ten-label tables.
RETRIEVAL_SHOWN = {
    "nDCG@10": "ndcg_at_10",
    "R@1": "recall_at_1",
    "R@3": "recall_at_3",
    "R@10": "recall_at_10",
    "MAP": "map",
}
SENTENCE_SHOWN = {"P": "precision", "R": "recall", "F1": "f1", "MCC": "mcc", "PR-AUC": "pr_auc"}
# The model-minus-baseline table (``sentence_metrics.COMPARED``).
GAINS_SHOWN = {"nDCG@10": "ndcg_at_10", "MAP": "map", "F1": "f1"}
GAINS_NOTE = (
    "paired: the model and the baseline on the same resampled posts\n"
    "(an interval above 0: the model is better on these posts)"
)
POST_SHOWN = {
    "micro-F1": "micro_f1",
    "macro-F1": "macro_f1",
    "weighted-F1": "weighted_f1",
    "exact": "exact_match",
}


def _scorers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The model's figures and each baseline's, by scorer name."""
    return {"model": report["model"], **report["baselines"]}


def format_all_sentence_report(report: dict[str, Any]) -> str:
    """``run_eval.py``'s view of ``sentence_metrics.all_sentence_report``: the model beside the
    baselines (retrieval and sentence level), per symptom, and the ten-label post protocol."""
    scorers = _scorers(report)
    head = (
        f"all sentences: {report['pairs']} pairs, {report['positives']} evidence; "
        f"{report['posts_with_rows']} of the split's {report['posts']} posts have sentences\n"
        f"retrieval: mean over the {report['groups']} (post, criterion) rankings with evidence; "
        "tied scores count as a random order"
    )
    # two tables, retrieval and sentence level: with intervals one would not fit a terminal
    ranking = [["retrieval", *RETRIEVAL_SHOWN]]
    deciding = [["sentence level", "thresh", *SENTENCE_SHOWN]]
    for name in SCORERS:
        s = scorers[name]
        ranking.append(
            [name, *(with_interval(s["retrieval"], k) for k in RETRIEVAL_SHOWN.values())]
        )
        deciding.append(
            [
                name,
                _threshold(s["threshold"]),
                *(with_interval(s["sentence"], k) for k in SENTENCE_SHOWN.values()),
            ]
        )
    lexical = scorers["lexical"]
    notes = (
        f"constant: every pair evidence; random: seed {scorers['random']['seed']}, "
        f"threshold {_fmt(scorers['random']['threshold'])}\n"
        f"lexical: TF-IDF cosine, threshold {_fmt(lexical['threshold'])} "
        f"tuned on the {lexical['threshold_tuned_on']}"
    )
    note = interval_note(report.get("intervals"))
    blocks = [head + "\n" + aligned(ranking) + "\n\n" + aligned(deciding) + "\n" + notes]
    if report.get("model_minus"):  # reports written before it have none
        gains = [["model - baseline", *GAINS_SHOWN]]
        for name, figures in report["model_minus"].items():
            gains.append([name, *(with_interval(figures, k) for k in GAINS_SHOWN.values())])
        blocks.append(aligned(gains) + "\n" + GAINS_NOTE)
    return "\n\n".join(
        [
            *blocks,
            aligned(_per_symptom_rows(report)),
            _format_post_protocol(report) + ("\n" + note if note else ""),
        ]
    )


def _per_symptom_rows(report: dict[str, Any]) -> list[list[str]]:
    """Per symptom: the model's nDCG@10, MAP, F1 and PR-AUC, with the lexical baseline's
    nDCG@10 and F1 beside (every figure is in report.json)."""
    rows = [["per symptom", "rankings", "pos", "nDCG@10", "MAP", "F1", "PR-AUC"]]
    rows[0] += ["lex nDCG", "lex F1"]
    lexical = report["baselines"]["lexical"]["per_criterion"]
    for name, r in report["model"]["per_criterion"].items():
        retrieval, sentence = r["retrieval"], r["sentence"]
        rows.append(
            [name, str(retrieval["groups"]), str(sentence["positives"])]
            + [with_interval(retrieval, "ndcg_at_10"), with_interval(retrieval, "map")]
            + [with_interval(sentence, k) for k in ("f1", "pr_auc")]
            + [
                with_interval(lexical[name]["retrieval"], "ndcg_at_10"),
                with_interval(lexical[name]["sentence"], "f1"),
            ]
        )
    return rows


def _format_post_protocol(report: dict[str, Any]) -> str:
    """The ten-label post table (scorers x micro/macro/weighted F1, exact match), per-label F1."""
    protocol = report["post_protocol"]
    rows = [["ten labels", *POST_SHOWN]]
    rows += [
        [name, *(with_interval(protocol[name], k) for k in POST_SHOWN.values())] for name in SCORERS
    ]
    labels = [["per label", "posts", *SCORERS]]
    for label in report["post_labels"]:
        support = protocol["model"]["per_label"][label]["support"]
        f1s = [with_interval(protocol[name]["per_label"][label], "f1") for name in SCORERS]
        labels.append([label, str(support), *f1s])
    note = (
        f"post level: all {report['posts']} posts of the split; ten labels = nine symptoms + "
        "NO_SYMPTOMS (SPECIAL_CASE is not one)\n"
        "F1: scikit-learn, zero_division=0 (a label without true or predicted posts counts 0 in "
        "macro-F1; '-' above)"
    )
    return aligned(rows) + "\n\n" + aligned(labels) + "\n" + note
