"""A run's life (ended FINISHED, FAILED or KILLED, never left RUNNING) and its name."""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from evidence_ft.tracking.shared import process_tags


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
