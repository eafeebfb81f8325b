"""Grouped k-fold cross-validation: fold construction and a real 2-fold run on the sample."""

from __future__ import annotations

import json
import os

import mlflow
import pandas as pd
import pytest

from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs.cv import cross_validate, fold_manifests
from evidence_ft.report import format_cv
from tests.conftest import keep_mlflow_env, tiny_sample_run


def toy_pairs(n_posts: int = 12) -> pd.DataFrame:
    rows = []
    for i in range(n_posts):
        for k in range(1 + i % 3):
            rows.append(
                {"post_id": f"p{i:02d}", "sentence_id": f"p{i:02d}_{k}", "label": (i + k) % 2}
            )
    return pd.DataFrame(rows)


def base_manifest(pairs: pd.DataFrame) -> dict:
    posts = sorted(pairs["post_id"].unique())
    return {"splits": {"train": posts[:8], "validation": posts[8:10], "test": posts[10:]}}


def test_folds_keep_posts_whole_and_test_fixed():
    pairs = toy_pairs()
    base = base_manifest(pairs)
    folds = fold_manifests(pairs, base, 3, seed=0)
    assert len(folds) == 3
    pool = set(base["splits"]["train"]) | set(base["splits"]["validation"])
    held_out = [set(f["splits"]["validation"]) for f in folds]
    assert set().union(*held_out) == pool and sum(map(len, held_out)) == len(pool)  # disjoint
    for fold in folds:
        train, val = set(fold["splits"]["train"]), set(fold["splits"]["validation"])
        assert not train & val and train | val == pool
        assert fold["splits"]["test"] == base["splits"]["test"]
    assert fold_manifests(pairs, base, 3, seed=0) == folds  # same seed, same folds


@pytest.mark.parametrize("folds", [1, 11])
def test_bad_fold_counts(folds):
    pairs = toy_pairs()
    with pytest.raises(UserError, match=f"cv.folds={folds} must be 0"):
        fold_manifests(pairs, base_manifest(pairs), folds, seed=0)


@pytest.mark.integration  # runs a real script / trains end to end
def test_two_fold_cv_on_the_sample(tmp_path, tiny_bert):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp_path)
        cfg = load_config(
            tiny_sample_run(
                tiny_bert,
                tmp_path,
                "cv.folds=2",
                "training.num_train_epochs=1",
                f"output_dir={tmp_path}/cv",
            )
        )
        result = cross_validate(cfg)

    assert len(result["folds"]) == 2
    for key in ("eval_f1", "eval_mcc", "test_f1", "decision_threshold"):
        assert key in result["mean"] and key in result["std"]
    values = [m["eval_f1"] for m in result["folds"]]
    assert result["mean"]["eval_f1"] == pytest.approx(sum(values) / 2, abs=1e-4)
    assert "eval_f1" in format_cv(result)

    out = tmp_path / "cv"
    saved = json.loads((out / "cv_results.json").read_text())
    assert saved["mean"] == result["mean"]
    base = json.loads((out / "split_manifest.json").read_text())
    folds = [json.loads((out / f"fold_{i}" / "split_manifest.json").read_text()) for i in (0, 1)]
    for fold in folds:
        assert fold["splits"]["test"] == base["splits"]["test"]
        assert not (out / f"fold_{fold['fold']}" / "checkpoints").exists()
    assert not set(folds[0]["splits"]["validation"]) & set(folds[1]["splits"]["validation"])

    client = mlflow.MlflowClient(uri)
    parent = client.get_run(result["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["cv_mean_eval_f1"] == result["mean"]["eval_f1"]
    assert "cv_std_test_f1" in parent.data.metrics and parent.data.params["cv.folds"] == "2"
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(r.data.params["cv.fold"] for r in children) == ["0", "1"]
    for child in children:
        assert child.info.status == "FINISHED"
        fold = int(child.data.params["cv.fold"])
        assert child.data.metrics["best_eval_f1"] == result["folds"][fold]["eval_f1"]
        assert child.data.metrics["test_f1"] == result["folds"][fold]["test_f1"]
        assert "learning_rate" in child.data.params  # TrainingArguments, via MLflowCallback
    assert os.environ.get("MLFLOW_TRACKING_URI") != uri  # restored
