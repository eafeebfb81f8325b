"""Every way to load a trained model decides as run_eval.py does, and scores pairs as pairs.

Unit tests fold a threshold into tiny BERT, DeBERTa-v2 and RoBERTa heads. The integration
tests train a tiny BERT on the sample once, then compare run_eval.py's decisions on the test
pairs with ``transformers.pipeline`` on the saved folder, ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` running as a real process answering HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import (
    AutoModelForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    pipeline,
)

from evidence_ft import data, tracking
from evidence_ft.calibration import calibrated
from evidence_ft.checkpoints import resolve_checkpoint
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.inference import load_predictor, predict, score_pairs
from evidence_ft.jobs.evaluate import evaluate, select_split
from evidence_ft.jobs.train import train
from evidence_ft.serving import (
    EVIDENCE,
    OFFSET_KEY,
    TEMPERATURE_KEY,
    evidence_gap,
    evidence_probability,
    output_layer,
    sigmoid,
    threshold_in_head,
)

from .conftest import keep_mlflow_env, tiny_sample_run, train_tiny_registered

REGISTERED = "tiny_serving"
SLEEP = "Sleep disturbance: trouble falling or staying asleep, nearly every day."
INSOMNIA = "I lie awake until 4 am every night and cannot fall asleep again."
PIZZA = "I had pizza for lunch."


# ---------------------------------------------------------------------------- unit: the fold


def _tiny_roberta(path: Path) -> Path:
    config = RobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=2, hidden_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    RobertaForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(params=["bert", "deberta", "roberta"])
def tiny_model(request, tiny_bert, tiny_deberta, tmp_path):
    folder = {"bert": tiny_bert, "deberta": tiny_deberta}.get(request.param)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder or _tiny_roberta(tmp_path / "roberta")
    )
    torch.manual_seed(1)
    with torch.no_grad():  # a head that is not centred at 0.5, as after training
        output_layer(model).bias.copy_(torch.tensor([0.3, -0.2]))
    return model.eval()


def _logits(model, input_ids: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(input_ids=input_ids).logits.numpy()


def test_threshold_in_head_moves_the_argmax_to_the_threshold(tiny_model, tmp_path):
    input_ids = torch.randint(5, 99, (64, 12))
    raw = evidence_probability(_logits(tiny_model, input_ids))
    # Half the pairs on each side, the threshold midway between the two middle ones: a margin
    # of 1e-6 let float rounding of the folded logits flip a pair now and then.
    middle = np.sort(raw)[len(raw) // 2 - 1 : len(raw) // 2 + 1]
    assert middle[1] - middle[0] > 1e-7, "the two middle pairs must differ"
    threshold = float(middle.mean())
    bias = output_layer(tiny_model).bias.detach().clone()
    with threshold_in_head(tiny_model, threshold):
        folded = _logits(tiny_model, input_ids)
        tiny_model.save_pretrained(tmp_path / "saved")
    # argmax == raw P(evidence) >= t, and the raw probability is recovered from the config
    assert ((folded.argmax(-1) == 1) == (raw >= threshold)).all()
    assert (raw >= threshold).sum() == 32 and (raw >= 0.5).sum() != 32
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    assert saved.config.decision_threshold == threshold
    assert getattr(saved.config, OFFSET_KEY) == pytest.approx(np.log(threshold / (1 - threshold)))
    np.testing.assert_allclose(
        evidence_probability(_logits(saved, input_ids), saved.config), raw, atol=1e-6
    )
    # the model in memory is restored bit for bit
    assert torch.equal(output_layer(tiny_model).bias, bias)
    assert not hasattr(tiny_model.config, OFFSET_KEY)
    np.testing.assert_array_equal(evidence_probability(_logits(tiny_model, input_ids)), raw)


def test_register_setting_is_validated():
    with pytest.raises(UserError, match="tracking.register=sometimes must be one of"):
        load_config(["tracking.register=sometimes"])
    assert load_config([]).tracking.register == "auto"


# ---------------------------------------------------------------------------- integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    """One short real training run (registered) and run_eval.py's test-split decisions."""
    tmp = tmp_path_factory.mktemp("serving_run")
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp)
        uri, metrics, objects = train_tiny_registered(tiny_bert, tmp, REGISTERED)
        report, evaluated = evaluate(
            load_config([f"tracking.uri={uri}", f"checkpoint={tmp}/run/model", "log=false"], "eval")
        )
        # the same test pairs, with their texts, in run_eval.py's order
        pairs, _ = data.load_pairs(load_config(["data=sample"]).data)
        manifest = json.loads((tmp / "run" / "split_manifest.json").read_text())
        chosen = select_split(pairs, "test", manifest, "test")
        frame = evaluated["frame"]
        assert chosen["sentence_id"].tolist() == frame["sentence_id"].tolist()
        yield {
            "tmp": tmp,
            "uri": uri,
            "metrics": metrics,
            "threshold": report["decision_threshold"],
            "inputs": pd.DataFrame({"text": chosen["criterion"], "text_pair": chosen["sentence"]}),
            "probability": frame["probability"].to_numpy(),
            "frame_labels": frame["label"].to_numpy(),
            "decision": frame["probability"].to_numpy() >= report["decision_threshold"],
            **objects,
        }


