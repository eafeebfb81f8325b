"""Compare sentence splitters for ``evidence_ft.sentences``: accuracy on annotated posts and speed.

Run from the repository root:

    python benchmarks/splitters.py [--runs 3] [--preview ../shared/redsm5-sample]

For each library (pysbd, blingfire, spaCy's rule-based sentencizer), raw on the whole post and
inside the project's wrapper (``evidence_ft.sentences.split_with``: line breaks as hard
boundaries, list markers dropped, a cut after an ellipsis before a capital), it prints a
markdown table of

- exact-segment share: annotated ``sentence_text`` values (stripped, de-duplicated per post)
  that come out as exactly one segment of their post, on the bundled sample and on the
  authors' preview (skipped with a note when that folder is absent);
- speed: sentences per second over every post of ``generate_full_size(0)``, median of
  ``--runs`` runs, all rows timed in the same process.

A library that is not installed is reported as such. Install weight is not measured here
(see docs/PREDICT.md).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, timed  # noqa: E402
from evidence_ft.data import read_annotations, read_posts  # noqa: E402
from evidence_ft.sentences import (  # noqa: E402
    BlockSpans,
    Segment,
    segments_from_spans,
    sentencizer,
    split_with,
)
from evidence_ft.synthetic import generate_full_size  # noqa: E402

Splitter = Callable[[str], list[Segment]]

# Hand-written posts of the kinds the bundled sample lacks, each with the segments a reader
# would want; the same kinds as tests/test_sentences.py, written for this table.
CASES: list[tuple[str, list[str]]] = [
    ("I can't sleep\nI keep waking up at 3am", ["I can't sleep", "I keep waking up at 3am"]),
    ("Work was fine\n\nEvenings are the worst", ["Work was fine", "Evenings are the worst"]),
    (
        "Things I lost:\n- my appetite\n- my friends\n1. sleep\n2) focus",
        ["Things I lost:", "my appetite", "my friends", "sleep", "focus"],
    ),
    (
        "My therapist, Dr. Lee, says it's normal. I don't believe her.",
        ["My therapist, Dr. Lee, says it's normal.", "I don't believe her."],
    ),
    (
        "Small things, e.g. showering, feel huge. I skip them.",
        ["Small things, e.g. showering, feel huge.", "I skip them."],
    ),
    ("She said “you’re fine.” I’m not fine.", ["She said “you’re fine.”", "I’m not fine."]),
    (
        "I tried... nothing works. Whatever.",
        ["I tried... nothing works.", "Whatever."],
    ),
    ("I waited... Nobody came.", ["I waited...", "Nobody came."]),
    ("Whatever… I’m done.", ["Whatever…", "I’m done."]),
    (
        "I'm exhausted 😩 and sad. Tomorrow is worse.",
        ["I'm exhausted 😩 and sad.", "Tomorrow is worse."],
    ),
    ("Line one.\r\nLine two\r\n", ["Line one.", "Line two"]),
    ("Why me?! I don't know anymore", ["Why me?!", "I don't know anymore"]),
    ("It was 3.5 years ago. I was 19.", ["It was 3.5 years ago.", "I was 19."]),
    (
        "I'm a burden to everyone around me. I should stay away.",
        ["I'm a burden to everyone around me.", "I should stay away."],
    ),
]


def _located(text: str, pieces: Iterable[str]) -> list[tuple[int, int]]:
    """Spans of ``pieces`` found left to right in ``text`` (for libraries that return strings)."""
    spans, cursor = [], 0
    for piece in pieces:
        core = piece.strip()
        if not core:
            continue
        at = text.find(core, cursor)
        if at < 0:  # the library changed the text; skip the piece rather than invent offsets
            continue
        spans.append((at, at + len(core)))
        cursor = at + len(core)
    return spans


def pysbd_spans() -> BlockSpans:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    return lambda text: _located(text, segmenter.segment(text))


def blingfire_spans() -> BlockSpans:
    import blingfire

    def spans(text: str) -> list[tuple[int, int]]:
        return [tuple(o) for o in blingfire.text_to_sentences_and_offsets(text)[1]]

    return spans


LIBRARIES: dict[str, Callable[[], BlockSpans]] = {
    "pysbd": pysbd_spans,
    "blingfire": blingfire_spans,
    "spacy sentencizer": sentencizer,  # the project's choice, exactly as split_sentences uses it
}


def _raw(text: str, spans: BlockSpans) -> list[Segment]:
    """The library alone on the whole post (segments stripped, as the wrapper's are)."""
    return segments_from_spans(text, spans(text))


def splitters() -> tuple[dict[str, Splitter], list[str]]:
    """Raw and wrapped splitter per installed library, and the names of missing ones."""
    out: dict[str, Splitter] = {}
    missing = []
    for name, build in LIBRARIES.items():
        try:
            spans = build()
        except ImportError:
            missing.append(name)
            continue
        out[f"{name} raw"] = functools.partial(_raw, spans=spans)
        out[f"{name} + wrapper"] = functools.partial(split_with, block_spans=spans)
    return out, missing


def annotated(folder: Path) -> list[tuple[str, set[str]]]:
    """(post text, its annotated sentence texts stripped and de-duplicated) per annotated post."""
    posts = read_posts(folder / "redsm5_posts.csv")
    ann = read_annotations(folder / "redsm5_annotations.csv")
    texts = dict(zip(posts["post_id"], posts["text"]))
    wanted = ann.assign(s=ann["sentence_text"].str.strip()).groupby("post_id")["s"].agg(set)
    return [(texts[pid], set(sents)) for pid, sents in wanted.items() if pid in texts]


def exact_share(split: Splitter, data: Sequence[tuple[str, set[str]]]) -> tuple[int, int, int]:
    """(annotated texts that are one segment, annotated texts found in their post, all)."""
    hit = present = total = 0
    for text, sentences in data:
        segments = {s.text for s in split(text)}
        total += len(sentences)
        present += sum(s in text for s in sentences)
        hit += len(sentences & segments)
    return hit, present, total


def cases_right(split: Splitter) -> int:
    """How many ``CASES`` come out exactly as their expected segments."""
    return sum([seg.text for seg in split(text)] == want for text, want in CASES)


def segment_count(split: Splitter, posts: Sequence[str]) -> int:
    return sum(len(split(p)) for p in posts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timing runs per splitter (median)")
    parser.add_argument("--sample", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--preview", type=Path, default=ROOT.parent / "shared" / "redsm5-sample")
    args = parser.parse_args(argv)

    split, missing = splitters()
    sets = {"sample": annotated(args.sample)}
    if (args.preview / "redsm5_posts.csv").is_file():
        sets["preview"] = annotated(args.preview)
    posts: pd.DataFrame = generate_full_size(0)[0]
    corpus = [t for t in posts["text"] if t.strip()]

    seconds: dict[str, list[float]] = {name: [] for name in split}
    counts: dict[str, int] = {}
    for _ in range(args.runs):  # interleaved so that every row sees the same machine load
        for name, fn in split.items():
            counts[name], took, _ = timed(functools.partial(segment_count, fn, corpus))
            seconds[name].append(took)

    head = "| splitter | " + " | ".join(f"exact segments, {k}" for k in sets)
    head += " | hand cases"
    print(head + " | segments (full-size) | seconds (median) | sentences/s |")
    print("|---" * (len(sets) + 5) + "|")
    for name, fn in split.items():
        cells = []
        for data in sets.values():
            hit, present, total = exact_share(fn, data)
            cells.append(f"{hit / total:.1%} ({hit}/{total}; {present} in post)")
        cells.append(f"{cases_right(fn)}/{len(CASES)}")
        median = statistics.median(seconds[name])
        print(
            f"| {name} | " + " | ".join(cells) + f" | {counts[name]:,} | {median:.2f} | "
            f"{counts[name] / median:,.0f} |"
        )
    for name in missing:
        print(f"| {name} | " + " | ".join("not installed" for _ in range(len(sets) + 4)) + " |")
    print()
    print(f"full-size synthetic corpus: {len(corpus):,} non-empty posts; {args.runs} timing runs")
    if "preview" not in sets:
        print(f"preview skipped: {args.preview} not found")


if __name__ == "__main__":
    main()
