"""Shared fixtures: tiny random models (BERT and DeBERTa-v2) and small ReDSM5-format files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from evidence_ft.modeling import resolve_model_path

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = ROOT.parent / "shared" / "redsm5-sample"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def tiny_model_dir(path: Path, family: str = "bert") -> Path:
    """Save a randomly initialised 2-layer classifier of ``family`` with MiniLM's tokenizer."""
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
    )

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM))
    common = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    if family == "bert":
        model = BertForSequenceClassification(BertConfig(**common))
    else:
        model = DebertaV2ForSequenceClassification(DebertaV2Config(**common, type_vocab_size=2))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny_bert"), "bert")


@pytest.fixture(scope="session")
def tiny_deberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny_deberta"), "deberta")


CRITERIA = {
    "diagnosis": "MDD",
    "criteria": [{"id": f"A.{i}", "text": f"Criterion {i}."} for i in range(1, 10)],
}


def write_dataset(
    folder: Path, annotations: list[dict], posts: list[dict] | None = None
) -> dict[str, str]:
    """Write ReDSM5-format CSVs + criteria JSON into ``folder``; return data.* overrides."""
    folder.mkdir(parents=True, exist_ok=True)
    ann = pd.DataFrame(annotations)
    if "explanation" not in ann:
        ann["explanation"] = "because"
    if posts is None:
        posts = [{"post_id": p, "text": f"text of {p}"} for p in dict.fromkeys(ann["post_id"])]
    pd.DataFrame(posts).to_csv(folder / "redsm5_posts.csv", index=False)
    ann.to_csv(folder / "redsm5_annotations.csv", index=False)
    (folder / "MDD_Criteira.json").write_text(json.dumps(CRITERIA), encoding="utf-8")
    return {
        "posts_path": str(folder / "redsm5_posts.csv"),
        "annotations_path": str(folder / "redsm5_annotations.csv"),
        "criteria_path": str(folder / "MDD_Criteira.json"),
    }


def row(post: str, k: int, symptom: str, status: int, text: str | None = None, **extra) -> dict:
    return {
        "post_id": post,
        "sentence_id": f"{post}_{k}",
        "sentence_text": text or f"Sentence {k} of {post}.",
        "DSM5_symptom": symptom,
        "status": status,
        **extra,
    }


MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


def keep_mlflow_env(mp: pytest.MonkeyPatch) -> None:
    """Restore the variables tracking.setup / evaluate set when ``mp`` is undone."""
    for key in MLFLOW_ENV:
        mp.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            mp.delenv(key)


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """tracking.setup() exports MLFLOW_* for MLflowCallback; undo that after every test."""
    keep_mlflow_env(monkeypatch)
