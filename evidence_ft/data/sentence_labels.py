"""Every sentence of whole posts x every criterion, labelled from the exhaustive annotation.

frame, stats = sentence_pairs(corpus.posts, corpus.pairs, criterion_texts(cfg.data))
negatives, drawn = draw_negatives(corpus, manifest["splits"]["train"], criteria, 1.0, seed)

ReDSM5 is annotated exhaustively, so a sentence without a positive row for a symptom is a true
negative for it. Posts are cut by the splitter prediction uses (``split_sentences``); each
annotated sentence is found in its post's text and labels every segment it overlaps.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from evidence_ft.data.pairs import Corpus
from evidence_ft.data.schema import CRITERION_TO_SYMPTOM, PAIR_COLUMNS
from evidence_ft.sentences import split_sentences

log = logging.getLogger(__name__)

SENTENCE_PAIR_COLUMNS = [
    "post_id",
    "sentence_id",  # f"{post_id}#{sentence_index}": the segment's id, not an annotation's
    "sentence_index",
    "start",
    "end",
    "sentence",
    "criterion_id",
    "criterion",
    "symptom",
    "label",
    "annotated",
]
SEGMENT_COLUMNS = SENTENCE_PAIR_COLUMNS[:6]
# Straight and curly quotes match each other: a file may use one form in posts, the other in
# annotations.
_SINGLE, _DOUBLE = "'\u2018\u2019", '"\u201c\u201d'
_QUOTES = str.maketrans({q: f"[{_SINGLE}]" for q in _SINGLE} | {q: f"[{_DOUBLE}]" for q in _DOUBLE})
_NOT_FOUND_LISTED = 20  # annotated rows not found that the stats list by name (all are counted)


def sentence_segments(posts: pd.DataFrame) -> pd.DataFrame:
    """One row per sentence of each post, cut by the prediction splitter (SEGMENT_COLUMNS)."""
    rows = [
        (post_id, seg.index, seg.start, seg.end, seg.text)
        for post_id, text in zip(posts["post_id"], posts["text"])
        for seg in split_sentences(text)
    ]
    frame = pd.DataFrame(rows, columns=["post_id", "sentence_index", "start", "end", "sentence"])
    frame["sentence_id"] = frame["post_id"].astype(str) + "#" + frame["sentence_index"].astype(str)
    return frame[SEGMENT_COLUMNS]


def locate_sentences(posts: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Where each annotated row's sentence occurs in its post's text: columns ``row`` (position
    in ``pairs``), ``span_start``, ``span_end``; a line per occurrence, none when not found.

    Whole words only; runs of whitespace match any whitespace (a line break in the post may be
    a space in the annotation) and straight quotes curly ones. Every occurrence is listed
    (``sentence_pairs`` chooses among them).
    """
    text_of = dict(zip(posts["post_id"], posts["text"]))
    patterns: dict[str, re.Pattern[str]] = {}
    found: list[tuple[int, int, int]] = []
    for row, (post_id, sentence) in enumerate(zip(pairs["post_id"], pairs["sentence"])):
        if sentence not in patterns:
            words = str(sentence).split()
            pattern = r"\s+".join(re.escape(w) for w in words).translate(_QUOTES)
            if words:  # whole words: "tired." is not in "retired.", "sad" not in "sadly"
                head = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
                tail = r"(?!\w)" if re.match(r"\w", words[-1][-1]) else ""
                pattern = head + pattern + tail
            patterns[sentence] = re.compile(pattern)
        text = text_of.get(post_id, "")
        spans = ((m.start(), m.end()) for m in patterns[sentence].finditer(text))
        found.extend((row, a, b) for a, b in spans if b > a)  # b == a: nothing to find
    return pd.DataFrame(found, columns=["row", "span_start", "span_end"])


