"""run_predict.py end to end: a tiny model trained on the sample finds evidence in posts."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser

import mlflow
import numpy as np
import pandas as pd
import pytest

from evidence_ft import data
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.jobs.evaluate import evaluate
from evidence_ft.jobs.predict import OUTPUT_FILES, predict_posts
from tests.conftest import ROOT, keep_mlflow_env, train_tiny_registered

pytestmark = pytest.mark.integration

REGISTERED = "tiny_predict"
SAMPLE_POSTS = ROOT / "data" / "sample" / "redsm5_posts.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    """One short real training run on the sample, in a tmp cwd with its own MLflow store."""
    tmp = tmp_path_factory.mktemp("predict_run")
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp)
        uri, metrics, objects = train_tiny_registered(tiny_bert, tmp, REGISTERED)
        yield {"tmp": tmp, "uri": uri, "metrics": metrics, "model": tmp / "run" / "model"}


def run_predict(trained, *overrides: str) -> tuple[dict, dict]:
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(trained["tmp"])
        cfg = load_config(
            [f"tracking.uri={trained['uri']}", f"checkpoint={trained['model']}", *overrides],
            "predict",
        )
        return predict_posts(cfg)


class Collector(HTMLParser):
    """Every text chunk of the page, and the ids of its elements."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k == "id" and v)

    def handle_data(self, d):
        self.text.append(d)


