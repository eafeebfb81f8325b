"""Real 2-process data-parallel training on CPU (gloo), launched the way users launch it.

python -m pytest tests/jobs/test_train_distributed.py -v

``accelerate launch --cpu --num_processes 2`` would silently start ONE process (multi-CPU
needs mpirun), so the test uses ``--multi_gpu`` with ``training.use_cpu=true``, which gives
real gloo DDP, and asserts the world size that the run recorded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs.train import distributed_state
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

BATCH = 4  # per device; the single-process reference uses 2 * BATCH
COMMON = [
    "data=sample",
    "training.use_cpu=true",
    "training.max_steps=2",
    "training.logging_steps=1",
    "training.per_device_eval_batch_size=16",
    "tracking.registered_model=ddp_test",
]


def _free_port() -> int:
    """Another test run on this machine may hold accelerate's default port 29500."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=170, check=False
    )
    assert (
        done.returncode == 0
    ), f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _only_run(cwd: Path) -> tuple[object, dict[str, float]]:
    """The single MLflow run stored under ``cwd`` and its first logged training loss."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("evidence_ft")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"expected exactly one MLflow run, found {len(runs)}"
    run = runs[0]
    history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    return run, {"first_loss": history[0].value, **run.data.metrics}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> dict[str, object]:
    """One 2-process run (batch b per device) and one 1-process run (batch 2b), same seed."""
    base = tmp_path_factory.mktemp("ddp")
    model = f"model.name_or_path={tiny_bert}"  # dropout 0: the two losses can match exactly
    ddp = _run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(_free_port()),
            str(ROOT / "run_train.py"),
            *COMMON,
            model,
            f"training.per_device_train_batch_size={BATCH}",
        ],
        base / "two",
    )
    single = _run(
        [
            sys.executable,
            str(ROOT / "run_train.py"),
            *COMMON,
            model,
            f"training.per_device_train_batch_size={2 * BATCH}",
        ],
        base / "one",
    )
    return {"base": base, "ddp": ddp, "single": single}


def test_two_processes_make_one_run_with_world_size_2(runs: dict) -> None:
    run, _ = _only_run(runs["base"] / "two")
    recorded = run.data.params.get("world_size") or run.data.tags.get("world_size")
    assert recorded == "2", f"world_size recorded as {recorded!r}"
    # Only the main process prints the summary and writes the run folder.
    assert runs["ddp"].stdout.count("mlflow run:") == 1
    folders = [p.parent for p in (runs["base"] / "two" / "outputs").rglob("split_manifest.json")]
    assert len(folders) == 1, folders
    assert (folders[0] / "metrics.json").is_file()


def test_ddp_loss_equals_single_process_loss_on_the_same_global_batch(runs: dict) -> None:
    """Mean over ranks of per-rank means == mean over 2b pairs (not times the world size)."""
    _, two = _only_run(runs["base"] / "two")
    _, one = _only_run(runs["base"] / "one")
    assert two["first_loss"] == pytest.approx(one["first_loss"], rel=1e-4)
    # Evaluation gathers predictions from both ranks: same model -> same metrics and threshold.
    for key in ("decision_threshold", "eval_f1", "test_f1", "test_accuracy"):
        assert two[key] == pytest.approx(one[key], abs=1e-6), key


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU makes the launch a real DDP run")
def test_cpu_launch_without_use_cpu_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchrun on CPUs without use_cpu would train N independent copies, each its own run."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="add training.use_cpu=true") as err:
        distributed_state(load_config(["data=sample"]))
    assert "\n" not in str(err.value)
