"""Resolve ``checkpoint=`` (local folder, ``runs:/``, ``models:/``) to model files and its run.

A local folder is a plain Hugging Face folder (``<run_dir>/model``) beside the run's
``config.yaml``, ``split_manifest.json`` and ``metrics.json``. An MLflow URI is downloaded to a
temporary folder: ``MLmodel`` and the Hugging Face folder it names as the ``hf_model``
artifact (the pyfunc of ``evidence_ft/serving.py``), or ``model/`` + ``components/tokenizer/``
(models logged as MLflow transformers models before); the training run's artifacts come too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import (
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)

from evidence_ft.errors import UserError
from evidence_ft.serving import HF_ARTIFACT

CHECKPOINT_HINT = (
    "give a run folder's model/ (outputs/<date>/<time>/model), runs:/<run_id>/model, "
    "models:/<name>/<version> or models:/<name>@<alias>"
)


# The files transformers' from_pretrained reads weights from (one of them must be there).
WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)


@dataclass
class Checkpoint:
    """Where a checkpoint's files are on disk, and the training run they came from."""

    source: str
    model_dir: Path
    tokenizer_dir: Path
    run_id: str | None
    run_files: dict[str, Any]  # parsed config.yaml / split_manifest.json / metrics.json, if found


# ---------------------------------------------------------------------------- the checkpoint


@contextlib.contextmanager
def resolve_checkpoint(checkpoint: str) -> Iterator[Checkpoint]:
    """A local folder as it is; ``runs:/`` and ``models:/`` URIs downloaded to a temp folder."""
    if not checkpoint.startswith(("runs:/", "models:/")):
        yield _local_checkpoint(checkpoint)
        return
    run_id = _run_id_of(checkpoint)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="evidence_ft_eval_") as tmp:
        try:
            root = Path(mlflow.artifacts.download_artifacts(artifact_uri=checkpoint, dst_path=tmp))
        except (MlflowException, OSError) as err:
            raise _uri_error(checkpoint, err) from err
        model_dir, tokenizer_dir = _model_folders(root)
        yield Checkpoint(checkpoint, model_dir, tokenizer_dir, run_id, _mlflow_run_files(run_id))


def _model_folders(root: Path) -> tuple[Path, Path]:
    """(weights, tokenizer) folders inside a downloaded MLflow model (or a plain folder)."""
    if not (root / "MLmodel").is_file():
        return root, root
    flavor = Model.load(str(root / "MLmodel")).flavors.get("python_function", {})
    artifact = (flavor.get("artifacts") or {}).get(HF_ARTIFACT)
    if artifact:  # the pyfunc of evidence_ft/serving.py
        return root / artifact["path"], root / artifact["path"]
    tokenizer = root / "components" / "tokenizer"  # the MLflow transformers flavor
    return root / "model", tokenizer if tokenizer.is_dir() else root / "model"


def _local_checkpoint(checkpoint: str) -> Checkpoint:
    folder = Path(checkpoint).expanduser().absolute()
    if not folder.is_dir():
        raise UserError(f"checkpoint={checkpoint}: no such folder; {CHECKPOINT_HINT}")
    if not (folder / "config.json").is_file() and (folder / "model" / "config.json").is_file():
        folder = folder / "model"  # the run folder itself was given
    if not (folder / "config.json").is_file():
        raise UserError(
            f"checkpoint={checkpoint}: not a Hugging Face model folder (no config.json); "
            f"{CHECKPOINT_HINT}"
        )
    run_dir = folder.parent
    files = {
        "config": read_run_file(run_dir / "config.yaml"),
        "manifest": read_run_file(run_dir / "split_manifest.json"),
        "metrics": read_run_file(run_dir / "metrics.json"),
    }
    return Checkpoint(str(folder), folder, folder, None, files)


