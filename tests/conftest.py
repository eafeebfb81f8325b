"""Shared fixtures: tiny random models (BERT and DeBERTa-v2), small ReDSM5-format files and a
throwaway PostgreSQL server."""

from __future__ import annotations

import ast
import glob
import inspect
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from evidence_ft.modeling import save_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = ROOT.parent / "shared" / "redsm5-sample"


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python <project root>/<name> args`` in ``cwd``, offline, output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=900,
    )


def tiny_sample_run(model: Path, tmp: Path, *extra: str) -> list[str]:
    """Overrides for a fast run on the bundled sample: ``model``, MLflow store under ``tmp``."""
    return [
        "data=sample",
        f"model.name_or_path={model}",
        f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}",
        f"tracking.artifact_location={tmp / 'mlruns'}",
        *extra,
    ]


def train_tiny_registered(model: Path, tmp: Path, registered: str) -> tuple[str, dict, dict]:
    """A short real training run on the sample, registered as ``registered``, run folder
    ``tmp/run``; call it with the cwd in ``tmp``. Returns the store URI, metrics and objects."""
    from evidence_ft.config import load_config
    from evidence_ft.jobs.train import train

    overrides = tiny_sample_run(
        model,
        tmp,
        "training.num_train_epochs=2",
        "training.learning_rate=1e-3",
        f"tracking.registered_model={registered}",
        f"output_dir={tmp}/run",
    )
    metrics, objects = train(load_config(overrides))
    return f"sqlite:///{tmp}/mlflow.db", metrics, objects


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_bert"), "bert")


@pytest.fixture(scope="session")
def tiny_deberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_deberta"), "deberta")


CRITERIA = {
    "diagnosis": "MDD",
    "criteria": [{"id": f"A.{i}", "text": f"Criterion {i}."} for i in range(1, 10)],
}


def write_dataset(
    folder: Path, annotations: list[dict], posts: list[dict] | None = None
) -> dict[str, str]:
    """Write ReDSM5-format CSVs + criteria JSON into ``folder``; return data.* overrides."""
    folder.mkdir(parents=True, exist_ok=True)
    ann = pd.DataFrame(annotations)
    if "explanation" not in ann:
        ann["explanation"] = "because"
    if posts is None:
        posts = [{"post_id": p, "text": f"text of {p}"} for p in dict.fromkeys(ann["post_id"])]
    pd.DataFrame(posts).to_csv(folder / "redsm5_posts.csv", index=False)
    ann.to_csv(folder / "redsm5_annotations.csv", index=False)
    (folder / "MDD_Criteira.json").write_text(json.dumps(CRITERIA), encoding="utf-8")
    return {
        "posts_path": str(folder / "redsm5_posts.csv"),
        "annotations_path": str(folder / "redsm5_annotations.csv"),
        "criteria_path": str(folder / "MDD_Criteira.json"),
    }


def row(post: str, k: int, symptom: str, status: int, text: str | None = None, **extra) -> dict:
    return {
        "post_id": post,
        "sentence_id": f"{post}_{k}",
        "sentence_text": text or f"Sentence {k} of {post}.",
        "DSM5_symptom": symptom,
        "status": status,
        **extra,
    }


MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
    "MLFLOW_TAGS",
)


def keep_mlflow_env(mp: pytest.MonkeyPatch) -> None:
    """Restore the variables tracking.setup / evaluate set when ``mp`` is undone."""
    for key in MLFLOW_ENV:
        mp.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            mp.delenv(key)


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """tracking.setup() exports MLFLOW_* for MLflowCallback; undo that after every test."""
    keep_mlflow_env(monkeypatch)


def public_names(module: ModuleType) -> set[str]:
    """The public names a module defines at its top level (functions, classes, constants)."""
    defined = set()
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return {n for n in defined if not n.startswith("_") and n not in ("log", "T")}


# ---------------------------------------------------------------- PostgreSQL


def postgres_binaries() -> tuple[Path, Path] | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        pg_ctl = Path(initdb).with_name("pg_ctl")
        if pg_ctl.exists():
            return Path(initdb), pg_ctl
    found = shutil.which("initdb"), shutil.which("pg_ctl")
    return (Path(found[0]), Path(found[1])) if all(found) else None  # type: ignore[arg-type]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (as user postgres when the tests run as root)."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    initdb, pg_ctl = binaries
    as_user: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = folder / "data"
    run = dict(check=True, capture_output=True, **as_user)
    subprocess.run([initdb, "-D", data, "-U", "postgres", "--auth=trust"], **run)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run([pg_ctl, "-D", data, "-o", options, "-l", folder / "log", "-w", "start"], **run)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, **as_user
        )
        shutil.rmtree(folder, ignore_errors=True)
