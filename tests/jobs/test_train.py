"""run_train.py end to end: the README's main job, what each MLflow run holds, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from evidence_ft.config import load_config
from evidence_ft.jobs.train import train
from tests.conftest import ROOT, SHARED_SAMPLE, tiny_sample_run

pytestmark = pytest.mark.integration


def run_script(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """The README's main command, `python run_train.py data=sample`, in a fresh folder."""
    cwd = tmp_path_factory.mktemp("main_job")
    proc = run_script("data=sample", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((cwd / "outputs").glob("*/*"))
    return cwd, run_dir, proc.stdout


def test_main_job_beats_a_constant_predictor(main_job):
    _, run_dir, stdout = main_job
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_macro_f1"] > metrics["test_constant_macro_f1"] + 0.25
    assert metrics["test_mcc"] > 0.4
    assert 0.0 < metrics["decision_threshold"] < 1.0
    assert metrics["decision_threshold_metric"] == "f1"  # training.metric_for_best_model
    # bootstrap intervals over the test posts (ci.* defaults), printed beside each test figure
    for key in ("test_f1", "test_at_threshold_macro_f1", "test_constant_f1", "test_pr_auc"):
        assert metrics[f"{key}_ci_low"] <= metrics[key] <= metrics[f"{key}_ci_high"], key
    assert metrics["intervals"]["resamples"] == 1000 and metrics["intervals"]["level"] == 0.95
    # each decision rule's gain over the constant, with its paired interval, in the table
    for rule in ("test_", "test_at_threshold_"):
        gain = metrics[f"{rule}f1_minus_constant"]
        assert gain == round(metrics[f"{rule}f1"] - metrics["test_constant_f1"], 4)
        assert metrics[f"{rule}f1_minus_constant_ci_low"] <= gain
        assert gain <= metrics[f"{rule}f1_minus_constant_ci_high"]
    assert "f1 - constant" in stdout.split("test decisions")[1].splitlines()[0]
    assert f"{metrics['test_f1']:.4f} [{metrics['test_f1_ci_low']:.3f}, " in stdout
    assert "95% percentile bootstrap interval, 1000 resamples" in stdout
    for line in ("run folder:", "mlflow run:", "registered:  models:/evidence_ft/", "mlflow ui"):
        assert line in stdout


def test_main_job_records_everything_in_mlflow(main_job):
    cwd, run_dir, _ = main_job
    assert (cwd / "mlflow.db").is_file() and (cwd / "mlruns").is_dir()
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evidence_ft").experiment_id])
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["data.name"] == "sample" and params["model.name_or_path"].endswith("MiniLM-L6-v2")
    assert params["focal_gamma"] == "2.0" and params["world_size"] == "1"
    assert params["learning_rate"] == "5e-05"  # TrainingArguments, through MLflowCallback
    assert params["decision_threshold_metric"] == params["metric_for_best_model"] == "f1"
    assert len(tags["git_sha"]) in (40, 7) or tags["git_sha"] == "unknown"
    assert tags["git_dirty"] in ("true", "false", "unknown")
    history = {m: client.get_metric_history(run.info.run_id, m) for m in ("eval_f1", "eval_loss")}
    assert len(history["eval_f1"]) >= 2 and len(history["eval_loss"]) >= 2  # one per epoch
    assert {"test_f1_ci_low", "test_f1_ci_high", "test_at_threshold_mcc_ci_low"} <= set(
        run.data.metrics
    )
    for metric in ("loss", "learning_rate", "eval_accuracy", "eval_precision", "eval_recall"):
        assert client.get_metric_history(run.info.run_id, metric), metric
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    for name in (
        "config.yaml",
        "split_manifest.json",
        "data_counts.json",
        "hardware.json",
        "pip_freeze.txt",
        "metrics.json",
    ):
        assert name in artifacts, name
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    for name in ("learning_curves", "confusion_matrix", "pr_curve", "per_symptom_f1"):
        assert f"plots/{name}.png" in plots, name
    assert (run_dir / "plots" / "learning_curves.png").is_file()
    manifest = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id,
                artifact_path="split_manifest.json",
                tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}",
            )
        ).read_text()
    )
    assert manifest["splits"] == json.loads((run_dir / "split_manifest.json").read_text())["splits"]
    assert manifest["fingerprint"]["posts"]


def test_registered_and_saved_models_load_and_predict(main_job):
    cwd, run_dir, _ = main_job
    from transformers import pipeline

    from evidence_ft.checkpoints import resolve_checkpoint

    mlflow.set_tracking_uri(f"sqlite:///{cwd / 'mlflow.db'}")
    with resolve_checkpoint("models:/evidence_ft/1") as registered:  # its Hugging Face folder
        loaded = pipeline("text-classification", model=str(registered.model_dir))
        out = loaded({"text": "Depressed mood most of the day.", "text_pair": "I feel empty."})
    assert out["label"] in ("evidence", "no_evidence")  # one pair in, one dict out
    plain = pipeline("text-classification", model=str(run_dir / "model"))
    assert plain({"text": "Fatigue.", "text_pair": "I am exhausted."})["label"]
    card = (run_dir / "model" / "README.md").read_text()
    assert "not a diagnostic instrument" in card and "Decision threshold" in card
    assert "test decisions" in card and "f1 - constant" in card
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert 0 < config["decision_threshold"] < 1


# ---------------------------------------------------------------- in-process runs (tiny model)


