"""evidence_ft.inference: every sentence x criterion of whole posts, scored by length batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import evidence_ft
from evidence_ft import data
from evidence_ft.config import load_config
from evidence_ft.errors import UserError
from evidence_ft.inference import (
    PREDICTION_COLUMNS,
    Predictor,
    as_posts,
    iter_predictions,
    load_predictor,
    predict,
    score_pairs,
)
from evidence_ft.jobs.evaluate import score_split as evaluation_predict

from .conftest import ROOT

CRITERIA = {c: f"Criterion {c}: a symptom described in a few words." for c in data.CRITERIA_IDS}
POSTS = pd.DataFrame(
    {
        "post_id": ["a", "b", "c"],
        "text": [
            "I can't sleep at night. Nothing is fun anymore!\nI feel worthless",
            "Short one.",
            "Went to the store today. Bought some bread and milk. "
            "Then I walked home slowly, thinking about everything that went wrong this year.",
        ],
    }
)


@pytest.fixture(scope="module")
def predictor(tiny_bert) -> Predictor:
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    return Predictor(model, tokenizer, 0.5, dict(CRITERIA), 64, "tiny")


def test_sorted_batches_give_the_unsorted_probabilities_in_input_order(predictor):
    sentences = [("word " * n).strip() for n in (1, 30, 4, 12, 2, 25, 7)]
    criteria = [CRITERIA["A.1"]] * len(sentences)
    sorted_ = score_pairs(predictor, criteria, sentences, batch_size=3, sort=True)
    unsorted = score_pairs(predictor, criteria, sentences, batch_size=3, sort=False)
    one_by_one = np.concatenate(
        [score_pairs(predictor, [c], [s], batch_size=1) for c, s in zip(criteria, sentences)]
    )
    np.testing.assert_allclose(sorted_, one_by_one, atol=1e-5)
    np.testing.assert_allclose(unsorted, one_by_one, atol=1e-5)
    assert len(set(np.round(one_by_one, 6))) > 1  # the pairs really differ


def test_same_probability_as_run_evals_trainer_predict(predictor):
    """The pair encoding and the undone threshold equal run_eval.py's (Trainer.predict)."""
    pairs, _ = data.load_pairs(load_config(["data=sample"]).data)
    pairs = pairs.head(40)
    ours = score_pairs(predictor, pairs["criterion"].tolist(), pairs["sentence"].tolist(), 16)
    theirs = evaluation_predict(predictor.model, predictor.tokenizer, pairs, 64, 16)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_every_sentence_meets_every_criterion_and_decisions_follow_the_threshold(predictor):
    frame = predict(predictor, POSTS)
    assert list(frame.columns) == PREDICTION_COLUMNS
    texts = dict(zip(POSTS["post_id"], POSTS["text"]))
    sentences = frame.drop_duplicates(["post_id", "sentence_index"])
    assert all(
        texts[p][s:e] == t
        for p, s, e, t in sentences[["post_id", "start", "end", "sentence"]].itertuples(index=False)
    )
    per_post = sentences.groupby("post_id", sort=False).size()
    assert per_post.index.tolist() == ["a", "b", "c"] and per_post["b"] == 1
    assert (frame.groupby(["post_id", "sentence_index"]).size() == 9).all()
    assert frame["criterion_id"].head(9).tolist() == data.CRITERIA_IDS
    assert frame["symptom"].head(9).tolist() == data.SYMPTOMS[:9]
    assert (frame["decision"] == (frame["probability"] >= predictor.threshold)).all()
    # a threshold between the pairs' probabilities splits them
    middle = float(np.median(frame["probability"]))
    shifted = predict(Predictor(**{**vars(predictor), "threshold": middle}), POSTS)
    assert 0 < shifted["decision"].sum() < len(shifted)


def test_chunks_never_cut_a_post_and_join_to_the_whole(predictor):
    whole = predict(predictor, POSTS)
    chunks = list(iter_predictions(predictor, [as_posts(POSTS)], batch_size=4, chunk_pairs=10))
    assert len(chunks) > 1
    for chunk in chunks:
        for post_id, rows in chunk.groupby("post_id"):
            assert len(rows) == len(whole[whole["post_id"] == post_id])
    joined = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(
        joined.drop(columns="probability"), whole.drop(columns="probability")
    )
    np.testing.assert_allclose(joined["probability"], whole["probability"], atol=1e-5)


def test_posts_as_frame_mapping_list_or_one_text(predictor):
    assert as_posts({"x": "One. Two."})["post_id"].tolist() == ["x"]
    assert as_posts(["One.", "Two."])["post_id"].tolist() == ["0", "1"]
    assert as_posts("Just one post.")["text"].tolist() == ["Just one post."]
    with pytest.raises(UserError, match="missing column"):
        as_posts(pd.DataFrame({"id": ["a"], "text": ["x"]}))
    empty = predict(predictor, {"x": "   "})
    assert empty.empty and list(empty.columns) == PREDICTION_COLUMNS


def test_special_case_only_when_asked_and_trained(predictor):
    with pytest.raises(UserError, match="trained without SPECIAL_CASE"):
        predict(predictor, POSTS, special_case=True)
    with_special = Predictor(
        **{**vars(predictor), "criteria": {**CRITERIA, "SPECIAL_CASE": "Something else."}}
    )
    assert predict(with_special, POSTS)["criterion_id"].nunique() == 9
    frame = predict(with_special, POSTS, special_case=True)
    assert frame["criterion_id"].head(10).tolist() == [*data.CRITERIA_IDS, "SPECIAL_CASE"]
    assert frame["symptom"].iloc[9] == "SPECIAL_CASE"


def test_a_model_not_saved_by_run_train_is_refused(tiny_bert):
    with pytest.raises(UserError, match="not a model saved by run_train.py"):
        load_predictor(str(tiny_bert))


def test_package_exports_predict_lazily():
    assert evidence_ft.predict is predict
    assert (ROOT / "evidence_ft" / "inference.py").is_file()
