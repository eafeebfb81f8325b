"""MLflow: where runs go, what each run records besides metrics, and the model registry.

Per-step metrics are logged by transformers' ``MLflowCallback`` (configured through the
environment variables it reads). This module points MLflow at the store, owns the run's
life (never left RUNNING), and logs what the callback does not: config, git state, package
versions, hardware decisions, data counts, split manifest, and the registered model.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import pandas as pd
import psutil
from filelock import FileLock
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from evidence_ft import serving
from evidence_ft.config import PROJECT_ROOT
from evidence_ft.errors import UserError
from evidence_ft.errors import mask as mask  # re-exported: tracking.mask(uri) for messages

log = logging.getLogger(__name__)

# Tags on every run we start: which process on which machine owns it (see end_stale_runs).
HOST_TAG, PID_TAG, STARTED_TAG = "evidence_ft.host", "evidence_ft.pid", "evidence_ft.started"
# What concurrent creators of one new database see (SQLite, PostgreSQL, MLflow, Optuna).
CREATION_RACE = ("already exists", "duplicate key", "Online migration expected")
T = TypeVar("T")


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


@contextlib.contextmanager
def active_run(
    run_name: str | None = None, tags: dict[str, str] | None = None, run_id: str | None = None
) -> Iterator[Any]:
    """Start a run (nested if one is active), or reopen ``run_id``; it ends FINISHED, FAILED, or
    KILLED, tagged with this host and process so a later command can tell if it died.

    SIGTERM (a scheduler or ``kill``) is turned into KeyboardInterrupt while the run is open,
    so a killed job is recorded as KILLED instead of being left RUNNING.
    """
    tags = {**(tags or {}), **process_tags()}
    nested = mlflow.active_run() is not None
    if run_id is None:
        run = mlflow.start_run(run_name=run_name, tags=tags, nested=nested)
    else:  # owner tags first, so no other command sees it RUNNING under the dead process
        client = MlflowClient()
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        run = mlflow.start_run(run_id=run_id, nested=nested)
    previous = _raise_on_sigterm()
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- stores shared by processes


def one_creator(url: str, open_it: Callable[[], T], attempts: int = 6) -> T:
    """``open_it()`` on the database at ``url``, so that only one command creates its tables.

    Workers started together on new SQLite files race to create the tables: measured here,
    1 to 3 of 4 workers failed on a new optuna.db (``table ... already exists``, ``UNIQUE
    constraint failed: alembic_version``), and the same on a new mlflow.db (``table ...
    already exists``, ``Online migration expected ...``). On one machine a file lock
    serialises them (one lock object per file, so a nested call does not wait on itself);
    elsewhere (PostgreSQL, a server) the known race errors are retried.
    """
    if url.startswith("sqlite:///"):
        digest = hashlib.sha1(url.encode()).hexdigest()[:16]
        lock = Path(tempfile.gettempdir()) / f"evidence_ft-{digest}.lock"
        with FileLock(lock, is_singleton=True):
            return open_it()
    for attempt in range(attempts):
        try:
            return open_it()
        except Exception as err:
            text = f"{err} {err.__cause__}"
            if attempt == attempts - 1 or not any(s in text for s in CREATION_RACE):
                raise
            log.info("another command is creating the database; retrying in %d s", attempt + 1)
            time.sleep(attempt + 1)
    raise AssertionError("unreachable")


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Host, pid and start time of a process (default: this one); the time tells a reused pid."""
    proc = psutil.Process(pid)
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(proc.pid),
        STARTED_TAG: f"{proc.create_time():.2f}",
    }