def tiny_overrides(tiny_bert: Path, tmp: Path, *extra: str) -> list[str]:
    return tiny_sample_run(
        tiny_bert,
        tmp,
        "training.num_train_epochs=2",
        "training.learning_rate=1e-3",
        f"output_dir={tmp / 'out'}",
        *extra,
    )


def test_same_seed_gives_identical_metrics(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, a = train(load_config(tiny_overrides(tiny_bert, tmp_path / "a")))
    second, b = train(load_config(tiny_overrides(tiny_bert, tmp_path / "b")))
    keys = [
        k for k in first if k.startswith("eval_") and "runtime" not in k and "per_second" not in k
    ]
    assert keys and {k: first[k] for k in keys} == {k: second[k] for k in keys}
    # Same seed, yet each run has its own readable name (MLflow's generated ones repeated).
    names = [MlflowClient(o["tracking_uri"]).get_run(o["run_id"]).info.run_name for o in (a, b)]
    assert names[0] != names[1]
    assert all(n.startswith(f"{tiny_bert.name}-sample-seed42-") for n in names), names


def test_pr_auc_selects_the_checkpoint_stops_early_and_records_the_threshold_metric(
    tiny_bert, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    extra = ("training.metric_for_best_model=pr_auc", "early_stopping_patience=1")
    metrics, objects = train(load_config(tiny_overrides(tiny_bert, tmp_path, *extra)))
    state = objects["trainer"].state
    assert state.best_metric == max(
        e["eval_pr_auc"] for e in state.log_history if "eval_pr_auc" in e
    )
    assert metrics["decision_threshold_metric"] == "pr_auc" and "eval_pr_auc" in metrics
    saved = json.loads((objects["run_dir"] / "metrics.json").read_text())
    assert saved["decision_threshold_metric"] == "pr_auc"
    card = (objects["run_dir"] / "model" / "README.md").read_text()
    assert "to maximise validation `pr_auc`" in card
    run = MlflowClient(objects["tracking_uri"]).get_run(objects["run_id"])
    assert run.data.params["decision_threshold_metric"] == "pr_auc"
    assert "best_eval_pr_auc" in run.data.metrics


def test_split_manifest_is_reused(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, first = train(load_config(tiny_overrides(tiny_bert, tmp_path / "a", "training.max_steps=1")))
    manifest = first["run_dir"] / "split_manifest.json"
    _, second = train(
        load_config(
            tiny_overrides(
                tiny_bert,
                tmp_path / "b",
                "training.max_steps=1",
                "seed=99",
                f"data.split_manifest={manifest}",
            )
        )
    )
    assert second["data"].manifest["splits"] == first["data"].manifest["splits"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_run_is_not_left_running(error, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def explode(self, *args, **kwargs):
        raise error

    monkeypatch.setattr("evidence_ft.trainer.FocalLossTrainer.train", explode)
    with pytest.raises(type(error)):
        train(load_config(tiny_overrides(tiny_bert, tmp_path)))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evidence_ft").experiment_id])
    assert run.info.status == ("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
    assert mlflow.active_run() is None


def test_shared_preview_trains(tiny_bert, tmp_path, monkeypatch):
    if not SHARED_SAMPLE.is_dir():
        pytest.skip("../shared/redsm5-sample is absent (it is not shipped with the project)")
    monkeypatch.chdir(tmp_path)
    metrics, objects = train(
        load_config(
            tiny_overrides(
                tiny_bert,
                tmp_path,
                "training.max_steps=2",
                f"data.posts_path={SHARED_SAMPLE / 'redsm5_posts.csv'}",
                f"data.annotations_path={SHARED_SAMPLE / 'redsm5_annotations.csv'}",
            )
        )
    )
    assert objects["data"].counts["annotation_rows"] == 25
    assert "test_f1" in metrics


# ---------------------------------------------------------------- errors a user can cause


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data.posts_path=/nonexistent/posts.csv"], "gated"),
        ([], "data=sample"),  # the default data=redsm5 without the gated files
        (["data=sample", "training.nonsense=1"], "training.nonsense"),
        (["data=sample", "+training.nonsense=1"], "not a transformers.TrainingArguments field"),
        (["data=sample", "model.name_or_path=no-such-org/no-such-model"], "path/to/local/folder"),
    ],
)
def test_user_errors_are_one_line(args, expected, tmp_path):
    if not args and (ROOT / "data/redsm5/redsm5_posts.csv").exists():
        pytest.skip("the real ReDSM5 files are installed here")
    proc = run_script(*args, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlflow.db").exists()


def test_batches_are_padded_to_the_configured_multiple(tiny_bert, tmp_path):
    """data.pad_to_multiple_of reaches the collator; null pads to the longest pair only."""
    from accelerate import PartialState

    from evidence_ft.jobs.train import build_trainer, prepare_data
    from evidence_ft.modeling import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_bert))
    lengths = {}
    for multiple in (None, 8):
        value = "null" if multiple is None else str(multiple)
        cfg = load_config(tiny_overrides(tiny_bert, tmp_path, f"data.pad_to_multiple_of={value}"))
        prepared = prepare_data(cfg, tokenizer, PartialState())
        trainer, _ = build_trainer(cfg, prepared, tokenizer, tmp_path)
        lengths[multiple] = [b["input_ids"].shape[1] for b in trainer.get_train_dataloader()]
    assert all(n % 8 == 0 for n in lengths[8])
    assert any(n % 8 for n in lengths[None])  # the default does not round up
    assert [-(-n // 8) * 8 for n in lengths[None]] == lengths[8]  # same batches, rounded up
