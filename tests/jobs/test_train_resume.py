"""resume=<run folder>: a run killed after its first checkpoint ends as if never stopped.

Also: runs left RUNNING by a dead process are ended as KILLED by the next command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from evidence_ft import tracking
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs.train import refuse_resume_key
from evidence_ft.run_folder import last_checkpoint, resume_config
from tests.conftest import ROOT, tiny_sample_run

# Three epochs saved one by one; the kill lands between the first save and the end.
RESUMABLE = (
    "training.num_train_epochs=3",
    "training.per_device_train_batch_size=8",
    "training.learning_rate=1e-3",
    "training.logging_steps=10",
    "early_stopping_patience=null",
)


def train_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_train.py"), *args]


def run_train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        train_command(*args), cwd=cwd, capture_output=True, text=True, timeout=900
    )
    return proc


def complete_checkpoint(folder: Path) -> bool:
    return last_checkpoint(folder) is not None


def comparable(metrics: dict) -> dict:
    """The numbers of a metrics.json that a re-run reproduces (not its timings)."""
    return {
        k: v
        for k, v in metrics.items()
        if "runtime" not in k and "per_second" not in k and not isinstance(v, dict)
    }


def runs_of(store: Path) -> list:
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.integration
def test_a_killed_run_resumes_to_the_same_metrics_and_mlflow_run(tiny_bert, tmp_path):
    full = tmp_path / "full"
    cut = tmp_path / "cut"
    proc = run_train(
        *tiny_sample_run(tiny_bert, full, *RESUMABLE, f"output_dir={full / 'run'}"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # -- the same command, killed with SIGKILL once its first checkpoint is complete
    folder = cut / "run"
    victim = subprocess.Popen(
        train_command(*tiny_sample_run(tiny_bert, cut, *RESUMABLE, f"output_dir={folder}")),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 600
    while not complete_checkpoint(folder) and victim.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, victim.stderr.read().decode()[-3000:]  # type: ignore
    assert not (folder / "metrics.json").exists(), "it finished before the kill"
    assert list((folder / "checkpoints").glob("checkpoint-*"))
    (before,) = runs_of(cut)
    assert before.info.status == "RUNNING"  # SIGKILL leaves no chance to end it

    # -- continue it from another folder: the store is found through the run folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_train(f"resume={folder}", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from checkpoint-" in proc.stderr, proc.stderr[-3000:]

    expected = json.loads((full / "run" / "metrics.json").read_text())
    resumed = json.loads((folder / "metrics.json").read_text())
    assert comparable(resumed).keys() == comparable(expected).keys()
    assert comparable(resumed) == pytest.approx(comparable(expected), abs=1e-4)
    assert resumed["intervals"] == expected["intervals"]  # the same bootstrap of the test posts

    (after,) = runs_of(cut)  # the same run, not a new one, and it ended well
    assert after.info.run_id == before.info.run_id
    assert after.info.run_id == json.loads((folder / "run.json").read_text())["run_id"]
    assert after.info.status == "FINISHED"
    client = MlflowClient(f"sqlite:///{cut / 'mlflow.db'}")
    epochs = {m.step for m in client.get_metric_history(after.info.run_id, "eval_f1")}
    assert len(epochs) == 3  # one evaluation per epoch, before and after the kill
    assert not list(elsewhere.iterdir())  # nothing written where the command ran


def test_resume_refuses_other_overrides_and_unusable_folders(tmp_path):
    with pytest.raises(UserError, match="drop seed=3"):
        resume_config(str(tmp_path), ["seed=3", f"resume={tmp_path}"])
    with pytest.raises(UserError, match="no config.yaml"):
        resume_config(str(tmp_path), [f"resume={tmp_path}"])
    cfg = load_config(["data=sample", f"output_dir={tmp_path}"])
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    partial = tmp_path / "checkpoints" / "checkpoint-7"  # a save cut short: no trainer state
    partial.mkdir(parents=True)
    with pytest.raises(UserError, match="no complete checkpoint") as err:
        resume_config(str(tmp_path), [])
    assert "\n" not in str(err.value)


def test_resume_continues_in_the_folder_with_its_split_and_store(tmp_path):
    cfg = load_config(["data=sample", "seed=5"])
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    for step, state in ((4, "{}"), (8, "{}"), (12, "{trunc")):  # 12: killed while saving
        (tmp_path / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "abc", "tracking_uri": "sqlite:///x"}))
    resumed = resume_config(str(tmp_path), [f"resume={tmp_path}"])
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoints" / "checkpoint-8"
    assert resumed.seed == 5 and resumed.output_dir == str(tmp_path)
    assert resumed.data.split_manifest == str(tmp_path / "split_manifest.json")
    assert resumed.tracking.uri == "sqlite:///x"


def test_training_resume_from_checkpoint_points_to_resume():
    cfg = load_config(["data=sample", "+training.resume_from_checkpoint=/some/checkpoint-5"])
    with pytest.raises(UserError, match="resume=<its run folder>"):
        refuse_resume_key(cfg)


# ---------------------------------------------------------------- runs of dead processes

HOLDER = """
import sys, time
from omegaconf import OmegaConf
from evidence_ft import tracking
tracking.setup(OmegaConf.create({"uri": sys.argv[1], "experiment": "e",
                                 "artifact_location": sys.argv[2]}))
with tracking.active_run("held") as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


@pytest.mark.integration
def test_runs_of_dead_processes_are_ended_as_killed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, uri, str(tmp_path / "mlruns")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        dead, alive = (h.stdout.readline().strip() for h in holders)  # type: ignore[union-attr]
        os.kill(holders[0].pid, signal.SIGKILL)
        holders[0].wait()
        client = MlflowClient(uri)
        assert client.get_run(dead).info.status == "RUNNING"
        tracking.setup(
            OmegaConf.create(
                {"uri": uri, "experiment": "other", "artifact_location": str(tmp_path / "a")}
            )
        )
        assert client.get_run(dead).info.status == "KILLED"
        assert client.get_run(dead).info.end_time is not None
        assert client.get_run(alive).info.status == "RUNNING"  # its process still runs
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_a_reused_pid_does_not_keep_a_dead_run_alive():
    mine = tracking.process_tags()
    assert tracking.owner_alive(mine)
    assert not tracking.owner_alive({**mine, tracking.STARTED_TAG: "1.0"})  # pid reused since
    assert tracking.owner_alive({**mine, tracking.HOST_TAG: "another-machine"})  # unknowable
