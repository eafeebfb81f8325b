"""MLflow: where runs go, what each run records besides metrics, and the model registry.

Per-step metrics are logged by transformers' ``MLflowCallback`` (configured through the
environment variables it reads). This package points MLflow at the store (``store``), lets
concurrent commands share it (``shared``), owns the run's life, never left RUNNING
(``runs``), and logs what the callback does not (``metadata``: config, git state, package
versions, JSON files such as hardware decisions, data counts and split manifest; ``model``:
the logged and registered model). Every public name is re-exported here.
"""

from evidence_ft.errors import mask as mask  # re-exported: tracking.mask(uri) for messages
from evidence_ft.tracking.metadata import (
    flatten,
    git_state,
    log_config_and_environment,
    pip_freeze,
)
from evidence_ft.tracking.model import (
    VERSION_METRICS,
    log_model,
    register_model,
    should_register,
    version_details,
)
from evidence_ft.tracking.runs import active_run, run_name
from evidence_ft.tracking.shared import (
    CREATION_RACE,
    HOST_TAG,
    PID_TAG,
    STARTED_TAG,
    end_stale_runs,
    one_creator,
    owner_alive,
    process_tags,
)
from evidence_ft.tracking.store import check_store, resolve_uri, setup, with_driver

__all__ = [
    "CREATION_RACE",
    "HOST_TAG",
    "PID_TAG",
    "STARTED_TAG",
    "VERSION_METRICS",
    "active_run",
    "check_store",
    "end_stale_runs",
    "flatten",
    "git_state",
    "log_config_and_environment",
    "log_model",
    "mask",
    "one_creator",
    "owner_alive",
    "pip_freeze",
    "process_tags",
    "register_model",
    "resolve_uri",
    "run_name",
    "setup",
    "should_register",
    "version_details",
    "with_driver",
]