def read_run_file(path: Path) -> Any:
    """A run file parsed (JSON or YAML), or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        parsed = json.loads(text) if path.suffix == ".json" else OmegaConf.create(text)
    except (UnicodeDecodeError, ValueError, OmegaConfBaseException, yaml.YAMLError) as err:
        raise UserError(
            f"{path}: cannot parse this run file ({type(err).__name__}); it is truncated or "
            "was edited: restore it from the run's MLflow artifacts or delete it"
        ) from err
    if not isinstance(parsed, (dict, DictConfig)):
        raise UserError(f"{path}: expected a mapping, found {type(parsed).__name__}")
    return parsed


def _run_id_of(uri: str) -> str:
    """The training run behind ``runs:/<id>/...`` or a registered ``models:/`` version."""
    client = mlflow.MlflowClient()
    try:
        if uri.startswith("runs:/"):
            run_id = uri[len("runs:/") :].split("/")[0]
            client.get_run(run_id)
            return run_id
        match = re.fullmatch(r"models:/([^/@]+)(?:/([^/]+)|@([^/]+))/?", uri)
        if not match:
            raise UserError(f"checkpoint={uri}: not a model URI; {CHECKPOINT_HINT}")
        name, version, alias = match.groups()
        if alias:
            found = client.get_model_version_by_alias(name, alias)
        elif version.isdigit():
            found = client.get_model_version(name, version)
        else:  # e.g. models:/<name>/latest
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise UserError(f"checkpoint={uri}: no registered model named {name!r}")
            found = max(versions, key=lambda v: int(v.version))
    except MlflowException as err:
        raise _uri_error(uri, err) from err
    if not found.run_id:
        raise UserError(f"checkpoint={uri}: this model version records no training run")
    return str(found.run_id)


def _uri_error(uri: str, err: Exception) -> UserError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    return UserError(
        f"checkpoint={uri}: not found in the MLflow store {mlflow.get_tracking_uri()} ({first}); "
        "check the id/name or tracking.uri"
    )


def _mlflow_run_files(run_id: str) -> dict[str, Any]:
    """The training run's config, manifest and metrics artifacts (None where absent)."""
    names = {"config": "config.yaml", "manifest": "split_manifest.json", "metrics": "metrics.json"}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="evidence_ft_run_") as tmp:
        for key, name in names.items():
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=name, dst_path=tmp
                )
                out[key] = read_run_file(Path(path))
            except (MlflowException, OSError):
                out[key] = None
    return out


def load_checkpoint(ckpt: Checkpoint) -> tuple[Any, Any]:
    """The 2-label sequence classifier and its tokenizer; UserError for anything else."""
    try:
        config = AutoConfig.from_pretrained(ckpt.model_dir)
    except (OSError, ValueError) as err:
        raise UserError(f"checkpoint={ckpt.source}: cannot read config.json ({err})") from err
    architectures = list(getattr(config, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise UserError(
            f"checkpoint={ckpt.source}: {architectures or 'an unnamed architecture'} is not a "
            "sequence classifier; evaluate a model saved by run_train.py"
        )
    if config.num_labels != 2:
        raise UserError(f"checkpoint={ckpt.source}: has {config.num_labels} labels, expected 2")
    if ckpt.model_dir.is_dir() and not any((ckpt.model_dir / n).is_file() for n in WEIGHT_FILES):
        raise UserError(
            f"checkpoint={ckpt.source}: config.json but no weights ({SAFE_WEIGHTS_NAME} or "
            f"{WEIGHTS_NAME}); the save was cut short or it is not a model folder; "
            + CHECKPOINT_HINT
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(ckpt.model_dir)
        tokenizer = AutoTokenizer.from_pretrained(ckpt.tokenizer_dir)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:  # truncated/corrupt
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(
            f"checkpoint={ckpt.source}: cannot load the model or tokenizer ({first}); "
            "save it again with run_train.py or point at another checkpoint"
        ) from err
    return model, tokenizer


def training_run_id(ckpt: Checkpoint, model: Any) -> str | None:
    """The training run's id: from the URI, the model config, or the run's output_dir param."""
    if ckpt.run_id:
        return ckpt.run_id
    recorded = getattr(model.config, "mlflow_run_id", None)
    if recorded:
        return str(recorded)
    # MLflowCallback logs TrainingArguments.output_dir = <run_dir>/checkpoints as a param.
    output_dir = str(ckpt.model_dir.parent / "checkpoints").replace("'", "\\'")
    try:
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"params.output_dir = '{output_dir}'",
            output_format="list",
        )
    except MlflowException:
        return None
    return runs[0].info.run_id if runs else None
