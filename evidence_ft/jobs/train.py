"""``train(cfg)``: the whole training job, read top to bottom like run_glue.py's ``main``.

python run_train.py data=sample                  # bundled synthetic sample, offline model
python run_train.py training.num_train_epochs=1  # any key of configs/ can be overridden
python run_train.py resume=outputs/<date>/<time> # continue a stopped run from its checkpoint
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from accelerate import PartialState
from datasets import DatasetDict
from omegaconf import DictConfig, OmegaConf
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed

from evidence_ft import data, tracking
from evidence_ft.config import to_yaml
from evidence_ft.errors import UserError
from evidence_ft.jobs.best_model import (
    decision_options,
    evaluate_best,
    log_evaluation_plots,
    save_best,
)
from evidence_ft.metrics import (
    compute_metrics,
)
from evidence_ft.modeling import load_model, load_tokenizer
from evidence_ft.run_folder import (
    RUN_FILE,
    last_checkpoint,
    log_hydra_record,
    read_claim,
    run_dir,
    write_run_file,
)
from evidence_ft.trainer import (
    FocalLossTrainer,
    build_training_args,
    class_alpha,
    show_progress,
)

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """What the data phase hands to training: tokenized splits and how they were made."""

    datasets: DatasetDict
    manifest: dict[str, Any]
    counts: dict[str, Any]
    alpha: list[float]


def distributed_state(cfg: DictConfig) -> PartialState:
    """The process group as TrainingArguments will set it up, known before the data phase.

    A bare ``PartialState()`` sees no process group on CPUs even under ``torchrun``; with
    ``training.use_cpu=true`` both it and TrainingArguments start gloo data parallelism.
    """
    state = PartialState(cpu=bool(cfg.training.get("use_cpu")))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and state.num_processes == 1:
        raise UserError(
            f"{launched} processes were launched but no GPU is visible to them: add "
            "training.use_cpu=true to train data-parallel on CPUs (gloo)"
        )
    return state


def refuse_resume_key(cfg: DictConfig) -> None:
    """``training.resume_from_checkpoint`` would only be logged, not used: point to resume=."""
    if cfg.training.get("resume_from_checkpoint"):
        raise UserError(
            "training.resume_from_checkpoint is not supported; continue a stopped run with "
            "resume=<its run folder>"
        )


def prepare_data(cfg: DictConfig, tokenizer: Any, state: PartialState) -> PreparedData:
    """Read + validate, pair, split every post (or reuse a manifest), add unannotated negatives
    to the training split when ``data.negatives=unannotated``, tokenize. Writes nothing."""
    corpus = data.load_corpus(cfg.data)
    pairs, counts, post_ids = corpus.pairs, corpus.counts, corpus.posts["post_id"]
    if cfg.data.split_manifest:
        manifest = data.load_manifest(cfg.data.split_manifest, pairs, counts, post_ids)
    else:
        ratios = list(cfg.data.split_ratios)
        manifest = data.make_manifest(pairs, counts, ratios, cfg.seed, post_ids)
    data.log_split(manifest)
    manifest.pop("unannotated_negatives", None)  # a reused manifest's record of its own run
    if cfg.data.get("negatives") == "unannotated":  # get: run configs older than the key
        train_posts, criteria = manifest["splits"]["train"], data.criterion_texts(cfg.data)
        negatives, drawn = data.draw_negatives(
            corpus, train_posts, criteria, cfg.data.negatives_per_positive, cfg.seed
        )
        pairs = pd.concat([pairs, negatives], ignore_index=True)
        manifest["unannotated_negatives"] = counts["unannotated_negatives"] = drawn
    dsd = data.to_dataset_dict(pairs, manifest)
    with state.main_process_first():
        dsd = data.tokenize(dsd, tokenizer, cfg.data.max_length)
    loss = cfg.training
    alpha = class_alpha(dsd["train"]["label"], loss.class_weights, loss.class_alpha)
    log.info("loss: focal gamma=%s alpha=%s", loss.focal_gamma, alpha)
    return PreparedData(dsd, manifest, counts, alpha)


def build_trainer(
    cfg: DictConfig,
    prepared: PreparedData,
    tokenizer: Any,
    out: Path,
    model_init: Any = None,
    trainer_cls: type[FocalLossTrainer] = FocalLossTrainer,
) -> tuple[FocalLossTrainer, list[str]]:
    """The FocalLossTrainer with args from ``cfg.training``, its model built by ``model_init``.

    Always a ``model_init`` (the configured model unless the search passes its own): then
    ``Trainer.train`` seeds and builds the model right before training, in a run and in a
    search trial alike, so both draw the same new head and dropout masks. With a ready model
    the Trainer seeded after building it, and a refit did not reproduce its trial.
    ``trainer_cls`` is a FocalLossTrainer subclass where a job needs one (the search's).
    """
    training = OmegaConf.to_container(cfg.training, resolve=True)
    args, decisions = build_training_args(training, str(out / "checkpoints"), cfg.seed)  # type: ignore[arg-type]
    callbacks = []
    if cfg.early_stopping_patience is not None and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    if model_init is None:

        def model_init() -> Any:
            return load_model(cfg.model.name_or_path, cfg.model.attn_implementation)

    trainer = trainer_cls(
        model_init=model_init,
        args=args,
        train_dataset=prepared.datasets["train"],
        eval_dataset=prepared.datasets["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=cfg.data.get("pad_to_multiple_of")
        ),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    show_progress(trainer)
    return trainer, decisions


def log_training_setup(
    cfg: DictConfig, prepared: PreparedData, decisions: list[str], world_size: int
) -> None:
    """What MLflowCallback does not log: config, data counts, manifest, hardware, world size."""
    # training.*, seed and output_dir reach MLflow as resolved TrainingArguments params
    # through MLflowCallback; logging them again would clash (MLflow params are final).
    tree = {
        str(k): v
        for k, v in OmegaConf.to_container(cfg, resolve=True).items()  # type: ignore[union-attr]
        if k not in ("training", "seed", "output_dir")
    }
    tracking.log_config_and_environment(
        to_yaml(cfg),
        tree,
        files={
            "split_manifest.json": prepared.manifest,
            "data_counts.json": prepared.counts,
            "hardware.json": {"decisions": decisions, "world_size": world_size},
        },
        params={"world_size": world_size, "loss.alpha_used": prepared.alpha},
    )


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train, keep the best checkpoint by the validation selection metric
    (``training.metric_for_best_model``), evaluate it; return (metrics, objects).

    With ``cfg.resume`` (see resume_config) it continues that folder's run from its last
    checkpoint, in the same MLflow run.
    """
    # -- seed and distributed state
    refuse_resume_key(cfg)
    resume = cfg.get("resume") or None
    set_seed(cfg.seed, deterministic=bool(cfg.training.get("full_determinism")))
    state = distributed_state(cfg)

    # -- tokenizer, data, model, trainer: user errors raise here, before anything is written
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    prepared = prepare_data(cfg, tokenizer, state)
    uri = tracking.setup(cfg.tracking) if state.is_main_process else ""
    out = run_dir(cfg, state, resume)
    checkpoint = last_checkpoint(out) if resume else None
    trainer, decisions = build_trainer(cfg, prepared, tokenizer, out)
    if state.is_main_process and not resume:
        data.save_manifest(prepared.manifest, out / "split_manifest.json")
        (out / "config.yaml").write_text(to_yaml(cfg), encoding="utf-8")
    log.info("run folder: %s%s", out, f" (resuming from {checkpoint.name})" if checkpoint else "")

    # -- train, then evaluate the best checkpoint, inside one MLflow run (never left RUNNING)
    previous = read_claim(out).get("run_id") if resume else None
    if resume and not previous:
        log.warning("resume: %s has no MLflow run id (%s); starting a new run", out, RUN_FILE)
    run_context = _open_run(cfg, previous) if state.is_main_process else nullcontext()
    with run_context as run:
        if state.is_main_process:
            # The real URI (``uri`` is masked for display): resume= reopens the store with it.
            store = tracking.resolve_uri(cfg.tracking.uri)
            write_run_file(out, run.info.run_id, store)  # type: ignore[union-attr]
            if not previous:  # a reopened run has them already (MLflow params are final)
                log_training_setup(cfg, prepared, decisions, state.num_processes)
                log_hydra_record(out)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        trainer.remove_callback(EarlyStoppingCallback)  # it only watches the validation metric
        metrics, test_frame = evaluate_best(
            trainer, prepared, cfg.get("ci"), **decision_options(cfg)
        )
        registered = None
        if state.is_main_process:
            run_id = run.info.run_id  # type: ignore[union-attr]
            log_evaluation_plots(trainer, test_frame, metrics, out, cfg.get("ci"))
            registered = save_best(cfg, trainer, prepared, metrics, out, run_id)
    objects = {
        "trainer": trainer,
        "data": prepared,
        "run_dir": out,
        "run_id": run.info.run_id if run is not None else None,
        "registered": (cfg.tracking.registered_model, registered) if registered else None,
        "tracking_uri": uri,
        "hardware": decisions,
    }
    return metrics, objects


def _open_run(cfg: DictConfig, run_id: str | None) -> Any:
    """tracking.active_run, reopening ``run_id`` when resuming; a missing run is a UserError."""
    if run_id is None:
        return tracking.active_run(cfg.tracking.run_name or tracking.run_name(cfg))
    try:
        mlflow.get_run(run_id)
    except Exception as err:  # deleted, or another store
        raise UserError(
            f"resume={cfg.resume}: MLflow run {run_id} is not in {cfg.tracking.uri}; "
            f"delete {RUN_FILE} in that folder to continue in a new run"
        ) from err
    return tracking.active_run(run_id=run_id)
