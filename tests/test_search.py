"""run_search.py: resume, pruning, nested MLflow runs, overrides, workers, kill -9, PostgreSQL.

Trials use the tiny random model on the bundled sample with one or two epochs. Worker
processes run one torch thread each: 4 workers x 6 tiny trials on 2 cores took 104 s with
torch's default threads against 63 s with OMP_NUM_THREADS=1 (measured).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import torch
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from evidence_ft import search as search_module
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.search import parse_space, search, train_overrides

from .conftest import ROOT, tiny_sample_run

pytestmark = pytest.mark.integration


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


def test_search_resumes_logs_nested_runs_and_exports_overrides(
    tiny_bert, tmp_path, monkeypatch, one_thread
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(search_module, "make_pruner", lambda cfg: PruneTrialOne())
    argv = overrides(tiny_bert, tmp_path, "n_trials=3", "sampler_seed=1", "study_name=s")
    first = search(load_config([*argv, f"output_dir={tmp_path / 'first'}"], "search"), argv)

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
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
    trial_runs = {int(r.data.tags["optuna.trial"]): r for r in runs["trial"]}
    assert sorted(trial_runs) == [0, 1, 2]
    for number, run in trial_runs.items():
        trial = study.trials[number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == trial.state.name
        assert float(run.data.params["learning_rate"]) == trial.params["training.learning_rate"]
        assert run.data.params["loss.gamma"] == str(trial.params["loss.gamma"])
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
    assert cfg.loss.gamma == best["loss.gamma"]
    assert cfg.loss.class_weights == best["loss.class_weights"]
    assert cfg.training.num_train_epochs == best["training.num_train_epochs"]

    # the same command with n_trials=2 resumes the study
    argv = overrides(tiny_bert, tmp_path, "n_trials=2", "refit=false", "study_name=s")
    second = search(load_config([*argv, f"output_dir={tmp_path / 'second'}"], "search"), argv)
    assert second["trials"] == 5 and sum(second["run_counts"].values()) == 2
    assert len(optuna.load_study(study_name="s", storage=study._storage).trials) == 5
    runs = runs_by_name(tmp_path)
    assert len(runs["search"]) == 2 and len(runs["trial"]) == 5 and len(runs["refit"]) == 1


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


# ---------------------------------------------------------------- several workers, kill -9


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


def test_killed_worker_loses_no_completed_trial(tiny_bert, tmp_path, monkeypatch, one_thread):
    beat = ["search.heartbeat_interval=1", "search.grace_period=2"]
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
    time.sleep(3)  # > grace_period since the killed trial's last heartbeat

    monkeypatch.chdir(tmp_path)
    search(load_config([*args, "n_trials=1", "search.space.epochs.high=1"], "search"))
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


# ---------------------------------------------------------------- PostgreSQL


def postgres_binaries() -> tuple[Path, Path] | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        pg_ctl = Path(initdb).with_name("pg_ctl")
        if pg_ctl.exists():
            return Path(initdb), pg_ctl
    found = shutil.which("initdb"), shutil.which("pg_ctl")
    return (Path(found[0]), Path(found[1])) if all(found) else None  # type: ignore[arg-type]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (as user postgres when the tests run as root)."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    initdb, pg_ctl = binaries
    as_user: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = folder / "data"
    run = dict(check=True, capture_output=True, **as_user)
    subprocess.run([initdb, "-D", data, "-U", "postgres", "--auth=trust"], **run)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run([pg_ctl, "-D", data, "-o", options, "-l", folder / "log", "-w", "start"], **run)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, **as_user
        )
        shutil.rmtree(folder, ignore_errors=True)


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
        "loss.gamma",
        "loss.class_weights",
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
        ("loss.alpha=[1,2]", "loss.alpha is set"),
    ],
)
def test_bad_search_space_is_one_line_user_error(override, match):
    with pytest.raises(UserError, match=match) as err:
        parse_space(load_config([override], "search"))
    assert "\n" not in str(err.value)


def test_only_run_train_overrides_reach_the_overrides_file():
    dims = parse_space(load_config([], "search"))
    argv = ["data=sample", "n_trials=3", "storage=x", "search.show_best=2", "output_dir=o"]
    argv += ["training.learning_rate=1e-3", "training.logging_steps=5", "refit=false"]
    assert train_overrides(argv, dims) == ["data=sample", "training.logging_steps=5"]


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