def owner_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process named by ``process_tags`` values still runs (True if unknowable).

    Only a process of this machine can be checked; a zombie (killed, not yet reaped) is dead.
    """
    if tags.get(HOST_TAG) != socket.gethostname() or not str(tags.get(PID_TAG, "")).isdigit():
        return True
    try:
        proc = psutil.Process(int(tags[PID_TAG]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = tags.get(STARTED_TAG)
        return started is None or abs(proc.create_time() - float(started)) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's live process
        return True


def end_stale_runs() -> list[str]:
    """End as KILLED every RUNNING run of this machine whose process is gone; return their ids.

    A process killed with SIGKILL (or a power loss) cannot end its own run; the next command
    that opens the store does. Runs of other machines are left alone: their pids mean nothing
    here.
    """
    host = socket.gethostname().replace("'", "\\'")
    try:
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
            output_format="list",
        )
        # A search trial's run can outlive its trial by design (it is ended once Optuna has
        # recorded the trial's state); search.end_orphans ends it with that state instead.
        ended = [
            run.info.run_id
            for run in runs
            if "optuna.trial" not in run.data.tags and not owner_alive(run.data.tags)
        ]
        for run_id in ended:
            MlflowClient().set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
    except Exception as err:  # housekeeping only: never stop a job for it
        log.warning("tracking: could not check for runs of dead processes (%s)", err)
        return []
    for run_id in ended:
        log.warning("tracking: run %s was left RUNNING by a dead process; marked KILLED", run_id)
    return ended


def _env_tags() -> dict[str, str]:
    """``MLFLOW_TAGS`` (what MLflowCallback sets on runs it starts) with this process's tags."""
    try:
        tags = json.loads(os.environ.get("MLFLOW_TAGS") or "{}")
    except json.JSONDecodeError:
        tags = {}
    return {**(tags if isinstance(tags, dict) else {}), **process_tags()}


def _raise_on_sigterm() -> Any:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def run_name(cfg: Any, now: datetime | None = None) -> str:
    """A readable, unique run name: model, data, seed, start time and a short random tag.

    MLflow's generated names depend on the seed-driven RNG, so every ``seed=42`` run got the
    same one.

    >>> cfg = {"model": {"name_or_path": "/x/bert-base-uncased"}, "data": {"name": "sample"},
    ...        "seed": 7}
    >>> run_name(cfg, datetime(2026, 1, 2, 3, 4, 5))[:-5]
    'bert-base-uncased-sample-seed7-20260102-030405'
    """
    model = Path(str(cfg["model"]["name_or_path"]).rstrip("/")).name
    stamp = f"{now or datetime.now():%Y%m%d-%H%M%S}"
    return f"{model}-{cfg['data']['name']}-seed{cfg['seed']}-{stamp}-{uuid.uuid4().hex[:4]}"


# ---------------------------------------------------------------------------- run metadata


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"a.b": "value"}; lists stay one value.

    >>> flatten({"data": {"max_length": 512, "ratios": [0.7, 0.3]}, "seed": 1})
    {'data.max_length': '512', 'data.ratios': '[0.7, 0.3]', 'seed': '1'}
    """
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


def git_state(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Commit SHA and dirty flag of the project checkout ("unknown" outside a git checkout)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"git_sha": "unknown", "git_dirty": "unknown"}
    return {"git_sha": sha, "git_dirty": str(bool(dirty)).lower(), "mlflow.source.git.commit": sha}


def pip_freeze() -> str:
    """Installed distributions as ``name==version`` lines (what ``pip freeze`` lists)."""
    names = {
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
    }
    return "\n".join(sorted(names, key=str.lower)) + "\n"


def log_run_metadata(
    cfg_yaml: str,
    cfg_tree: Mapping[str, Any],
    files: Mapping[str, Any],
    params: Mapping[str, Any],
) -> None:
    """Config (YAML + flattened params), git tags, pip freeze and JSON artifacts on the run."""
    flat = {**flatten(cfg_tree), **{k: str(v) for k, v in params.items()}}
    too_long = [k for k, v in flat.items() if len(v) > 6000]
    if too_long:  # MLflow rejects longer values; the YAML artifact still has them whole
        log.warning("tracking: params %s are too long for MLflow; see config.yaml", too_long)
    items = [(k, v) for k, v in flat.items() if k not in too_long]
    for start in range(0, len(items), 100):  # log_params takes at most 100 per call
        mlflow.log_params(dict(items[start : start + 100]))
    mlflow.set_tags(git_state())
    mlflow.log_text(cfg_yaml, "config.yaml")
    mlflow.log_text(pip_freeze(), "pip_freeze.txt")
    for name, value in files.items():
        mlflow.log_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", name)


# ---------------------------------------------------------------------------- the model


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """No Hub look-ups while MLflow logs a model (offline they cost ~47 s of retries)."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def log_model(model_dir: Path, input_example: pd.DataFrame, model_config: Mapping[str, Any]) -> str:
    """Log a saved model folder as an MLflow pyfunc (``runs:/<id>/model``); return its URI.

    The pyfunc is ``evidence_ft/serving.py`` logged as a model from code, with the folder as
    its artifact: it scores (criterion, sentence) pairs as pairs and decides at the folder's
    ``decision_threshold``, wherever it is loaded or served. ``model_config`` holds the
    tokenizer ``max_length`` and the prediction ``batch_size``.
    """
    import mlflow.pyfunc

    requirements = [
        f"{name}=={importlib.metadata.version(name).split('+')[0]}"  # no local "+cpu" tag
        for name in ("mlflow", "torch", "transformers", "pandas", "numpy")
    ]
    with _hub_offline():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=serving.__file__,
            artifacts={serving.HF_ARTIFACT: str(model_dir)},
            model_config=dict(model_config),
            signature=serving.model_signature(),
            input_example=input_example,
            pip_requirements=requirements,
        )
    return str(info.model_uri)


