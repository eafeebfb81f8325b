"""The MLflow store: its URI as MLflow and Optuna open it, a quick check, and opening it."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import mlflow

from evidence_ft.errors import UserError, mask
from evidence_ft.tracking.shared import end_stale_runs, one_creator, process_tags


def resolve_uri(uri: str, base: Path | None = None) -> str:
    """The store URI as MLflow and Optuna should open it: a relative ``sqlite:///file.db``
    made absolute against ``base`` (default: the cwd), and ``with_driver`` applied.

    >>> resolve_uri("sqlite:///mlflow.db", Path("/work/x"))
    'sqlite:////work/x/mlflow.db'
    >>> resolve_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base or Path.cwd()) / uri[len(prefix) :])
    return with_driver(uri)


def with_driver(url: str) -> str:
    """``postgresql://`` with the psycopg2 driver where psycopg (3) is missing.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; the project installs
    psycopg2-binary (for Optuna's storage and MLflow's store alike). An explicit
    ``postgresql+driver://`` is kept as it is.
    """
    if not url.startswith("postgresql://"):
        return url
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def check_store(uri: str) -> None:
    """Open the store's database once, so that a bad path or server fails in seconds.

    MLflow retries a database it cannot open 10 times with exponential back-off
    (``mlflow.store.db.utils.create_sqlalchemy_engine_with_retry``, 101 s of sleeps) before it
    reports e.g. a read-only folder or a closed port; sqlite3 and the drivers answer at once.
    HTTP stores are left to MLflow (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``).
    """
    if uri.startswith("sqlite:///"):
        _check_sqlite(uri)
        return
    if not uri.startswith(("postgresql", "mysql", "mssql")):
        return
    import sqlalchemy

    try:
        timeout = {} if uri.startswith("mssql") else {"connect_timeout": 20}
        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.NullPool, connect_args=timeout)
        with engine.connect():
            pass
    except Exception as err:  # missing driver, closed port, bad user, password or database
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(
            f"tracking.uri={mask(uri)}: cannot connect to the database ({mask(first)[:200]}); "
            "check the server, user, password and database name or set tracking.uri"
        ) from err


def _check_sqlite(uri: str) -> None:
    """Open (creating) the SQLite file of ``uri``; UserError when it cannot be written."""
    path = Path(uri[len("sqlite:///") :].split("?")[0])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()  # creates an empty database, as MLflow would
        reason = "" if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK) else "read-only"
    except (OSError, sqlite3.Error) as err:
        reason = str(err) or type(err).__name__
    if reason:
        raise UserError(
            f"tracking.uri={mask(uri)}: cannot write {path} ({reason}); make that folder "
            "writable or set tracking.uri=sqlite:///<writable folder>/mlflow.db"
        )


def setup(tracking_cfg: Any) -> str:
    """Point MLflow (and ``MLflowCallback``) at the store; end runs of dead local processes.

    Opening a new store creates its tables, so concurrent commands take turns (one_creator).
    Returns the URI for display (password masked).
    """
    uri = one_creator(resolve_uri(tracking_cfg.uri), lambda: _open_store(tracking_cfg))
    end_stale_runs()
    return uri


def _open_store(tracking_cfg: Any) -> str:
    """setup's work: env vars, tracking URI, experiment (created if missing)."""
    uri = resolve_uri(tracking_cfg.uri)
    shown = mask(uri)
    # Fail in seconds, not minutes, when a tracking server is unreachable (user env wins).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    # Logging the model downloads its files again; a progress bar per run is noise in logs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    check_store(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["MLFLOW_EXPERIMENT_NAME"] = tracking_cfg.experiment
    os.environ["MLFLOW_TAGS"] = json.dumps(_env_tags())  # runs MLflowCallback starts itself
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(tracking_cfg.experiment)
        if experiment is None:
            location = Path(tracking_cfg.artifact_location).expanduser().absolute().as_uri()
            mlflow.create_experiment(tracking_cfg.experiment, artifact_location=location)
        mlflow.set_experiment(tracking_cfg.experiment)
    except Exception as err:  # any store failure: unreachable server, locked or bad database
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"tracking.uri={shown}: cannot use the MLflow store ({mask(first)[:200]}); "
            "check the server/database or set tracking.uri"
        ) from err
    return shown


def _env_tags() -> dict[str, str]:
    """``MLFLOW_TAGS`` (what MLflowCallback sets on runs it starts) with this process's tags."""
    try:
        tags = json.loads(os.environ.get("MLFLOW_TAGS") or "{}")
    except json.JSONDecodeError:
        tags = {}
    return {**(tags if isinstance(tags, dict) else {}), **process_tags()}
