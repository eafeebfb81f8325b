"""All-sentence evaluation: retrieval metrics, ties, sentence level, post protocol, baselines."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from evidence_ft import sentence_metrics as sm
from evidence_ft.metrics import choose_threshold

CRITERIA = {
    "A.1": "Depressed mood: feeling sad, empty, hopeless or down most of the day",
    "A.4": "Insomnia or hypersomnia: trouble sleeping or sleeping too much",
    "A.6": "Fatigue or loss of energy: tired, exhausted, no energy",
    "SPECIAL_CASE": "Other clinically relevant statements",
}
SYMPTOM = {"A.1": "DEPRESSED_MOOD", "A.4": "SLEEP_ISSUES", "A.6": "FATIGUE"}


def ranking(criterion: str, labels, probabilities, post: str = "p1") -> pd.DataFrame:
    """One (post, criterion) ranking: sentence i has labels[i] and probabilities[i]."""
    n = len(labels)
    return pd.DataFrame(
        {
            "post_id": post,
            "sentence_index": range(n),
            "sentence": [f"{post} sentence {i}" for i in range(n)],
            "criterion_id": criterion,
            "symptom": SYMPTOM.get(criterion, criterion),
            "label": labels,
            "probability": probabilities,
        }
    )


def frame(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------- retrieval


def test_retrieval_metrics_against_hand_computed_values():
    scored = frame(
        # evidence at ranks 2 and 4 of 5
        ranking("A.1", [0, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5]),
        # evidence at rank 1 of 3: every metric 1
        ranking("A.4", [1, 0, 0], [0.9, 0.2, 0.1]),
        # no evidence: not a retrieval group
        ranking("A.6", [0, 0, 0], [0.9, 0.8, 0.7]),
    )
    m = sm.retrieval_metrics(scored)
    # A.1: DCG = 1/log2(3) + 1/log2(5), ideal = 1 + 1/log2(3); AP = (1/2 + 2/4) / 2 = 0.5;
    # R@1 = 0/2, R@3 = 1/2, R@10 = 2/2. A.4: all 1. Means over the 2 groups.
    ndcg_a1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))  # 0.65092
    assert m == {
        "groups": 2,
        "ndcg_at_10": round((ndcg_a1 + 1) / 2, 4),  # 0.8255
        "recall_at_1": 0.5,  # (0 + 1) / 2
        "recall_at_3": 0.75,  # (1/2 + 1) / 2
        "recall_at_10": 1.0,
        "map": 0.75,  # (0.5 + 1) / 2
    }


def test_retrieval_cuts_at_k():
    # 12 sentences, the only evidence ranked 11th: outside the top 10 -> nDCG@10 0, R@10 0;
    # AP = precision at rank 11 = 1/11
    labels = [0] * 10 + [1, 0]
    m = sm.retrieval_metrics(ranking("A.1", labels, np.linspace(0.95, 0.4, 12)))
    assert (m["ndcg_at_10"], m["recall_at_10"], m["map"]) == (0.0, 0.0, round(1 / 11, 4))


def test_a_constant_predictor_gets_the_expected_figure_of_a_random_order():
    # 4 tied sentences, 1 evidence: it is at each rank with probability 1/4.
    m = sm.retrieval_metrics(ranking("A.1", [0, 1, 0, 0], [1.0] * 4))
    # nDCG@10 = (1 + 1/log2(3) + 1/log2(4) + 1/log2(5)) / 4 = 0.6404; R@1 = 1/4; R@3 = 3/4;
    # AP = (1 + 1/2 + 1/3 + 1/4) / 4 = 25/48 = 0.5208
    ndcg = (1 + 1 / math.log2(3) + 1 / 2 + 1 / math.log2(5)) / 4
    assert m == {
        "groups": 1,
        "ndcg_at_10": round(ndcg, 4),
        "recall_at_1": 0.25,
        "recall_at_3": 0.75,
        "recall_at_10": 1.0,
        "map": round(25 / 48, 4),
    }
    # 2 evidence among 4 tied: the 6 placements give AP 1, 5/6, 3/4, 7/12, 1/2, 5/12
    # (mean 49/72 = 0.6806); R@1 = expected 2 * 1/4 hits of 2 = 1/4
    m = sm.retrieval_metrics(ranking("A.1", [1, 0, 1, 0], [0.3] * 4))
    assert (m["map"], m["recall_at_1"], m["recall_at_3"]) == (round(49 / 72, 4), 0.25, 0.75)


def test_ties_are_the_mean_over_every_order_of_the_tied_sentences():
    """Mixed ties: each figure equals its mean over all orders of the tied blocks."""
    labels = np.array([1, 0, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.9, 0.5, 0.5, 0.5, 0.2, 0.1])
    m = sm.retrieval_metrics(ranking("A.1", labels, scores))
    blocks = [np.flatnonzero(scores == s) for s in sorted(set(scores), reverse=True)]
    runs = []
    for order in itertools.product(*(itertools.permutations(b) for b in blocks)):
        ranked = labels[np.concatenate(order)]  # one strict order: scores 7, 6, ... 1
        strict = np.arange(len(ranked), 0, -1)
        runs.append(
            [
                ndcg_score([ranked], [strict], k=10),
                ranked[:1].sum() / 3,
                ranked[:3].sum() / 3,
                average_precision_score(ranked, strict),
            ]
        )
    expected = np.mean(runs, axis=0).round(4).tolist()
    assert [m["ndcg_at_10"], m["recall_at_1"], m["recall_at_3"], m["map"]] == expected


def test_without_ties_map_is_scikit_learns_average_precision():
    rng = np.random.default_rng(3)
    parts = [
        ranking("A.1", rng.permutation([1, 1, 0, 0, 0, 1, 0]), rng.random(7), post=f"p{i}")
        for i in range(5)
    ]
    expected = np.mean([average_precision_score(p["label"], p["probability"]) for p in parts])
    assert sm.retrieval_metrics(frame(*parts))["map"] == round(expected, 4)


def test_no_evidence_group_means_no_retrieval_figure():
    m = sm.retrieval_metrics(ranking("A.1", [0, 0], [0.4, 0.6]))
    assert m == {
        "groups": 0,
        "ndcg_at_10": None,
        "recall_at_1": None,
        "recall_at_3": None,
        "recall_at_10": None,
        "map": None,
    }


# ---------------------------------------------------------------------------- sentence level


def test_sentence_metrics_and_per_criterion_rows_with_undefined_values():
    scored = frame(
        ranking("A.1", [1, 0, 0], [0.9, 0.6, 0.1]),
        ranking("A.6", [0, 0, 0], [0.1, 0.2, 0.3]),  # no evidence, nothing predicted
    )
    m = sm.sentence_metrics(scored, 0.5)
    # TP 1, FP 1, FN 0, TN 4: P 1/2, R 1, F1 2/3, MCC (4 - 0) / sqrt(2 * 1 * 5 * 4) = 0.6325
    assert m == {
        "pairs": 6,
        "positives": 1,
        "predicted": 2,
        "precision": 0.5,
        "recall": 1.0,
        "f1": 0.6667,
        "mcc": round(4 / math.sqrt(40), 4),
        "pr_auc": 1.0,
        "roc_auc": 1.0,
    }
    rows = sm.per_criterion_metrics(scored, 0.5)
    assert list(rows) == ["DEPRESSED_MOOD", "FATIGUE"]
    fatigue = rows["FATIGUE"]
    assert fatigue["criterion_id"] == "A.6"
    assert fatigue["retrieval"]["groups"] == 0 and fatigue["retrieval"]["map"] is None
    assert fatigue["sentence"] == {
        "pairs": 3,
        "positives": 0,
        "predicted": 0,
        "precision": None,
        "recall": None,
        "f1": None,
        "mcc": None,
        "pr_auc": None,
        "roc_auc": None,
    }
    assert rows["DEPRESSED_MOOD"]["retrieval"]["ndcg_at_10"] == 1.0


# ---------------------------------------------------------------------------- post protocol


def protocol_frame() -> pd.DataFrame:
    return frame(
        ranking("A.1", [1, 0], [0.9, 0.1], post="a"),  # true DM, predicted DM
        ranking("A.6", [0, 0], [0.7, 0.1], post="a"),  # FATIGUE predicted, not true
        ranking("SPECIAL_CASE", [1], [0.8], post="b"),  # SPECIAL_CASE only: NO_SYMPTOMS
        ranking("A.1", [0, 0], [0.6, 0.2], post="d"),  # no symptom, DM predicted
    )


def test_the_ten_label_post_protocol():
    posts = ["a", "b", "c", "d"]  # c has no sentence: no rows, still a post
    truth = sm.post_indicators(protocol_frame(), posts)
    assert sm.POST_LABELS[-1] == "NO_SYMPTOMS" and "SPECIAL_CASE" not in sm.POST_LABELS
    assert truth.shape == (4, 10)
    assert truth[:, [0, 5, 9]].tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
    m = sm.post_protocol_metrics(protocol_frame(), 0.5, posts)
    # predicted: a {DM, FATIGUE}, b {NO}, c {NO}, d {DM}; true: a {DM}, b, c, d {NO}
    # TP 3 (a DM, b NO, c NO), FP 2 (a FATIGUE, d DM), FN 1 (d NO): micro 6/9
    # per label F1: DM 2/3, FATIGUE 0, NO 2*2/(4+0+1) = 0.8, the 7 others 0 (zero_division)
    assert m["posts"] == 4 and m["zero_division"] == 0
    assert m["micro_f1"] == round(6 / 9, 4)
    assert m["macro_f1"] == round((2 / 3 + 0 + 0.8) / 10, 4)
    assert m["weighted_f1"] == round((1 * 2 / 3 + 3 * 0.8) / 4, 4)  # supports DM 1, NO 3
    assert m["exact_match"] == 0.5  # b and c right
    per = m["per_label"]
    assert per["NO_SYMPTOMS"] == {
        "support": 3,
        "predicted": 2,
        "precision": 1.0,
        "recall": round(2 / 3, 4),
        "f1": 0.8,
    }
    assert per["FATIGUE"] == {
        "support": 0,
        "predicted": 1,
        "precision": 0.0,
        "recall": None,
        "f1": 0.0,
    }
    assert per["ANHEDONIA"]["f1"] is None and per["ANHEDONIA"]["support"] == 0


def test_the_post_protocol_refuses_rows_of_posts_outside_the_split():
    with pytest.raises(ValueError, match="not in post_ids"):
        sm.post_protocol_metrics(protocol_frame(), 0.5, ["a", "b"])


# ---------------------------------------------------------------------------- baselines


def baseline_frame() -> pd.DataFrame:
    """Two posts, three sentences each, every sentence x three criteria."""
    texts = {
        "p1": [
            "I feel so sad and hopeless",
            "I watched a film",
            "I have trouble sleeping at night",
        ],
        "p2": ["The bus was late", "I am tired with no energy", "We ate pizza"],
    }
    evidence = {("p1", 0, "A.1"), ("p1", 2, "A.4"), ("p2", 1, "A.6")}
    rows = [
        {
            "post_id": post,
            "sentence_index": i,
            "sentence": text,
            "criterion_id": c,
            "symptom": SYMPTOM[c],
            "label": int((post, i, c) in evidence),
            "probability": 0.8 if (post, i, c) in evidence else 0.3,
        }
        for post, sentences in texts.items()
        for i, text in enumerate(sentences)
        for c in ("A.1", "A.4", "A.6")
    ]
    return pd.DataFrame(rows)


def test_the_report_sets_the_model_beside_three_baselines():
    scored = baseline_frame()
    out = sm.all_sentence_report(scored, 0.5, CRITERIA, ["p1", "p2", "p3"], seed=0)
    assert json.loads(json.dumps(out)) == out  # JSON-ready
    assert (out["pairs"], out["posts"], out["posts_with_rows"]) == (18, 3, 2)
    assert (out["positives"], out["groups"]) == (3, 3)
    assert out["model"]["retrieval"]["map"] == 1.0 and out["model"]["sentence"]["f1"] == 1.0
    constant = out["baselines"]["constant"]
    # each group: 1 evidence among 3 tied sentences: R@1 1/3, AP (1 + 1/2 + 1/3) / 3 = 11/18
    assert constant["retrieval"]["recall_at_1"] == round(1 / 3, 4)
    assert constant["retrieval"]["map"] == round(11 / 18, 4)
    # every pair predicted evidence: precision = prevalence 3/18, recall 1, MCC undefined
    assert constant["sentence"]["precision"] == round(3 / 18, 4)
    assert constant["sentence"]["recall"] == 1.0 and constant["sentence"]["mcc"] is None
    # constant post protocol: p1, p2 get all nine symptoms; p3 (no rows) NO_SYMPTOMS, right
    post = out["post_protocol"]["constant"]
    assert post["per_label"]["NO_SYMPTOMS"] == {
        "support": 1,
        "predicted": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    assert post["exact_match"] == round(1 / 3, 4)
    assert out["post_protocol"]["model"]["exact_match"] == 1.0


def test_the_random_baseline_is_reproducible_by_seed():
    scored = baseline_frame()
    shuffled = scored.sample(frac=1.0, random_state=1)  # row order does not matter
    a = sm.all_sentence_report(scored, 0.5, CRITERIA, ["p1", "p2"], seed=7)
    b = sm.all_sentence_report(shuffled, 0.5, CRITERIA, ["p1", "p2"], seed=7)
    assert a["baselines"]["random"] == b["baselines"]["random"]
    assert a["baselines"]["random"]["seed"] == 7
    draws = sm.random_scores(scored, 7)
    assert np.array_equal(draws, np.random.default_rng(7).random(18))
    assert not np.array_equal(draws, sm.random_scores(scored, 8))


def test_the_lexical_baseline_ranks_the_on_topic_sentence_first():
    scored = baseline_frame()
    lexical = scored.assign(probability=sm.lexical_scores(scored, CRITERIA))
    for (post, criterion), group in lexical.groupby(["post_id", "criterion_id"]):
        if group["label"].any():
            best = group.sort_values("probability").iloc[-1]
            assert best["label"] == 1, (post, criterion)
    out = sm.all_sentence_report(scored, 0.5, CRITERIA, ["p1", "p2"])
    figures = out["baselines"]["lexical"]
    assert figures["threshold_tuned_on"] == sm.LEXICAL_TUNED_ON
    assert "upper bound" in figures["threshold_tuned_on"]
    tuned = choose_threshold(lexical["label"], lexical["probability"])
    assert figures["threshold"] == round(tuned, 4)
    assert figures["retrieval"]["recall_at_1"] == 1.0


def test_lexical_scores_need_every_criterion_text():
    with pytest.raises(ValueError, match="no criterion text for A.6"):
        sm.lexical_scores(baseline_frame(), {"A.1": "sad", "A.4": "sleep"})


def test_a_split_without_posts_has_undefined_post_figures():
    empty = protocol_frame().iloc[:0]
    m = sm.post_protocol_metrics(empty, 0.5, [])
    assert m["posts"] == 0 and m["micro_f1"] is None and m["exact_match"] is None
    assert m["per_label"]["NO_SYMPTOMS"] == {
        "support": 0,
        "predicted": 0,
        "precision": None,
        "recall": None,
        "f1": None,
    }
