"""``predict_posts(cfg)``: find the evidence sentences of new posts and write a report.

python run_predict.py checkpoint=outputs/2026-01-01/12-00-00/model input=posts.csv
python run_predict.py checkpoint=models:/evidence_ft/1 input=notes/      # a folder of .txt
python run_predict.py checkpoint=runs:/<run_id>/model text="I can't sleep. Nothing helps."

Writes predictions.{jsonl,csv} (every sentence x criterion), profile.{jsonl,csv} (one post
each), report.html and summary.json into a fresh output folder, which appears only once
complete: a failed run leaves no half-written folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from evidence_ft import tracking
from evidence_ft.checkpoints import CHECKPOINT_HINT
from evidence_ft.errors import UserError
from evidence_ft.inference import (
    CRITERION_TO_SYMPTOM,
    chosen_criteria,
    empty_predictions,
    iter_predictions,
    load_predictor,
)
from evidence_ft.post_inputs import iter_posts_input
from evidence_ft.post_profiles import post_profiles, profile_table
from evidence_ft.post_report import render_html
from evidence_ft.report import format_predict_summary
from evidence_ft.run_folder import fresh_folder

log = logging.getLogger(__name__)

OUTPUT_FILES = (
    "predictions.jsonl",
    "predictions.csv",
    "profile.jsonl",
    "profile.csv",
    "report.html",
    "summary.json",
)


# ---------------------------------------------------------------------------- the output folder


def output_folder(cfg: DictConfig) -> Path:
    """The folder to fill: output_dir if new or empty, else a fresh timestamped one."""
    if cfg.output_dir:
        path = Path(cfg.output_dir).absolute()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError(
                f"output_dir={cfg.output_dir} already exists and is not empty; nothing is "
                "overwritten: name a new folder or leave output_dir empty"
            )
        return path
    return fresh_folder("outputs/predict")  # claimed empty: staged() fills it at the end


@contextmanager
def staged(final: Path, claimed: bool = False) -> Iterator[Path]:
    """A hidden sibling folder to write into, renamed to ``final`` only when the block ends.

    On an error nothing is left: the partial folder goes, and so does ``final`` when this
    command ``claimed`` it (made it empty to reserve the name).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if claimed:
            with contextlib.suppress(OSError):
                final.rmdir()
        raise
    if final.exists():  # an empty output_dir the user made beforehand
        final.rmdir()
    partial.rename(final)


class Writers:
    """Appends each chunk's predictions and profiles to the JSONL and CSV files."""

    def __init__(self, folder: Path, symptoms: list[str]) -> None:
        self.folder, self.symptoms, self.first = folder, symptoms, True

    def write(self, predictions: pd.DataFrame, profiles: list[dict[str, Any]]) -> None:
        mode, header = ("w", True) if self.first else ("a", False)
        self.first = False
        for name, frame in (
            ("predictions", predictions),
            ("profile", profile_table(profiles, self.symptoms)),
        ):
            frame.to_csv(self.folder / f"{name}.csv", mode=mode, header=header, index=False)
        with open(self.folder / "predictions.jsonl", mode, encoding="utf-8") as f:
            if len(predictions):
                predictions.to_json(f, orient="records", lines=True, force_ascii=False)
        with open(self.folder / "profile.jsonl", mode, encoding="utf-8") as f:
            f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in profiles)


# ---------------------------------------------------------------------------- the job


