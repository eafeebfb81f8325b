"""The posts to predict on, from ``input=<file | folder>`` or ``text="..."``, in chunks.

posts, counts = read_posts_input("posts.csv", None)       # DataFrame(post_id, text) + counts
for chunk in iter_posts_input("posts.jsonl", None, 500):  # bounded memory for any file size
    ...

Accepted inputs: a posts CSV (``.csv``, the ReDSM5 ``post_id,text`` format, extra columns
ignored), a JSONL file (``.jsonl``/``.ndjson``, one ``{"post_id": ..., "text": ...}`` object
per line, blank lines ignored) or a folder of ``.txt`` files (one post each, post_id = the
file name without ``.txt``, sorted by name, other files ignored and counted).

Texts are kept exactly as read (callers cut sentences by character offsets into them) with
two exceptions, the same for every format: a UTF-8 byte order mark at the start of a file is
dropped, and every "\\r\\n" in a post's text becomes "\\n" (a lone "\\r" is kept). A post
whose text is empty or whitespace only is skipped, counted (``empty_skipped``) and logged
once. Every other problem is a one-line UserError naming ``input=<path>`` and the fix.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from evidence_ft.errors import UserError
from evidence_ft.post_formats import (
    CSV_SUFFIXES,
    FORMATS,
    JSONL_SUFFIXES,
    Record,
    csv_records,
    folder_records,
    jsonl_records,
)

log = logging.getLogger(__name__)

TEXT_POST_ID = "text"  # post_id of the single post given as text="..."
READ_CHUNK_POSTS = 10_000  # posts per chunk when read_posts_input reads a whole input


def read_posts_input(input: str | None, text: str | None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Posts to score as DataFrame(post_id: str, text: str) in input order, plus counts
    ``{"posts": kept, "empty_skipped": k, "ignored_files": m}`` (m: non-.txt entries of a folder).

    Texts are exactly as read except that a file's leading UTF-8 BOM is dropped and every
    "\\r\\n" becomes "\\n" (the same offsets whichever line ends the file was saved with).
    """
    counts: dict[str, int] = {}
    chunks = list(iter_posts_input(input, text, READ_CHUNK_POSTS, counts))
    frame = pd.concat(chunks, ignore_index=True) if chunks else _frame([], [])
    return frame, counts


def iter_posts_input(
    input: str | None, text: str | None, chunk_posts: int, counts: dict[str, int] | None = None
) -> Iterator[pd.DataFrame]:
    """The same posts as ``read_posts_input`` in frames of at most ``chunk_posts`` posts.

    The arguments, the format and the header (or first record) are checked at call time, so a
    bad input fails before anything is scored or written; later records are checked as they
    are read. ``counts``, when given, is filled in as the chunks are read (complete once the
    iterator is exhausted). Duplicate post_ids are caught across chunks.
    """
    if chunk_posts < 1:
        raise ValueError(f"chunk_posts must be at least 1, got {chunk_posts}")
    counts = {} if counts is None else counts
    counts.update(posts=0, empty_skipped=0, ignored_files=0)
    source, unit, records = _open(input, text, chunk_posts, counts)
    first = next(records, None)  # runs the header / first-record checks now
    if first is None:  # each reader reports its own empty input; this is a safety net
        raise UserError(f"{source}: no posts found; give {FORMATS}")
    return _chunks(source, unit, itertools.chain([first], records), chunk_posts, counts)


# ---------------------------------------------------------------------------- dispatch


def _open(
    input: str | None, text: str | None, chunk_posts: int, counts: dict[str, int]
) -> tuple[str, str, Iterator[Record]]:
    """(how errors name the input, what its positions are called, its records)."""
    has_input = input is not None and str(input) != ""
    text = None if text is None else str(text)  # Hydra reads text=123 or text=true as non-str
    if has_input and text is not None:
        raise UserError('give either input=<file or folder> or text="...", not both')
    if text is not None:
        if not text.strip():
            raise UserError('text= is empty; give the post to score, e.g. text="I cannot sleep."')
        return "text=", "post", iter([(TEXT_POST_ID, text, 1)])
    if not has_input:
        raise UserError(f'nothing to score: give text="..." or input=<path> to {FORMATS}')
    path = Path(str(input)).expanduser()
    source = f"input={path}"
    if path.is_dir():
        return source, "file", folder_records(path, source, counts)
    if not path.is_file():
        looked = "" if path.is_absolute() else f" (looked for {path.absolute()})"
        raise UserError(f"{source}: no such file or folder{looked}; give {FORMATS}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return source, "row", csv_records(path, source, chunk_posts)
    if suffix in JSONL_SUFFIXES:
        return source, "line", jsonl_records(path, source)
    shown = repr(suffix) if suffix else "(no suffix)"
    raise UserError(f"{source}: unknown input format {shown}; give {FORMATS}")


def _chunks(
    source: str, unit: str, records: Iterable[Record], chunk_posts: int, counts: dict[str, int]
) -> Iterator[pd.DataFrame]:
    """Normalise line ends, skip empty posts, refuse repeated post_ids, cut into frames."""
    seen: dict[str, int] = {}  # post_id -> where it first appeared, across all chunks
    ids: list[str] = []
    texts: list[str] = []
    skipped: list[str] = []  # the first few empty posts' ids
    for post_id, text, where in records:
        if post_id in seen:
            raise UserError(
                f"{source}: post_id {post_id!r} appears twice ({unit}s {seen[post_id]} and "
                f"{where}); give each post its own post_id or drop the repeat"
            )
        seen[post_id] = where
        if not text.strip():
            counts["empty_skipped"] += 1
            if len(skipped) < 3:  # examples for the log line; memory stays bounded
                skipped.append(post_id)
            continue
        ids.append(post_id)
        texts.append(text.replace("\r\n", "\n"))
        if len(ids) == chunk_posts:
            counts["posts"] += len(ids)
            yield _frame(ids, texts)
            ids, texts = [], []
    if ids:
        counts["posts"] += len(ids)
        yield _frame(ids, texts)
    if skipped:
        log.warning(
            "%s: skipped %d empty post(s) (no text), e.g. post_id %s",
            source,
            counts["empty_skipped"],
            ", ".join(map(repr, skipped[:3])),
        )


def _frame(ids: list[str], texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"post_id": pd.Series(ids, dtype=str), "text": pd.Series(texts, dtype=str)})
