"""How a synthetic corpus is laid out: kinds of posts, rows per (symptom, status), post lengths."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from evidence_ft.data import SYMPTOMS


@dataclass(frozen=True)
class CorpusShape:
    """Post kinds, posts and rows per symptom, and the post-length distribution.

    Posts are symptomatic (>= 1 positive row; ``n_mixed_posts`` of them also carry one status-0
    row) or without symptom (status-0 rows only, or, for ``n_unannotated_posts``, no row).
    Annotation is exhaustive: every other sentence of a post is filler, evidence for nothing.
    A post has at most one evidence sentence per symptom, so a symptom's positive rows are
    also its posts (repeated rows come on top).
    """

    n_posts: int
    n_no_symptom_posts: int  # posts without any positive row, the unannotated ones included
    n_unannotated_posts: int  # posts without any annotation row (the 2-word post is one)
    n_mixed_posts: int  # symptomatic posts that also carry one status-0 row
    positives: Mapping[str, int]  # status-1 rows per symptom, repeats not counted
    negatives: Mapping[str, int]  # status-0 rows per symptom
    median_words: float  # post lengths are log-normal, clipped to [min_words, max_words]
    sigma_words: float
    min_words: int  # one unannotated post has exactly this length (if 2), one post ~max_words
    max_words: int
    multi_symptom_sentences: int  # sentences carrying two symptoms (one positive row each)
    repeated_rows: int  # positive rows repeated (same sentence, other explanation), extra rows

    @property
    def n_symptomatic_posts(self) -> int:
        return self.n_posts - self.n_no_symptom_posts

    def check(self) -> None:
        """Raise ValueError when the counts cannot be dealt to the posts."""
        absence_posts = self.n_no_symptom_posts - self.n_unannotated_posts
        problems = [
            (self.n_unannotated_posts > self.n_no_symptom_posts, "more unannotated posts"),
            (self.n_mixed_posts > self.n_symptomatic_posts, "more mixed than symptomatic posts"),
            (sum(self.positives.values()) < self.n_symptomatic_posts, "too few positive rows"),
            (max(self.positives.values()) > self.n_symptomatic_posts, "a symptom too common"),
            (sum(self.negatives.values()) < absence_posts + self.n_mixed_posts, "too few 0 rows"),
        ]
        for failed, why in problems:
            if failed:
                raise ValueError(f"impossible corpus shape: {why}")


# Published per-symptom counts of ReDSM5 (Bao, Pérez, Parapar, CIKM 2025, arXiv 2508.03399);
# the corpora keep their shares, scaled to their own number of positive rows.
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


def apportion(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over the keys in proportion to ``weights`` (largest remainder).

    >>> apportion(10, {"a": 2, "b": 1, "c": 1})
    {'a': 5, 'b': 3, 'c': 2}
    """
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


# The full-size shape (docs/DATA.md, "Synthetic corpora", says where each figure comes from):
# 1,484 posts, 392 without symptom (published); 20 of them without rows, 30 mixed posts (our
# choice: "a few", "a few percent"); 1,550 positive and 420 status-0 rows (DESIGN's "about
# 1,550" and "about 400", a fifth of the pairs), both split by symptom like the published
# counts; median 145 words with sigma 0.9 gives about 20 sentences per post (DESIGN: ~30,000
# sentences); quirk counts are small guesses (the quirks exist, their counts are not given).
REDSM5_SHAPE = CorpusShape(
    n_posts=1484,
    n_no_symptom_posts=392,
    n_unannotated_posts=20,
    n_mixed_posts=30,
    positives=apportion(1550, REDSM5_POSITIVES),
    negatives=apportion(420, REDSM5_POSITIVES),
    median_words=145.0,
    sigma_words=0.9,
    min_words=2,
    max_words=6990,
    multi_symptom_sentences=24,
    repeated_rows=12,
)


def sample_shape(
    n_posts: int,
    *,
    rows_per_post: float = 2.9,
    negative_share: float = 0.3,
    median_words: float = 100.0,
    max_words: int = 500,
) -> CorpusShape:
    """The full-size structure scaled to ``n_posts``, denser so that a small model learns it.

    Like ``REDSM5_SHAPE``: a quarter of the posts without symptom, 1.5% (at least one) without
    rows, 4% of the symptomatic posts mixed (full size 2.7%). Unlike it: ~3 rows per post
    instead of 1.3 (so ~2.7 symptoms per symptomatic post instead of 1.4), 30% status 0
    instead of 21% (enough absences in every split), >= 4 positives and >= 3 absences per
    symptom, and shorter posts.
    """
    n_no_symptom = round(n_posts * 0.25)
    n_rows = round(n_posts * rows_per_post)
    n_neg = round(n_rows * negative_share)
    positives = apportion(n_rows - n_neg, REDSM5_POSITIVES, minimum=4)
    return CorpusShape(
        n_posts=n_posts,
        n_no_symptom_posts=n_no_symptom,
        n_unannotated_posts=max(1, round(n_posts * 0.015)),
        n_mixed_posts=max(1, round((n_posts - n_no_symptom) * 0.04)),
        positives=positives,
        negatives=apportion(n_neg, REDSM5_POSITIVES, minimum=min(3, n_neg // len(SYMPTOMS))),
        median_words=median_words,
        sigma_words=0.6,
        min_words=2,
        max_words=max_words,
        multi_symptom_sentences=max(1, round(0.02 * n_rows)),
        repeated_rows=max(1, round(0.01 * n_rows)),
    )
