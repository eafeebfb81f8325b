"""The run_*.py scripts under ``@hydra.main``: sweeps, Hydra's flags, one-line errors, folders."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from evidence_ft import run_folder
from evidence_ft.cli import _bare_cfg, check_overrides, keys_help
from evidence_ft.errors import UserError

from .conftest import script, tiny_sample_run

# ---------------------------------------------------------------------------- unit


def test_bare_cfg_still_prints_the_resolved_job_config():
    assert _bare_cfg(["--cfg", "seed=1"]) == ["--cfg", "job", "--resolve", "seed=1"]
    assert _bare_cfg(["seed=1", "--cfg"]) == ["seed=1", "--cfg", "job", "--resolve"]
    assert _bare_cfg(["--cfg", "hydra"]) == ["--cfg", "hydra"]


def test_every_combination_of_a_sweep_is_checked_before_it_starts():
    check_overrides("train", ["-m", "seed=0,1", "data=sample,redsm5"][1:], multirun=True)
    with pytest.raises(UserError, match="seed=abc must be an integer") as err:
        check_overrides("train", ["seed=0,abc"], multirun=True)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="model=nope|nope"):
        check_overrides("train", ["model=minilm,nope"], multirun=True)
    # a sweep without -m is Hydra's "ambiguous value" error, in one line
    with pytest.raises(UserError, match="seed=0,1") as err:
        check_overrides("train", ["seed=0,1"], multirun=False)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError):
        check_overrides("train", ["seed=(("], multirun=False)
    check_overrides("train", ["hydra.run.dir=x", "seed=3"], multirun=False)  # Hydra's keys pass


def test_help_lists_every_key_of_the_scripts_schemas_with_its_help():
    text = keys_help("eval")
    keys = {line.split("=", 1)[0] for line in text.splitlines()}
    assert {"checkpoint", "split", "batch_size", "log", "data.max_length", "tracking.uri"} <= keys
    assert "$$" in text and "$${" in text  # Hydra's string.Template would eat a single $
    assert "model.name_or_path=" in keys_help("train") and keys_help("nope") == ""


def test_the_run_folder_resolver_never_hands_out_a_used_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setattr(run_folder, "_ANSWERS", {})
    fresh = Path(run_folder.hydra_run_folder("outputs"))
    assert fresh.parent.parent == tmp_path / "outputs" and fresh.is_dir()
    assert run_folder.hydra_run_folder("outputs") == str(fresh)  # asked again: the same
    used = tmp_path / "used"
    used.mkdir()
    (used / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match="already holds files"):
        run_folder.hydra_run_folder("outputs", str(used))
    assert run_folder.hydra_run_folder("outputs/eval", str(used), "", "reuse") == str(used)
    assert run_folder.hydra_run_folder("outputs", "", str(used)) == str(used)  # resume=
    assert run_folder.hydra_output_subdir(str(used)) is None  # a resume keeps its record
    assert run_folder.hydra_output_subdir("") == ".hydra"


def test_other_processes_of_a_launch_claim_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(run_folder, "_ANSWERS", {})
    folder = Path(run_folder.hydra_run_folder("outputs"))
    assert not (tmp_path / "outputs").exists() and tmp_path not in folder.parents
    assert run_folder.hydra_output_subdir("") is None


def test_a_failed_job_leaves_no_folder_but_a_users_folder_stays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setattr(run_folder, "_ANSWERS", {})
    monkeypatch.setattr(run_folder, "_NEW", set())
    fresh = Path(run_folder.hydra_run_folder("outputs"))
    (fresh / ".hydra").mkdir()
    run_folder.drop_unused(fresh)
    assert not (tmp_path / "outputs").exists()
    mine = tmp_path / "mine"
    (mine / ".hydra").mkdir(parents=True)
    run_folder.drop_unused(Path(run_folder.hydra_run_folder("outputs", str(mine))))
    assert mine.is_dir() and not (mine / ".hydra").exists()


# ---------------------------------------------------------------------------- the scripts


@pytest.mark.integration
def test_a_seed_sweep_gives_one_finished_tagged_run_per_job(tiny_bert, tmp_path):
    args = tiny_sample_run(tiny_bert, tmp_path, "training.max_steps=2")
    proc = script("run_train.py", "-m", "seed=0,1", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["evidence_ft"], output_format="list")
    runs = [
        r for r in found if r.data.tags.get("sweep.summary") != "true"
    ]  # tests/jobs/test_summary
    assert len(found) == len(runs) + 1  # the seeds' parent run with their summary
    assert sorted(r.data.tags["sweep.job"] for r in runs) == ["0", "1"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["sweep.dir"] for r in runs}) == 1
    assert {r.data.params["seed"] for r in runs} == {"0", "1"}
    sweep = Path(runs[0].data.tags["sweep.dir"])
    assert sweep.parent.parent == tmp_path / "outputs" / "multirun"
    for job in ("0", "1"):
        folder = sweep / job
        assert (folder / "metrics.json").is_file() and (folder / "run.json").is_file()
        assert f"seed={job}" in (folder / ".hydra" / "overrides.yaml").read_text()
    client = mlflow.MlflowClient()
    logged = {a.path for a in client.list_artifacts(runs[0].info.run_id, "hydra")}
    assert logged == {"hydra/config.yaml", "hydra/hydra.yaml", "hydra/overrides.yaml"}


@pytest.mark.integration
def test_hydra_flags_work_as_hydra_users_expect(tmp_path):
    completion = script("run_train.py", "--shell-completion", "install=bash", cwd=tmp_path)
    assert completion.returncode == 0 and "hydra_bash_completion" in completion.stdout
    info = script("run_train.py", "--info", cwd=tmp_path)
    assert info.returncode == 0 and "Defaults List" in info.stdout
    helped = script("run_eval.py", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: python run_eval.py")
    assert "data: redsm5, sample" in helped.stdout and "checkpoint: null" in helped.stdout
    assert "split=test  Posts to score" in helped.stdout and "(one of test|" in helped.stdout
    assert "posts_path=${project_root:}/data" in helped.stdout  # a literal $ survives the template
    shown = script("run_train.py", "--cfg", "job", "seed=7", cwd=tmp_path)
    assert shown.returncode == 0 and "seed: 7" in shown.stdout
    bare = script("run_train.py", "--cfg", "data=sample", cwd=tmp_path)
    assert "/data/sample/redsm5_posts.csv" in bare.stdout  # resolved, as before
    assert not (tmp_path / "outputs").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "seed=0,abc", "data=sample"], "seed=abc must be an integer >= 0"),
        (["trainin.x=1"], "Could not override 'trainin.x'"),
        (["data=sample", "data.posts_path=/nonexistent/posts.csv"], "posts.csv"),
    ],
)
def test_errors_are_one_line_exit_2_and_leave_no_folder(args, expected, tmp_path):
    proc = script("run_train.py", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()