def sentence_pairs(
    posts: pd.DataFrame, pairs: pd.DataFrame, criteria: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every sentence of ``posts`` x every criterion of ``criteria``: SENTENCE_PAIR_COLUMNS.

    ``label`` is 1 exactly when an annotated positive row of that post and symptom overlaps the
    sentence; ``annotated`` when an annotated row of either status does. Rows of ``pairs`` for
    other posts or criteria are ignored. The stats count the annotated rows mapped to a
    segment (``share_matched``) and list those whose text is not in their post.
    """
    started = time.perf_counter()
    segs = sentence_segments(posts)
    ann = _annotated(posts, pairs, criteria)
    spans = locate_sentences(posts, ann).join(ann[["post_id", "criterion_id", "label"]], on="row")
    hits = spans.merge(segs[["post_id", "sentence_index", "start", "end"]], on="post_id")
    hits = hits[(hits["start"] < hits["span_end"]) & (hits["span_start"] < hits["end"])]
    # A text found several times labels the occurrences that are a whole segment (the same
    # model input) when it has such, else every occurrence; never a copy inside a longer one.
    exact = (hits["start"] == hits["span_start"]) & (hits["end"] == hits["span_end"])
    hits = hits.assign(exact=exact)
    hits = hits[hits["exact"] | ~hits.groupby("row")["exact"].transform("any")]
    marks = hits.groupby(["post_id", "sentence_index", "criterion_id"])["label"].max().reset_index()
    frame = segs.merge(_criteria_frame(criteria), how="cross").merge(
        marks, how="left", on=["post_id", "sentence_index", "criterion_id"]
    )
    frame["annotated"] = frame["label"].notna()
    frame["label"] = frame["label"].fillna(0).astype(int)
    frame = frame[SENTENCE_PAIR_COLUMNS]
    stats = _mapping_stats(ann, spans["row"].nunique(), hits)
    stats.update(
        posts=len(posts),
        sentences=len(segs),
        criteria=len(criteria),
        rows=len(frame),
        positives=int(frame["label"].sum()),
        annotated=int(frame["annotated"].sum()),
        seconds=round(time.perf_counter() - started, 3),
    )
    _log_stats(stats)
    return frame, stats


def _annotated(posts: pd.DataFrame, pairs: pd.DataFrame, criteria: Iterable[str]) -> pd.DataFrame:
    """The rows of ``pairs`` for these posts and criteria, renumbered from 0."""
    wanted = pairs["post_id"].isin(set(posts["post_id"])) & pairs["criterion_id"].isin(criteria)
    return pairs[wanted].reset_index(drop=True)


def _criteria_frame(criteria: Mapping[str, str]) -> pd.DataFrame:
    """criterion_id, criterion, symptom: one row per criterion, in the mapping's order."""
    ids = list(criteria)
    return pd.DataFrame(
        {
            "criterion_id": ids,
            "criterion": [criteria[c] for c in ids],
            "symptom": [CRITERION_TO_SYMPTOM.get(c, c) for c in ids],
        }
    )


def _mapping_stats(ann: pd.DataFrame, located: int, hits: pd.DataFrame) -> dict[str, Any]:
    """How the annotated rows ``ann`` map to segments (``hits``: the occurrences labelling a
    segment): located (text found), matched (labels a segment), single_segment (each labelling
    occurrence overlaps exactly one), exact (each is one segment exactly), repeated (labels
    through several occurrences), and the rows not matched."""
    per_occurrence = hits.groupby(["row", "span_start"])
    occurrences = per_occurrence.agg(segments=("exact", "size"), exact=("exact", "any"))
    per_row = occurrences.groupby("row").agg(
        single=("segments", lambda n: bool((n == 1).all())),
        exact=("exact", "all"),
        occurrences=("exact", "size"),
    )
    matched = ann.index.isin(per_row.index)
    missing = ann[~matched]
    return {
        "annotated_rows": len(ann),
        "annotated_positive_rows": int(ann["label"].sum()),
        "located": located,
        "matched": int(matched.sum()),
        "matched_positive_rows": int(ann.loc[matched, "label"].sum()),
        "single_segment": int(per_row["single"].sum()),
        "exact": int(per_row["exact"].sum()),
        "repeated": int((per_row["occurrences"] > 1).sum()),
        "share_matched": round(float(matched.mean()), 4) if len(ann) else None,
        "not_found": len(missing),
        "not_found_rows": missing[["post_id", "sentence_id", "symptom", "label", "sentence"]]
        .head(_NOT_FOUND_LISTED)
        .to_dict("records"),
    }


def _log_stats(stats: Mapping[str, Any]) -> None:
    log.info(
        "labels: %d posts, %d sentences x %d criteria = %d pairs (%d positive, %d annotated); "
        "%d of %d annotated rows mapped to a segment (%d to exactly one), %.1f s",
        stats["posts"],
        stats["sentences"],
        stats["criteria"],
        stats["rows"],
        stats["positives"],
        stats["annotated"],
        stats["matched"],
        stats["annotated_rows"],
        stats["single_segment"],
        stats["seconds"],
    )
    if stats["not_found"]:
        first = stats["not_found_rows"][0]
        log.warning(
            "labels: %d annotated row(s) not found in their post's text, so they label no "
            "sentence (e.g. post %s, sentence_id %s: %.60r)",
            stats["not_found"],
            first["post_id"],
            first["sentence_id"],
            first["sentence"],
        )


def draw_negatives(
    corpus: Corpus,
    post_ids: Iterable[str],
    criteria: Mapping[str, str],
    per_positive: float,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Negative pairs (PAIR_COLUMNS) drawn from the unannotated sentence x criterion pairs of
    the posts ``post_ids``: round(per_positive x their positive pairs), all when fewer.

    Seeded by ``seed`` over a fixed candidate order: the same draw for the same seed and data.
    Callers pass the training posts only, so validation and test posts are never drawn from.
    A post and criterion with an annotated sentence not found in the post give no candidate:
    that sentence may be any of the post's.
    """
    ids = set(post_ids)
    posts = corpus.posts[corpus.posts["post_id"].isin(ids)]
    frame, _ = sentence_pairs(posts, corpus.pairs, criteria)
    ann = _annotated(posts, corpus.pairs, criteria)
    lost = ann.loc[
        ~ann.index.isin(locate_sentences(posts, ann)["row"]), ["post_id", "criterion_id"]
    ]
    keys = ["post_id", "criterion_id"]
    unsure = frame[keys].merge(lost.drop_duplicates(), on=keys, how="left", indicator=True)
    open_pairs = ~frame["annotated"] & (frame["label"] == 0)
    candidates = frame[open_pairs & (unsure["_merge"] != "both").to_numpy()]
    positives = int(corpus.pairs.loc[corpus.pairs["post_id"].isin(ids), "label"].sum())
    wanted = min(round(per_positive * positives), len(candidates))
    drawn = candidates.sample(n=wanted, random_state=seed).sort_index()
    info = {
        "source": "unannotated",
        "per_positive": per_positive,
        "seed": seed,
        "positives": positives,
        "candidates": len(candidates),
        "excluded_not_found": int(open_pairs.sum()) - len(candidates),
        "added": len(drawn),
        "posts": int(drawn["post_id"].nunique()),
    }
    log.info(
        "negatives: %d unannotated sentence x criterion pairs added to the training split "
        "(%s per positive x %d positives; drawn from %d candidates in %d posts)",
        info["added"],
        per_positive,
        positives,
        info["candidates"],
        len(ids),
    )
    return drawn[PAIR_COLUMNS].reset_index(drop=True), info
