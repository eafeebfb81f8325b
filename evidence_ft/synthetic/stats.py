"""The structure figures of a ReDSM5-format corpus, as docs/DATA.md quotes them.

``python -m evidence_ft.synthetic`` prints them for what it writes; the tests assert on them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.metrics import f1_score

from evidence_ft.data import SYMPTOMS
from evidence_ft.sentences import split_sentences

KEY = ["post_id", "sentence_id", "DSM5_symptom", "status"]  # an exact repeat shares all four


def describe(posts: pd.DataFrame, annotations: pd.DataFrame) -> dict[str, Any]:
    """Posts by kind, rows by status and place, sentences per post, constant-predictor F1.

    A post is all-positive, all-negative or mixed by the statuses of its rows; "no symptom"
    means no positive row (posts without rows included). Sentences are counted with the
    project's splitter; ``exact_segment_share`` is the share of annotated rows whose sentence is
    exactly one segment of its post. The constant predictor ("evidence" for every pair) is
    scored on the annotated pairs, exact repeats dropped as the loader drops them.
    """
    segments = {p: split_sentences(t) for p, t in zip(posts["post_id"], posts["text"])}
    texts = {p: {s.text for s in segs} for p, segs in segments.items()}
    sentences = pd.Series([len(segs) for segs in segments.values()])
    words = posts["text"].str.split().str.len()
    statuses = annotations.groupby("post_id")["status"].agg(["min", "max"])
    mixed = statuses.index[(statuses["min"] == 0) & (statuses["max"] == 1)]
    negative = statuses.index[statuses["max"] == 0]
    zeros = annotations[annotations["status"] == 0]
    pairs = annotations.drop_duplicates(KEY)
    exact = [s in texts[p] for p, s in zip(annotations["post_id"], annotations["sentence_text"])]
    by_status = pd.crosstab(annotations["DSM5_symptom"], annotations["status"])
    by_status = by_status.reindex(index=SYMPTOMS, columns=[1, 0], fill_value=0)
    return {
        "posts": len(posts),
        "posts_without_symptom": len(posts) - int((statuses["max"] == 1).sum()),
        "posts_without_rows": int((~posts["post_id"].isin(annotations["post_id"])).sum()),
        "all_positive_posts": int((statuses["min"] == 1).sum()),
        "all_negative_posts": len(negative),
        "mixed_posts": len(mixed),
        "rows": len(annotations),
        "positive_rows": int((annotations["status"] == 1).sum()),
        "status0_rows": len(zeros),
        "status0_in_no_symptom_posts": int(zeros["post_id"].isin(negative).sum()),
        "status0_in_mixed_posts": int(zeros["post_id"].isin(mixed).sum()),
        "rows_per_symptom": {s: [int(v) for v in by_status.loc[s]] for s in SYMPTOMS},
        "repeated_rows": int(annotations.duplicated(KEY).sum()),
        "constant_pair_f1": round(float(f1_score(pairs["status"], [1] * len(pairs))), 4),
        "sentences": int(sentences.sum()),
        "sentences_per_post_mean": round(float(sentences.mean()), 2),
        "sentences_per_post_median": float(sentences.median()),
        "words_min": int(words.min()),
        "words_median": float(words.median()),
        "words_max": int(words.max()),
        "exact_segment_share": round(sum(exact) / max(1, len(exact)), 4),
    }