@dataclass
class Tally:
    """What the stream of chunks adds up to, and the posts kept for report.html."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("posts", "sentences", "pairs", "evidence_pairs", "posts_with_evidence"), 0
        )
    )
    symptom_posts: dict[str, int] = field(default_factory=dict)
    shown: list[tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]] = field(
        default_factory=list
    )

    def add(
        self,
        posts: pd.DataFrame,
        predictions: pd.DataFrame,
        profiles: list[dict[str, Any]],
        show: int | None,
    ) -> None:
        c = self.counts
        c["posts"] += len(posts)
        c["sentences"] += sum(p["sentences"] for p in profiles)
        c["pairs"] += len(predictions)
        c["evidence_pairs"] += int(predictions["decision"].sum())
        c["posts_with_evidence"] += sum(bool(p["symptoms"]) for p in profiles)
        for profile in profiles:
            for found in profile["symptoms"]:
                name = found["symptom"]
                self.symptom_posts[name] = self.symptom_posts.get(name, 0) + 1
        room = None if show is None else show - sum(len(p) for p, _, _ in self.shown)
        if room is None or room > 0:
            kept = posts if room is None else posts.head(room)
            ids = set(kept["post_id"])
            self.shown.append(
                (
                    kept,
                    predictions[predictions["post_id"].isin(ids)],
                    [p for p in profiles if p["post_id"] in ids],
                )
            )


def predict_posts(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, load, split, score, profile, write, report (and log); return (summary, objects)."""
    if not cfg.checkpoint:
        raise UserError(
            "checkpoint is required: python run_predict.py checkpoint=... input=...; "
            + CHECKPOINT_HINT
        )
    # -- the input is checked (format, header) before the model loads
    input_counts: dict[str, int] = {}
    stream = iter_posts_input(cfg.input, cfg.text, int(cfg.chunk_posts), input_counts)
    mlflow.set_tracking_uri(tracking.resolve_uri(cfg.tracking.uri))
    predictor = load_predictor(str(cfg.checkpoint), cfg.data)
    criteria = chosen_criteria(predictor, bool(cfg.special_case))
    symptoms = [CRITERION_TO_SYMPTOM[c] for c in criteria]
    out = output_folder(cfg)
    log.info(
        "predict: %s, threshold %.4f%s, %d criteria; writing to %s",
        predictor.source,
        predictor.threshold,
        " (and one per criterion)" if predictor.criterion_thresholds else "",
        len(criteria),
        out,
    )

    # -- score chunk by chunk, appending to the files
    tally = Tally()
    started = time.perf_counter()
    quiet = cfg.progress is False or (cfg.progress is None and not sys.stderr.isatty())
    with (
        staged(out, claimed=not cfg.output_dir) as folder,
        tqdm(unit="pair", desc="scoring", disable=quiet) as bar,
    ):
        writers = Writers(folder, symptoms)
        for posts in stream:
            chunks = iter_predictions(
                predictor, [posts], int(cfg.batch_size), bool(cfg.special_case), progress=bar
            )
            predictions = pd.concat([empty_predictions(), *chunks], ignore_index=True)
            profiles = post_profiles(predictions, posts)
            writers.write(predictions, profiles)
            tally.add(posts, predictions, profiles, cfg.report_posts)
        if not tally.counts["posts"]:
            raise UserError(
                f"input={cfg.input}: every post is empty ({input_counts.get('empty_skipped', 0)} "
                "skipped); nothing to score: fill the text column or point at another file"
            )
        seconds = time.perf_counter() - started
        summary = {
            "checkpoint": predictor.source,
            "training_run_id": predictor.run_id,
            "input": cfg.input if cfg.input else "text=",
            "decision_threshold": predictor.threshold,
            # threshold=per_symptom models: each criterion decided at its own threshold
            "criterion_thresholds": {
                c: t for c, t in predictor.criterion_thresholds.items() if c in criteria
            },
            "criteria": list(criteria),
            **tally.counts,
            "empty_posts_skipped": input_counts.get("empty_skipped", 0),
            "ignored_files": input_counts.get("ignored_files", 0),
            "posts_per_symptom": {s: tally.symptom_posts.get(s, 0) for s in symptoms},
            "seconds": round(seconds, 2),
            "pairs_per_second": round(tally.counts["pairs"] / seconds, 1) if seconds else None,
        }
        write_report(folder, summary, tally)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    print(format_predict_summary(summary, out, OUTPUT_FILES))
    run_id = _log_prediction_run(cfg, summary, out) if cfg.log else None
    if run_id:
        print(f"mlflow run:    {run_id}  (predictions of training run {predictor.run_id})")
    return summary, {"output_dir": out, "run_id": run_id}


def write_report(folder: Path, summary: dict[str, Any], tally: Tally) -> None:
    """report.html for the first ``report_posts`` posts."""
    posts = pd.concat(
        [pd.DataFrame({"post_id": [], "text": []}), *(p for p, _, _ in tally.shown)],
        ignore_index=True,
    )
    predictions = pd.concat(
        [empty_predictions(), *(p for _, p, _ in tally.shown)], ignore_index=True
    )
    profiles = [p for _, _, chunk in tally.shown for p in chunk]
    meta = {
        "checkpoint": summary["checkpoint"],
        "decision threshold": f"{summary['decision_threshold']:.4f}"
        + (
            "; per criterion: "
            + ", ".join(f"{c} {t:.4f}" for c, t in summary["criterion_thresholds"].items())
            if summary.get("criterion_thresholds")
            else ""
        ),
        "input": summary["input"],
        "posts": f"{len(posts)} shown of {summary['posts']}"
        + (
            f" ({summary['empty_posts_skipped']} empty skipped)"
            if summary["empty_posts_skipped"]
            else ""
        ),
        "written": f"{datetime.now():%Y-%m-%d %H:%M}",
    }
    html = render_html(
        posts,
        predictions,
        profiles,
        threshold=summary["decision_threshold"],
        title="Evidence for DSM-5 depression criteria",
        meta=meta,
    )
    (folder / "report.html").write_text(html, encoding="utf-8")


def _log_prediction_run(cfg: DictConfig, summary: dict[str, Any], out: Path) -> str:
    tracking.setup(cfg.tracking)
    tags = {"evidence_ft.job": "prediction", "checkpoint": summary["checkpoint"]}
    if summary["training_run_id"]:  # the MLflow UI nests the predictions under training
        tags |= {
            "training_run_id": summary["training_run_id"],
            "mlflow.parentRunId": summary["training_run_id"],
        }
    with tracking.active_run(cfg.tracking.run_name or "predict", tags) as run:
        mlflow.set_tags(tracking.git_state())
        mlflow.log_params(
            {
                "checkpoint": summary["checkpoint"],
                "input": summary["input"],
                "decision_threshold": summary["decision_threshold"],
                "batch_size": cfg.batch_size,
                "special_case": cfg.special_case,
            }
        )
        numbers = (
            "posts",
            "sentences",
            "pairs",
            "evidence_pairs",
            "posts_with_evidence",
            "empty_posts_skipped",
            "seconds",
            "pairs_per_second",
        )
        mlflow.log_metrics({k: float(summary[k]) for k in numbers if summary[k] is not None})
        mlflow.log_metrics(
            {f"posts_with/{s}": float(n) for s, n in summary["posts_per_symptom"].items()}
        )
        mlflow.log_artifacts(str(out))
        return str(run.info.run_id)