def should_register(tracking_cfg: Any, max_steps: int | None) -> bool:
    """Whether ``tracking.register`` (auto|always|never) registers this run's model.

    ``auto`` leaves out smoke runs, those cut short by ``training.max_steps > 0``; nothing is
    registered without a ``tracking.registered_model`` name.

    >>> from types import SimpleNamespace as NS
    >>> should_register(NS(registered_model="m", register="auto"), 2)
    False
    >>> should_register(NS(registered_model="m", register="auto"), -1)
    True
    >>> should_register(NS(registered_model="m", register="always"), 2)
    True
    """
    if not tracking_cfg.registered_model or tracking_cfg.register == "never":
        return False
    return tracking_cfg.register == "always" or not (max_steps or 0) > 0


# The metrics a registered version carries as tags (and in its description).
VERSION_METRICS = (
    "test_f1",
    "test_macro_f1",
    "test_mcc",
    "test_at_threshold_f1",
    "test_at_threshold_macro_f1",
    "test_at_threshold_mcc",
    "test_constant_f1",
    "test_constant_macro_f1",
    "decision_threshold",
)


def version_details(
    metrics: Mapping[str, Any], data_name: str, base_model: str, run_id: str
) -> tuple[str, dict[str, str]]:
    """A model version's description (markdown) and tags: test metrics, baseline, data, run."""
    tags = {k: f"{metrics[k]:.4f}" for k in VERSION_METRICS if k in metrics}
    tags |= {"data": data_name, "base_model": base_model, "run_id": run_id}
    tags["run_model_uri"] = f"runs:/{run_id}/model"

    def m(key: str) -> str:
        return tags.get(key, "-")

    description = (
        f"evidence_ft classifier fine-tuned from `{base_model}` on `{data_name}`; "
        f"training run `{run_id}` (`runs:/{run_id}/model`).\n\n"
        f"Test (threshold 0.5): F1 {m('test_f1')}, macro-F1 {m('test_macro_f1')}, "
        f"MCC {m('test_mcc')}. At the decision threshold {m('decision_threshold')}: "
        f"F1 {m('test_at_threshold_f1')}, macro-F1 {m('test_at_threshold_macro_f1')}, "
        f"MCC {m('test_at_threshold_mcc')}. A constant 'evidence' predictor: "
        f"F1 {m('test_constant_f1')}, macro-F1 {m('test_constant_macro_f1')}, MCC 0."
    )
    return description, tags


def register_model(model_uri: str, name: str, description: str, tags: Mapping[str, str]) -> str:
    """Register a logged model as a new version of ``name``; return the version number."""
    version = mlflow.register_model(model_uri, name, tags=dict(tags))
    mlflow.MlflowClient().update_model_version(name, version.version, description=description)
    return str(version.version)
