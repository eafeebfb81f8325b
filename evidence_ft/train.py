"""``train(cfg)``: the whole training job, read top to bottom like run_glue.py's ``main``.

python run_train.py data=sample                  # bundled synthetic sample, offline model
python run_train.py training.num_train_epochs=1  # any key of configs/ can be overridden
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from datasets import DatasetDict
from omegaconf import DictConfig, OmegaConf
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed

from evidence_ft import data, tracking
from evidence_ft.config import to_yaml
from evidence_ft.metrics import binary_metrics, compute_metrics
from evidence_ft.modeling import load_model, load_tokenizer
from evidence_ft.trainer import FocalLossTrainer, build_training_args

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """What the data phase hands to training: tokenized splits and how they were made."""

    datasets: DatasetDict
    manifest: dict[str, Any]
    counts: dict[str, Any]
    alpha: list[float]


def run_dir(cfg: DictConfig, state: PartialState) -> Path:
    """``cfg.output_dir`` or ``outputs/<date>/<time>`` under the cwd, the same on every process."""
    chosen = [cfg.output_dir or f"outputs/{datetime.now():%Y-%m-%d/%H-%M-%S}"]
    if state.num_processes > 1:
        broadcast_object_list(chosen)
    path = Path(chosen[0]).absolute()
    if state.is_main_process:
        path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_data(cfg: DictConfig, tokenizer: Any, state: PartialState) -> PreparedData:
    """Read + validate, pair, split (or reuse a manifest), tokenize. Writes nothing."""
    pairs, counts = data.load_pairs(cfg.data)
    if cfg.data.split_manifest:
        manifest = data.load_manifest(cfg.data.split_manifest, pairs, counts)
    else:
        manifest = data.make_manifest(pairs, counts, list(cfg.data.split_ratios), cfg.seed)
    data.log_split(manifest)
    dsd = data.to_dataset_dict(pairs, manifest)
    with state.main_process_first():
        dsd = data.tokenize(dsd, tokenizer, cfg.data.max_length)
    if cfg.loss.alpha is not None:
        alpha = [float(a) for a in cfg.loss.alpha]
    else:
        alpha = data.class_weights(dsd["train"]["label"], cfg.loss.class_weights)
    log.info("loss: focal gamma=%s alpha=%s", cfg.loss.gamma, alpha)
    return PreparedData(dsd, manifest, counts, alpha)


def build_trainer(
    cfg: DictConfig,
    prepared: PreparedData,
    tokenizer: Any,
    out: Path,
    model_init: Any = None,
) -> tuple[FocalLossTrainer, list[str]]:
    """The FocalLossTrainer with args from ``cfg.training``; a model, or ``model_init`` for HPO."""
    training = OmegaConf.to_container(cfg.training, resolve=True)
    args, decisions = build_training_args(training, str(out / "checkpoints"), cfg.seed)  # type: ignore[arg-type]
    callbacks = []
    if cfg.early_stopping_patience is not None and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = FocalLossTrainer(
        model=(
            None
            if model_init
            else load_model(cfg.model.name_or_path, cfg.model.attn_implementation)
        ),
        model_init=model_init,
        args=args,
        train_dataset=prepared.datasets["train"],
        eval_dataset=prepared.datasets["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        alpha=prepared.alpha,
        gamma=cfg.loss.gamma,
    )
    return trainer, decisions


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train, keep the best checkpoint by validation F1, evaluate it; return (metrics, objects)."""
    # -- seed and distributed state
    set_seed(cfg.seed, deterministic=bool(cfg.training.get("full_determinism")))
    state = PartialState()

    # -- tokenizer, data, model, trainer: user errors raise here, before anything is written
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    prepared = prepare_data(cfg, tokenizer, state)
    uri = tracking.setup(cfg.tracking) if state.is_main_process else ""
    out = run_dir(cfg, state)
    trainer, decisions = build_trainer(cfg, prepared, tokenizer, out)
    if state.is_main_process:
        data.save_manifest(prepared.manifest, out / "split_manifest.json")
        (out / "config.yaml").write_text(to_yaml(cfg), encoding="utf-8")
    log.info("run folder: %s", out)

    # -- train and evaluate inside one MLflow run (ended FAILED/KILLED if anything raises)
    run_context = (
        tracking.active_run(cfg.tracking.run_name) if state.is_main_process else nullcontext()
    )
    with run_context as run:
        trainer.train()
        trainer.remove_callback(EarlyStoppingCallback)  # it only watches validation F1
        metrics = trainer.evaluate(prepared.datasets["validation"], metric_key_prefix="eval")
        metrics |= trainer.evaluate(prepared.datasets["test"], metric_key_prefix="test")
        test_labels = prepared.datasets["test"]["label"]
        constant = binary_metrics(test_labels, [1] * len(test_labels))
        metrics["test_constant_f1"] = constant["f1"]
        metrics["test_constant_macro_f1"] = constant["macro_f1"]
        if state.is_main_process:
            trainer.save_model(str(out / "model"))
            (out / "metrics.json").write_text(
                json.dumps(metrics, indent=2) + "\n", encoding="utf-8"
            )
    objects = {
        "trainer": trainer,
        "data": prepared,
        "run_dir": out,
        "run_id": run.info.run_id if run is not None else None,
        "tracking_uri": uri,
        "hardware": decisions,
    }
    return metrics, objects
