"""The calibration and decision threshold inside a saved model, and the MLflow model that
scores pairs.

A saved model holds its validation-fitted temperature T and validation-chosen threshold t in
the classifier's last linear layer: its weights and bias are divided by T, so the
evidence-minus-no_evidence logit gap is the calibrated one, and the evidence bias is shifted
by -logit(t), so the argmax that ``transformers.pipeline`` and ``mlflow models serve`` take
is ``P(evidence) >= t``. ``config.json`` records ``decision_threshold`` (t, on the
calibrated probability), ``evidence_temperature`` (T, already applied: for the record) and
``evidence_logit_offset`` (logit(t)); ``evidence_probability`` undoes the shift to give the
calibrated P(evidence). Per-symptom thresholds (``evidence_criterion_thresholds``,
{criterion id: t}) cannot live in the head, which does not know the criterion: the pyfunc,
run_eval.py and run_predict.py read them from config.json; ``transformers.pipeline`` decides
at the global t.

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
# config.json keys: the threshold on the calibrated P(evidence), and the logit shift in the head.
THRESHOLD_KEY = "decision_threshold"
OFFSET_KEY = "evidence_logit_offset"
# config.json keys: the temperature folded into the head (1.0 = uncalibrated), and the
# per-symptom thresholds {criterion id: t} (threshold=per_symptom; absent = one global t).
TEMPERATURE_KEY = "evidence_temperature"
CRITERION_THRESHOLDS_KEY = "evidence_criterion_thresholds"
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


def evidence_gap(logits: Any, config: Any = None) -> np.ndarray:
    """The evidence-minus-no_evidence logit gap per row, undoing a threshold folded into the
    head (a saved model's gap is already divided by its temperature).

    >>> evidence_gap([[0.0, 0.0], [1.0, 3.0]]).tolist()
    [0.0, 2.0]
    """
    no, yes = _label_ids(config)
    logits = np.asarray(logits, dtype=np.float64)
    return logits[:, yes] - logits[:, no] + float(getattr(config, OFFSET_KEY, None) or 0.0)


def sigmoid(gap: Any) -> np.ndarray:
    """1 / (1 + exp(-gap)) without overflow: softmax of two logits, as P(evidence)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(gap, dtype=np.float64)))


def evidence_probability(logits: Any, config: Any = None) -> np.ndarray:
    """P(evidence) per row of two-class logits, undoing a threshold folded into the head; a
    saved model's is the calibrated probability (its temperature is in its weights).

    >>> evidence_probability([[0.0, 0.0], [0.0, 2.0]]).round(4).tolist()
    [0.5, 0.8808]
    """
    return sigmoid(evidence_gap(logits, config))


def criterion_thresholds(config: Any) -> dict[str, float]:
    """A model's per-symptom thresholds {criterion id: t} (empty: one global threshold)."""
    saved = getattr(config, CRITERION_THRESHOLDS_KEY, None) or {}
    return {k: float(v) for k, v in saved.items()}


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
def threshold_in_head(model: Any, threshold: float, temperature: float = 1.0) -> Iterator[Any]:
    """Within the block the model's logits are divided by ``temperature`` and its argmax
    decides ``calibrated P(evidence) >= threshold``; restored after.

    Dividing the last linear layer's weights and bias by T divides both logits, hence their
    gap, by T: every loader then gets the calibrated probability with no code of its own.
    Used while saving: the model in memory (evaluated and returned by training) is unchanged.
    """
    if not temperature > 0:
        raise ValueError(f"temperature {temperature} must be positive")
    offset = threshold_logit(threshold)
    layer = output_layer(model)
    _, yes = _label_ids(model.config)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    with torch.no_grad():
        layer.weight.div_(temperature)
        layer.bias.div_(temperature)
        layer.bias[yes] -= offset
    setattr(model.config, THRESHOLD_KEY, threshold)
    setattr(model.config, TEMPERATURE_KEY, temperature)
    setattr(model.config, OFFSET_KEY, offset)
    try:
        yield model
    finally:
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        delattr(model.config, OFFSET_KEY)


def model_signature() -> ModelSignature:
    """The pyfunc's columns: string ``text``, ``text_pair`` in; ``label``, ``probability`` out."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", name) for name in INPUT_COLUMNS]),
        outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
    )


class EvidenceModel(PythonModel):
    """pyfunc: DataFrame(text=criterion, text_pair=sentence) -> DataFrame(label, probability).

    ``probability`` is the (calibrated) P(evidence); ``label`` is ``evidence`` when it reaches
    the model's ``decision_threshold``, or the criterion's own threshold when the model has
    per-symptom thresholds. ``model_config`` gives ``max_length`` and ``batch_size``.
    """

    def load_context(self, context: Any) -> None:
        folder = context.artifacts[HF_ARTIFACT]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        self.max_length = int(context.model_config["max_length"])
        self.batch_size = int(context.model_config["batch_size"])
        self.threshold = float(getattr(self.model.config, THRESHOLD_KEY, None) or 0.5)
        # criterion text -> its symptom's threshold (the pyfunc is given texts, not ids)
        own = criterion_thresholds(self.model.config)
        criteria = getattr(self.model.config, CRITERIA_KEY, None) or {}
        self.text_thresholds = {text: own[c] for c, text in criteria.items() if c in own}

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
        cut = criteria.map(self.text_thresholds).fillna(self.threshold).to_numpy(np.float64)
        labels = np.where(p >= cut, EVIDENCE, NO_EVIDENCE)
        return pd.DataFrame({"label": labels, "probability": p})


# MLflow runs this file under a generated module name to load the model; importing it as
# part of the evidence_ft package only defines the functions above.
if not __name__.startswith("evidence_ft"):
    set_model(EvidenceModel())
