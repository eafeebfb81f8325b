"""What a run records besides metrics: config, git state, installed packages, JSON files."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow

from evidence_ft.config import PROJECT_ROOT

log = logging.getLogger(__name__)


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


def log_config_and_environment(
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
