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

import codecs
import itertools
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evidence_ft.data import POSTS_COLUMNS
from evidence_ft.errors import UserError

log = logging.getLogger(__name__)

TEXT_POST_ID = "text"  # post_id of the single post given as text="..."
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TXT_SUFFIX = ".txt"
FORMATS = (
    "a posts CSV (.csv with post_id,text columns), a JSONL file (.jsonl or .ndjson, one "
    '{"post_id": ..., "text": ...} per line) or a folder of .txt files (one post each)'
)
READ_CHUNK_POSTS = 10_000  # posts per chunk when read_posts_input reads a whole input
BOM = codecs.BOM_UTF8
# (post_id, text, where): ``where`` is the row/line number that error messages cite
Record = tuple[str, str, int]


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
        return source, "file", _folder_records(path, source, counts)
    if not path.is_file():
        looked = "" if path.is_absolute() else f" (looked for {path.absolute()})"
        raise UserError(f"{source}: no such file or folder{looked}; give {FORMATS}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return source, "row", _csv_records(path, source, chunk_posts)
    if suffix in JSONL_SUFFIXES:
        return source, "line", _jsonl_records(path, source)
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


# ---------------------------------------------------------------------------- readers


def _csv_records(path: Path, source: str, chunk_posts: int) -> Iterator[Record]:
    """Rows of a posts CSV, read ``chunk_posts`` rows at a time with pandas.

    Same conventions as ``data.read_csv`` (every field a str, no NA conversion); rows are
    numbered as a spreadsheet shows them (the header is row 1).
    """
    header = _csv_call(path, source, lambda: pd.read_csv(path, nrows=0, encoding="utf-8-sig"))
    missing = [c for c in POSTS_COLUMNS if c not in header.columns]
    if missing:
        raise UserError(
            f"{source}: no {' or '.join(missing)} column in the header "
            f"(found {', '.join(map(str, header.columns)) or 'none'}); a posts CSV needs "
            "post_id and text columns: rename or add them"
        )
    reader = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
        chunksize=chunk_posts,
        index_col=False,  # never take the first column as an index (a long first row would)
    )
    with reader:
        any_rows = False
        while (chunk := _csv_call(path, source, lambda: next(reader, None))) is not None:
            any_rows = any_rows or len(chunk) > 0
            rows = chunk.index + 2
            for post_id, text, row in zip(chunk["post_id"], chunk["text"], rows):
                if not post_id:
                    raise UserError(f"{source} row {row}: empty post_id; give every post an id")
                yield post_id, text, int(row)
        if not any_rows:
            raise UserError(f"{source}: a header but no rows; add one row per post")


def _csv_call(path: Path, source: str, read: Callable[[], Any]) -> Any:
    """``read()`` with pandas' parse errors turned into one line naming the file."""
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops data) when the first row has more fields than the
            # header: an unquoted comma in a text must stop the run instead
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return read()
    except pd.errors.EmptyDataError as err:
        raise UserError(
            f"{source}: the file is empty; a posts CSV needs a post_id,text header and one "
            "row per post"
        ) from err
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, pd.errors.ParserWarning):
            first = "its first row has more fields than the header"
        raise UserError(
            f"{source}: cannot parse as CSV ({first}); quote every field that holds a comma, "
            'a quote or a line break ("..." with "" for a quote inside)'
        ) from err
    except UnicodeDecodeError as err:
        raise _not_utf8(source, path) from err


