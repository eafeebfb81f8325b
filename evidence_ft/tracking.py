"""MLflow set-up and the run context: where runs go, and that no run is left RUNNING.

Metrics are logged by transformers' ``MLflowCallback`` (configured through the environment
variables it reads); this module only points MLflow at the store and owns the run's life.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus

from evidence_ft.errors import UserError

log = logging.getLogger(__name__)


def resolve_uri(uri: str, base: Path | None = None) -> str:
    """Make a relative ``sqlite:///file.db`` absolute against ``base`` (default: the cwd).

    >>> resolve_uri("sqlite:///mlflow.db", Path("/work/x"))
    'sqlite:////work/x/mlflow.db'
    >>> resolve_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base or Path.cwd()) / uri[len(prefix) :])
    return uri


def setup(tracking_cfg: Any) -> str:
    """Point MLflow (and ``MLflowCallback``, through its env vars) at the configured store."""
    uri = resolve_uri(tracking_cfg.uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["MLFLOW_EXPERIMENT_NAME"] = tracking_cfg.experiment
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
            f"tracking.uri={tracking_cfg.uri}: cannot use the MLflow store ({first[:200]}); "
            "check the server/database or set tracking.uri"
        ) from err
    return uri


@contextlib.contextmanager
def active_run(run_name: str | None = None, tags: dict[str, str] | None = None) -> Iterator[Any]:
    """Start a run that ends FINISHED, FAILED on an exception, or KILLED on Ctrl-C."""
    run = mlflow.start_run(run_name=run_name, tags=tags)
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