@pytest.fixture(scope="module")
def sample_run(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted") / "out"
    summary, objects = run_predict(trained, f"input={SAMPLE_POSTS}", f"output_dir={out}")
    return {"summary": summary, "out": out, **objects}


def test_every_sentence_meets_every_criterion_at_the_models_threshold(trained, sample_run):
    out = sample_run["out"]
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    predictions = pd.read_csv(out / "predictions.csv", dtype={"post_id": str})
    threshold = json.loads((trained["model"] / "config.json").read_text())["decision_threshold"]
    assert sample_run["summary"]["decision_threshold"] == pytest.approx(threshold)
    assert (predictions["decision"] == (predictions["probability"] >= threshold)).all()
    per_sentence = predictions.groupby(["post_id", "sentence_index"])["criterion_id"]
    assert all(sorted(v) == data.CRITERIA_IDS for v in per_sentence.apply(list))
    posts = data.read_posts(SAMPLE_POSTS)
    texts = dict(zip(posts["post_id"], posts["text"]))
    for row in predictions.drop_duplicates(["post_id", "sentence_index"]).itertuples():
        assert texts[row.post_id][row.start : row.end] == row.sentence
    summary = sample_run["summary"]
    assert summary["posts"] == len(posts) == predictions["post_id"].nunique()
    assert summary["pairs"] == len(predictions) == summary["sentences"] * 9
    jsonl = pd.read_json(out / "predictions.jsonl", lines=True, dtype={"post_id": str})
    pd.testing.assert_frame_equal(jsonl, predictions, check_dtype=False)
    profile = pd.read_csv(out / "profile.csv", dtype={"post_id": str})
    assert profile["post_id"].tolist() == posts["post_id"].tolist()
    assert len((out / "profile.jsonl").read_text().splitlines()) == len(posts)


def test_the_same_probability_as_run_eval_for_annotated_pairs(trained, sample_run):
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(trained["tmp"])
        overrides = [f"checkpoint={trained['model']}", "split=all", "log=false"]
        _, evaluated = evaluate(load_config([f"tracking.uri={trained['uri']}", *overrides], "eval"))
    pairs, _ = data.load_pairs(load_config(["data=sample"]).data)
    evaluated = evaluated["frame"].assign(sentence=pairs["sentence"])
    predictions = pd.read_csv(sample_run["out"] / "predictions.csv", dtype={"post_id": str})
    joined = evaluated.merge(
        predictions, on=["post_id", "sentence", "symptom"], suffixes=("_eval", "_predict")
    )
    # annotated sentences that the splitter returns as one segment of their post
    assert len(joined) >= 0.8 * len(evaluated)
    np.testing.assert_allclose(joined["probability_predict"], joined["probability_eval"], atol=1e-5)


def test_the_html_report_holds_every_post(sample_run):
    page = (sample_run["out"] / "report.html").read_text(encoding="utf-8")
    collector = Collector()
    collector.feed(page)
    text = " ".join(collector.text)
    posts = data.read_posts(SAMPLE_POSTS)
    assert all(post_id in text for post_id in posts["post_id"])
    assert "not a diagnosis" in text.lower()
    assert "http://" not in page and "https://" not in page


def test_csv_jsonl_and_txt_folder_give_the_same_predictions(trained, tmp_path):
    posts = data.read_posts(SAMPLE_POSTS).head(4)
    posts.to_csv(tmp_path / "posts.csv", index=False)
    posts.to_json(tmp_path / "posts.jsonl", orient="records", lines=True, force_ascii=False)
    (tmp_path / "notes").mkdir()
    for post_id, text in zip(posts["post_id"], posts["text"]):
        (tmp_path / "notes" / f"{post_id}.txt").write_text(text, encoding="utf-8")
    frames = []
    for name in ("posts.csv", "posts.jsonl", "notes"):
        out = tmp_path / f"out-{name}"
        run_predict(trained, f"input={tmp_path / name}", f"output_dir={out}", "chunk_posts=3")
        frames.append(pd.read_csv(out / "predictions.csv", dtype={"post_id": str}))
    assert frames[0]["post_id"].nunique() == 4
    assert frames[1]["post_id"].unique().tolist() == posts["post_id"].tolist()  # input order
    assert frames[2]["post_id"].unique().tolist() == sorted(posts["post_id"])  # file names
    key = ["post_id", "sentence_index", "criterion_id"]
    first = frames[0].sort_values(key, ignore_index=True)
    for other in frames[1:]:
        pd.testing.assert_frame_equal(other.sort_values(key, ignore_index=True), first)


def test_one_post_from_the_command_line_and_bad_input_in_one_line(trained, tmp_path):
    script = [sys.executable, str(ROOT / "run_predict.py"), f"checkpoint={trained['model']}"]
    env_cwd = {"cwd": trained["tmp"], "capture_output": True, "text": True, "timeout": 300}
    out = tmp_path / "one"
    done = subprocess.run(
        [*script, "text=I can't sleep (at all). Nothing is fun, ${HOME}.", f"output_dir={out}"],
        **env_cwd,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["posts"] == 1 and summary["sentences"] == 2
    sentences = pd.read_csv(out / "predictions.csv")["sentence"].unique().tolist()
    assert sentences == ["I can't sleep (at all).", "Nothing is fun, ${HOME}."]

    missing = tmp_path / "nope.csv"
    bad = subprocess.run([*script, f"input={missing}", f"output_dir={tmp_path / 'x'}"], **env_cwd)
    assert bad.returncode == 2
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: input=") and str(missing) in lines[0]
    assert not (tmp_path / "x").exists()


def test_bad_checkpoint_or_taken_output_folder_write_nothing(trained, tiny_bert, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="not a model saved by run_train.py"):
        run_predict(
            trained, f"input={SAMPLE_POSTS}", f"output_dir={out}", f"checkpoint={tiny_bert}"
        )
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty"):
        run_predict(trained, f"input={SAMPLE_POSTS}", f"output_dir={out}")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not list(tmp_path.glob(".out.partial-*"))


def test_registered_model_and_an_mlflow_run_when_asked(trained, tmp_path):
    out = tmp_path / "out"
    summary, objects = run_predict(
        trained,
        f"checkpoint=models:/{REGISTERED}/1",
        "text=I lie awake every night. I had pizza.",
        f"output_dir={out}",
        "log=true",
    )
    assert summary["training_run_id"]
    mlflow.set_tracking_uri(trained["uri"])
    run = mlflow.get_run(objects["run_id"])
    assert run.data.tags["mlflow.parentRunId"] == summary["training_run_id"]
    assert run.data.metrics["pairs"] == summary["pairs"] == 18
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(objects["run_id"])}
    assert set(OUTPUT_FILES) <= artifacts
    # without log=true nothing new is logged
    before = len(mlflow.search_runs(search_all_experiments=True))
    run_predict(trained, "text=Nothing to see here.", f"output_dir={tmp_path / 'quiet'}")
    assert len(mlflow.search_runs(search_all_experiments=True)) == before


def test_empty_posts_are_skipped_and_counted_an_all_empty_input_is_refused(trained, tmp_path):
    posts = tmp_path / "posts.csv"
    pd.DataFrame({"post_id": ["a", "b", "c"], "text": ["I slept badly.", "   ", ""]}).to_csv(
        posts, index=False
    )
    summary, _ = run_predict(trained, f"input={posts}", f"output_dir={tmp_path / 'out'}")
    assert summary["posts"] == 1 and summary["empty_posts_skipped"] == 2
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"post_id": ["a"], "text": [" "]}).to_csv(empty, index=False)
    with pytest.raises(UserError, match="every post is empty"):
        run_predict(trained, f"input={empty}", f"output_dir={tmp_path / 'none'}")
    assert not (tmp_path / "none").exists()


def test_report_posts_caps_the_html_but_not_the_files(trained, tmp_path):
    out = tmp_path / "out"
    summary, _ = run_predict(
        trained, f"input={SAMPLE_POSTS}", f"output_dir={out}", "report_posts=0"
    )
    collector = Collector()
    collector.feed((out / "report.html").read_text(encoding="utf-8"))
    assert "0 shown of 120" in " ".join(collector.text)
    assert pd.read_csv(out / "profile.csv")["post_id"].nunique() == summary["posts"] == 120


def test_a_bad_row_found_mid_stream_leaves_no_folder_behind(trained, tmp_path):
    posts = tmp_path / "posts.csv"
    frame = pd.DataFrame({"post_id": ["a", "b", "a"], "text": ["I slept badly.", "Fine.", "x"]})
    frame.to_csv(posts, index=False)
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp_path)
        cfg = load_config(
            [f"tracking.uri={trained['uri']}", f"checkpoint={trained['model']}"]
            + [f"input={posts}", "chunk_posts=1"],
            "predict",
        )
        with pytest.raises(UserError, match="post_id 'a' appears twice"):
            predict_posts(cfg)
    assert list((tmp_path / "outputs" / "predict").glob("*/*")) == []
