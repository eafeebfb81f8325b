"""Stores and disks: passwords never printed, one driver choice, fast failures, one line."""

import errno
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf

from evidence_ft import data, tracking
from evidence_ft.checkpoints import Checkpoint, load_checkpoint
from evidence_ft.config import PROJECT_ROOT
from evidence_ft.errors import UserError, disk_error, exit_on_user_error, mask
from tests.conftest import public_names

ROOT_USER = os.geteuid() == 0

# ---------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://me:secret@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("postgresql+psycopg2://me:s%40c@db/x", "postgresql+psycopg2://me:***@db/x"),
        ("http://user:password@host:5000", "http://user:***@host:5000"),
        ("https://u:p/w@mlflow.example.org/api", "https://u:***@mlflow.example.org/api"),
        ("redis://:token@cache:6379", "redis://:***@cache:6379"),
        (
            "at http://a:one@h1 and postgresql://b:two@h2/db.",
            "at http://a:***@h1 and postgresql://b:***@h2/db.",
        ),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://127.0.0.1:5000/api/2.0", "http://127.0.0.1:5000/api/2.0"),
        ("http://user@host", "http://user@host"),
    ],
)
def test_mask_hides_every_password(text, shown):
    assert mask(text) == shown and tracking.mask(text) == shown


def test_every_error_line_is_masked(capsys):
    def main():
        raise UserError("tracking.uri=http://me:hunter2@host: cannot use the MLflow store")

    with pytest.raises(SystemExit) as info:
        exit_on_user_error(main)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "hunter2" not in err and "http://me:***@host" in err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_setup_error_on_an_http_store_does_not_show_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://me:hunter2@127.0.0.1:{closed_port()}"
    cfg = OmegaConf.create(
        {"uri": uri, "experiment": "e", "artifact_location": str(tmp_path / "mlruns")}
    )
    with pytest.raises(UserError) as info:
        tracking.setup(cfg)
    assert "hunter2" not in str(info.value) and "me:***@127.0.0.1" in str(info.value)
    assert "\n" not in str(info.value)


def test_unreachable_postgresql_store_fails_in_seconds_without_the_password(tmp_path):
    uri = f"postgresql://me:hunter2@127.0.0.1:{closed_port()}/mlflow"
    cfg = OmegaConf.create(
        {"uri": uri, "experiment": "e", "artifact_location": str(tmp_path / "mlruns")}
    )
    start = time.monotonic()
    with pytest.raises(UserError) as info:
        tracking.setup(cfg)
    # MLflow alone retries for ~101 s (10 attempts, exponential back-off) before it reports
    assert time.monotonic() - start < 10
    assert "hunter2" not in str(info.value) and "me:***@127.0.0.1" in str(info.value)
    assert "cannot connect to the database" in str(info.value)


# ---------------------------------------------------------------------------- one driver choice


