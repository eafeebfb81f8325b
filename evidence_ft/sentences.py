"""Sentence segments of post text, each with its character offsets in the post.

``split_sentences`` cuts a post at every line break first (a line break in a Reddit post ends a
sentence far more often than it wraps one), drops list markers such as ``- `` or ``2. `` at the
start of a line, and lets a sentence-boundary library split each line. The library was chosen by
measurement (spaCy's rule-based sentencizer); see ``benchmarks/splitters.py`` and
``docs/PREDICT.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Spans (start, end) of the sentences of one line, relative to that line.
BlockSpans = Callable[[str], Iterable[tuple[int, int]]]

# A line: a maximal run without \r or \n, so "\r\n" and a lone "\r" both end a line.
_LINE = re.compile(r"[^\r\n]+")
# A list marker at the start of a line: a bullet, "12." / "12)" / "(12)", or a Reddit quote ">".
_MARKER = re.compile(r"\s*(?:[-*+•‣◦▪>]|\(?\d{1,3}[.)])\s+")
# An ellipsis before a capital ends a sentence ("I waited... Nobody came."); spaCy's
# sentencizer never ends one at an ellipsis, so lines are cut there before it runs.
_ELLIPSIS_END = re.compile(r"(?:(?<=\.\.\.)|(?<=…))\s+(?=[A-Z])")
# spaCy refuses longer texts by default (a guard for its parser and NER, which a blank pipeline
# lacks); a line of a pasted document may be longer, and the tokenizer alone handles it.
_MAX_LINE_CHARS = 10_000_000


@dataclass(frozen=True)
class Segment:
    """One sentence of a post: ``post[start:end] == text``, stripped and never empty."""

    index: int
    start: int
    end: int
    text: str


def segments_from_spans(text: str, spans: Iterable[tuple[int, int]]) -> list[Segment]:
    """Segments for raw library spans over ``text``: stripped, empty ones dropped, reindexed."""
    out: list[Segment] = []
    for start, end in spans:
        piece = text[start:end]
        stripped = piece.strip()
        if not stripped:
            continue
        begin = start + (len(piece) - len(piece.lstrip()))
        out.append(Segment(len(out), begin, begin + len(stripped), stripped))
    return out


def split_with(text: str, block_spans: BlockSpans) -> list[Segment]:
    """Split ``text`` line by line with ``block_spans``, keeping offsets in ``text``.

    Each line loses its list marker and is cut after an ellipsis before a capital; a piece with
    no letter or digit (an emoji, "!!") joins the sentence before it in the same block instead
    of standing alone.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start = line.start()
        marker = _MARKER.match(text, start, line.end())
        if marker and marker.end() < line.end():
            start = marker.end()
        cuts = [m.start() for m in _ELLIPSIS_END.finditer(text, start, line.end())]
        for begin, end in zip([start, *cuts], [*cuts, line.end()]):
            _add_block(text, begin, end, block_spans, spans)
    return segments_from_spans(text, spans)


def _add_block(
    text: str, start: int, end: int, block_spans: BlockSpans, spans: list[tuple[int, int]]
) -> None:
    """Append the spans of ``text[start:end]`` to ``spans``, offsets in ``text``."""
    block = text[start:end]
    first = len(spans)
    for a, b in block_spans(block):
        piece = block[a:b]
        if not piece.strip():
            continue
        if len(spans) > first and not any(ch.isalnum() for ch in piece):
            spans[-1] = (spans[-1][0], start + b)
        else:
            spans.append((start + a, start + b))


@functools.cache
def sentencizer() -> BlockSpans:
    """spaCy's rule-based sentencizer on a blank English pipeline (no model download).

    Built once, on first use: importing spaCy takes a few seconds.
    """
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = _MAX_LINE_CHARS
    return lambda block: [(s.start_char, s.end_char) for s in nlp(block).sents]


def split_sentences(text: str) -> list[Segment]:
    """The sentences of a post, in order, each with its offsets: ``text[s.start:s.end] == s.text``.

    >>> [s.text for s in split_sentences("Dr. Lee called.\\n- I slept badly\\nNo energy")]
    ['Dr. Lee called.', 'I slept badly', 'No energy']
    """
    if not text.strip():
        return []  # without building the splitter (importing spaCy takes seconds)
    return split_with(text, sentencizer())