def _jsonl_records(path: Path, source: str) -> Iterator[Record]:
    """One post per non-blank line; a bad line stops the read with its line number."""
    any_lines = False
    offset = 0
    with path.open("rb") as lines:  # bytes: only b"\n" ends a line, and offsets stay exact
        for number, raw in enumerate(lines, start=1):
            start, offset = offset, offset + len(raw)
            if number == 1 and raw.startswith(BOM):
                raw, start = raw[len(BOM) :], start + len(BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_utf8(source, path, start + err.start, number) from err
            if not line.strip():
                continue
            any_lines = True
            yield _jsonl_record(line, f"{source} line {number}") + (number,)
    if not any_lines:
        raise UserError(
            f"{source}: no posts (the file is empty or holds only blank lines); write one "
            '{"post_id": ..., "text": ...} object per line'
        )


def _jsonl_record(line: str, where: str) -> tuple[str, str]:
    fix = 'write one {"post_id": ..., "text": ...} object per line'
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not JSON ({err.msg} at column {err.colno}); {fix}") from err
    if not isinstance(doc, dict):
        raise UserError(f"{where}: a JSON {type(doc).__name__}, not an object; {fix}")
    missing = [k for k in POSTS_COLUMNS if k not in doc]
    if missing:
        raise UserError(f"{where}: no {' or '.join(map(repr, missing))} key; {fix}")
    post_id, text = doc["post_id"], doc["text"]
    if isinstance(post_id, bool) or not isinstance(post_id, (str, int)):
        raise UserError(
            f"{where}: post_id must be a string or an integer, not {json.dumps(post_id)}; {fix}"
        )
    if not isinstance(text, str):
        raise UserError(f"{where}: text must be a string, not {json.dumps(text)}; {fix}")
    if str(post_id) == "":
        raise UserError(f"{where}: empty post_id; give every post an id")
    return str(post_id), text


def _folder_records(path: Path, source: str, counts: dict[str, int]) -> Iterator[Record]:
    """One post per ``.txt`` file, by file name; the listing is checked now, files read lazily."""
    with os.scandir(path) as entries:
        listing = [(e.name, e.is_file()) for e in entries]
    names = sorted(
        name
        for name, is_file in listing
        # a file named ".txt" alone would have no post_id
        if is_file and name.lower().endswith(TXT_SUFFIX) and len(name) > len(TXT_SUFFIX)
    )
    counts["ignored_files"] = len(listing) - len(names)
    if not names:
        raise UserError(
            f"{source}: no .txt files in this folder (other entries ignored: "
            f"{counts['ignored_files']}); put each post in a <post_id>.txt file there"
        )
    if counts["ignored_files"]:
        log.info("%s: ignored %d entries that are not .txt files", source, counts["ignored_files"])
    return _read_txt_files(path, source, names)


def _read_txt_files(path: Path, source: str, names: list[str]) -> Iterator[Record]:
    for number, name in enumerate(names, start=1):
        raw = (path / name).read_bytes()
        skip = len(BOM) if raw.startswith(BOM) else 0
        try:
            text = raw[skip:].decode("utf-8")
        except UnicodeDecodeError as err:
            raise _not_utf8(source, path / name, skip + err.start) from err
        yield name[: -len(TXT_SUFFIX)], text, number


# ---------------------------------------------------------------------------- encoding


def _not_utf8(
    source: str, path: Path, offset: int | None = None, line: int | None = None
) -> UserError:
    """UserError naming the first byte of ``path`` that is not UTF-8 (found by a scan when
    the decoder that failed could not say where in the file it was)."""
    if offset is None:
        offset = _first_bad_byte(path)
    if line is None and offset is not None:
        line = _line_of(path, offset)
    what = "not UTF-8 text" if source == f"input={path}" else f"{path.name} is not UTF-8 text"
    where = "" if offset is None else f" (byte offset {offset}, line {line})"
    return UserError(
        f"{source}: {what}{where}; re-save it as UTF-8, e.g. "
        f"iconv -f cp1252 -t utf-8 {path.name} > fixed{path.suffix}"
    )


def _first_bad_byte(path: Path, block: int = 1 << 20) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence in ``path``, read in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = 0
    with path.open("rb") as f:
        while True:
            data = f.read(block)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(data, final=not data)
            except UnicodeDecodeError as err:
                return done - pending + err.start
            if not data:
                return None
            done += len(data)


def _line_of(path: Path, offset: int, block: int = 1 << 20) -> int:
    """1-based line number of the byte at ``offset``, counted in blocks."""
    newlines = 0
    with path.open("rb") as f:
        while offset > 0 and (data := f.read(min(block, offset))):
            newlines += data.count(b"\n")
            offset -= len(data)
    return newlines + 1
