"""Annotations -> one (criterion, sentence, label) pair per annotated sentence, de-duplicated."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evidence_ft.data.files import (
    fingerprint,
    read_annotations,
    read_criteria,
    read_posts,
    resolve_criteria_path,
)
from evidence_ft.data.schema import PAIR_COLUMNS, SYMPTOM_TO_CRITERION, SYMPTOMS
from evidence_ft.errors import UserError

log = logging.getLogger(__name__)


def make_pairs(
    annotations: pd.DataFrame,
    criteria: Mapping[str, str],
    special_case_text: str | None,
    drop_special_case: bool = False,
    conflict_policy: str = "error",
    source: str = "annotations",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One (criterion, sentence, label) pair per annotated row, de-duplicated.

    Exact repeats of (post_id, sentence_id, symptom, status) are counted and dropped (the real
    file repeats some with different explanations). The same (post_id, sentence_id, symptom)
    with both statuses is resolved by ``conflict_policy``: error | keep_positive | drop.
    """
    ann = annotations
    counts: dict[str, Any] = {"annotation_rows": len(ann)}
    if drop_special_case:
        counts["special_case_dropped"] = int((ann["DSM5_symptom"] == "SPECIAL_CASE").sum())
        ann = ann[ann["DSM5_symptom"] != "SPECIAL_CASE"]
    key = ["post_id", "sentence_id", "DSM5_symptom"]
    deduped = ann.drop_duplicates(subset=[*key, "status"])
    counts["duplicates_dropped"] = len(ann) - len(deduped)
    conflicted = deduped.duplicated(subset=key, keep=False)
    counts["conflicts"] = int(conflicted.sum() // 2)
    if conflicted.any():
        first = deduped.loc[conflicted].iloc[0]
        if conflict_policy == "error":
            raise UserError(
                f"{source}: sentence {first['sentence_id']!r} / {first['DSM5_symptom']} is "
                f"annotated both 1 and 0 ({counts['conflicts']} such pair(s)); fix the file or set "
                "data.conflict_policy=keep_positive|drop"
            )
        if conflict_policy == "keep_positive":
            deduped = deduped.sort_values("status", ascending=False).drop_duplicates(subset=key)
        else:
            deduped = deduped.loc[~conflicted]
        deduped = deduped.sort_index()

    criterion_ids = deduped["DSM5_symptom"].map(SYMPTOM_TO_CRITERION)
    texts = dict(criteria)
    if special_case_text:
        texts["SPECIAL_CASE"] = special_case_text.strip()
    needed = sorted(set(criterion_ids.fillna("SPECIAL_CASE")))
    missing = [c for c in needed if c not in texts]
    if missing:
        what = missing[0]
        fix = (
            "set data.special_case_text or data.drop_special_case=true"
            if what == "SPECIAL_CASE"
            else f"add {{'id': '{what}', 'text': ...}} to the criteria JSON (data.criteria_path)"
        )
        raise UserError(f"no criterion text for {what}; {fix}")

    pairs = pd.DataFrame(
        {
            "post_id": deduped["post_id"].to_numpy(),
            "sentence_id": deduped["sentence_id"].to_numpy(),
            "symptom": deduped["DSM5_symptom"].to_numpy(),
            "criterion_id": criterion_ids.fillna("SPECIAL_CASE").to_numpy(),
            "sentence": deduped["sentence_text"].str.strip().to_numpy(),
            "label": deduped["status"].astype(int).to_numpy(),
        }
    )
    pairs["criterion"] = pairs["criterion_id"].map(texts)
    pairs = pairs[PAIR_COLUMNS].reset_index(drop=True)
    counts["pairs"] = len(pairs)
    counts["positives"] = int(pairs["label"].sum())
    counts["negatives"] = int(len(pairs) - pairs["label"].sum())
    counts["per_symptom"] = label_counts(pairs)
    return pairs, counts


def label_counts(pairs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{symptom: {"positive": n, "negative": n}} in the canonical symptom order."""
    out = {}
    for symptom in SYMPTOMS:
        labels = pairs.loc[pairs["symptom"] == symptom, "label"]
        if len(labels):
            out[symptom] = {
                "positive": int((labels == 1).sum()),
                "negative": int((labels == 0).sum()),
            }
    return out


@dataclass
class Corpus:
    """One data config's validated inputs: every post, the annotated pairs and their counts."""

    posts: pd.DataFrame  # post_id, text: every post of the posts file, with or without rows
    pairs: pd.DataFrame  # PAIR_COLUMNS: one row per annotated (sentence, symptom)
    counts: dict[str, Any]


def load_corpus(data_cfg: Any) -> Corpus:
    """Read and validate the three input files named in ``cfg.data``; pair the annotations.

    The posts stay beside the pairs: posts without any annotation row are split too, and the
    all-sentence pairs (``sentence_pairs``) need every post's text.
    """
    posts = read_posts(data_cfg.posts_path)
    annotations = read_annotations(data_cfg.annotations_path)
    unknown_posts = ~annotations["post_id"].isin(posts["post_id"])
    if unknown_posts.any():
        raise UserError(
            f"{data_cfg.annotations_path}: post_id "
            f"{annotations.loc[unknown_posts, 'post_id'].iloc[0]!r} is not in "
            f"{data_cfg.posts_path}; the two files must come from the same release"
        )
    criteria = read_criteria(data_cfg.criteria_path)
    pairs, counts = make_pairs(
        annotations,
        criteria,
        data_cfg.special_case_text,
        drop_special_case=data_cfg.drop_special_case,
        conflict_policy=data_cfg.conflict_policy,
        source=str(data_cfg.annotations_path),
    )
    counts["posts"] = len(posts)
    counts["posts_with_pairs"] = int(pairs["post_id"].nunique())
    counts["posts_without_pairs"] = counts["posts"] - counts["posts_with_pairs"]
    counts["fingerprint"] = fingerprint(
        {
            "posts": data_cfg.posts_path,
            "annotations": data_cfg.annotations_path,
            "criteria": resolve_criteria_path(data_cfg.criteria_path),
        }
    )
    log_counts(counts)
    return Corpus(posts, pairs, counts)


def load_pairs(data_cfg: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``load_corpus`` without the posts: the annotated pairs and their counts."""
    corpus = load_corpus(data_cfg)
    return corpus.pairs, corpus.counts


def log_counts(counts: Mapping[str, Any]) -> None:
    log.info(
        "data: %d annotation rows -> %d pairs (%d positive, %d negative); %d exact duplicates "
        "dropped, %d conflicts; %d posts, %d with pairs",
        counts["annotation_rows"],
        counts["pairs"],
        counts["positives"],
        counts["negatives"],
        counts["duplicates_dropped"],
        counts["conflicts"],
        counts.get("posts", 0),
        counts.get("posts_with_pairs", 0),
    )
    for symptom, c in counts["per_symptom"].items():
        log.info("data:   %-18s %4d positive %4d negative", symptom, c["positive"], c["negative"])
