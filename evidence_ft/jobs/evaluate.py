"""``evaluate(cfg)``: score a trained checkpoint on the posts it was tested against.

python run_eval.py checkpoint=outputs/2026-01-01/12-00-00/model   # local run folder's model
python run_eval.py checkpoint=runs:/<run_id>/model                # MLflow run's logged model
python run_eval.py checkpoint=models:/evidence_ft/3 split=validation
python run_eval.py checkpoint=models:/evidence_ft@champion data=sample split=all log=false

By default the data files and the split are the training run's own (its ``config.yaml`` and
``split_manifest.json``); ``data.*`` overrides and ``split=`` pick other files or posts.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, OmegaConf
from transformers import (
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

from evidence_ft import bootstrap, data, plots, tracking
from evidence_ft.bootstrap import Resampler
from evidence_ft.checkpoints import (
    CHECKPOINT_HINT,
    Checkpoint,
    load_checkpoint,
    read_run_file,
    resolve_checkpoint,
    training_run_id,
)
from evidence_ft.config import EVAL_SPLITS
from evidence_ft.errors import UserError
from evidence_ft.inference import predictor_from
from evidence_ft.jobs.all_sentences import all_sentence_section, split_posts_of
from evidence_ft.metrics import (
    Threshold,
    calibration_metrics,
    pair_metrics,
    per_symptom_metrics,
    post_level_metrics,
)
from evidence_ft.report import format_all_sentence_report, format_eval_report
from evidence_ft.run_folder import fresh_folder
from evidence_ft.serving import TEMPERATURE_KEY, criterion_thresholds, evidence_gap, sigmoid

log = logging.getLogger(__name__)

# The report's sections whose numbers are logged as MLflow metrics (<split>/<section>/...).
METRIC_SECTIONS = (
    "pair_level",
    "per_symptom",
    "annotated_post_level",
    "calibration",
    "all_sentences",
)


# ---------------------------------------------------------------------------- data


# A data= group choice on the command line makes these keys of the chosen group win.
DATA_FILE_KEYS = ("name", "posts_path", "annotations_path", "criteria_path")


def typed_data_keys(overrides: list[str]) -> set[str]:
    """The ``data`` keys named on the command line: ``data=<group>`` names its file keys.

    >>> sorted(typed_data_keys(["data=redsm5", "+data.max_length=64", "split=all"]))
    ['annotations_path', 'criteria_path', 'max_length', 'name', 'posts_path']
    """
    keys: set[str] = set()
    for arg in overrides:
        key = arg.split("=", 1)[0].lstrip("+~")
        if key == "data":
            keys.update(DATA_FILE_KEYS)
        elif key.startswith("data."):
            keys.add(key[len("data.") :].split(".")[0])
    return keys


def data_config(cfg: DictConfig, ckpt: Checkpoint, overrides: list[str]) -> DictConfig:
    """The training run's ``data`` config with the ``data`` keys typed on the command line on top.

    Only what the user typed replaces the run's value, even when it equals the eval.yaml default
    (``data=redsm5`` on a model trained on the sample reads the redsm5 files).
    """
    run_cfg = ckpt.run_files.get("config")
    if run_cfg is None or "data" not in run_cfg:
        return cfg.data
    typed = {k: cfg.data[k] for k in typed_data_keys(overrides) if k in cfg.data}
    # eval.yaml's keys first, so a key newer than the run's config.yaml still has a value
    merged = OmegaConf.merge(OmegaConf.to_container(cfg.data), run_cfg.data, typed)
    assert isinstance(merged, DictConfig)
    return merged


def select_split(
    pairs: pd.DataFrame,
    split: str,
    manifest: dict[str, Any] | None,
    source: str,
    known_posts: Any = None,
) -> pd.DataFrame:
    """The pairs of the posts in ``split`` of the manifest (every pair for ``split=all``).

    ``known_posts``: every post id of the posts file (a manifest also lists posts without
    annotation rows); default: the posts that have pairs.
    """
    if split == "all":
        return pairs.reset_index(drop=True)
    if manifest is None:
        raise UserError(
            f"no split manifest for checkpoint={source}; "
            "set data.split_manifest=<file> or split=all"
        )
    posts = set(manifest["splits"][split])
    chosen = pairs[pairs["post_id"].isin(posts)].reset_index(drop=True)
    known = set(pairs["post_id"] if known_posts is None else known_posts)
    missing = len(posts - known)
    if missing:
        log.warning("eval: %d %s post(s) of the manifest are not in the data files", missing, split)
    if chosen.empty:
        raise UserError(
            f"split={split}: none of its {len(posts)} posts is in the data files; evaluate another "
            "file with split=all, or point data.* at the files the model was trained on"
        )
    return chosen


def score_split(
    model: Any, tokenizer: Any, pairs: pd.DataFrame, max_length: int, batch_size: int
) -> Any:
    """P(evidence) per pair (calibrated, for a model saved with a temperature)."""
    return sigmoid(split_gaps(model, tokenizer, pairs, max_length, batch_size))


def split_gaps(
    model: Any, tokenizer: Any, pairs: pd.DataFrame, max_length: int, batch_size: int
) -> Any:
    """The evidence logit gap per pair: the training tokenization and collator,
    ``Trainer.predict``; ``evidence_gap`` undoes the threshold a saved model holds in its head.
    """
    dsd = DatasetDict({"eval": Dataset.from_pandas(pairs, preserve_index=False)})
    encoded = data.tokenize(dsd, tokenizer, max_length)["eval"]
    with tempfile.TemporaryDirectory(prefix="evidence_ft_predict_") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_eval_batch_size=batch_size,
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = Trainer(
            model=model,
            args=args,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        out = trainer.predict(encoded)
    if not np.array_equal(np.asarray(out.label_ids), pairs["label"].to_numpy()):
        raise RuntimeError("Trainer.predict returned the pairs out of order")
    return evidence_gap(out.predictions, model.config)


# ---------------------------------------------------------------------------- the report


def build_report(
    frame: pd.DataFrame,
    threshold: float,
    ci: DictConfig | None = None,
    symptom_thresholds: Mapping[str, float] | None = None,
    temperature: float = 1.0,
) -> dict[str, Any]:
    """Pair-level, per-symptom and post-level metrics at 0.5 and at the decision threshold
    (and at the per-symptom thresholds, when given), with bootstrap intervals over the
    frame's posts unless ``ci.resamples`` is 0 (or no ci).

    A frame with an ``uncalibrated_probability`` column (P(evidence) before the model's
    ``temperature``) adds a ``calibration`` section: Brier score and ECE before and after.
    """
    thresholds: dict[str, Threshold] = {"at_0.5": 0.5, "at_threshold": threshold}
    if symptom_thresholds:
        thresholds["at_symptom_thresholds"] = dict(symptom_thresholds)
    rs = interval_resampler(frame["post_id"], ci)
    report = {
        "decision_threshold": threshold,
        "posts": int(frame["post_id"].nunique()),
        "pairs": len(frame),
        "positives": int(frame["label"].sum()),
        "pair_level": pair_metrics(frame, thresholds, rs),
        "per_symptom": per_symptom_metrics(frame, thresholds, data.SYMPTOMS, rs),
        # a (post, symptom) is present when any of its annotated pairs is: posts without rows
        # and unannotated sentences are not seen (the all-sentence section sees them)
        "annotated_post_level": {
            name: post_level_metrics(frame, t, data.SYMPTOMS, rs) for name, t in thresholds.items()
        },
    }
    if symptom_thresholds:
        report["symptom_thresholds"] = dict(symptom_thresholds)
    if "uncalibrated_probability" in frame:
        report["calibration"] = calibration_section(frame, temperature, rs)
    if rs is not None:
        report["intervals"] = bootstrap.method(rs)
    return report


def calibration_section(
    frame: pd.DataFrame, temperature: float, rs: Resampler | None
) -> dict[str, Any]:
    """Brier score and ECE of the frame's pairs before (``_uncalibrated``) and after the
    temperature, with their intervals when ``rs`` is given."""
    labels = frame["label"].to_numpy()
    columns = {"": "probability", "_uncalibrated": "uncalibrated_probability"}
    out: dict[str, Any] = {"temperature": temperature}
    for suffix, column in columns.items():
        named = calibration_metrics(labels, frame[column], suffix)
        if rs is not None:
            codes = rs.codes(frame["post_id"].astype(str).to_numpy())
            samples = bootstrap.calibration_samples(rs, labels, frame[column], codes)
            bootstrap.add_intervals(named, {f"{k}{suffix}": v for k, v in samples.items()}, rs)
        out |= named
    return out


def interval_resampler(post_ids: Any, ci: DictConfig | None) -> Resampler | None:
    """The posts' bootstrap resampler as ``ci`` (resamples, level, seed) says; None when off."""
    if ci is None or not int(ci.resamples):
        return None
    return bootstrap.resampler(post_ids, int(ci.resamples), float(ci.level), int(ci.seed))


