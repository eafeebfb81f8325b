"""Training against a real `mlflow server` on 127.0.0.1, and an unreachable one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs.train import train

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server_artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_training_logs_to_a_remote_server(mlflow_server, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(
        [
            "data=sample",
            f"model.name_or_path={tiny_bert}",
            "training.max_steps=2",
            "tracking.register=always",  # a smoke run: registered only on request
            f"tracking.uri={mlflow_server}",
            "tracking.experiment=remote",
        ]
    )
    metrics, objects = train(cfg)
    client = MlflowClient(mlflow_server)
    run = client.get_run(objects["run_id"])
    assert run.info.status == "FINISHED"
    assert "eval_f1" in run.data.metrics and run.data.params["data.name"] == "sample"
    assert "split_manifest.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert (
        client.get_model_version("evidence_ft", objects["registered"][1]).run_id == run.info.run_id
    )
    assert not (tmp_path / "mlflow.db").exists()


def test_unreachable_server_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from evidence_ft import tracking

    uri = f"http://127.0.0.1:{free_port()}"
    cfg = load_config([f"tracking.uri={uri}"])
    started = time.monotonic()
    with pytest.raises(UserError, match=f"tracking.uri={uri}") as info:
        tracking.setup(cfg.tracking)
    assert "\n" not in str(info.value) and time.monotonic() - started < 60
