"""The figures of a multi-seed summary: jobs grouped by their overrides except the seed, and
each metric's n, mean, sample sd (ddof=1), min and max over a group's runs.

Pure functions of runs already read; ``evidence_ft.jobs.summary`` reads them from MLflow,
prints the tables (``report.format_seed_summary``) and logs the parent runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from evidence_ft.report import SD_NOTE

# The metrics a summary shows, in this order (absent ones are skipped): the test split at 0.5
# and at the chosen threshold, the selection metric on validation, the threshold itself, the
# constant "evidence" predictor and the gain over it. Any logged metric name can join the list.
SUMMARY_METRICS = (
    "test_f1",
    "test_macro_f1",
    "test_mcc",
    "test_precision",
    "test_recall",
    "test_accuracy",
    "test_pr_auc",
    "test_roc_auc",
    "test_at_threshold_f1",
    "test_at_threshold_macro_f1",
    "test_at_threshold_mcc",
    "test_at_threshold_precision",
    "test_at_threshold_recall",
    "test_at_threshold_accuracy",
    "test_at_symptom_thresholds_f1",
    "test_at_symptom_thresholds_macro_f1",
    "test_at_symptom_thresholds_mcc",
    "test_ece",
    "test_ece_uncalibrated",
    "test_brier",
    "test_brier_uncalibrated",
    "best_eval_f1",
    "best_eval_at_threshold_f1",
    "decision_threshold",
    "temperature",
    "test_constant_f1",
    "test_constant_macro_f1",
    "test_f1_minus_constant",
    "test_at_threshold_f1_minus_constant",
)
# Statistics per metric, each logged to the parent run as ``<metric>_<stat>``.
STATS = ("mean", "sd", "min", "max")
# The config key that varies within a group.
SEED_KEY = "seed"


@dataclass
class SeedRun:
    """One job of a group: its MLflow run (None when the job left none), seed and metrics."""

    job: str
    seed: str
    run_id: str | None
    status: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        """Whether the run counts in the figures: it finished and logged metrics."""
        return self.status == "FINISHED" and bool(self.metrics)


@dataclass
class GroupSummary:
    """The seed runs of one group of a sweep and each metric's figures over them."""

    sweep_dir: str
    group: str
    runs: list[SeedRun]
    stats: dict[str, dict[str, Any]]
    parent_run_id: str | None = None

    @property
    def left_out(self) -> list[str]:
        """One line per job left out of every figure (not finished, or without metrics)."""
        return [
            f"job {r.job} (seed {r.seed}): {r.status}" + (f", run {r.run_id}" if r.run_id else "")
            for r in self.runs
            if not r.counted
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep_dir": self.sweep_dir,
            "group": self.group,
            "sd": SD_NOTE,
            "runs": [{**vars(r), "counted": r.counted} for r in self.runs],
            "stats": self.stats,
            "left_out": self.left_out,
            "parent_run_id": self.parent_run_id,
        }


# ---------------------------------------------------------------------------- grouping


def split_overrides(dirname: str) -> list[str]:
    """Hydra's ``override_dirname`` (``a=1,b=[2,3]``) back into its overrides: commas inside
    brackets or quotes belong to a value.

    >>> split_overrides("data=sample,data.split_ratios=[0.8,0.1,0.1],seed=0")
    ['data=sample', 'data.split_ratios=[0.8,0.1,0.1]', 'seed=0']
    """
    items, depth, quote, current = [], 0, "", ""
    for char in dirname:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += char
    return [*items, current] if current else items


def group_key(overrides: list[str]) -> str:
    """The group of a job: its overrides except the seed, sorted, as Hydra joins them.

    >>> group_key(["seed=1", "model=bert_base", "data=sample", "+seed=2"])
    'data=sample,model=bert_base'
    """
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != SEED_KEY]
    return ",".join(sorted(kept))


def override_value(overrides: list[str], key: str, default: str = "?") -> str:
    """The value ``overrides`` give ``key`` (``+key=``/``++key=`` too).

    >>> override_value(["data=sample", "++seed=3"], "seed")
    '3'
    """
    for override in overrides:
        name, _, value = override.partition("=")
        if name.lstrip("+~") == key:
            return value
    return default


# ---------------------------------------------------------------------------- figures


def describe(values: list[float]) -> dict[str, Any]:
    """n, mean, sample sd (ddof=1; None for one value), min and max of ``values``.

    >>> {k: round(v, 4) for k, v in describe([0.5, 0.7]).items()}
    {'n': 2, 'mean': 0.6, 'sd': 0.1414, 'min': 0.5, 'max': 0.7}
    """
    sd = statistics.stdev(values) if len(values) > 1 else None
    mean = statistics.fmean(values)
    return {"n": len(values), "mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def summarise(sweep_dir: str, group: str, runs: list[SeedRun]) -> GroupSummary:
    """Each ``SUMMARY_METRICS`` entry over the usable runs that logged it."""
    stats = {}
    for name in SUMMARY_METRICS:
        values = [r.metrics[name] for r in runs if r.counted and name in r.metrics]
        if values:
            stats[name] = describe(values)
    return GroupSummary(sweep_dir, group, runs, stats)


def sort_key(run: SeedRun) -> tuple[tuple[int, str], tuple[int, str]]:
    """Runs in a table: by seed, then job number, numbers as numbers ("?" last)."""

    def number(text: str) -> tuple[int, str]:
        return (int(text), "") if text.isdigit() else (1 << 30, text)

    return number(run.seed), number(run.job)
