"""Find the evidence in whole posts: every sentence x every criterion, scored by a trained model.

    from evidence_ft import predict
    frame = predict("outputs/2026-01-01/12-00-00/model", ["I can't sleep. Nothing is fun."])
    frame[frame.decision]          # the evidence sentences, their criteria and probabilities

``run_predict.py`` wraps this with input files, a post profile, an HTML report and MLflow.
Pairs are encoded exactly as in training (criterion first, sentence second, only the sentence
truncated, the model's own max_length) and decided at the model's stored threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from evidence_ft import data, serving
from evidence_ft.checkpoints import (
    Checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    training_run_id,
)
from evidence_ft.errors import UserError
from evidence_ft.sentences import split_sentences

log = logging.getLogger(__name__)

# The columns of a predictions frame, one row per sentence x criterion, in this order.
PREDICTION_DTYPES = {
    "post_id": "object",
    "sentence_index": "int64",
    "start": "int64",
    "end": "int64",
    "sentence": "object",
    "criterion_id": "object",
    "symptom": "object",
    "probability": "float64",
    "decision": "bool",
}
PREDICTION_COLUMNS = list(PREDICTION_DTYPES)
CRITERION_TO_SYMPTOM = data.CRITERION_TO_SYMPTOM
# Pairs tokenized, sorted and scored together: bounds memory for any number of posts.
CHUNK_PAIRS = 8192


@dataclass
class Predictor:
    """A trained model ready to score posts: weights, tokenizer and how training encoded pairs."""

    model: Any
    tokenizer: Any
    threshold: float
    criteria: dict[str, str]  # criterion id -> text, A.1 .. A.9 (then SPECIAL_CASE if trained)
    max_length: int
    source: str
    run_id: str | None = None
    # threshold=per_symptom models: criterion id -> its own threshold (others: ``threshold``)
    criterion_thresholds: dict[str, float] = field(default_factory=dict)

    def symptom_thresholds(self) -> dict[str, float] | float:
        """The decision rule for evaluation frames: the global threshold, or {symptom: t}
        for every criterion the model scores (its own, else the global one)."""
        if not self.criterion_thresholds:
            return self.threshold
        return {
            CRITERION_TO_SYMPTOM.get(c, c): self.criterion_thresholds.get(c, self.threshold)
            for c in self.criteria
        }

    def thresholds(self, criterion_ids: Any) -> np.ndarray:
        """The threshold each pair is decided at, from its criterion id."""
        own = pd.Series(np.asarray(criterion_ids), dtype=object).map(self.criterion_thresholds)
        return own.fillna(self.threshold).to_numpy(np.float64)


# ---------------------------------------------------------------------------- loading


def load_predictor(checkpoint: str, data_cfg: Any = None) -> Predictor:
    """Load ``checkpoint`` (folder, ``runs:/``, ``models:/``) saved by run_train.py.

    The criterion texts and max_length come from the model's config.json; for models saved
    before they were stored there, from the training run's config.yaml, else from ``data_cfg``.
    """
    with resolve_checkpoint(checkpoint) as ckpt:
        model, tokenizer = load_checkpoint(ckpt)
    return predictor_from(ckpt, model, tokenizer, data_cfg)


def predictor_from(ckpt: Checkpoint, model: Any, tokenizer: Any, data_cfg: Any = None) -> Predictor:
    """A ``Predictor`` for a checkpoint already loaded (``load_checkpoint``), on the best device."""
    checkpoint = ckpt.source
    config = model.config
    if getattr(config, serving.THRESHOLD_KEY, None) is None or serving.EVIDENCE not in (
        getattr(config, "label2id", None) or {}
    ):
        raise UserError(
            f"checkpoint={checkpoint}: not a model saved by run_train.py (its config.json has no "
            f"{serving.THRESHOLD_KEY} or no '{serving.EVIDENCE}' label); train one with "
            "run_train.py or point at its run folder"
        )
    run_data = (ckpt.run_files.get("config") or {}).get("data")
    criteria = getattr(config, serving.CRITERIA_KEY, None)
    max_length = getattr(config, serving.MAX_LENGTH_KEY, None)
    for fallback in (run_data, data_cfg):
        if fallback is not None and criteria is None:
            criteria = data.criterion_texts(fallback)
        if fallback is not None and max_length is None:
            max_length = fallback.get("max_length")
    if not criteria:
        raise UserError(
            f"checkpoint={checkpoint}: records no criterion texts and no training config; "
            "name the criteria file with data.criteria_path=<MDD_Criteira.json>"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return Predictor(
        model=model.to(device).eval(),
        tokenizer=tokenizer,
        threshold=float(getattr(config, serving.THRESHOLD_KEY)),
        criteria=dict(criteria),
        max_length=int(max_length or min(tokenizer.model_max_length, 512)),
        source=checkpoint,
        run_id=training_run_id(ckpt, model),
        criterion_thresholds=serving.criterion_thresholds(config),
    )


def chosen_criteria(predictor: Predictor, special_case: bool = False) -> dict[str, str]:
    """The nine DSM-5 criteria, plus SPECIAL_CASE when asked (and the model was trained on it)."""
    chosen = {c: t for c, t in predictor.criteria.items() if c != "SPECIAL_CASE"}
    if special_case:
        if "SPECIAL_CASE" not in predictor.criteria:
            raise UserError(
                f"special_case=true but checkpoint={predictor.source} was trained without "
                "SPECIAL_CASE pairs; leave special_case=false"
            )
        chosen["SPECIAL_CASE"] = predictor.criteria["SPECIAL_CASE"]
    return chosen


# ---------------------------------------------------------------------------- scoring pairs


def length_batches(lengths: np.ndarray, batch_size: int, sort: bool = True) -> list[np.ndarray]:
    """Row indices in batches; sorted longest first so each batch pads to similar lengths.

    >>> [b.tolist() for b in length_batches(np.array([3, 9, 5, 7]), 2)]
    [[1, 3], [2, 0]]
    """
    order = np.argsort(-lengths, kind="stable") if sort else np.arange(len(lengths))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def score_pairs(
    predictor: Predictor,
    criteria: Sequence[str],
    sentences: Sequence[str],
    batch_size: int = 64,
    sort: bool = True,
    on_batch: Any = None,
) -> np.ndarray:
    """Raw P(evidence) for each (criterion text, sentence) pair, in the order given.

    Pairs are tokenized once, batched by token length (``sort``), padded per batch and scored
    under ``torch.inference_mode``; the order of the input is restored. A hand-written loop
    because ``Trainer.predict`` has no length-sorted sampler for prediction and would keep
    a whole input's logits and tokenized dataset in memory at once.
    """
    tokenizer, model = predictor.tokenizer, predictor.model
    encoded = tokenizer(
        list(criteria),
        list(sentences),
        truncation="only_second",
        max_length=predictor.max_length,
    )
    columns = list(encoded.keys())
    lengths = np.fromiter((len(ids) for ids in encoded["input_ids"]), dtype=np.int64)
    probs = np.empty(len(lengths), dtype=np.float64)
    device = model.device
    for rows in length_batches(lengths, batch_size, sort):
        batch = tokenizer.pad(
            {c: [encoded[c][i] for i in rows] for c in columns}, return_tensors="pt"
        )
        with torch.inference_mode():
            logits = model(**batch.to(device)).logits
        probs[rows] = serving.evidence_probability(logits.float().cpu().numpy(), model.config)
        if on_batch is not None:
            on_batch(len(rows))
    return probs


# ---------------------------------------------------------------------------- posts


def sentence_rows(posts: pd.DataFrame) -> pd.DataFrame:
    """One row per sentence: post_id, sentence_index, start, end, sentence."""
    rows = [
        (post_id, seg.index, seg.start, seg.end, seg.text)
        for post_id, text in zip(posts["post_id"], posts["text"])
        for seg in split_sentences(text)
    ]
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS[:5]).astype(
        {"sentence_index": "int64", "start": "int64", "end": "int64"}
    )


def post_chunks(posts: pd.DataFrame, criteria: int, chunk_pairs: int) -> Iterator[pd.DataFrame]:
    """Sentence rows of whole consecutive posts, about ``chunk_pairs`` pairs per chunk."""
    sentences = sentence_rows(posts)
    ids = sentences["post_id"].to_numpy()
    if not len(ids):
        return
    post_ends = [*(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
    start = 0
    for end in post_ends:  # a post is never cut in two
        if (end - start) * criteria >= chunk_pairs or end == len(ids):
            yield sentences.iloc[start:end]
            start = end


def iter_predictions(
    predictor: Predictor,
    posts: Iterable[pd.DataFrame],
    batch_size: int = 64,
    special_case: bool = False,
    chunk_pairs: int = CHUNK_PAIRS,
    progress: tqdm | None = None,
    sort: bool = True,
) -> Iterator[pd.DataFrame]:
    """Prediction frames (``PREDICTION_COLUMNS``) chunk by chunk for a stream of post frames.

    Memory holds one chunk of about ``chunk_pairs`` pairs, whatever the number of posts;
    ``sort=False`` keeps the pairs' order in batches (for the benchmark's comparison).
    """
    criteria = chosen_criteria(predictor, special_case)
    ids, texts = list(criteria), list(criteria.values())
    for frame in posts:
        for sentences in post_chunks(frame, len(ids), chunk_pairs):
            pairs = sentences.loc[sentences.index.repeat(len(ids))].reset_index(drop=True)
            pairs["criterion_id"] = np.tile(ids, len(sentences))
            pairs["symptom"] = pairs["criterion_id"].map(CRITERION_TO_SYMPTOM)
            on_batch = progress.update if progress is not None else None
            pairs["probability"] = score_pairs(
                predictor,
                np.tile(texts, len(sentences)).tolist(),
                pairs["sentence"].tolist(),
                batch_size,
                sort=sort,
                on_batch=on_batch,
            )
            pairs["decision"] = pairs["probability"] >= predictor.thresholds(pairs["criterion_id"])
            yield pairs[PREDICTION_COLUMNS]


def empty_predictions() -> pd.DataFrame:
    """A predictions frame without rows (posts without a sentence), with the usual dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PREDICTION_DTYPES.items()})


