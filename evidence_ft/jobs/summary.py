"""Multi-seed summaries: each metric over the seed runs of a sweep, in a parent MLflow run.

python run_train.py -m seed=0,1,2,3,4 data=sample          # ends with the table (SweepSummary)
python run_summary.py sweep=outputs/multirun/<date>/<time>  # the same table later, from MLflow
python run_summary.py                                        # every sweep of the experiment

The jobs of a ``-m`` sweep are grouped by their overrides except ``seed`` (``sweep.overrides``
tag, see ``run_folder.sweep_tags``); a group of two or more jobs gets a table (mean, sample
standard deviation with ddof=1, min, max and each seed's value of every
``seed_summary.SUMMARY_METRICS`` entry) and a parent run that holds it
(``<metric>_mean/_sd/_min/_max``, ``summary.json``, ``summary.txt``) and is the seed runs'
``mlflow.parentRunId``. Both commands read the numbers
from the seed runs' logged MLflow metrics, so they print the same table. A run that did not
finish, or lacks a metric, is listed and left out of that metric's figures.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from evidence_ft import tracking
from evidence_ft.errors import UserError
from evidence_ft.report import SD_NOTE, format_seed_summary
from evidence_ft.seed_summary import (
    SEED_KEY,
    STATS,
    SUMMARY_METRICS,
    GroupSummary,
    SeedRun,
    group_key,
    override_value,
    sort_key,
    split_overrides,
    summarise,
)

log = logging.getLogger(__name__)

# Tags of a summary's parent run (the seed runs carry run_folder.sweep_tags).
SUMMARY_TAG = "sweep.summary"
GROUP_TAG = "sweep.group"


# ---------------------------------------------------------------------------- the seed runs


def seed_runs(client: MlflowClient, experiment_id: str, sweep_dir: str = "") -> list[Run]:
    """The runs of ``-m`` jobs in an experiment (of one sweep folder when given), oldest first;
    summary runs left out. Every page of the search is read (MLflow returns 1,000 at most)."""
    query = f"tags.`sweep.dir` = '{sweep_dir}'" if sweep_dir else "tags.`sweep.job` LIKE '%'"
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], query, order_by=["attributes.start_time ASC"], page_token=token
        )
        runs += page
        token = page.token
        if not token:
            break
    return [r for r in runs if SUMMARY_TAG not in r.data.tags and "sweep.job" in r.data.tags]


def group_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs by (sweep folder, overrides except the seed)."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        tags = run.data.tags
        overrides = tags.get("sweep.overrides", "")
        key = group_key([] if overrides == "(none)" else split_overrides(overrides))
        groups.setdefault((tags["sweep.dir"], key), []).append(run)
    return groups


# ---------------------------------------------------------------------------- figures


def as_seed_run(run: Run) -> SeedRun:
    """A seed run as the summary reads it: its logged (latest) metrics."""
    return SeedRun(
        job=run.data.tags["sweep.job"],
        seed=run.data.params.get(SEED_KEY, "?"),
        run_id=run.info.run_id,
        status=run.info.status,
        metrics={k: v for k, v in run.data.metrics.items() if k in SUMMARY_METRICS},
    )


def sweep_summaries(
    client: MlflowClient,
    experiment_id: str,
    sweep_dir: str = "",
    jobs: dict[str, tuple[str, str, str]] | None = None,
) -> list[GroupSummary]:
    """The summary of each group of two or more jobs, from the runs in MLflow.

    ``jobs`` (job number -> group, seed, status; from the sweep ``sweep_dir`` itself) adds the
    jobs that left no run, e.g. one that failed before it opened its MLflow run.
    """
    groups = {
        key: [as_seed_run(r) for r in runs]
        for key, runs in group_runs(seed_runs(client, experiment_id, sweep_dir)).items()
    }
    for job, (group, seed, status) in (jobs or {}).items():
        members = groups.setdefault((sweep_dir, group), [])
        if job not in {r.job for r in members}:
            members.append(SeedRun(job, seed, None, f"{status}, no MLflow run"))
    out = []
    for (folder, group), members in sorted(groups.items()):
        if len(members) < 2:
            log.info("sweep %s group %r: one job, no summary", folder, group or "(none)")
            continue
        members.sort(key=sort_key)
        out.append(summarise(folder, group, members))
    return out


# ---------------------------------------------------------------------------- the parent run


def find_parent(client: MlflowClient, experiment_id: str, summary: GroupSummary) -> str | None:
    """The id of the parent run an earlier summary of this group logged (None if none)."""
    query = f"tags.`{SUMMARY_TAG}` = 'true' and tags.`sweep.dir` = '{summary.sweep_dir}'"
    for run in client.search_runs([experiment_id], query):
        if run.data.tags.get(GROUP_TAG) == (summary.group or "(none)"):
            return str(run.info.run_id)
    return None


def log_summary(client: MlflowClient, experiment_id: str, summary: GroupSummary) -> str:
    """Log ``summary`` to its parent run (the group's earlier one when it exists, else a new
    one) and make it the seed runs' ``mlflow.parentRunId``; return its id.

    The seed runs exist before their group is known, so the link is set afterwards: the
    MLflow UI nests runs by that tag whenever it is set.
    """
    ids = [r.run_id for r in summary.runs if r.run_id]
    tags = {
        SUMMARY_TAG: "true",
        "sweep.dir": summary.sweep_dir,
        GROUP_TAG: summary.group or "(none)",
        "summary.run_ids": ",".join(ids),
        "summary.seeds": ",".join(r.seed for r in summary.runs),
        "summary.sd": SD_NOTE,
    }
    run_id = find_parent(client, experiment_id, summary)
    if run_id is None:
        name = f"summary-{Path(summary.sweep_dir).name}-{summary.group or 'seeds'}"
        run_id = client.create_run(experiment_id, run_name=name[:250], tags=tags).info.run_id
    else:
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    summary.parent_run_id = run_id
    for name, figures in summary.stats.items():
        for stat in STATS:
            if figures[stat] is not None:
                client.log_metric(run_id, f"{name}_{stat}", figures[stat])
    client.log_dict(run_id, summary.to_dict(), "summary.json")
    client.log_text(run_id, format_seed_summary(summary), "summary.txt")
    client.set_terminated(run_id)
    for child in ids:
        client.set_tag(child, "mlflow.parentRunId", run_id)
    return run_id


def report(summaries: list[GroupSummary], log_runs: bool, client: MlflowClient, exp: str) -> str:
    """Log each summary (when ``log_runs``; else name the parent run an earlier one logged)
    and return the tables as printed."""
    for summary in summaries:
        if log_runs:
            log_summary(client, exp, summary)
        else:
            summary.parent_run_id = find_parent(client, exp, summary)
    return "\n\n".join(format_seed_summary(s) for s in summaries)


def experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment ``name``; a UserError naming the key when it is not in the store."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise UserError(
            f"tracking.experiment={name}: no such experiment in {tracking.mask(uri)}; set "
            "tracking.experiment (and tracking.uri) to the sweep's"
        )
    return str(experiment.experiment_id)


# ---------------------------------------------------------------------------- the commands


def summary_job(cfg: DictConfig) -> list[GroupSummary]:
    """``run_summary.py``: print (and with ``log=true`` log) the summaries of an experiment's
    sweeps, or of the sweep folder ``sweep``."""
    uri = tracking.resolve_uri(cfg.tracking.uri)
    store = Path(uri.removeprefix("sqlite:///").split("?")[0])
    if uri.startswith("sqlite:///") and not store.is_file():  # check_store would create it
        raise UserError(
            f"tracking.uri={cfg.tracking.uri}: no MLflow store at {store}; run from the folder "
            "the sweep ran in or set tracking.uri"
        )
    tracking.check_store(uri)
    client = MlflowClient(uri)
    exp = experiment_id(client, cfg.tracking.experiment, uri)
    sweep = str(Path(cfg.sweep).expanduser().absolute()) if cfg.sweep else ""
    summaries = sweep_summaries(client, exp, sweep)
    if not summaries:
        where = f"sweep={cfg.sweep}" if cfg.sweep else f"experiment {cfg.tracking.experiment}"
        raise UserError(
            f"{where}: no group of two or more -m jobs in {tracking.mask(uri)}; run e.g. "
            "python run_train.py -m seed=0,1,2 first, or check sweep= and tracking.*"
        )
    print(report(summaries, bool(cfg.log), client, exp))
    return summaries


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks`` of configs/train.yaml): at the end of a ``-m``
    sweep, print and log the summary of each group of its jobs, failed jobs listed."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str, str]] = {}
        self.config: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra 1.3 calls on_multirun_end only when every job succeeded (a failed job's
        # exception leaves Hydra.multirun first), so a sweep that ends otherwise is
        # summarised when the process exits.
        self.config = config
        atexit.register(self.finish)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self.config is None:  # not a -m sweep
            return
        overrides = list(job_return.overrides or [])
        status = job_return.status.name
        self.jobs[str(config.hydra.job.num)] = (
            group_key(overrides),
            override_value(overrides, SEED_KEY),
            status,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.finish()

    def finish(self) -> None:
        """Print, write (``summary.txt``, ``summary.json`` in the sweep folder) and log the
        summaries of the sweep, once."""
        config, self.config = self.config, None
        if config is None or int(os.environ.get("RANK", "0")) > 0:  # one summary per launch
            return
        sweep = Path(config.hydra.sweep.dir).absolute()
        try:
            self._summarise(config, sweep)
        except Exception as err:  # the jobs' own results stand; the summary can be made later
            log.warning(
                "no summary of sweep %s (%s); make it with python run_summary.py sweep=%s "
                "log=true",
                sweep,
                err,
                sweep,
            )

    def _summarise(self, config: DictConfig, sweep: Path) -> None:
        uri = tracking.resolve_uri(config.tracking.uri)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(config.tracking.experiment)
        if experiment is None:  # no job reached MLflow
            return
        summaries = sweep_summaries(client, experiment.experiment_id, str(sweep), self.jobs)
        if not summaries:
            return
        text = report(summaries, True, client, experiment.experiment_id)
        (sweep / "summary.txt").write_text(text + "\n", encoding="utf-8")
        groups = [s.to_dict() for s in summaries]
        (sweep / "summary.json").write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
        print()
        print(text)
        print(f"summary: {sweep / 'summary.txt'} (later: python run_summary.py sweep={sweep})")
