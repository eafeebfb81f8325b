"""run_search.py: resume, pruning, nested MLflow runs, overrides, workers, kill -9, PostgreSQL.

Trials use the tiny random model on the bundled sample with one or two epochs. Worker
processes run one torch thread each: 4 workers x 6 tiny trials on 2 cores took 104 s with
torch's default threads against 63 s with OMP_NUM_THREADS=1 (measured).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
import torch
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from evidence_ft import config, tracking
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs import search as search_module
from evidence_ft.jobs.search import experiment_yaml, parse_space, search, train_overrides
from evidence_ft.jobs.search.runs import end_orphans
from evidence_ft.jobs.search.space import objective_key
from evidence_ft.jobs.search.storage import open_storage
from evidence_ft.jobs.train import train
from evidence_ft.tracking import HOST_TAG, PID_TAG, STARTED_TAG
from tests.conftest import ROOT, tiny_sample_run

integration = pytest.mark.integration


def overrides(tiny_bert: Path, tmp: Path, *extra: str) -> list[str]:
    """A fast search on the bundled sample: tiny model, one or two epochs, stores in ``tmp``."""
    return tiny_sample_run(
        tiny_bert,
        tmp,
        "search.space.epochs.low=1",
        "search.space.epochs.high=2",
        "search.space.batch_size.choices=[16,32]",
        "search.space.learning_rate.low=1e-4",
        "search.space.learning_rate.high=1e-2",
        f"storage=sqlite:///{tmp / 'optuna.db'}",
        f"experiment_dir={tmp / 'configs' / 'experiment'}",  # never the project's configs/
        *extra,
    )


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def worker(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_search.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs_by_name(tmp: Path) -> dict[str, list]:
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("evidence_ft").experiment_id
    runs: dict[str, list] = {}
    for run in client.search_runs([experiment], max_results=1000):
        runs.setdefault(run.info.run_name.split("-")[0], []).append(run)
    return runs


class PruneTrialOne(optuna.pruners.BasePruner):
    """Prunes trial 1 at its first report, so the pruned path runs every time."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == 1


# ---------------------------------------------------------------- in-process searches


@pytest.fixture
def config_copy(tmp_path, monkeypatch):
    """A copy of configs/ for load_config, in ``tmp_path/configs``, where ``overrides`` has the
    search write its experiment file, so that ``+experiment=`` finds it there."""
    copy = tmp_path / "configs"
    shutil.copytree(config.CONFIG_DIR, copy)
    before = sorted((config.CONFIG_DIR / "experiment").glob("*.yaml"))
    monkeypatch.setattr(config, "CONFIG_DIR", copy)
    yield copy
    assert sorted((ROOT / "configs" / "experiment").glob("*.yaml")) == before


