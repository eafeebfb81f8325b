"""run_eval.py / evidence_ft.jobs.evaluate: every checkpoint form, hand-checked metrics, errors.

A tiny BERT is trained once on the bundled sample (``evidence_ft.jobs.train.train``, which also
logs and registers the MLflow model); each checkpoint form is then evaluated against it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import f1_score

from evidence_ft.config import load_config
from evidence_ft.data import SYMPTOMS
from evidence_ft.errors import UserError
from evidence_ft.jobs.all_sentences import FRAME_COLUMNS
from evidence_ft.jobs.evaluate import build_report, evaluate
from evidence_ft.metrics import choose_threshold, expected_calibration_error
from evidence_ft.plots import symptom_f1_figure
from evidence_ft.report import format_eval_report
from tests.conftest import ROOT, keep_mlflow_env, row, train_tiny_registered, write_dataset

REGISTERED = "tiny_eval"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    """One short real training run, in a tmp cwd with its own MLflow store."""
    tmp = tmp_path_factory.mktemp("eval_run")
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp)
        uri, metrics, objects = train_tiny_registered(tiny_bert, tmp, REGISTERED)
        yield {"tmp": tmp, "uri": uri, "metrics": metrics, **objects}


def run_eval(trained, *overrides: str) -> tuple[dict, dict]:
    tmp = trained["tmp"]
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp)
        cfg = load_config([f"tracking.uri={trained['uri']}", *overrides], "eval")
        return evaluate(cfg, overrides=list(overrides))


# ---------------------------------------------------------------------------- metrics


def hand_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "post_id": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "sentence_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
            "symptom": ["DEPRESSED_MOOD"] * 3 + ["ANHEDONIA"] * 3,
            "label": [1, 0, 1, 1, 0, 0],
            "probability": [0.9, 0.6, 0.4, 0.7, 0.2, 0.55],
        }
    )


def test_report_matches_hand_computed_values():
    report = build_report(hand_frame(), threshold=0.65)
    pair = report["pair_level"]
    # @0.5: TP s1,s4  FP s2,s6  FN s3  TN s5
    assert pair["at_0.5"]["confusion_matrix"] == [[1, 2], [1, 2]]
    assert (pair["at_0.5"]["precision"], pair["at_0.5"]["recall"]) == (0.5, 0.6667)
    assert pair["at_0.5"]["f1"] == 0.5714 and pair["at_0.5"]["accuracy"] == 0.5
    # @0.65: s2, s6 become negatives
    assert pair["at_threshold"]["confusion_matrix"] == [[3, 0], [1, 2]]
    assert pair["at_threshold"]["f1"] == 0.8 and pair["at_threshold"]["accuracy"] == 0.8333
    assert pair["roc_auc"] == 0.7778  # 7 of the 9 (positive, negative) pairs ranked right
    assert pair["brier"] == pytest.approx(1.1625 / 6, abs=1e-4)
    assert pair["ece"] == pytest.approx(2.35 / 6, abs=1e-4)

    per = report["per_symptom"]
    assert list(per) == SYMPTOMS  # every symptom gets a row
    assert per["DEPRESSED_MOOD"]["support"] == 3 and per["DEPRESSED_MOOD"]["positives"] == 2
    assert per["DEPRESSED_MOOD"]["at_0.5"]["f1"] == 0.5
    assert (
        per["ANHEDONIA"]["at_0.5"]["f1"] == 0.6667 and per["ANHEDONIA"]["at_threshold"]["f1"] == 1
    )
    assert per["FATIGUE"]["support"] == 0 and per["FATIGUE"]["at_0.5"] is None
    assert per["FATIGUE"]["roc_auc"] is None

    # posts: truth p1 {DM}, p2 {DM, AN}; @0.5 predicted p1 {DM}, p2 {AN}, p3 {AN}
    post = report["annotated_post_level"]
    assert post["at_0.5"]["per_symptom"]["DEPRESSED_MOOD"] == {
        "support": 2,
        "predicted": 1,
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
    }
    assert post["at_0.5"]["per_symptom"]["ANHEDONIA"]["f1"] == 0.6667
    assert post["at_0.5"]["micro_f1"] == 0.6667 and post["at_0.5"]["macro_f1"] == 0.6667
    assert post["at_threshold"]["micro_f1"] == 0.8 and post["at_threshold"]["macro_f1"] == 0.8333
    assert post["at_0.5"]["per_symptom"]["FATIGUE"]["f1"] is None


def test_symptom_without_positives_shows_undefined_not_zero():
    """A perfect classifier on a symptom with only negatives: no fake F1 0 / macro-F1 0.5 / MCC 0
    in the JSON, the printed table or the plot; specificity is reported on every row."""
    frame = pd.concat(
        [
            hand_frame(),
            pd.DataFrame(
                {
                    "post_id": ["p4", "p4"],
                    "sentence_id": ["s7", "s8"],
                    "symptom": ["FATIGUE", "FATIGUE"],
                    "label": [0, 0],
                    "probability": [0.1, 0.2],
                }
            ),
        ],
        ignore_index=True,
    )
    report = json.loads(json.dumps(build_report(frame, threshold=0.65)))  # as report.json holds
    fatigue = report["per_symptom"]["FATIGUE"]
    for key in ("at_0.5", "at_threshold"):
        row = fatigue[key]
        assert row["accuracy"] == 1.0 and row["specificity"] == 1.0
        assert row["confusion_matrix"] == [[2, 0], [0, 0]]
        for metric in ("precision", "recall", "f1", "macro_f1", "mcc"):
            assert row[metric] is None, metric
    # specificity on every row with pairs: ANHEDONIA @0.5 has TN s5, FP s6
    assert report["per_symptom"]["ANHEDONIA"]["at_0.5"]["specificity"] == 0.5
    assert report["per_symptom"]["DEPRESSED_MOOD"]["at_threshold"]["specificity"] == 1.0
    assert report["pair_level"]["at_0.5"]["specificity"] == 0.6  # TN s5 s7 s8 of s2 s5-s8
    assert report["pair_level"]["at_threshold"]["f1"] == 0.8  # pair level: unchanged

    table = format_eval_report(report)
    header = next(line for line in table.splitlines() if line.startswith("per symptom"))
    assert "spec" in header.split() and "mcc" in header.split()
    cells = next(line for line in table.splitlines() if line.startswith("FATIGUE")).split()
    # FATIGUE pairs pos f1@0.5 f1@t prec recall spec mcc roc_auc
    assert cells == ["FATIGUE", "2", "0", "-", "-", "-", "-", "1.0000", "-", "-"]

    fig = symptom_f1_figure(report)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    fatigue_y = labels.index("FATIGUE (n=2, pos=0)")
    marks = [t for t in ax.texts if t.get_text() == "n/a"]
    # FATIGUE and the seven symptoms without pairs: no bar at either threshold, an n/a mark
    assert len(marks) == 2 * (len(SYMPTOMS) - 2)
    assert sum(abs(t.get_position()[1] - fatigue_y) < 0.5 for t in marks) == 2
    bars = [b for b in ax.patches if abs(b.get_y() + b.get_height() / 2 - fatigue_y) < 0.5]
    assert bars == []
    assert len(ax.patches) == 4  # DEPRESSED_MOOD and ANHEDONIA at both thresholds


def test_ece_uses_calibration_curve_bins():
    rng = np.random.default_rng(0)
    probs = rng.random(500)
    labels = (rng.random(500) < probs**2).astype(int)
    rate, mean_prob = calibration_curve(labels, probs, n_bins=10)
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], probs), minlength=10)
    counts = counts[counts > 0]
    expected = float((counts * np.abs(rate - mean_prob)).sum() / len(probs))
    assert expected_calibration_error(labels, probs) == pytest.approx(expected, abs=1e-4)


def test_choose_threshold_maximises_f1():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    t = choose_threshold(labels, probs)
    best = f1_score(labels, probs >= t)
    assert all(best >= f1_score(labels, probs >= c) - 1e-12 for c in np.unique(probs))
    assert not np.any(probs == t)  # halfway between scores, never on one


# ---------------------------------------------------------------------------- checkpoint forms


def test_local_folder_reproduces_training_validation_f1(trained, tmp_path):
    """Consistency: the run's own validation posts give metrics.json's eval_f1 again."""
    run_dir = trained["run_dir"]
    report, objects = run_eval(
        trained, f"checkpoint={run_dir}/model", "split=validation", "log=false",
        f"output_dir={tmp_path}",
    )  # fmt: skip
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["pair_level"]["at_0.5"]["f1"] == metrics["eval_f1"]
    assert report["pair_level"]["at_0.5"]["mcc"] == metrics["eval_mcc"]
    assert report["pair_level"]["at_threshold"]["f1"] == metrics["eval_at_threshold_f1"]
    assert report["decision_threshold"] == pytest.approx(metrics["decision_threshold"])
    assert report["data"]["name"] == "sample"  # the run's data, not eval.yaml's default
    assert report["training_run_id"] == trained["run_id"]
    assert objects["run_id"] is None  # log=false

    # the temperature the run fitted: the same ECE and Brier score before and after it
    calibration = report["calibration"]
    assert calibration["temperature"] == metrics["temperature"] != 1.0
    for name in ("ece", "brier", "ece_uncalibrated", "brier_uncalibrated"):
        assert calibration[name] == pytest.approx(metrics[f"eval_{name}"], abs=2e-4), name

    csv = pd.read_csv(tmp_path / "predictions.csv")
    columns = ["post_id", "sentence_id", "symptom", "label", "probability"]
    assert list(csv.columns) == [*columns, "uncalibrated_probability"]
    assert len(csv) == report["pairs"]
    manifest = json.loads((run_dir / "split_manifest.json").read_text())
    assert set(csv["post_id"]) <= set(manifest["splits"]["validation"])
    names = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert names == {
        "confusion_matrix.png",
        "pr_curve.png",
        "roc_curve.png",
        "reliability.png",
        "per_symptom_f1.png",
    }
    saved = json.loads((tmp_path / "report.json").read_text())
    assert list(saved["per_symptom"]) == SYMPTOMS


@pytest.mark.integration  # runs a real script / trains end to end
def test_runs_uri_from_the_command_line_logs_an_evaluation_run(trained):
    run_id = trained["run_id"]
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_eval.py"),
            f"checkpoint=runs:/{run_id}/model",
            f"tracking.uri={trained['uri']}",
            "output_dir=eval_runs_uri",
        ],
        cwd=trained["tmp"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pair level" in proc.stdout and "annotated posts" in proc.stdout
    assert "SPECIAL_CASE" in proc.stdout and "micro_f1" in proc.stdout
    assert "all sentences: " in proc.stdout and "ten labels" in proc.stdout  # pairs=both
    report = json.loads((trained["tmp"] / "eval_runs_uri" / "report.json").read_text())
    assert report["split"] == "test"
    assert report["pair_level"]["at_0.5"]["f1"] == trained["metrics"]["test_f1"]
    assert report["pair_level"]["at_threshold"]["f1"] == trained["metrics"]["test_at_threshold_f1"]

    client = mlflow.MlflowClient(trained["uri"])
    (run,) = client.search_runs(
        [client.get_experiment_by_name("evidence_ft").experiment_id],
        filter_string="tags.`evidence_ft.job` = 'evaluation'",
    )
    assert run.info.status == "FINISHED"
    assert run.data.tags["training_run_id"] == run_id
    assert run.data.tags["mlflow.parentRunId"] == run_id  # nested under it in the MLflow UI
    assert run.data.metrics["test/pair_level/at_0.5/f1"] == trained["metrics"]["test_f1"]
    assert "test/per_symptom/SPECIAL_CASE/support" in run.data.metrics
    assert "test/annotated_post_level/at_threshold/macro_f1" in run.data.metrics
    assert "test/all_sentences/model/retrieval/ndcg_at_10" in run.data.metrics
    assert "test/all_sentences/baselines/lexical/sentence/f1" in run.data.metrics
    assert "test/all_sentences/post_protocol/model/micro_f1" in run.data.metrics
    for name in (  # bootstrap intervals as <name>_ci_low / _ci_high metrics
        "test/pair_level/at_threshold/f1_ci_low",
        "test/per_symptom/DEPRESSED_MOOD/at_0.5/accuracy_ci_high",
        "test/annotated_post_level/at_threshold/macro_f1_ci_low",
        "test/all_sentences/model/retrieval/ndcg_at_10_ci_high",
        "test/all_sentences/baselines/lexical/sentence/f1_ci_low",
        "test/all_sentences/post_protocol/model/micro_f1_ci_high",
    ):
        assert name in run.data.metrics, name
    assert report["intervals"]["resamples"] == report["all_sentences"]["intervals"]["resamples"]
    assert "95% percentile bootstrap interval" in proc.stdout
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.json", "predictions.csv", "table.txt", "plots"} <= artifacts
    assert "all_sentence_predictions.csv" in artifacts


def test_all_sentences_pairs_every_sentence_of_every_split_post(trained, tmp_path, capsys):
    """pairs=all_sentences: the split's posts (those without rows too) x every criterion,
    labelled from the annotations, scored as prediction scores, beside the baselines."""
    run_dir = trained["run_dir"]
    report, objects = run_eval(
        trained, f"checkpoint={run_dir}/model", "pairs=all_sentences", "log=false",
        f"output_dir={tmp_path}",
    )  # fmt: skip
    assert "pair_level" not in report and not (tmp_path / "predictions.csv").exists()
    section = report["all_sentences"]
    manifest = json.loads((run_dir / "split_manifest.json").read_text())
    test_posts = set(manifest["splits"]["test"])
    posts = pd.read_csv(ROOT / "data" / "sample" / "redsm5_posts.csv")
    annotations = pd.read_csv(ROOT / "data" / "sample" / "redsm5_annotations.csv")
    without_rows = test_posts - set(annotations["post_id"])
    assert without_rows and section["posts"] == len(test_posts)  # posts without rows included

    frame = pd.read_csv(tmp_path / "all_sentence_predictions.csv")
    assert list(frame.columns) == FRAME_COLUMNS and len(frame) == len(objects["sentences"])
    assert set(frame["post_id"]) <= test_posts and set(frame["post_id"]) >= without_rows
    assert frame.groupby(["post_id", "sentence_index"]).size().eq(10).all()  # 9 + SPECIAL_CASE
    assert not frame.loc[frame["post_id"].isin(without_rows), "label"].any()
    # the labels are the test split's distinct positive (sentence, symptom) rows
    positive = annotations[(annotations["status"] == 1) & annotations["post_id"].isin(test_posts)]
    distinct = positive.drop_duplicates(["post_id", "sentence_id", "DSM5_symptom"])
    assert section["positives"] == frame["label"].sum() == len(distinct)
    assert section["matching"]["share_matched"] == 1.0
    assert len(frame) == section["pairs"] and section["pairs"] > 10 * len(distinct)
    # the model's column is what inference.predict gives for the same posts
    from evidence_ft.inference import predict

    chosen = posts[posts["post_id"].isin(test_posts)]
    direct = predict(str(run_dir / "model"), chosen, special_case=True).sort_values(
        ["post_id", "sentence_index", "criterion_id"]
    )
    mine = frame.sort_values(["post_id", "sentence_index", "criterion_id"])
    assert np.allclose(direct["probability"].to_numpy(), mine["probability"].to_numpy())
    assert set(section["baselines"]) == {"constant", "random", "lexical"}
    constant = section["baselines"]["constant"]["sentence"]
    assert constant["recall"] == 1.0
    assert constant["precision"] == pytest.approx(section["positives"] / section["pairs"], abs=1e-4)
    printed = capsys.readouterr().out
    assert "all sentences: " in printed and "ten labels" in printed and "lexical" in printed
    assert (tmp_path / "table.txt").read_text().strip() in printed


def test_registered_model_version_and_alias(trained, tmp_path):
    name, version = trained["registered"]
    assert name == REGISTERED
    report, _ = run_eval(
        trained, f"checkpoint=models:/{name}/{version}", "log=false", f"output_dir={tmp_path}"
    )
    assert report["training_run_id"] == trained["run_id"]
    assert report["pair_level"]["at_0.5"]["f1"] == trained["metrics"]["test_f1"]

    mlflow.MlflowClient(trained["uri"]).set_registered_model_alias(name, "champion", version)
    report, _ = run_eval(
        trained,
        f"checkpoint=models:/{name}@champion",
        "split=validation",
        "log=false",
        f"output_dir={tmp_path}/alias",
    )
    assert report["training_run_id"] == trained["run_id"]
    assert report["pair_level"]["at_0.5"]["f1"] == trained["metrics"]["eval_f1"]


def test_another_file_with_split_all(trained, tmp_path):
    """data.* overrides + split=all: score every pair of a file the model never saw."""
    paths = write_dataset(
        tmp_path / "other",
        [row("x1", 0, "FATIGUE", 1), row("x1", 1, "FATIGUE", 0), row("x2", 0, "ANHEDONIA", 1)],
    )
    report, _ = run_eval(
        trained,
        f"checkpoint={trained['run_dir']}/model",
        "split=all",
        "log=false",
        f"output_dir={tmp_path}/out",
        *(f"data.{k}={v}" for k, v in paths.items()),
    )
    assert (report["pairs"], report["posts"], report["positives"]) == (3, 2, 2)
    assert report["per_symptom"]["FATIGUE"]["support"] == 2
    assert report["per_symptom"]["DEPRESSED_MOOD"]["support"] == 0
    assert {k: report["data"][k] for k in paths} == paths  # the report names what it read


def test_a_typed_data_group_wins_even_when_it_is_the_eval_default(trained, tmp_path):
    """``data=redsm5`` is eval.yaml's default; typed, it must not fall back to the run's sample."""
    if (ROOT / "data" / "redsm5" / "redsm5_posts.csv").is_file():
        pytest.skip("the real ReDSM5 files are present here")
    with pytest.raises(UserError, match=r"data/redsm5/redsm5_posts\.csv"):
        run_eval(trained, f"checkpoint={trained['run_dir']}/model", "data=redsm5", "log=false")
    # Untyped, the run's own data (the sample) is read, and the report says so.
    report, _ = run_eval(
        trained, f"checkpoint={trained['run_dir']}/model", "log=false", f"output_dir={tmp_path}"
    )
    assert report["data"]["name"] == "sample"
    assert report["data"]["posts_path"].endswith("data/sample/redsm5_posts.csv")


# ---------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def encoder_only(tmp_path_factory):
    """A model folder that is not a sequence classifier (a bare BertModel)."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("encoder_only")
    config = BertConfig(
        vocab_size=100, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
        intermediate_size=8,
    )  # fmt: skip
    BertModel(config).save_pretrained(path)
    return path


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        ("{tmp}/does_not_exist", "no such folder"),
        ("{tmp}", "not a Hugging Face model folder"),
        ("{encoder}", "is not a sequence classifier"),
        ("runs:/0123456789abcdef/model", "not found in the MLflow store"),
        ("models:/no_such_model/1", "not found in the MLflow store"),
        (f"models:/{REGISTERED}@no_such_alias", "not found in the MLflow store"),
    ],
)
def test_bad_checkpoints_are_one_line_user_errors(trained, encoder_only, checkpoint, message):
    checkpoint = checkpoint.format(tmp=trained["tmp"], encoder=encoder_only)
    with pytest.raises(UserError, match=message) as err:
        run_eval(trained, f"checkpoint={checkpoint}", "log=false")
    assert "\n" not in str(err.value) and checkpoint in str(err.value)


@pytest.mark.integration  # runs a real script / trains end to end
def test_cli_error_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_eval.py"), f"checkpoint={tmp_path}/missing"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: checkpoint=") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_missing_checkpoint_and_bad_split():
    with pytest.raises(UserError, match="checkpoint is required"):
        evaluate(load_config(["log=false"], "eval"))
    with pytest.raises(UserError, match="split=dev must be one of"):
        evaluate(load_config(["checkpoint=x", "split=dev"], "eval"))
