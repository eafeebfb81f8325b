"""Commands started together: each run gets its own folder, and a new mlflow.db survives."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime

import pytest
from accelerate import PartialState
from mlflow.tracking import MlflowClient

from evidence_ft import run_folder, tracking
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.run_folder import RUN_FILE, run_dir
from evidence_ft.tracking import one_creator

from .conftest import ROOT


@pytest.mark.integration
def test_two_trainings_started_together_keep_their_own_folders_and_store(tiny_bert, tmp_path):
    args = [
        sys.executable,
        str(ROOT / "run_train.py"),
        "data=sample",
        f"model.name_or_path={tiny_bert}",
        "training.max_steps=2",
    ]
    procs = [
        subprocess.Popen(
            [*args, f"seed={seed}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]

    folders = sorted((tmp_path / "outputs").glob("*/*"))
    assert len(folders) == 2
    seeds = set()
    for folder in folders:
        assert (folder / "metrics.json").is_file() and (folder / "model").is_dir()
        seeds.add(
            next(
                line
                for line in (folder / "config.yaml").read_text().splitlines()
                if line.startswith("seed:")
            )
        )
    assert seeds == {"seed: 1", "seed: 2"}  # neither run's files replaced the other's

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("evidence_ft").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    run_ids = {json.loads((f / RUN_FILE).read_text())["run_id"] for f in folders}
    assert run_ids == {r.info.run_id for r in runs}
    # the store still opens for the next command (a broken migration would raise here)
    proc = subprocess.run(
        [*args, "training.max_steps=1", "tracking.registered_model=null"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(run_folder, "datetime", Frozen)
    cfg = load_config(["data=sample"])
    folders = [run_dir(cfg, PartialState()) for _ in range(3)]
    assert [f.relative_to(tmp_path).as_posix() for f in folders] == [
        "outputs/2026-01-02/03-04-05",
        "outputs/2026-01-02/03-04-05-1",
        "outputs/2026-01-02/03-04-05-2",
    ]
    assert all((f / RUN_FILE).is_file() for f in folders)


def test_a_given_output_dir_is_never_written_over(tmp_path):
    cfg = load_config(["data=sample", f"output_dir={tmp_path / 'run'}"])
    assert run_dir(cfg, PartialState()) == tmp_path / "run"  # new: fine
    with pytest.raises(UserError, match="already holds files") as err:
        run_dir(cfg, PartialState())  # the same folder again: refused
    assert "resume=" in str(err.value)
    claim = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    claim[tracking.STARTED_TAG] = "1.0"  # its owner failed before the run started, and is gone
    (tmp_path / "run" / RUN_FILE).write_text(json.dumps(claim))
    assert run_dir(cfg, PartialState()) == tmp_path / "run"  # an abandoned claim is no run
    (tmp_path / "empty").mkdir()
    cfg = load_config(["data=sample", f"output_dir={tmp_path / 'empty'}"])
    assert run_dir(cfg, PartialState()) == tmp_path / "empty"  # an empty folder is fine


def test_one_creator_serialises_and_can_be_nested(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    inside, overlaps, results = [0], [], []

    def work() -> str:
        inside[0] += 1
        overlaps.append(inside[0])
        threading.Event().wait(0.05)
        inside[0] -= 1
        return one_creator(url, lambda: "nested")  # the same store again: no self-deadlock

    def worker() -> None:
        try:
            results.append(one_creator(url, work))
        except Exception as err:  # noqa: BLE001 (reported by the assertion below)
            results.append(repr(err))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == ["nested"] * 3 and max(overlaps) == 1
