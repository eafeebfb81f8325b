"""The three input formats of ``run_predict.py``, read as (post_id, text, where) records.

A posts CSV, a JSONL file and a folder of ``.txt`` files (see :mod:`evidence_ft.post_inputs`
for the conventions they share); a file that is not UTF-8 is named with the offset and line
of its first bad byte.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evidence_ft.data import POSTS_COLUMNS
from evidence_ft.errors import UserError

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TXT_SUFFIX = ".txt"
FORMATS = (
    "a posts CSV (.csv with post_id,text columns), a JSONL file (.jsonl or .ndjson, one "
    '{"post_id": ..., "text": ...} per line) or a folder of .txt files (one post each)'
)
BOM = codecs.BOM_UTF8
# (post_id, text, where): ``where`` is the row/line number that error messages cite
Record = tuple[str, str, int]


def csv_records(path: Path, source: str, chunk_posts: int) -> Iterator[Record]:
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


def jsonl_records(path: Path, source: str) -> Iterator[Record]:
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


def folder_records(path: Path, source: str, counts: dict[str, int]) -> Iterator[Record]:
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