def _labels_evidence(labels) -> np.ndarray:
    return np.asarray([label == EVIDENCE for label in labels])


@pytest.mark.integration
def test_the_threshold_matters_on_these_pairs(trained):
    """Otherwise the comparisons below could not tell a threshold from an argmax."""
    raw = trained["probability"]
    assert (raw >= 0.5).sum() != trained["decision"].sum()


@pytest.mark.integration
def test_pipeline_on_the_saved_folder_decides_like_run_eval(trained):
    clf = pipeline("text-classification", model=str(trained["run_dir"] / "model"))
    records = trained["inputs"].to_dict("records")
    out = clf(records, batch_size=16)
    assert (_labels_evidence([o["label"] for o in out]) == trained["decision"]).all()
    # the score is P(evidence) re-centred on the threshold: the card's formula gives it back
    t = trained["threshold"]
    both = clf(records, top_k=None)
    q = np.array([next(s["score"] for s in row if s["label"] == EVIDENCE) for row in both])
    np.testing.assert_allclose(q * t / (q * t + (1 - q) * (1 - t)), trained["probability"], 1e-5)
    card = (trained["run_dir"] / "model" / "README.md").read_text()
    assert "p = s*t / (s*t + (1 - s)*(1 - t))" in card


@pytest.mark.integration
def test_pyfunc_decides_like_run_eval_and_returns_the_raw_probability(trained):
    mlflow.set_tracking_uri(trained["uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{trained['run_id']}/model")
    out = model.predict(trained["inputs"])
    assert list(out.columns) == ["label", "probability"]
    assert (_labels_evidence(out["label"]) == trained["decision"]).all()
    np.testing.assert_allclose(out["probability"], trained["probability"], atol=1e-5)
    pair = model.predict(pd.DataFrame({"text": [SLEEP, SLEEP], "text_pair": [INSOMNIA, PIZZA]}))
    assert pair["probability"][0] != pair["probability"][1]
    # the signature and input example name both halves of the pair
    info = mlflow.models.get_model_info(f"runs:/{trained['run_id']}/model")
    assert info.signature.inputs.input_names() == ["text", "text_pair"]
    assert info.saved_input_example_info is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, records: list[dict]) -> list[dict]:
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["predictions"]