def flat_metrics(tree: dict[str, Any], prefix: str) -> dict[str, float]:
    """Numeric leaves as ``prefix/a/b`` MLflow metric names (lists and None left out).

    >>> flat_metrics({"f1": 0.5, "x": None, "by": {"A": {"support": 3}}, "r@1": 1}, "test")
    {'test/f1': 0.5, 'test/by/A/support': 3.0, 'test/r_at_1': 1.0}
    """
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}".replace("@", "_at_")  # MLflow refuses "@" in a metric name
        if isinstance(value, dict):
            out |= flat_metrics(value, name)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def report_folder(cfg: DictConfig) -> Path:
    """``output_dir``, or a fresh ``outputs/eval/<date>/<time>`` no other command shares."""
    if not cfg.output_dir:
        return fresh_folder("outputs/eval")
    path = Path(cfg.output_dir).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------- the job


def evaluate(
    cfg: DictConfig, overrides: list[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve, load, predict, score, write and log; return (report, objects).

    ``overrides`` is the command line: the ``data`` keys it names replace the training run's.
    ``pairs`` picks the sections: the annotated pairs, every sentence x criterion, or both.
    """
    if not cfg.checkpoint:
        raise UserError(
            f"checkpoint is required: python run_eval.py checkpoint=...; {CHECKPOINT_HINT}"
        )
    if cfg.split not in EVAL_SPLITS:
        raise UserError(f"split={cfg.split} must be one of {'|'.join(EVAL_SPLITS)}")
    mlflow.set_tracking_uri(tracking.resolve_uri(cfg.tracking.uri))

    # -- the checkpoint, its training run, the posts to score
    with resolve_checkpoint(str(cfg.checkpoint)) as ckpt:
        model, tokenizer = load_checkpoint(ckpt)
    source = ckpt.source
    run_id = training_run_id(ckpt, model)
    threshold = float(getattr(model.config, "decision_threshold", 0.5))
    temperature = float(getattr(model.config, TEMPERATURE_KEY, None) or 1.0)
    own_thresholds = {
        data.CRITERION_TO_SYMPTOM.get(c, c): t
        for c, t in criterion_thresholds(model.config).items()
    }
    data_cfg = data_config(cfg, ckpt, list(overrides or []))
    corpus = data.load_corpus(data_cfg)
    manifest = ckpt.run_files.get("manifest")
    if cfg.data.split_manifest:  # this command's own choice, not the training run's
        manifest = read_run_file(Path(cfg.data.split_manifest))
        if manifest is None:
            raise UserError(f"data.split_manifest: {cfg.data.split_manifest} not found")
    if manifest and manifest.get("fingerprint") not in (None, {}, corpus.counts.get("fingerprint")):
        log.warning("eval: the data files differ from the ones the run's split was made from")
    chosen = select_split(corpus.pairs, cfg.split, manifest, source, corpus.posts["post_id"])
    report: dict[str, Any] = {
        "checkpoint": source,
        "training_run_id": run_id,
        "split": cfg.split,
        "data": {k: str(data_cfg[k]) for k in DATA_FILE_KEYS},
        "decision_threshold": threshold,
        "temperature": temperature,
    }
    frames: dict[str, pd.DataFrame] = {}

    # -- the annotated pairs: predict and score
    if cfg.pairs in ("annotated", "both"):
        log.info(
            "eval: %s split: %d posts, %d annotated pairs",
            cfg.split,
            chosen["post_id"].nunique(),
            len(chosen),
        )
        gaps = split_gaps(model, tokenizer, chosen, int(data_cfg.max_length), int(cfg.batch_size))
        frame = chosen[["post_id", "sentence_id", "symptom", "label"]].assign(
            probability=sigmoid(gaps)
        )
        if temperature != 1.0:
            frame["uncalibrated_probability"] = sigmoid(gaps * temperature)
        report |= build_report(frame, threshold, cfg.ci, own_thresholds, temperature)
        frames["predictions.csv"] = frame
        _check_validation_f1(cfg, ckpt, report)

    # -- every sentence of the split's posts x every criterion
    if cfg.pairs in ("all_sentences", "both"):
        posts = split_posts_of(corpus.posts, cfg.split, manifest)
        log.info("eval: %s split, all sentences of %d posts", cfg.split, len(posts))
        section, sentences = all_sentence_section(
            predictor_from(ckpt, model, tokenizer, data_cfg),
            posts,
            corpus.pairs[corpus.pairs["post_id"].isin(set(posts["post_id"]))],
            int(cfg.batch_size),
            int(cfg.seed),
            interval_resampler(posts["post_id"], cfg.ci),
        )
        report["all_sentences"] = section
        frames["all_sentence_predictions.csv"] = sentences

    # -- write, print, log
    out = report_folder(cfg)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, frame in frames.items():
        frame.to_csv(out / name, index=False)
    if "pair_level" in report:
        plots.write_plots(frames["predictions.csv"], report, out / "plots")
    table = _eval_table(report)
    (out / "table.txt").write_text(table + "\n", encoding="utf-8")
    print(table)
    files = [*frames, "table.txt", *(["plots/"] if "pair_level" in report else [])]
    print(f"\nreport folder: {out}  (report.json, {', '.join(files)})")
    eval_run_id = None
    if cfg.log:
        eval_run_id = _log_eval_run(cfg, report, out, run_id)
        print(f"mlflow run:    {eval_run_id}  (evaluation of training run {run_id})")
    return report, {"output_dir": out, "run_id": eval_run_id, **frames_by_key(frames)}


def frames_by_key(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The scored frames under the keys callers use: ``frame`` (annotated), ``sentences``."""
    keys = {"predictions.csv": "frame", "all_sentence_predictions.csv": "sentences"}
    return {keys[name]: frame for name, frame in frames.items()}


def _check_validation_f1(cfg: DictConfig, ckpt: Checkpoint, report: dict[str, Any]) -> None:
    """Warn when re-scoring validation does not give the F1 the training run recorded."""
    recorded = (ckpt.run_files.get("metrics") or {}).get("eval_f1")
    now = report["pair_level"]["at_0.5"]["f1"]
    if cfg.split == "validation" and recorded is not None and abs(now - recorded) > 1e-4:
        log.warning("eval: validation F1 %.4f differs from the run's eval_f1 %.4f", now, recorded)


def _eval_table(report: dict[str, Any]) -> str:
    """What run_eval.py prints and writes to table.txt: a header, then each section's tables."""
    header = (
        f"{report['checkpoint']} on the {report['split']} split; decision threshold "
        f"{report['decision_threshold']:.4f} (chosen on validation at training time)\n"
        + "data {name}: posts {posts_path}, annotations {annotations_path}, "
        "criteria {criteria_path}".format(**report["data"])
    )
    parts = [header]
    if "pair_level" in report:
        parts.append(
            f"annotated pairs: {report['posts']} posts, {report['pairs']} pairs "
            f"({report['positives']} positive)\n\n" + format_eval_report(report)
        )
    if "all_sentences" in report:
        parts.append(format_all_sentence_report(report["all_sentences"]))
    return "\n\n".join(parts)


def _log_eval_run(cfg: DictConfig, report: dict[str, Any], out: Path, run_id: str | None) -> str:
    tracking.setup(cfg.tracking)
    tags = {"evidence_ft.job": "evaluation", "checkpoint": report["checkpoint"]}
    if run_id:  # the MLflow UI nests the evaluation under its training run
        tags |= {"training_run_id": run_id, "mlflow.parentRunId": run_id}
    with tracking.active_run(cfg.tracking.run_name or f"eval-{cfg.split}", tags) as run:
        mlflow.set_tags(tracking.git_state())
        mlflow.log_params(
            {
                "checkpoint": report["checkpoint"],
                "split": cfg.split,
                "decision_threshold": report["decision_threshold"],
                "batch_size": cfg.batch_size,
                **{f"data.{k}": v for k, v in report["data"].items()},
            }
        )
        section = {k: report[k] for k in METRIC_SECTIONS if k in report}
        mlflow.log_metrics(flat_metrics(section, cfg.split))
        mlflow.log_artifacts(str(out))
        return str(run.info.run_id)