@pytest.mark.parametrize(
    ("installed", "uri", "expected"),
    [
        ({"psycopg2"}, "postgresql://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ({"psycopg", "psycopg2"}, "postgresql://u:p@h/db", "postgresql://u:p@h/db"),
        ({"psycopg2"}, "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        (set(), "postgresql://u@h/db", "postgresql://u@h/db"),
        ({"psycopg2"}, "http://h:5000", "http://h:5000"),
    ],
)
def test_resolve_uri_picks_the_installed_postgresql_driver(installed, uri, expected, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (
            (real("json") if name in installed else None)
            if name in ("psycopg", "psycopg2")
            else real(name, *a)
        ),
    )
    assert tracking.resolve_uri(uri) == expected == tracking.with_driver(uri)


@pytest.mark.integration  # starts a PostgreSQL server (about 18 s)
def test_mlflow_runs_on_a_bare_postgresql_uri(postgres_url, tmp_path):  # noqa: F811
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which the project does not install
    cfg = OmegaConf.create(
        {"uri": postgres_url, "experiment": "e", "artifact_location": str(tmp_path / "mlruns")}
    )
    shown = tracking.setup(cfg)
    assert shown.startswith("postgresql+psycopg2://")
    with tracking.active_run("r") as run:
        mlflow.log_param("a", 1)
    assert mlflow.get_run(run.info.run_id).data.params == {"a": "1"}


# ---------------------------------------------------------------------------- unwritable sqlite


def sqlite_cfg(path: Path) -> dict:
    return {"uri": f"sqlite:///{path}", "experiment": "e", "artifact_location": str(path.parent)}


def assert_fails_fast(cfg: dict) -> str:
    start = time.monotonic()
    with pytest.raises(UserError) as info:
        tracking.setup(OmegaConf.create(cfg))
    # MLflow alone retries for ~101 s (10 attempts, exponential back-off) before it reports
    assert time.monotonic() - start < 10
    assert "\n" not in str(info.value) and "tracking.uri=sqlite:///" in str(info.value)
    return str(info.value)


@pytest.mark.skipif(ROOT_USER, reason="root writes into a chmod 555 folder anyway")
def test_sqlite_store_in_a_read_only_folder_fails_in_seconds(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert "cannot write" in assert_fails_fast(sqlite_cfg(folder / "mlflow.db"))
    finally:
        folder.chmod(0o755)


def test_sqlite_store_in_an_unwritable_system_folder_fails_in_seconds():
    # /proc takes no new files, not even from root: a real unwritable folder for any user
    assert "unable to open database file" in assert_fails_fast(sqlite_cfg(Path("/proc/mlflow.db")))


def test_read_only_sqlite_file_fails_in_seconds(tmp_path, monkeypatch):
    path = tmp_path / "mlflow.db"
    sqlite3.connect(path).close()
    path.chmod(0o444)
    if ROOT_USER:  # root may write a 0444 file: simulate what a non-root user sees
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != path)
    assert "read-only" in assert_fails_fast(sqlite_cfg(path))


def test_sqlite_store_that_is_a_folder_fails_in_seconds(tmp_path):
    assert "unable to open database file" in assert_fails_fast(sqlite_cfg(tmp_path))


# ---------------------------------------------------------------------------- full disk


def run_main(main, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(main)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_while_writing_the_run_folder_is_one_line(tmp_path, capsys):
    target = tmp_path / "run" / "split_manifest.json"
    target.parent.mkdir()
    target.symlink_to("/dev/full")  # every write to /dev/full fails with a real ENOSPC
    line = run_main(lambda: data.save_manifest({"train": []}, target), capsys)
    # a write()'s OSError names no file: the path comes from the failing frames
    assert line.startswith(f"error: {target}: no space left on the device; free space there")
    assert "output_dir=<folder>" in line


@pytest.mark.parametrize(
    ("code", "what"),
    [
        (errno.ENOSPC, "no space left on the device; free space there"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied; make it writable"),
    ],
)
def test_disk_errors_name_the_path_and_the_fix(code, what, tmp_path, monkeypatch, capsys):
    out = tmp_path / "outputs" / "run"

    def refuse(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    line = run_main(lambda: out.mkdir(parents=True), capsys)
    assert f"error: {out}: {what}" in line and "tracking.uri=sqlite:///<folder>" in line


@pytest.mark.skipif(ROOT_USER, reason="root writes into a chmod 555 folder anyway")
def test_a_read_only_output_folder_is_one_line(tmp_path, capsys):
    tmp_path.chmod(0o555)
    try:
        line = run_main(lambda: (tmp_path / "outputs").mkdir(), capsys)
    finally:
        tmp_path.chmod(0o755)
    assert "permission denied" in line and str(tmp_path / "outputs") in line


def test_disk_errors_wrapped_by_libraries_are_found():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/data/model.safetensors")
        except OSError as inner:
            raise RuntimeError("could not save the checkpoint") from inner
    except RuntimeError as outer:
        assert disk_error(outer).startswith("/data/model.safetensors: no space left")
    # safetensors / torch / sqlite3 report it in their own words, without the OSError
    said = 'Error while serializing: IoError(Os { code: 28, message: "No space left on device" })'
    assert disk_error(RuntimeError(said)).startswith("a write failed: no space left")
    assert "read-only" in disk_error(
        sqlite3.OperationalError("attempt to write a readonly database")
    )
    assert disk_error(OSError(errno.ENOENT, "No such file or directory", "x")) is None


def test_other_errors_still_raise():
    with pytest.raises(FileNotFoundError):
        exit_on_user_error(Path("/no/such/file").read_text)


# ---------------------------------------------------------------------------- checkpoints


def checkpoint(folder: Path) -> Checkpoint:
    return Checkpoint(str(folder), folder, folder, None, {})


def test_checkpoint_without_weights_is_one_line(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    for name in ("model.safetensors", "pytorch_model.bin"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(UserError, match="config.json but no weights") as info:
        load_checkpoint(checkpoint(folder))
    assert "\n" not in str(info.value)


def test_truncated_weights_are_one_line(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="cannot load the model or tokenizer") as info:
        load_checkpoint(checkpoint(folder))
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- end to end


@pytest.mark.integration
def test_run_train_with_an_unwritable_store_stops_in_one_line(tiny_bert, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "run_train.py"),
            "data=sample",
            f"model.name_or_path={tiny_bert}",
            "tracking.uri=sqlite:////proc/mlflow.db",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "retried" not in result.stderr  # MLflow's back-off never started
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: tracking.uri=sqlite:////proc/mlflow.db: cannot write")
    assert not (tmp_path / "outputs").exists()


def test_the_tracking_package_reexports_every_public_name_of_its_modules():
    # callers write tracking.setup(...) whichever module of the package defines the name
    from evidence_ft.tracking import metadata, model, runs, shared, store

    for module in (metadata, model, runs, shared, store):
        own = public_names(module)
        assert own and own <= set(tracking.__all__), (module.__name__, own - set(tracking.__all__))
        assert all(getattr(tracking, name) is getattr(module, name) for name in own)
