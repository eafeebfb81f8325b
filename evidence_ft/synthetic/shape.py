"""How many rows per (symptom, status), posts and words a synthetic corpus has."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from evidence_ft.data import SYMPTOMS


@dataclass(frozen=True)
class CorpusShape:
    """Row counts per (symptom, status), post counts and the post-length distribution."""

    n_posts: int
    n_empty_posts: int  # posts with no annotation row at all
    positives: Mapping[str, int]  # status-1 rows per symptom
    negatives: Mapping[str, int]  # status-0 rows per symptom
    median_words: float  # post lengths are log-normal, clipped to [min_words, max_words]
    sigma_words: float
    min_words: int  # one empty post has exactly this length (if 2), one post ~max_words
    max_words: int
    multi_symptom_sentences: int  # sentences annotated with two different symptoms
    repeated_rows: int  # (post, sentence, symptom, status) rows repeated, other explanation


# Published statistics of ReDSM5 (Bao, Pérez, Parapar, CIKM 2025, arXiv 2508.03399): 1,484
# posts, 392 without any symptom, ~1,547 annotation rows, posts of 2 to 6,990 words, and the
# positives per symptom below (sum 1,384). The remaining 163 rows are status 0; their split by
# symptom is not published, so we spread them in proportion to the positives. The length
# median/sigma are our choice (most posts a few hundred words, a long tail); the counts of
# multi-symptom sentences and repeated rows are small guesses (the quirks exist, counts not given).
REDSM5_POSITIVES = {
    "DEPRESSED_MOOD": 328,
    "ANHEDONIA": 124,
    "APPETITE_CHANGE": 44,
    "SLEEP_ISSUES": 102,
    "PSYCHOMOTOR": 35,
    "FATIGUE": 124,
    "WORTHLESSNESS": 311,
    "COGNITIVE_ISSUES": 59,
    "SUICIDAL_THOUGHTS": 165,
    "SPECIAL_CASE": 92,
}


def _apportion(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over the keys in proportion to ``weights`` (largest remainder)."""
    base = {k: minimum for k in weights}
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"cannot give {minimum} rows to each of {len(weights)} symptoms")
    norm = sum(weights.values())
    exact = {k: rest * w / norm for k, w in weights.items()}
    counts = {k: base[k] + math.floor(v) for k, v in exact.items()}
    by_remainder = sorted(weights, key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


REDSM5_SHAPE = CorpusShape(
    n_posts=1484,
    n_empty_posts=392,
    positives=REDSM5_POSITIVES,
    negatives=_apportion(1547 - sum(REDSM5_POSITIVES.values()), REDSM5_POSITIVES),
    median_words=180.0,
    sigma_words=0.9,
    min_words=2,
    max_words=6990,
    multi_symptom_sentences=24,
    repeated_rows=12,
)


def sample_shape(
    n_posts: int,
    *,
    negative_rate: float = 0.35,
    empty_post_rate: float = 0.1,
    rows_per_post: float = 3.2,
    median_words: float = 70.0,
    max_words: int = 320,
) -> CorpusShape:
    """A small, denser, more balanced shape than ReDSM5, so a tiny model can learn from it.

    Positives follow the square root of the published per-symptom counts (rare symptoms still
    get a dozen rows); absence rows are spread evenly; every (symptom, status) gets >= 1 row.
    """
    n_empty = round(n_posts * empty_post_rate)
    n_rows = max(2 * len(SYMPTOMS), round((n_posts - n_empty) * rows_per_post))
    n_neg = max(len(SYMPTOMS), round(n_rows * negative_rate))
    sqrt_weights = {s: math.sqrt(n) for s, n in REDSM5_POSITIVES.items()}
    return CorpusShape(
        n_posts=n_posts,
        n_empty_posts=n_empty,
        positives=_apportion(n_rows - n_neg, sqrt_weights, minimum=1),
        negatives=_apportion(n_neg, dict.fromkeys(SYMPTOMS, 1.0), minimum=1),
        median_words=median_words,
        sigma_words=0.6,
        min_words=2,
        max_words=max_words,
        multi_symptom_sentences=max(1, round(0.02 * n_rows)),
        repeated_rows=max(1, round(0.01 * n_rows)),
    )