def as_posts(posts: pd.DataFrame | Mapping[str, str] | Sequence[str]) -> pd.DataFrame:
    """A posts frame (post_id, text) from a frame, a {post_id: text} mapping or a list of texts."""
    if isinstance(posts, pd.DataFrame):
        missing = [c for c in data.POSTS_COLUMNS if c not in posts.columns]
        if missing:
            raise UserError(f"posts frame: missing column(s) {', '.join(missing)}")
        frame = posts[list(data.POSTS_COLUMNS)]
    elif isinstance(posts, Mapping):
        frame = pd.DataFrame({"post_id": list(posts), "text": list(posts.values())})
    elif isinstance(posts, str):
        frame = pd.DataFrame({"post_id": ["0"], "text": [posts]})
    else:
        frame = pd.DataFrame({"post_id": range(len(posts)), "text": list(posts)})
    return frame.astype(str).reset_index(drop=True)


def predict(
    model: str | Predictor,
    posts: pd.DataFrame | Mapping[str, str] | Sequence[str],
    batch_size: int = 64,
    special_case: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Every sentence of every post x every criterion: probability and decision, one frame.

    ``model`` is a checkpoint (folder, ``runs:/``, ``models:/``) or a loaded ``Predictor``.
    """
    predictor = model if isinstance(model, Predictor) else load_predictor(model)
    frame = as_posts(posts)
    with tqdm(unit="pair", disable=not progress, desc="scoring") as bar:
        chunks = list(iter_predictions(predictor, [frame], batch_size, special_case, progress=bar))
    if not chunks:
        return empty_predictions()
    return pd.concat(chunks, ignore_index=True)
