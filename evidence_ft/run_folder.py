"""The folder a command writes into: claimed atomically, never another run's, resumable.

Under the ``run_*.py`` scripts Hydra creates the folder (``hydra.run.dir``, or
``hydra.sweep.dir``/``<job>`` with ``-m``) through the ``run_folder`` resolver below and keeps
``.hydra/`` in it; ``run_dir`` then claims it with ``run.json``. Called as a library
(``train(load_config([...]))``), ``run_dir`` claims a folder itself the same way.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from evidence_ft import tracking
from evidence_ft.config import validate
from evidence_ft.errors import UserError

# In every run folder: who claimed it (host, pid) and, once it starts, its MLflow run.
RUN_FILE = "run.json"
# Hydra's record of the command (config.yaml, hydra.yaml, overrides.yaml) inside a run folder.
HYDRA_SUBDIR = ".hydra"
# The run_folder resolver's answers in this process, and the folders it chose that did not
# exist before (a job that fails before writing anything removes those, never a user's).
_ANSWERS: dict[tuple[str, ...], Path] = {}
_NEW: set[Path] = set()


# ---------------------------------------------------------------------------- claiming


def fresh_folder(base: str | Path) -> Path:
    """A new, empty ``<base>/<date>/<time>`` under the cwd; ``<time>-1``, ... when taken.

    Claimed with an atomic mkdir: two commands started in the same second never share one.
    """
    now = datetime.now()
    parent = Path(base, f"{now:%Y-%m-%d}").absolute()
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count():
        path = parent / (f"{now:%H-%M-%S}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def check_new_or_empty(output_dir: str) -> Path:
    """``output_dir`` as an absolute path, refused when it holds another run's files."""
    path = Path(output_dir).absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"output_dir={output_dir} is a file; name a new folder")
    if path.is_dir() and _abandoned_claim(path):  # a run that failed before it started
        (path / RUN_FILE).unlink()
    if path.is_dir() and any(p.name != HYDRA_SUBDIR for p in path.iterdir()):
        raise UserError(
            f"output_dir={output_dir} already holds files (another run's?); choose a new "
            "folder, remove it, or continue a stopped run with resume=<that folder>"
        )
    return path


def claim_run_dir(output_dir: str, base: str = "outputs") -> Path:
    """Create and claim a run folder: ``output_dir`` (new or empty) or a fresh one under base.

    The exclusive ``run.json`` fails where another command got there first. A folder holding
    only Hydra's ``.hydra/`` (the one Hydra made for this command) counts as empty.
    """
    if output_dir:
        path = check_new_or_empty(output_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"output_dir={output_dir}: cannot create it ({err})") from err
    else:
        path = fresh_folder(base)
    try:
        with (path / RUN_FILE).open("x", encoding="utf-8") as claim:
            json.dump(tracking.process_tags(), claim)
    except FileExistsError:
        raise UserError(
            f"output_dir={output_dir or path} already holds files (another run's?); choose a "
            "new folder, remove it, or continue a stopped run with resume=<that folder>"
        ) from None
    return path


def _abandoned_claim(path: Path) -> bool:
    """Whether ``path`` holds nothing but the run.json of a dead process that never ran."""
    if sorted(p.name for p in path.iterdir() if p.name != HYDRA_SUBDIR) != [RUN_FILE]:
        return False
    info = read_claim(path)
    return bool(info) and "run_id" not in info and not tracking.owner_alive(info)


def run_dir(cfg: DictConfig, state: PartialState, resume: str | None = None) -> Path:
    """A folder of this run's own, the same on every process; ``resume`` reuses its folder.

    ``cfg.output_dir`` (set to Hydra's folder by the scripts) must be new or empty; empty
    means a fresh ``outputs/<date>/<time>`` under the cwd. The main process claims it and
    tells the others (a UserError is raised on every process).
    """
    chosen: list[Any] = [None]
    if state.is_main_process:
        try:
            chosen = [
                str(Path(resume).absolute()) if resume else str(claim_run_dir(cfg.output_dir))
            ]
        except UserError as err:
            chosen = [err]
    if state.num_processes > 1:
        broadcast_object_list(chosen)
    if isinstance(chosen[0], UserError):
        raise chosen[0]
    return Path(chosen[0])


def read_claim(folder: Path) -> dict[str, Any]:
    """``run.json`` of a run folder ({} when absent or unreadable, e.g. an older run)."""
    try:
        info = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in info.items()} if isinstance(info, dict) else {}


def write_run_file(out: Path, run_id: str, uri: str) -> None:
    """Record the MLflow run of this folder (for resume=) with the process that owns it."""
    info = {**tracking.process_tags(), "run_id": run_id, "tracking_uri": uri}
    tmp = out / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / RUN_FILE)  # atomic: a kill leaves the old file or the new one


