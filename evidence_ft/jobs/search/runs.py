"""One MLflow run per trial, ended with the state Optuna recorded, and what dead workers left."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import mlflow
import optuna
from mlflow.entities import RunStatus
from optuna.trial import FrozenTrial, TrialState

from evidence_ft import tracking
from evidence_ft.tracking import PID_TAG

log = logging.getLogger(__name__)


def end_trial_run(run_id: str, trial: FrozenTrial | None, interrupted: bool = False) -> None:
    """End a trial's MLflow run with the state Optuna recorded (tag ``optuna.state``, objective).

    COMPLETE and PRUNED end FINISHED; a failed trial ends KILLED when its worker was stopped or
    died, FAILED when it raised.
    """
    state = trial.state if trial is not None else TrialState.FAIL
    client = mlflow.MlflowClient()
    client.set_tag(run_id, "optuna.state", state.name)
    if state == TrialState.COMPLETE and trial is not None and trial.value is not None:
        client.log_metric(run_id, "objective", trial.value)
    if state in (TrialState.COMPLETE, TrialState.PRUNED):
        status = RunStatus.FINISHED
    else:
        status = RunStatus.KILLED if interrupted else RunStatus.FAILED
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(RunStatus.to_string(status))
    else:
        client.set_terminated(run_id, RunStatus.to_string(status))


def end_stale_trial_runs(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's ``failed_trial_callback``: the trial's heartbeat stopped, so its worker died
    (on any host): its MLflow run and the search run above it end KILLED."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    log.info("trial %d: no heartbeat for search.grace_period: FAIL", trial.number)
    if run_id is None:  # died before its run started
        return
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    if run.info.status == "RUNNING":
        end_trial_run(run_id, trial, interrupted=True)
    parent = run.data.tags.get("mlflow.parentRunId")
    ours = mlflow.active_run()
    if parent and (ours is None or parent != ours.info.run_id) and _running(client, parent):
        client.set_terminated(parent, RunStatus.to_string(RunStatus.KILLED))


def end_orphans(
    study: optuna.Study, tags: dict[str, str], experiment_id: str, grace_s: int
) -> None:
    """End what dead workers of this study left RUNNING, in Optuna and in MLflow.

    A worker killed with SIGKILL ends nothing: its trial stays RUNNING in Optuna, and its trial
    runs (also that of a trial Optuna had already recorded) and its search run stay RUNNING in
    MLflow. Optuna's heartbeat fails such a trial only after ``search.grace_period``. Here, on
    the worker's own host, its ``pid`` tag shows at once that it is gone: its running trial
    becomes FAIL, its trial runs end with their trial's state, its search run (and a refit
    under it) KILLED. A trial run of another host ends once its trial has been finished for
    longer than the grace period (a live worker ends it within seconds).
    """
    for unfinished in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not tracking.owner_alive(unfinished.user_attrs):  # died before its MLflow run started
            _fail(study, unfinished)
    client = mlflow.MlflowClient()
    numbers = {str(t.number): t for t in study.get_trials(deepcopy=False)}
    running = [
        run
        for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
        if all(run.data.tags.get(k) == v for k, v in tags.items())
    ]
    # trial runs first: a dead search run's children that are still RUNNING are then refits
    running.sort(key=lambda run: "optuna.trial" not in run.data.tags)
    for run in running:
        run_tags, run_id = run.data.tags, run.info.run_id
        dead = not tracking.owner_alive(run_tags)
        if "optuna.trial" not in run_tags:
            if dead:
                log.info(
                    "search run %s: its worker (pid %s) is gone: KILLED", run_id, run_tags[PID_TAG]
                )
                _kill_with_children(client, experiment_id, run_id)
            continue
        trial = numbers.get(run_tags["optuna.trial"])
        if trial is None or (trial.state == TrialState.RUNNING and not dead):
            continue  # a live worker's, or another study's with the same name
        if trial.state == TrialState.RUNNING:
            trial = _fail(study, trial)
        finished = trial.datetime_complete or datetime.now()
        if dead or datetime.now() - finished > timedelta(seconds=grace_s):
            log.info("trial %d: its worker is gone: run %s ends", trial.number, run_id)
            end_trial_run(run_id, trial, interrupted=True)


def _fail(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """Record a dead worker's running trial as FAIL (another worker may be doing the same)."""
    log.info(
        "trial %d: its worker (pid %s) is gone: FAIL", trial.number, trial.user_attrs.get(PID_TAG)
    )
    return study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _kill_with_children(client: mlflow.MlflowClient, experiment_id: str, run_id: str) -> None:
    children = client.search_runs(
        [experiment_id], f"attributes.status = 'RUNNING' and tags.mlflow.parentRunId = '{run_id}'"
    )
    for run in [*children, client.get_run(run_id)]:
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))


