"""What the scripts print at the end: results, where they are, how to look at them."""

from __future__ import annotations

from typing import Any

from accelerate import PartialState

SHOWN = ("accuracy", "precision", "recall", "f1", "macro_f1", "mcc", "loss")


def metrics_table(metrics: dict[str, Any], prefixes: tuple[str, ...] = ("eval", "test")) -> str:
    """An aligned table: one row per metric, one column per split prefix.

    >>> print(metrics_table({"eval_f1": 0.5, "test_f1": 0.25}))
    metric    eval    test
    f1      0.5000  0.2500
    """
    rows = [["metric", *prefixes]]
    for name in SHOWN:
        if any(f"{p}_{name}" in metrics for p in prefixes):
            rows.append([name, *(_fmt(metrics.get(f"{p}_{name}")) for p in prefixes)])
    return aligned(rows)


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
    return "-" if value is None else f"{value:.4f}"


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
