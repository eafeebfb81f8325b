"""Grouped k-fold cross-validation over the train+validation posts; the test posts stay fixed.

python run_train.py data=sample cv.folds=5      # 5 folds, one nested MLflow run per fold
python run_train.py cv.folds=10 seed=7          # any training override applies to every fold

Posts are never split across folds (scikit-learn's ``StratifiedGroupKFold``, stratified on
the pair labels). Each fold trains on k-1 parts, picks its best epoch and threshold on the
held-out part, and is scored on that part (``eval_*``) and on the untouched test posts
(``test_*``). The parent run gets the mean and standard deviation (ddof=1) of every fold
metric. Folds keep no model: their checkpoints are deleted once scored; train the final
model with ``cv.folds=0``.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from accelerate import PartialState
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import StratifiedGroupKFold
from transformers import EarlyStoppingCallback, set_seed

from evidence_ft import data, tracking
from evidence_ft.config import to_yaml
from evidence_ft.errors import UserError
from evidence_ft.jobs.best_model import best_metrics, decision_options, evaluate_best
from evidence_ft.jobs.train import build_trainer, distributed_state, prepare_data
from evidence_ft.modeling import load_tokenizer
from evidence_ft.run_folder import run_dir

log = logging.getLogger(__name__)


def fold_manifests(
    pairs: pd.DataFrame, base: dict[str, Any], folds: int, seed: int
) -> list[dict[str, Any]]:
    """One manifest per fold: its held-out part as validation, the rest as train, same test."""
    pool = set(base["splits"]["train"]) | set(base["splits"]["validation"])
    sub = pairs[pairs["post_id"].isin(pool)].reset_index(drop=True)
    n_posts = sub["post_id"].nunique()
    if folds < 2 or folds > n_posts:
        raise UserError(
            f"cv.folds={folds} must be 0 (off) or between 2 and the number of train+validation "
            f"posts ({n_posts})"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    for i, (train_idx, val_idx) in enumerate(splitter.split(sub, sub["label"], sub["post_id"])):
        splits = {
            "train": sorted(set(sub["post_id"].iloc[train_idx])),
            "validation": sorted(set(sub["post_id"].iloc[val_idx])),
            "test": list(base["splits"]["test"]),
        }
        out.append(
            {
                "seed": seed,
                "fold": i,
                "folds": folds,
                "fingerprint": base.get("fingerprint", {}),
                "splits": splits,
                "summary": data.split_summary(pairs, splits),
            }
        )
    return out


def fold_mean_std(fold_metrics: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation (ddof=1) of each numeric metric over the folds.

    >>> fold_mean_std([{"eval_f1": 0.5, "m": "f1"}, {"eval_f1": 0.7, "m": "f1"}])
    ({'eval_f1': 0.6}, {'eval_f1': 0.1414})
    """
    keys = [
        k
        for k, v in fold_metrics[0].items()
        if isinstance(v, (int, float)) and not ("runtime" in k or "per_second" in k)
    ]
    values = {k: np.array([float(m[k]) for m in fold_metrics]) for k in keys}
    mean = {k: round(float(v.mean()), 4) for k, v in values.items()}
    std = {k: round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4) for k, v in values.items()}
    return mean, std


def cross_validate(cfg: DictConfig) -> dict[str, Any]:
    """Train one model per fold in nested MLflow runs; return fold metrics, mean and std."""
    # -- data and folds: user errors raise here, before anything is written
    set_seed(cfg.seed)
    state = distributed_state(cfg)
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    pairs, counts = data.load_pairs(cfg.data)
    if cfg.data.split_manifest:
        base = data.load_manifest(cfg.data.split_manifest, pairs, counts)
    else:
        base = data.make_manifest(pairs, counts, list(cfg.data.split_ratios), cfg.seed)
    manifests = fold_manifests(pairs, base, int(cfg.cv.folds), cfg.seed)
    uri = tracking.setup(cfg.tracking) if state.is_main_process else ""
    out = run_dir(cfg, state)
    if state.is_main_process:
        data.save_manifest(base, out / "split_manifest.json")
        (out / "config.yaml").write_text(to_yaml(cfg), encoding="utf-8")
        for i, manifest in enumerate(manifests):
            data.save_manifest(manifest, out / f"fold_{i}" / "split_manifest.json")
    state.wait_for_everyone()
    log.info("cv: %d folds; run folder %s", len(manifests), out)

    # -- one nested run per fold inside the parent run (never left RUNNING)
    results: list[dict[str, Any]] = []
    main = state.is_main_process
    name = cfg.tracking.run_name or f"cv-{cfg.cv.folds}"
    context = tracking.active_run(name, {"evidence_ft.job": "cv"}) if main else nullcontext()
    with context as parent:
        if main:
            tracking.log_config_and_environment(
                to_yaml(cfg),
                OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
                files={"split_manifest.json": base, "data_counts.json": counts},
                params={"world_size": state.num_processes},
            )
        for i, manifest in enumerate(manifests):
            results.append(_run_fold(cfg, i, manifest, tokenizer, out, state))
        mean, std = fold_mean_std(results)
        summary = {"folds": results, "mean": mean, "std": std}
        if main:
            mlflow.log_metrics({f"cv_mean_{k}": v for k, v in mean.items()})
            mlflow.log_metrics({f"cv_std_{k}": v for k, v in std.items()})
            (out / "cv_results.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
            mlflow.log_artifact(str(out / "cv_results.json"))
    return {
        **summary,
        "run_dir": out,
        "run_id": parent.info.run_id if parent is not None else None,
        "tracking_uri": uri,
    }


def _run_fold(
    cfg: DictConfig,
    i: int,
    manifest: dict[str, Any],
    tokenizer: Any,
    out: Path,
    state: PartialState,
) -> dict[str, Any]:
    """Train and score fold ``i`` in its own nested MLflow run; delete its checkpoints."""
    fold_out = out / f"fold_{i}"
    fold_cfg = copy.deepcopy(cfg)
    fold_cfg.data.split_manifest = str(fold_out / "split_manifest.json")
    fold_cfg.output_dir = str(fold_out)
    set_seed(cfg.seed)  # every fold starts from the same initial weights
    prepared = prepare_data(fold_cfg, tokenizer, state)
    main = state.is_main_process
    tags = {"evidence_ft.job": "cv_fold", "cv_fold": str(i)}
    with tracking.active_run(f"fold-{i}", tags) if main else nullcontext():
        trainer, _ = build_trainer(fold_cfg, prepared, tokenizer, fold_out)
        if main:
            mlflow.log_params({"cv.fold": i, "loss.alpha_used": prepared.alpha})
            mlflow.log_text(json.dumps(manifest, indent=2) + "\n", "split_manifest.json")
        trainer.train()
        trainer.remove_callback(EarlyStoppingCallback)
        metrics, _ = evaluate_best(trainer, prepared, **decision_options(cfg))
        if main:
            mlflow.log_metrics(best_metrics(metrics), step=trainer.state.global_step)
            (fold_out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", "utf-8")
    log.info("cv: fold %d: eval_f1 %.4f test_f1 %.4f", i, metrics["eval_f1"], metrics["test_f1"])
    del trainer
    gc.collect()
    state.wait_for_everyone()
    if main:
        shutil.rmtree(fold_out / "checkpoints", ignore_errors=True)
    return metrics