# ---------------------------------------------------------------------------- resuming


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoints/checkpoint-<step>`` (its trainer state is written last)."""
    found = []
    for ckpt in (folder / "checkpoints").glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        try:
            json.loads((ckpt / TRAINER_STATE_NAME).read_text(encoding="utf-8"))
            found.append((int(ckpt.name.rsplit("-", 1)[1]), ckpt))
        except (OSError, ValueError):  # no state yet, cut short by a kill, or a stray name
            continue
    return max(found)[1] if found else None


def resume_config(folder: str, overrides: list[str]) -> DictConfig:
    """The config of the run in ``folder``, set to continue it there (``resume=<folder>``).

    Any other override is refused: a continued run must train exactly as it started.
    """
    path = Path(folder).expanduser().absolute()
    others = [o for o in overrides if not o.startswith("resume=")]
    if others:
        raise UserError(
            f"resume={folder} continues that run with its own config.yaml; drop {others[0]} "
            "(or start a new run without resume=)"
        )
    if not (path / "config.yaml").is_file():
        raise UserError(
            f"resume={folder}: no config.yaml there; give a run folder that run_train.py made"
        )
    if (path / "metrics.json").exists():
        raise UserError(f"resume={folder}: that run has finished (metrics.json); nothing to do")
    if last_checkpoint(path) is None:
        raise UserError(
            f"resume={folder}: no complete checkpoint in {path / 'checkpoints'}; the run stopped "
            "before its first save, so start it again without resume="
        )
    info = read_claim(path)
    here = info.get(tracking.HOST_TAG) == socket.gethostname()
    if here and info.get(tracking.PID_TAG) != str(os.getpid()) and tracking.owner_alive(info):
        raise UserError(
            f"resume={folder}: process {info[tracking.PID_TAG]} on this machine is still running "
            "that run; wait for it or stop it first"
        )
    try:
        cfg = OmegaConf.load(path / "config.yaml")
        assert isinstance(cfg, DictConfig)
        with open_dict(cfg):
            cfg.resume = str(path)
            cfg.output_dir = str(path)
            cfg.data.split_manifest = str(path / "split_manifest.json")
            if info.get("tracking_uri"):  # the store it started in, whatever the cwd is now
                cfg.tracking.uri = info["tracking_uri"]
        if cfg.get("cv", {}).get("folds"):
            raise UserError(f"resume={folder}: cross-validation runs cannot be resumed")
    except (OmegaConfBaseException, AssertionError, AttributeError) as err:
        raise UserError(f"resume={folder}: config.yaml is not a run config ({err})") from err
    validate(cfg)
    return cfg


# ---------------------------------------------------------------------------- Hydra's folder


def hydra_run_folder(base: str, output_dir: Any = "", resume: Any = "", fresh: Any = "new") -> str:
    """The ``run_folder`` resolver of ``hydra.run.dir`` / ``hydra.sweep.dir`` (configs/*.yaml).

    ``resume`` wins; then ``output_dir`` (refused when it holds files, unless ``fresh`` is
    ``reuse``); else a fresh ``<base>/<date>/<time>[-n]``. Hydra resolves the key more than
    once, so the answer is kept for the process.

    Only the main process claims a folder: the others (RANK > 0 under torchrun or accelerate
    launch) get a throwaway one and learn the real folder from the main process (run_dir).
    """
    key = (base, str(output_dir or ""), str(resume or ""), str(fresh))
    if key in _ANSWERS:
        return str(_ANSWERS[key])
    if resume:
        path = Path(str(resume)).expanduser().absolute()
    elif int(os.environ.get("RANK", "0")) > 0:
        path = Path(tempfile.mkdtemp(prefix="evidence_ft-rank-"))
    elif output_dir:
        path = (
            check_new_or_empty(str(output_dir)) if fresh == "new" else Path(output_dir).absolute()
        )
    else:
        path = fresh_folder(base)
        _NEW.add(path)
    if not path.exists():
        _NEW.add(path)
    _ANSWERS[key] = path
    return str(path)


def hydra_output_subdir(resume: Any = "") -> str | None:
    """``hydra.output_subdir``: ``.hydra``, but none on a resume (the run keeps its own record)
    or on a process other than the main one."""
    return None if resume or int(os.environ.get("RANK", "0")) > 0 else HYDRA_SUBDIR


def register_resolvers() -> None:
    """Make the resolvers above known to OmegaConf (the run_*.py scripts call this)."""
    for name, fn in (("run_folder", hydra_run_folder), ("run_record", hydra_output_subdir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def hydra_folder() -> Path | None:
    """The folder Hydra made for this job, when it keeps ``.hydra/`` there (else None)."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.output_subdir is None:
        return None
    return Path(hydra.runtime.output_dir)


def sweep_tags() -> dict[str, str]:
    """MLflow tags of a ``-m`` job: its sweep folder, job number and overrides ({} otherwise)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return {}
    hydra = HydraConfig.get()
    return {
        "sweep.dir": str(Path(hydra.sweep.dir).absolute()),
        "sweep.job": str(hydra.job.num),
        "sweep.overrides": hydra.job.override_dirname or "(none)",
    }


def drop_unused(folder: Path | None) -> None:
    """Remove a folder Hydra made for a job that failed before writing anything but .hydra/,
    with the parents (``outputs/<date>``) it leaves empty under the cwd."""
    if folder is None or not folder.is_dir():
        return
    if [p.name for p in folder.iterdir()] != [HYDRA_SUBDIR]:
        return
    shutil.rmtree(folder / HYDRA_SUBDIR, ignore_errors=True)
    if folder not in _NEW and folder.parent not in _NEW:  # -m: a job's folder in the sweep's
        return
    cwd = Path.cwd()
    for path in (folder, *folder.parents):
        if path == cwd or cwd not in path.parents:
            break
        try:
            path.rmdir()  # only while empty
        except OSError:
            break


def log_hydra_record(folder: Path) -> None:
    """On the active MLflow run: the sweep tags and Hydra's ``.hydra/`` record of the command."""
    tags = sweep_tags()
    if tags:
        mlflow.set_tags(tags)
    record = folder / HYDRA_SUBDIR
    if record.is_dir():
        mlflow.log_artifacts(str(record), "hydra")
