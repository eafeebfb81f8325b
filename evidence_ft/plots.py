"""PNG plots of an evaluation: confusion matrices, PR and ROC curves, reliability, per-symptom F1.

python run_eval.py checkpoint=...   # writes <output folder>/plots/*.png through this module

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), so
no display is needed and no global pyplot backend is switched for whoever imports this. The
curves are scikit-learn's own ``*Display`` classes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

log = logging.getLogger(__name__)

CLASS_NAMES = ["no evidence", "evidence"]


def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def confusion_matrices(report: dict[str, Any], path: Path) -> Path:
    """Pair-level confusion matrices at 0.5 and at the decision threshold, side by side."""
    fig = _figure(10, 4.2)
    axes = fig.subplots(1, 2)
    t = report["decision_threshold"]
    for ax, key, title in zip(
        axes, ("at_0.5", "at_threshold"), ("threshold 0.5", f"threshold {t:.4f}")
    ):
        matrix = np.array(report["pair_level"][key]["confusion_matrix"])
        ConfusionMatrixDisplay(matrix, display_labels=CLASS_NAMES).plot(ax=ax, colorbar=False)
        ax.set_title(title)
    fig.savefig(path, dpi=120)
    return path


def curves(labels: np.ndarray, probs: np.ndarray, out: Path) -> list[Path]:
    """Precision-recall and ROC curves of P(evidence), with the chance level."""
    written = []
    for name, display in (("pr_curve", PrecisionRecallDisplay), ("roc_curve", RocCurveDisplay)):
        fig = _figure()
        display.from_predictions(
            labels, probs, ax=fig.subplots(), name="model", plot_chance_level=True
        )
        fig.savefig(out / f"{name}.png", dpi=120)
        written.append(out / f"{name}.png")
    return written


def reliability(
    labels: np.ndarray,
    probs: np.ndarray,
    path: Path,
    n_bins: int = 10,
    before: np.ndarray | None = None,
    temperature: float | None = None,
) -> Path:
    """Reliability diagram: positive rate against mean P(evidence) in equal-width bins; with
    ``before`` (the probabilities before temperature scaling) both curves."""
    fig = _figure()
    ax = fig.subplots()
    if before is not None:
        CalibrationDisplay.from_predictions(
            labels, before, n_bins=n_bins, ax=ax, name="before temperature scaling"
        )
    name = "model" if before is None else f"calibrated (T = {temperature or 1.0:.3f})"
    CalibrationDisplay.from_predictions(labels, probs, n_bins=n_bins, ax=ax, name=name)
    ax.set_title("reliability (calibration_curve, 10 equal-width bins)")
    fig.savefig(path, dpi=120)
    return path


def symptom_f1_bars(report: dict[str, Any], path: Path) -> Path:
    """Pair-level F1 per symptom at 0.5 and at the decision threshold; support in the labels;
    the bootstrap intervals (when the report has them) as error bars.

    An undefined F1 (no positive pair, or no pairs) gets no bar and an "n/a" mark, never a 0.
    """
    fig = symptom_f1_figure(report)
    fig.savefig(path, dpi=120)
    return path


def symptom_f1_figure(report: dict[str, Any]) -> Figure:
    """The figure of ``symptom_f1_bars`` (separate so tests can read its bars and marks)."""
    rows = report["per_symptom"]
    names = list(rows)
    y = np.arange(len(names))
    fig = _figure(8, 5.5)
    ax = fig.subplots()
    t = report["decision_threshold"]
    for offset, key, label in ((-0.2, "at_0.5", "0.5"), (0.2, "at_threshold", f"{t:.4f}")):
        figures = [rows[n][key] or {} for n in names]
        drawn = [i for i, f in enumerate(figures) if f.get("f1") is not None]
        widths = np.array([float(figures[i]["f1"]) for i in drawn])
        bars = ax.barh(y[drawn] + offset, widths, height=0.4, label=f"threshold {label}")
        spans = [(figures[i].get("f1_ci_low"), figures[i].get("f1_ci_high")) for i in drawn]
        if drawn and all(low is not None and high is not None for low, high in spans):
            low, high = np.array(spans, dtype=np.float64).T  # bootstrap interval as error bars
            error = np.clip([widths - low, high - widths], 0, None)
            ax.errorbar(widths, y[drawn] + offset, xerr=error, fmt="none", ecolor="0.2",
                        capsize=2, color=bars.patches[0].get_facecolor())  # fmt: skip
        for i in sorted(set(range(len(names))) - set(drawn)):
            ax.text(0.01, y[i] + offset, "n/a", va="center", fontsize=7, color="0.4")
    ax.set_yticks(y, [f"{n} (n={rows[n]['support']}, pos={rows[n]['positives']})" for n in names])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    note = "\nerror bars: bootstrap interval over posts" if report.get("intervals") else ""
    ax.set_xlabel(f"F1 of the evidence class (pairs); n/a: undefined, no positive pair{note}")
    fig.legend(loc="outside upper center", ncols=2)
    return fig


def learning_curves(log_history: list[dict[str, Any]], path: Path) -> Path:
    """Training loss per logging step, validation loss and F1 per evaluation (Trainer's log)."""
    fig = _figure(10, 4.2)
    left, right = fig.subplots(1, 2)
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [e for e in log_history if "eval_loss" in e]
    if train:
        left.plot(*zip(*train), label="training loss")
    if evals:
        left.plot([e["step"] for e in evals], [e["eval_loss"] for e in evals], "o-",
                  label="validation loss")  # fmt: skip
        right.plot([e["step"] for e in evals], [e.get("eval_f1") for e in evals], "o-")
    left.set_xlabel("step")
    left.set_title("loss")
    left.legend()
    right.set_xlabel("step")
    right.set_ylim(0, 1)
    right.set_title("validation F1 of the evidence class (threshold 0.5)")
    fig.savefig(path, dpi=120)
    return path


def write_plots(frame: pd.DataFrame, report: dict[str, Any], out: Path) -> list[Path]:
    """All plots into ``out``; the curves are skipped when the split holds only one class."""
    out.mkdir(parents=True, exist_ok=True)
    labels, probs = frame["label"].to_numpy(), frame["probability"].to_numpy()
    written = [confusion_matrices(report, out / "confusion_matrix.png")]
    if len(np.unique(labels)) == 2:
        written += curves(labels, probs, out)
        before = frame.get("uncalibrated_probability")
        written.append(
            reliability(
                labels,
                probs,
                out / "reliability.png",
                before=None if before is None else before.to_numpy(),
                temperature=(report.get("calibration") or {}).get("temperature"),
            )
        )
    else:
        log.warning("plots: only one class in the split; no PR/ROC curves or reliability diagram")
    written.append(symptom_f1_bars(report, out / "per_symptom_f1.png"))
    return written