@pytest.mark.integration
def test_served_registered_model_decides_like_run_eval(trained):
    name, version = trained["registered"]
    port = _free_port()
    log = (trained["tmp"] / "serve.log").open("w")  # a file: an unread pipe would fill up
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}",
         "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
        env={**os.environ, "MLFLOW_TRACKING_URI": trained["uri"], "HF_HUB_OFFLINE": "1"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (trained["tmp"] / "serve.log").read_text()[-2000:]
                    pytest.fail(f"mlflow models serve did not start:\n{tail}")
                time.sleep(0.5)
        served = _post(f"{url}/invocations", trained["inputs"].to_dict("records"))
        assert (_labels_evidence([p["label"] for p in served]) == trained["decision"]).all()
        probs = [p["probability"] for p in served]
        np.testing.assert_allclose(probs, trained["probability"], atol=1e-5)
        pair = [{"text": SLEEP, "text_pair": s} for s in (INSOMNIA, PIZZA)]
        insomnia, pizza = _post(f"{url}/invocations", pair)
        assert insomnia["probability"] != pizza["probability"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its worker processes
        server.wait(timeout=30)
        log.close()


@pytest.mark.integration
def test_every_loader_gets_the_calibrated_probability(trained):
    """The temperature fitted at training is in the saved head: run_eval.py's probabilities
    (which the pipeline, pyfunc and served model match above) and run_predict.py's are the
    calibrated ones, and the ranking is the uncalibrated one's."""
    metrics = trained["metrics"]
    t = metrics["temperature"]
    assert t != 1.0 and metrics["eval_nll"] < metrics["eval_nll_uncalibrated"]
    config = json.loads((trained["run_dir"] / "model" / "config.json").read_text())
    assert config[TEMPERATURE_KEY] == t
    predictor = load_predictor(str(trained["run_dir"] / "model"))
    inputs = trained["inputs"]
    ours = score_pairs(predictor, inputs["text"].tolist(), inputs["text_pair"].tolist(), 16)
    np.testing.assert_allclose(ours, trained["probability"], atol=1e-5)
    # what the model in memory gives (no temperature), divided by T, is what they all give
    model = trained["trainer"].model.eval()
    batch = predictor.tokenizer(
        inputs["text"].tolist(), inputs["text_pair"].tolist(), truncation="only_second",
        padding=True, return_tensors="pt",
    )  # fmt: skip
    with torch.no_grad():
        raw = evidence_gap(model(**batch.to(model.device)).logits.float().cpu().numpy())
    np.testing.assert_allclose(calibrated(raw, t), trained["probability"], atol=1e-5)
    assert not np.allclose(sigmoid(raw), trained["probability"], atol=1e-3)
    labels = trained["frame_labels"]
    assert roc_auc_score(labels, sigmoid(raw)) == pytest.approx(
        roc_auc_score(labels, trained["probability"]), abs=1e-9
    )


@pytest.mark.integration
def test_saved_model_names_its_training_run(trained):
    config = json.loads((trained["run_dir"] / "model" / "config.json").read_text())
    assert config["mlflow_run_id"] == trained["run_id"]
    assert config["decision_threshold"] == pytest.approx(trained["threshold"])


@pytest.mark.integration
def test_registered_version_carries_metrics_data_and_run(trained):
    name, version = trained["registered"]
    found = mlflow.MlflowClient(trained["uri"]).get_model_version(name, version)
    metrics = trained["metrics"]
    assert found.run_id == trained["run_id"]
    for key in ("test_f1", "test_macro_f1", "test_mcc", "test_constant_f1"):
        assert found.tags[key] == f"{metrics[key]:.4f}", key
    assert found.tags["data"] == "sample" and found.tags["run_id"] == trained["run_id"]
    assert f"F1 {metrics['test_f1']:.4f}" in found.description
    assert trained["run_id"] in found.description


@pytest.mark.integration
@pytest.mark.parametrize(("register", "registered"), [("auto", False), ("always", True)])
def test_smoke_runs_register_only_when_asked(register, registered, tiny_bert, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp_path)
        cfg = load_config(
            tiny_sample_run(
                tiny_bert, tmp_path, "training.max_steps=1", f"tracking.register={register}"
            )
        )
        _, objects = train(cfg)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    versions = client.search_model_versions("name='evidence_ft'")
    assert (objects["registered"] is not None) == registered
    assert len(versions) == int(registered)
    # the run logs its model either way
    assert mlflow.pyfunc.load_model(f"runs:/{objects['run_id']}/model") is not None


def test_logged_model_resolves_to_its_hugging_face_folder(tiny_bert, tmp_path):
    """run_eval.py's ``runs:/`` and ``models:/`` checkpoints find the folder inside the pyfunc."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("e", artifact_location=(tmp_path / "mlruns").as_uri())
    example = pd.DataFrame({"text": [SLEEP], "text_pair": [INSOMNIA]})
    with mlflow.start_run(experiment_id=experiment) as run:
        uri = tracking.log_model(tiny_bert, example, {"max_length": 64, "batch_size": 8})
    version = tracking.register_model(uri, "m", "a description", {"data": "sample"})
    for checkpoint in (f"runs:/{run.info.run_id}/model", f"models:/m/{version}"):
        with resolve_checkpoint(checkpoint) as ckpt:
            assert (ckpt.model_dir / "config.json").is_file()
            assert (ckpt.tokenizer_dir / "tokenizer.json").is_file()
            assert ckpt.run_id == run.info.run_id


# ---------------------------------------------------------------------------- per symptom


@pytest.mark.integration
def test_per_symptom_thresholds_reach_every_loader_but_the_pipeline(tiny_bert, tmp_path):
    """threshold=per_symptom: chosen at training, stored in config.json, applied by run_eval.py,
    run_predict.py and the pyfunc; reported beside the global threshold."""
    with pytest.MonkeyPatch.context() as mp:
        keep_mlflow_env(mp)
        mp.chdir(tmp_path)
        overrides = tiny_sample_run(
            tiny_bert, tmp_path, "training.num_train_epochs=2", "training.learning_rate=1e-3",
            "threshold=per_symptom", "threshold_min_positives=2", f"output_dir={tmp_path}/run",
        )  # fmt: skip
        metrics, objects = train(load_config(overrides))
        uri = f"sqlite:///{tmp_path}/mlflow.db"
        checkpoint = f"checkpoint={tmp_path}/run/model"
        report, evaluated = evaluate(
            load_config([f"tracking.uri={uri}", checkpoint, "log=false"], "eval")
        )
    rows = metrics["symptom_thresholds"]
    own = {s: r["threshold"] for s, r in rows.items()}
    assert any(r["own"] for r in rows.values())
    assert {r["threshold"] for r in rows.values() if not r["own"]} <= {
        metrics["decision_threshold"]
    }
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    saved = config["evidence_criterion_thresholds"]
    by_criterion = {data.CRITERION_TO_SYMPTOM[c]: t for c, t in saved.items()}
    assert by_criterion == pytest.approx(own)
    # run_eval.py: the training run's figure at the per-symptom thresholds, beside the global
    pair = report["pair_level"]
    assert pair["at_symptom_thresholds"]["f1"] == metrics["test_at_symptom_thresholds_f1"]
    assert pair["at_threshold"]["f1"] == metrics["test_at_threshold_f1"]
    assert report["symptom_thresholds"] == pytest.approx(own)
    # the pyfunc decides each pair at its symptom's threshold
    frame = evaluated["frame"]
    pairs, _ = data.load_pairs(load_config(["data=sample"]).data)
    keys = ["post_id", "sentence_id", "symptom"]
    texts = frame[keys].merge(pairs, on=keys, how="left", validate="one_to_one")
    mlflow.set_tracking_uri(uri)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{objects['run_id']}/model")
    inputs = {"text": texts["criterion"].to_numpy(), "text_pair": texts["sentence"].to_numpy()}
    out = pyfunc.predict(pd.DataFrame(inputs))
    cut = frame["symptom"].map(own).to_numpy()
    np.testing.assert_allclose(out["probability"], frame["probability"], atol=1e-5)
    clear = np.abs(frame["probability"].to_numpy() - cut) > 1e-5
    assert (_labels_evidence(out["label"]) == (frame["probability"].to_numpy() >= cut))[clear].all()
    # run_predict.py's decisions follow the criterion's threshold
    predictor = load_predictor(str(tmp_path / "run" / "model"))
    predicted = predict(
        predictor, pd.DataFrame({"post_id": ["p"], "text": [INSOMNIA + " " + PIZZA]})
    )
    cuts = predicted["symptom"].map(own)
    assert (predicted["decision"] == (predicted["probability"] >= cuts)).all()