@integration
def test_search_resumes_logs_nested_runs_and_exports_overrides(
    tiny_bert, tmp_path, monkeypatch, one_thread, config_copy
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(search_module, "make_pruner", lambda cfg: PruneTrialOne())
    argv = overrides(tiny_bert, tmp_path, "n_trials=3", "sampler_seed=1", "study_name=s")
    first = search(load_config([*argv, f"output_dir={tmp_path / 'first'}"], "search"), argv)

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert study.metric_names == ["eval_f1"]  # optuna-dashboard's name for the objective
    assert not (tmp_path / "first" / "checkpoints").exists()  # trials save nothing
    assert first["run_counts"]["complete"] == 2 and first["run_counts"]["pruned"] == 1
    # intermediate values are keyed by epoch (1, 2), whatever the batch size
    assert list(study.trials[1].intermediate_values) == [1]
    for trial in study.trials:
        assert set(trial.intermediate_values) <= {1, 2}

    # MLflow: one search run, a nested run per trial with its params and per-epoch metrics
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = runs_by_name(tmp_path)
    (parent,) = runs["search"]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["best_trial"] == str(study.best_trial.number)
    assert parent.data.metrics["best_objective"] == pytest.approx(study.best_value)
    assert parent.data.metrics["run_trials_pruned"] == 1
    best = study.best_trial.params
    assert parent.data.params["best.training.learning_rate"] == str(best["training.learning_rate"])
    assert parent.data.tags[PID_TAG] == str(os.getpid())
    assert parent.data.tags[HOST_TAG] == socket.gethostname()
    trial_runs = {int(r.data.tags["optuna.trial"]): r for r in runs["trial"]}
    assert sorted(trial_runs) == [0, 1, 2]
    for number, run in trial_runs.items():
        trial = study.trials[number]
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.data.tags[PID_TAG] == str(os.getpid()) == trial.user_attrs[PID_TAG]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == trial.state.name
        assert float(run.data.params["learning_rate"]) == trial.params["training.learning_rate"]
        assert run.data.params["training.focal_gamma"] == str(trial.params["training.focal_gamma"])
        # the Trainer set the trial's loss settings on its args, which MLflowCallback logged
        assert float(run.data.params["focal_gamma"]) == trial.params["training.focal_gamma"]
        assert run.data.params["class_weights"] == trial.params["training.class_weights"]
        assert run.data.params["loss.alpha_used"].startswith("[")
        f1 = [m.value for m in client.get_metric_history(run.info.run_id, "eval_f1")]
        assert len(f1) == len(trial.intermediate_values)  # one per epoch run
        if trial.state == TrialState.COMPLETE:
            assert max(f1) == pytest.approx(trial.value)  # the objective is the best epoch

    # the refit: a nested run of the search, trained with the best parameters
    (refit_run,) = runs["refit"]
    assert refit_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert float(refit_run.data.params["learning_rate"]) == best["training.learning_rate"]
    assert first["refit"]["registered"][1] == "1"

    # best_overrides.txt composes with run_train.py's config and holds the best values
    lines = Path(first["overrides_file"]).read_text().split()
    assert not [line for line in lines if line.startswith(("n_trials", "storage", "study_name"))]
    cfg = load_config(lines, "train")
    assert cfg.data.name == "sample" and cfg.model.name_or_path == str(tiny_bert)
    assert cfg.training.learning_rate == best["training.learning_rate"]
    assert cfg.training.focal_gamma == best["training.focal_gamma"]
    assert cfg.training.class_weights == best["training.class_weights"]
    assert cfg.training.num_train_epochs == best["training.num_train_epochs"]

    # the experiment file (configs/experiment/s.yaml, a copy in the run folder) reproduces the
    # refit: python run_train.py +experiment=s
    exported = config_copy / "experiment" / "s.yaml"
    assert first["experiment_file"] == str(exported)
    assert exported.read_text() == (tmp_path / "first" / "experiment.yaml").read_text()
    assert exported.read_text().startswith(
        "# @package _global_\n# python run_train.py +experiment=s"
    )
    cfg = load_config(
        ["+experiment=s", f"output_dir={tmp_path / 'experiment'}", "tracking.run_name=from-s"]
    )
    assert cfg.training.focal_gamma == best["training.focal_gamma"]
    metrics, _ = train(cfg)
    assert metrics["eval_f1"] == first["refit"]["metrics"]["eval_f1"]
    assert metrics["test_f1"] == first["refit"]["metrics"]["test_f1"]

    # the same command with n_trials=2 resumes the study
    argv = overrides(tiny_bert, tmp_path, "n_trials=2", "refit=false", "study_name=s")
    second = search(load_config([*argv, f"output_dir={tmp_path / 'second'}"], "search"), argv)
    assert second["trials"] == 5 and sum(second["run_counts"].values()) == 2
    assert len(optuna.load_study(study_name="s", storage=study._storage).trials) == 5
    runs = runs_by_name(tmp_path)
    assert len(runs["search"]) == 2 and len(runs["trial"]) == 5 and len(runs["refit"]) == 1
    # the resumed search exported the study's best again, over the first export
    assert exported.read_text() == (tmp_path / "second" / "experiment.yaml").read_text()


@integration
def test_all_trials_pruned_is_a_result_not_a_crash(tiny_bert, tmp_path, monkeypatch, one_thread):
    class PruneAll(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return True

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(search_module, "make_pruner", lambda cfg: PruneAll())
    argv = overrides(tiny_bert, tmp_path, "n_trials=1", "search.space.epochs.high=1")
    summary = search(load_config(argv, "search"), argv)
    assert summary["best"] is None and "overrides_file" not in summary
    assert summary["run_counts"]["pruned"] == 1
    assert runs_by_name(tmp_path)["search"][0].info.status == "FINISHED"


@pytest.fixture(scope="module")
def dropout_bert(tiny_bert, tmp_path_factory):
    """The tiny BERT with dropout 0.1 and no classifier: a run draws masks and head at random."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = tmp_path_factory.mktemp("dropout_bert")
    config = BertConfig.from_pretrained(
        tiny_bert, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
    )
    BertModel.from_pretrained(tiny_bert, config=config).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(path)
    return path


def eval_history(client: MlflowClient, run_id: str) -> list[float]:
    return [m.value for m in client.get_metric_history(run_id, "eval_loss")]


@integration
def test_refit_and_n_trials_0_retrace_the_best_trial(
    dropout_bert, tmp_path, monkeypatch, one_thread, caplog
):
    """Seeded the same way, the same model building and early stopping: the refit is the trial.

    Then ``n_trials=0`` exports and refits the study again without adding a trial.
    """
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="evidence_ft.jobs.search")  # and its modules' loggers
    epochs = ["search.space.epochs.low=4", "search.space.epochs.high=4"]
    argv = overrides(dropout_bert, tmp_path, "n_trials=1", "pruner=none", "sampler_seed=3")
    argv += [*epochs, "early_stopping_patience=1", "search.space.learning_rate.low=3e-3"]
    first = search(load_config([*argv, f"output_dir={tmp_path / 'first'}"], "search"), argv)

    study = optuna.load_study(study_name="evidence_ft", storage=f"sqlite:///{tmp_path}/optuna.db")
    (trial,) = study.trials
    refit = first["refit"]["metrics"]
    assert refit["eval_f1"] == pytest.approx(trial.value, abs=1e-6)
    # the same epochs, the same validation loss after each: same head, same dropout masks
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    trial_losses = eval_history(client, trial.user_attrs["mlflow_run_id"])
    assert len(trial_losses) == len(trial.intermediate_values)
    assert eval_history(client, first["refit"]["run_id"]) == pytest.approx(trial_losses, abs=1e-6)
    lines = [
        r.getMessage() for r in caplog.records if r.name.startswith("evidence_ft.jobs.search.")
    ]
    (finished,) = [m for m in lines if m.startswith(("trial 0 COMPLETE", "trial 0 PRUNED"))]
    assert f"objective {trial.value:.4f} after {len(trial_losses)} epochs in" in finished
    assert "learning_rate=" in finished and "gamma=" in finished

    # n_trials=0: no trial added, the same best trial exported and refitted to the same result
    argv.append("n_trials=0")
    again = search(load_config([*argv, f"output_dir={tmp_path / 'again'}"], "search"), argv)
    assert again["trials"] == 1 and sum(again["run_counts"].values()) == 0
    assert len(optuna.load_study(study_name="evidence_ft", storage=study._storage).trials) == 1
    assert again["refit"]["metrics"]["eval_f1"] == pytest.approx(trial.value, abs=1e-6)
    assert (tmp_path / "again" / "best_overrides.txt").read_text() == Path(
        first["overrides_file"]
    ).read_text()
    for folder in ("first", "again"):
        assert not (tmp_path / folder / "checkpoints").exists()


@integration
def test_n_trials_0_without_a_result_is_one_line(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = overrides(tiny_bert, tmp_path, "n_trials=0")
    with pytest.raises(UserError, match="has no study 'evidence_ft'") as err:
        search(load_config(argv, "search"))
    assert "\n" not in str(err.value) and not (tmp_path / "optuna.db").exists()
    study = optuna.create_study(study_name="evidence_ft", storage=f"sqlite:///{tmp_path}/optuna.db")
    study.tell(study.ask(), state=TrialState.FAIL)
    with pytest.raises(UserError, match="has no complete trial") as err:
        search(load_config(argv, "search"))
    assert "\n" not in str(err.value) and not (tmp_path / "outputs").exists()


# ---------------------------------------------------------------- several workers, kill -9


@integration
def test_two_workers_share_one_study_without_duplicates(tiny_bert, tmp_path):
    args = overrides(tiny_bert, tmp_path, "n_trials=2", "refit=false", "pruner=none")
    # started together on a new database: they also race to create its tables
    procs = [worker([*args, f"sampler_seed={seed}"], tmp_path) for seed in (1, 2)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "this run: 2 trials: 2 complete" in out
    study = optuna.load_study(study_name="evidence_ft", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    runs = runs_by_name(tmp_path)
    assert len(runs["search"]) == 2 and len(runs["trial"]) == 4
    assert {r.info.status for r in runs["search"] + runs["trial"]} == {"FINISHED"}


@integration
def test_killed_worker_loses_no_completed_trial(tiny_bert, tmp_path, monkeypatch, one_thread):
    """kill -9 mid-trial, rerun at once: completed trials kept, the dead one FAIL, nothing RUNNING.

    The grace period is long, so the dead trial is found by its worker's pid, not by Optuna's
    heartbeat (that path: ``test_a_trial_without_heartbeat_ends_its_runs``).
    """
    beat = ["search.heartbeat_interval=1", "search.grace_period=600"]
    args = overrides(tiny_bert, tmp_path, "refit=false", "pruner=none", *beat)
    epochs = ["search.space.epochs.low=3", "search.space.epochs.high=3"]
    proc = worker([*args, "n_trials=50", *epochs], tmp_path)
    try:
        wait_for_completed_and_running_trial(tmp_path / "optuna.db", proc)
    finally:
        proc.send_signal(signal.SIGKILL)  # no handler runs: the trial stays RUNNING
        proc.communicate()
    study = optuna.load_study(study_name="evidence_ft", storage=f"sqlite:///{tmp_path}/optuna.db")
    before = [t.state for t in study.trials]
    assert before[-1] == TrialState.RUNNING and TrialState.COMPLETE in before

    monkeypatch.chdir(tmp_path)  # rerun well within the grace period
    summary = search(load_config([*args, "n_trials=1", "search.space.epochs.high=1"], "search"))
    after = [
        t.state for t in optuna.load_study(study_name="evidence_ft", storage=study._storage).trials
    ]
    assert after[: len(before) - 1] == before[:-1]  # completed trials kept
    assert after[len(before) - 1] == TrialState.FAIL  # the killed one, failed on resume
    assert after[len(before)] == TrialState.COMPLETE and len(after) == len(before) + 1
    runs = runs_by_name(tmp_path)
    killed = [r for r in runs["trial"] if r.data.tags["optuna.trial"] == str(len(before) - 1)]
    assert [r.info.status for r in killed] == ["KILLED"]
    assert sorted(r.info.status for r in runs["search"]) == ["FINISHED", "KILLED"]
    # every run of the store has ended; completed trials' runs FINISHED; the dead one counted
    assert [r.info.status for r in runs["trial"]].count("FINISHED") == len(before)
    assert not [r for rs in runs.values() for r in rs if r.info.status == "RUNNING"]
    assert summary["study_counts"]["fail"] == 1 and summary["study_counts"]["running"] == 0


def wait_for_completed_and_running_trial(db: Path, proc: subprocess.Popen) -> None:
    """Until a trial completed and the next one is running: heartbeat sent, one epoch done."""
    deadline = time.time() + 300
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.3)
        if not db.exists():
            continue
        try:
            with sqlite3.connect(db) as con:
                done = con.execute("select count(*) from trials where state='COMPLETE'").fetchone()
                running = con.execute(
                    "select count(*) from trials t"
                    " join trial_heartbeats h on h.trial_id = t.trial_id"
                    " join trial_intermediate_values v on v.trial_id = t.trial_id"
                    " where t.state = 'RUNNING'"
                ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            continue
        if done[0] >= 1 and running[0] >= 1:
            return
    raise AssertionError("no trial completed within 300 s")


def dead_process() -> dict[str, str]:
    """Process tags of a process that is gone: this pid, started at another time."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), STARTED_TAG: "1.0"}


@pytest.fixture
def stores(tmp_path):
    """An MLflow experiment and an Optuna study in SQLite files under ``tmp_path``."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("evidence_ft", str(tmp_path / "mlruns"))
    cfg = load_config(["search.heartbeat_interval=1", "search.grace_period=1"], "search")
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", cfg.search)
    yield experiment, optuna.create_study(study_name="s", storage=storage, direction="maximize")
    mlflow.set_tracking_uri(None)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_what_dead_workers_left_running_ends(stores):
    """Runs of a SIGKILLed worker on this host end at the next search start, its trials FAIL."""
    experiment, study = stores
    client = MlflowClient()
    tags = {"optuna.study": "s", "optuna.storage": "x"}

    def run(name: str, process: dict, parent: str | None = None, trial: int | None = None) -> str:
        extra = {"mlflow.parentRunId": parent} if parent else {}
        if trial is not None:
            extra["optuna.trial"] = str(trial)
        return client.create_run(
            experiment, run_name=name, tags={**tags, **extra, **process}
        ).info.run_id

    dead, alive = dead_process(), tracking.process_tags()
    dead_search, live_search = run("search", dead), run("search", alive)
    refit = client.create_run(experiment, tags={"mlflow.parentRunId": dead_search}).info.run_id
    trials = [study.ask() for _ in range(4)]
    for trial, process in zip(trials, [dead, dead, dead, alive]):
        for key, value in process.items():
            trial.set_user_attr(key, value)
    study.tell(trials[0], 0.5)  # completed, killed before its run was ended
    runs = [
        run(f"trial-{t.number}", p, dead_search, t.number) for t, p in zip(trials, [dead, dead])
    ]
    live_run = run("trial-3", alive, live_search, 3)  # trial 2 died before its run started

    end_orphans(study, tags, experiment, grace_s=600)

    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.RUNNING]
    status = {r: client.get_run(r).info.status for r in [*runs, dead_search, refit]}
    assert list(status.values()) == ["FINISHED", "KILLED", "KILLED", "KILLED"]
    assert client.get_run(runs[0]).data.tags["optuna.state"] == "COMPLETE"
    assert client.get_run(runs[0]).data.metrics["objective"] == 0.5
    assert client.get_run(live_run).info.status == client.get_run(live_search).info.status
    assert client.get_run(live_search).info.status == "RUNNING"  # a live worker is left alone


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_without_heartbeat_ends_its_runs(stores):
    """A worker on another host died: Optuna fails its trial by heartbeat, its runs end KILLED."""
    experiment, study = stores
    client = MlflowClient()
    elsewhere = {**dead_process(), HOST_TAG: "elsewhere"}
    parent = client.create_run(experiment, tags=elsewhere).info.run_id
    trial = study.ask()
    child = client.create_run(experiment, tags={**elsewhere, "mlflow.parentRunId": parent})
    trial.set_user_attr("mlflow_run_id", child.info.run_id)
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2)  # > search.grace_period
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)  # what Optuna does before each new trial
    assert study.trials[0].state == TrialState.FAIL
    assert client.get_run(child.info.run_id).info.status == "KILLED"
    assert client.get_run(parent).info.status == "KILLED"


# ---------------------------------------------------------------- PostgreSQL


@integration
def test_search_runs_on_postgresql(postgres_url, tiny_bert, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    args = overrides(tiny_bert, tmp_path, "n_trials=2", "refit=false", "pruner=none")
    summary = search(load_config([*args, f"storage={postgres_url}"], "search"))
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the search picks the installed psycopg2
    url = summary["storage"]
    assert summary["trials"] == 2 and url == postgres_url.replace(
        "postgresql", "postgresql+psycopg2"
    )
    study = optuna.load_study(study_name="evidence_ft", storage=url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


# ---------------------------------------------------------------- configuration and errors


def test_search_config_composes_the_train_groups():
    cfg = load_config(["data=sample", "training=optimized", "n_trials=7", "pruner=none"], "search")
    assert cfg.data.name == "sample" and cfg.training.torch_compile is True
    assert (cfg.n_trials, cfg.pruner, cfg.storage) == (7, "none", "sqlite:///optuna.db")
    keys = [d.key for d in parse_space(cfg)]
    assert keys == [
        "training.learning_rate",
        "training.per_device_train_batch_size",
        "training.focal_gamma",
        "training.class_weights",
        "training.warmup_steps",
        "training.weight_decay",
        "training.num_train_epochs",
    ]
    assert len(parse_space(load_config(["search.space.focal_gamma=null"], "search"))) == 6


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("search.space.epochs.low=9", "low <= high"),
        ("search.space.learning_rate.low=0", "log=true needs low > 0"),
        ("search.space.epochs.key=model.name_or_path", "can vary training"),
        ("search.space.epochs.key=training.no_such_field", "TrainingArguments"),
        ("search.space.epochs.type=gauss", "float, int or categorical"),
        ("search.space.class_weights.choices=[balanced,cubic]", "cubic"),
        ("training.class_alpha=[1,2]", "training.class_alpha is set"),
        (
            "search.space.focal_gamma.low=-1",
            "focal_gamma: training.focal_gamma=-1 must be a number",
        ),
        ("search.space.warmup_ratio.high=1.5", "search.space.warmup_ratio: training.warmup"),
    ],
)
def test_bad_search_space_is_one_line_user_error(override, match):
    with pytest.raises(UserError, match=match) as err:
        parse_space(load_config([override], "search"))
    assert "\n" not in str(err.value)


def test_experiment_file_composes_like_its_overrides(config_copy):
    lines = [
        "data=sample",
        "model=bert_base",
        "training.learning_rate=0.001",
        "training.class_alpha=[1.0,2.0]",
        "tracking.uri=sqlite:///x.db",
        "seed=3",
    ]
    summary = {"study": "x", "best": {"number": 0, "value": 0.5}, "objective": "eval_f1"}
    text = experiment_yaml("x", lines, {**summary, "storage": "sqlite:///optuna.db"})
    (config_copy / "experiment" / "x.yaml").write_text(text)
    assert load_config(["+experiment=x"]) == load_config(lines)


def test_shipped_experiments_compose():
    for path in sorted((config.CONFIG_DIR / "experiment").glob("*.yaml")):
        assert path.read_text().startswith(
            f"# @package _global_\n# python run_train.py +experiment={path.stem}\n"
        )
        load_config([f"+experiment={path.stem}"])
    cfg = load_config(["+experiment=example"])
    assert cfg.data.name == "sample" and cfg.training.class_weights == "uniform"


def test_the_selection_metric_is_the_objective_and_stays_in_the_experiment_file():
    argv = ["data=sample", "n_trials=3", "training.metric_for_best_model=pr_auc"]
    cfg = load_config(argv, "search")
    assert objective_key(cfg.training.metric_for_best_model) == "eval_pr_auc"
    lines = train_overrides(argv, parse_space(cfg))
    assert "training.metric_for_best_model=pr_auc" in lines
    summary = {"study": "x", "best": {"number": 0, "value": 0.5}, "objective": "eval_pr_auc"}
    text = experiment_yaml("x", lines, {**summary, "storage": "sqlite:///optuna.db"})
    assert "  metric_for_best_model: pr_auc\n" in text


def test_only_run_train_overrides_reach_the_overrides_file():
    dims = parse_space(load_config([], "search"))
    argv = ["data=sample", "n_trials=3", "storage=x", "search.show_best=2", "output_dir=o"]
    argv += ["training.learning_rate=1e-3", "training.logging_steps=5", "refit=false"]
    assert train_overrides(argv, dims) == ["data=sample", "training.logging_steps=5"]


@integration
def test_bad_setting_exits_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_search.py"), "data=sample", "pruner=hyperband"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: pruner=hyperband must be median or none"]
    assert not (tmp_path / "optuna.db").exists()