class TrialRuns:
    """Nested MLflow runs, one per trial, ended with the state Optuna recorded for it."""

    def __init__(self, study_name: str, storage: str, experiment_id: str, grace_s: int) -> None:
        self.tags = {"optuna.study": study_name, "optuna.storage": storage}
        self.experiment_id, self.grace_s = experiment_id, grace_s
        self.open: tuple[str, optuna.Trial] | None = None

    def end_orphans(self, study: optuna.Study) -> None:
        end_orphans(study, self.tags, self.experiment_id, self.grace_s)

    def start(self, trial: optuna.Trial, params: dict[str, Any], rss_mb: float) -> None:
        """The trial's run, its id and this process stored on the Optuna trial (user attrs)."""
        self.close()
        self.end_orphans(trial.study)
        me = tracking.process_tags()
        for key, value in me.items():
            trial.set_user_attr(key, value)
        run = mlflow.start_run(
            run_name=f"trial-{trial.number}",
            nested=True,
            tags={**self.tags, "optuna.trial": str(trial.number), **me},
        )
        trial.set_user_attr("mlflow_run_id", run.info.run_id)
        mlflow.log_params(params)
        mlflow.log_metric("rss_mb_at_start", rss_mb)
        self.open = (run.info.run_id, trial)

    def close(self, interrupted: bool = False) -> None:
        """End the open trial's run, and log one line about the trial."""
        if self.open is None:
            return
        run_id, trial = self.open
        self.open = None
        frozen = _frozen(trial)
        end_trial_run(run_id, frozen, interrupted)
        if frozen is not None:
            log.info("%s", trial_line(frozen))


def trial_line(trial: FrozenTrial) -> str:
    """One line about a finished trial: number, state, objective, epochs, duration, params.

    >>> from optuna.distributions import FloatDistribution
    >>> t = optuna.trial.create_trial(value=0.8, params={"training.learning_rate": 3e-05},
    ...     distributions={"training.learning_rate": FloatDistribution(1e-5, 1e-4)},
    ...     intermediate_values={1: 0.7, 2: 0.8})
    >>> t.number = 4
    >>> trial_line(t).split(" in ")[0]
    'trial 4 COMPLETE: objective 0.8000 after 2 epochs'
    """
    value = "" if trial.value is None else f": objective {trial.value:.4f}"
    seconds = trial.duration.total_seconds() if trial.duration else float("nan")
    params = ", ".join(f"{k.split('.')[-1]}={short(v)}" for k, v in trial.params.items())
    epochs = len(trial.intermediate_values)
    return (
        f"trial {trial.number} {trial.state.name}{value} after {epochs} epoch"
        f"{'' if epochs == 1 else 's'}"
        f" in {seconds:.0f} s ({params})"
    )


def _running(client: mlflow.MlflowClient, run_id: str) -> bool:
    return client.get_run(run_id).info.status == "RUNNING"


def _frozen(trial: optuna.Trial) -> FrozenTrial | None:
    found = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
    return found[0] if found else None


def short(value: Any) -> str:
    """A parameter value for a one-line display: floats to 4 significant digits.

    >>> short(3.14159e-05), short("uniform")
    ('3.142e-05', 'uniform')
    """
    return f"{value:.4g}" if isinstance(value, float) else str(value)
