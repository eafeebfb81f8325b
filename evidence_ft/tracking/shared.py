"""Stores shared by processes: one creator of a new database, owner tags, runs of dead processes."""

from __future__ import annotations

import hashlib
import logging
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import mlflow
import psutil
from filelock import FileLock
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# Tags on every run we start: which process on which machine owns it (see end_stale_runs).
HOST_TAG, PID_TAG, STARTED_TAG = "evidence_ft.host", "evidence_ft.pid", "evidence_ft.started"
# What concurrent creators of one new database see (SQLite, PostgreSQL, MLflow, Optuna).
CREATION_RACE = ("already exists", "duplicate key", "Online migration expected")
T = TypeVar("T")


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
