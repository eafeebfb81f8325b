"""MLflow: where runs go, what each run records besides metrics, and the model registry.

Per-step metrics are logged by transformers' ``MLflowCallback`` (configured through the
environment variables it reads). This module points MLflow at the store, owns the run's
life (never left RUNNING), and logs what the callback does not: config, git state, package
versions, hardware decisions, data counts, split manifest, and the registered model.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus

from evidence_ft.config import PROJECT_ROOT
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
    # Fail in seconds, not minutes, when a tracking server is unreachable (user env wins).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
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
    """Start a run (nested if one is active) that ends FINISHED, FAILED, or KILLED.

    SIGTERM (a scheduler or ``kill``) is turned into KeyboardInterrupt while the run is open,
    so a killed job is recorded as KILLED instead of being left RUNNING.
    """
    run = mlflow.start_run(run_name=run_name, tags=tags, nested=mlflow.active_run() is not None)
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
    """MLflow looks up model cards on the Hub; offline that costs ~47 s of retries."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def log_model(
    model: Any, tokenizer: Any, card: str, registered_name: str | None
) -> tuple[str, str | None]:
    """Log the model as an MLflow transformers model (``runs:/<id>/model``) and register it.

    Returns the model URI and the registered version (None when not registered).
    """
    import mlflow.transformers
    from huggingface_hub import ModelCard

    requirements = [
        f"{name}=={importlib.metadata.version(name)}"
        for name in ("torch", "transformers", "accelerate")
    ]
    with _hub_offline():
        info = mlflow.transformers.log_model(
            {"model": model, "tokenizer": tokenizer},
            name="model",
            task="text-classification",
            model_card=ModelCard(card),
            pip_requirements=[r.split("+")[0] for r in requirements],
            registered_model_name=registered_name,
        )
    version = info.registered_model_version
    return info.model_uri, None if version is None else str(version)
