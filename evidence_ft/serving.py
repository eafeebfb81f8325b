"""The decision threshold inside a saved model, and the MLflow model that scores pairs.

A saved model holds its validation-chosen threshold t in the classifier's last bias: the
evidence-minus-no_evidence logit gap is shifted by -logit(t), so the argmax that
``transformers.pipeline`` and ``mlflow models serve`` take is ``P(evidence) >= t``.
``config.json`` records ``decision_threshold`` (t) and ``evidence_logit_offset`` (logit(t));
``evidence_probability`` undoes the shift to give the raw P(evidence) again.

MLflow logs this file as a "model from code" (``mlflow.pyfunc.log_model(python_model=<this
file>)``), so it imports only numpy, pandas, torch, transformers and mlflow: a served model
needs no evidence_ft install.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature, set_model
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema
from transformers import AutoModelForSequenceClassification, AutoTokenizer

EVIDENCE = "evidence"
NO_EVIDENCE = "no_evidence"
# config.json keys: the threshold on the raw P(evidence), and the logit shift the head holds.
THRESHOLD_KEY = "decision_threshold"
OFFSET_KEY = "evidence_logit_offset"
# config.json keys for prediction on posts: {criterion id: text} and the pair token limit the
# model was trained with, so run_predict.py encodes pairs exactly as training did.
CRITERIA_KEY = "evidence_criteria"
MAX_LENGTH_KEY = "evidence_max_length"
# The pyfunc's input columns: criterion, sentence (a tokenizer pair, in this order).
INPUT_COLUMNS = ("text", "text_pair")
# The MLflow artifact name of the saved Hugging Face folder inside a logged model.
HF_ARTIFACT = "hf_model"


def _label_ids(config: Any) -> tuple[int, int]:
    """(no_evidence, evidence) logit columns from ``config.label2id`` (default 0, 1)."""
    label2id = dict(getattr(config, "label2id", None) or {})
    return int(label2id.get(NO_EVIDENCE, 0)), int(label2id.get(EVIDENCE, 1))


def evidence_probability(logits: Any, config: Any = None) -> np.ndarray:
    """Raw P(evidence) per row of two-class logits, undoing a threshold folded into the head.

    >>> evidence_probability([[0.0, 0.0], [0.0, 2.0]]).round(4).tolist()
    [0.5, 0.8808]
    """
    no, yes = _label_ids(config)
    logits = np.asarray(logits, dtype=np.float64)
    gap = logits[:, yes] - logits[:, no] + float(getattr(config, OFFSET_KEY, None) or 0.0)
    return np.exp(-np.logaddexp(0.0, -gap))  # sigmoid(gap) == softmax(logits)[:, yes], stably


def threshold_logit(threshold: float) -> float:
    """logit(t): the gap shift that moves the argmax boundary from 0.5 to ``threshold``.

    >>> round(threshold_logit(0.8), 4), threshold_logit(0.5)
    (1.3863, 0.0)
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"decision threshold {threshold} must lie strictly between 0 and 1")
    return math.log(threshold) - math.log1p(-threshold)


def output_layer(model: Any) -> torch.nn.Linear:
    """The classifier head's last ``nn.Linear`` with one output per label (BERT, DeBERTa, ...)."""
    labels = model.config.num_labels
    layers = [
        m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == labels
    ]
    if not layers or layers[-1].bias is None:
        raise ValueError(f"{type(model).__name__}: no output layer with a bias to hold a threshold")
    return layers[-1]


@contextlib.contextmanager
def threshold_in_head(model: Any, threshold: float) -> Iterator[Any]:
    """Within the block the model's argmax decides ``P(evidence) >= threshold``; restored after.

    Used while saving: the model in memory (evaluated and returned by training) is unchanged.
    """
    offset = threshold_logit(threshold)
    layer = output_layer(model)
    _, yes = _label_ids(model.config)
    original = layer.bias.detach().clone()
    with torch.no_grad():
        layer.bias[yes] -= offset
    setattr(model.config, THRESHOLD_KEY, threshold)
    setattr(model.config, OFFSET_KEY, offset)
    try:
        yield model
    finally:
        with torch.no_grad():
            layer.bias.copy_(original)
        delattr(model.config, OFFSET_KEY)


def model_signature() -> ModelSignature:
    """The pyfunc's columns: string ``text``, ``text_pair`` in; ``label``, ``probability`` out."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", name) for name in INPUT_COLUMNS]),
        outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
    )


class EvidenceModel(PythonModel):
    """pyfunc: DataFrame(text=criterion, text_pair=sentence) -> DataFrame(label, probability).

    ``probability`` is the raw P(evidence); ``label`` is ``evidence`` when it reaches the
    model's ``decision_threshold``. ``model_config`` gives ``max_length`` and ``batch_size``.
    """

    def load_context(self, context: Any) -> None:
        folder = context.artifacts[HF_ARTIFACT]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        self.max_length = int(context.model_config["max_length"])
        self.batch_size = int(context.model_config["batch_size"])
        self.threshold = float(getattr(self.model.config, THRESHOLD_KEY, None) or 0.5)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"input needs columns {list(INPUT_COLUMNS)}; missing {missing}")
        criteria, sentences = frame["text"].astype(str), frame["text_pair"].astype(str)
        probs = [np.empty(0)]
        for start in range(0, len(frame), self.batch_size):
            # The training encoding: a (criterion, sentence) pair, only the sentence truncated.
            batch = self.tokenizer(
                list(criteria[start : start + self.batch_size]),
                list(sentences[start : start + self.batch_size]),
                truncation="only_second",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = self.model(**batch).logits
            probs.append(evidence_probability(logits.float().numpy(), self.model.config))
        p = np.concatenate(probs)
        labels = np.where(p >= self.threshold, EVIDENCE, NO_EVIDENCE)
        return pd.DataFrame({"label": labels, "probability": p})


# MLflow runs this file under a generated module name to load the model; importing it as
# part of the evidence_ft package only defines the functions above.
if not __name__.startswith("evidence_ft"):
    set_model(EvidenceModel())
