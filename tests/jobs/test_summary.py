"""Multi-seed summaries: groups (overrides but seed), figures, the parent run, the scripts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from evidence_ft.jobs.summary import log_summary, sweep_summaries
from evidence_ft.report import format_seed_summary
from evidence_ft.seed_summary import (
    SUMMARY_METRICS,
    SeedRun,
    group_key,
    split_overrides,
    summarise,
)
from tests.conftest import script, tiny_sample_run

# ---------------------------------------------------------------------------- unit


def test_a_group_is_every_override_but_the_seed():
    jobs = [
        "data=sample,model=bert_base,seed=0",
        "data=sample,model=bert_base,seed=1",
        "data=sample,model=minilm,seed=0",
        "data.split_ratios=[0.8,0.1,0.1],seed=2",
        "++seed=3,data.split_ratios=[0.8,0.1,0.1]",
        "seed=4",
    ]
    keys = [group_key(split_overrides(j)) for j in jobs]
    assert keys == [
        "data=sample,model=bert_base",
        "data=sample,model=bert_base",
        "data=sample,model=minilm",
        "data.split_ratios=[0.8,0.1,0.1]",
        "data.split_ratios=[0.8,0.1,0.1]",
        "",
    ]
    assert split_overrides("a='x,y',b={c:1,d:2}") == ["a='x,y'", "b={c:1,d:2}"]


def _runs() -> list[SeedRun]:
    return [
        SeedRun("0", "0", "r0", "FINISHED", {"test_f1": 0.8, "decision_threshold": 0.4}),
        SeedRun("1", "1", "r1", "FINISHED", {"test_f1": 0.9, "decision_threshold": 0.6}),
        SeedRun("2", "2", "r2", "FINISHED", {"test_f1": 1.0}),  # no threshold logged
        SeedRun("3", "3", "r3", "FAILED", {"test_f1": 0.1}),  # never averaged
        SeedRun("4", "?", None, "FAILED, no MLflow run"),
    ]


def test_the_figures_are_mean_sample_sd_min_max_of_the_runs_that_finished():
    summary = summarise("/sweep", "data=sample", _runs())
    f1 = summary.stats["test_f1"]
    assert f1["n"] == 3 and f1["mean"] == pytest.approx(0.9)
    assert f1["sd"] == pytest.approx(statistics.stdev([0.8, 0.9, 1.0]))  # ddof=1
    assert f1["sd"] == pytest.approx(0.1)
    assert (f1["min"], f1["max"]) == (0.8, 1.0)
    threshold = summary.stats["decision_threshold"]
    assert threshold["n"] == 2 and threshold["mean"] == pytest.approx(0.5)
    assert list(summary.stats) == ["test_f1", "decision_threshold"]  # SUMMARY_METRICS' order
    assert summary.left_out == [
        "job 3 (seed 3): FAILED, run r3",
        "job 4 (seed ?): FAILED, no MLflow run",
    ]
    one = summarise("/sweep", "", _runs()[:1]).stats["test_f1"]
    assert one["sd"] is None  # undefined for one run, never a fake 0


def test_the_table_on_a_fixed_input():
    runs = _runs()
    summary = summarise("/sweep", "data=sample", [runs[0], runs[1], runs[3], runs[4]])
    summary.parent_run_id = "p1"
    assert format_seed_summary(summary).splitlines() == [
        "sweep /sweep, group data=sample: 4 jobs; sd: sample standard deviation (ddof=1)",
        "metric              n    mean      sd     min     max  seed 0  seed 1  seed 3  seed ?",
        "test_f1             2  0.8500  0.0707  0.8000  0.9000  0.8000  0.9000       -       -",
        "decision_threshold  2  0.5000  0.1414  0.4000  0.6000  0.4000  0.6000       -       -",
        "left out: job 3 (seed 3): FAILED, run r3",
        "left out: job 4 (seed ?): FAILED, no MLflow run",
        "mlflow run:  p1  (parent of the seed runs)",
    ]


def _seed_run(client, exp, sweep, job, overrides, metrics, status="FINISHED"):
    tags = {"sweep.dir": sweep, "sweep.job": job, "sweep.overrides": overrides}
    run_id = client.create_run(exp, tags=tags).info.run_id
    client.log_param(run_id, "seed", overrides.rsplit("seed=", 1)[1])
    for name, value in metrics.items():
        client.log_metric(run_id, name, value)
    client.set_terminated(run_id, status)
    return run_id


def test_groups_of_a_sweep_get_one_parent_run_each_and_logging_again_reuses_it(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    sweep = str(tmp_path / "sweep")
    ids = {
        (model, seed): _seed_run(
            client,
            exp,
            sweep,
            str(2 * seed + i),
            f"model={model},seed={seed}",
            {"test_f1": 0.5 + seed / 10 + i / 100, "eval_loss": 1.0},
        )
        for i, model in enumerate(("a", "b"))
        for seed in (0, 1)
    }
    _seed_run(client, exp, str(tmp_path / "other"), "0", "seed=0", {"test_f1": 0.0})
    summaries = sweep_summaries(client, exp, sweep)
    assert [s.group for s in summaries] == ["model=a", "model=b"]
    assert [r.seed for r in summaries[0].runs] == ["0", "1"]
    assert summaries[1].stats["test_f1"]["mean"] == pytest.approx(0.56)
    assert "eval_loss" not in summaries[0].stats  # only SUMMARY_METRICS
    parent = log_summary(client, exp, summaries[0])
    for seed in (0, 1):
        assert client.get_run(ids["a", seed]).data.tags["mlflow.parentRunId"] == parent
        assert "mlflow.parentRunId" not in client.get_run(ids["b", seed]).data.tags
    logged = client.get_run(parent)
    assert logged.data.metrics["test_f1_mean"] == pytest.approx(0.55)
    assert logged.data.metrics["test_f1_sd"] == pytest.approx(statistics.stdev([0.5, 0.6]))
    assert logged.data.tags["summary.run_ids"] == f"{ids['a', 0]},{ids['a', 1]}"
    assert {a.path for a in client.list_artifacts(parent)} == {"summary.json", "summary.txt"}
    # the summary run is not a seed run, and a second log lands in the same parent
    again = sweep_summaries(client, exp, sweep)
    assert [len(s.runs) for s in again] == [2, 2]
    assert log_summary(client, exp, again[0]) == parent


def test_a_sweep_that_failed_is_summarised_with_its_failed_jobs_listed(tmp_path, capsys):
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from evidence_ft.jobs.summary import SweepSummary

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    config = OmegaConf.create(
        {"tracking": {"uri": uri, "experiment": "e"}, "hydra": {"sweep": {"dir": str(sweep)}}}
    )
    callback = SweepSummary()
    callback.on_multirun_start(config)
    for job, seed, status in (("0", 0, "COMPLETED"), ("1", 1, "COMPLETED"), ("2", 2, "FAILED")):
        if status == "COMPLETED":
            _seed_run(client, exp, str(sweep), job, f"data=sample,seed={seed}", {"test_f1": 0.5})
        ended = SimpleNamespace(
            overrides=[f"seed={seed}", "data=sample"], status=SimpleNamespace(name=status)
        )
        callback.on_job_end(OmegaConf.create({"hydra": {"job": {"num": int(job)}}}), ended)
    callback.finish()  # what the exit hook does when Hydra skips on_multirun_end
    callback.finish()  # once only
    printed = capsys.readouterr().out
    assert printed.count("group data=sample: 3 jobs") == 1
    assert "left out: job 2 (seed 2): FAILED, no MLflow run" in printed
    (row,) = [line.split() for line in printed.splitlines() if line.startswith("test_f1")]
    assert row == ["test_f1", "2", "0.5000", "0.0000", *["0.5000"] * 4, "-"]
    written = json.loads((sweep / "summary.json").read_text())
    assert written[0]["left_out"] == ["job 2 (seed 2): FAILED, no MLflow run"]


# ---------------------------------------------------------------------------- the scripts


@pytest.mark.integration
def test_a_two_seed_multiruns_summary_is_the_mean_and_sd_of_its_runs_logged_metrics(
    tiny_bert, tmp_path
):
    args = tiny_sample_run(tiny_bert, tmp_path, "training.max_steps=2")
    proc = script("run_train.py", "-m", "seed=0,1", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("evidence_ft").experiment_id
    runs = client.search_runs([exp])
    (parent,) = [r for r in runs if r.data.tags.get("sweep.summary") == "true"]
    seeds = sorted((r for r in runs if r is not parent), key=lambda r: int(r.data.params["seed"]))
    assert [r.data.params["seed"] for r in seeds] == ["0", "1"]
    for run in seeds:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    shown = 0
    table = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    for name in SUMMARY_METRICS:
        values = [r.data.metrics[name] for r in seeds if name in r.data.metrics]
        if not values:
            continue
        shown += 1
        assert len(values) == 2, name
        logged = parent.data.metrics
        assert logged[f"{name}_mean"] == pytest.approx(statistics.fmean(values)), name
        assert logged[f"{name}_sd"] == pytest.approx(statistics.stdev(values)), name
        assert (logged[f"{name}_min"], logged[f"{name}_max"]) == (min(values), max(values))
        # printed: metric n mean sd min max seed0 seed1, four decimals
        assert table[name][1:] == [
            "2",
            *(f"{v:.4f}" for v in (statistics.fmean(values), statistics.stdev(values))),
            *(f"{v:.4f}" for v in (min(values), max(values), *values)),
        ], name
    assert shown >= 10
    for name in ("test_f1", "test_macro_f1", "test_mcc", "decision_threshold", "test_constant_f1"):
        assert name in table, name
    sweep = Path(seeds[0].data.tags["sweep.dir"])
    written = json.loads((sweep / "summary.json").read_text())
    assert written[0]["parent_run_id"] == parent.info.run_id
    # later, from MLflow alone: the same table
    later = script("run_summary.py", f"sweep={sweep}", *args[2:4], cwd=tmp_path)
    assert later.returncode == 0, later.stderr[-3000:]
    assert later.stdout.strip() == (sweep / "summary.txt").read_text().strip()
    assert later.stdout.strip() in proc.stdout
