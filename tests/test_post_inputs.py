"""Reading the posts to predict on: CSV, JSONL, a folder of .txt files, text=; bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from evidence_ft.errors import UserError
from evidence_ft.post_inputs import iter_posts_input, read_posts_input

CURLY = "I said \u201cfine, really\u201d \u2014 then cried.\nNew line, same post."


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def jsonl(path: Path, *docs: object) -> Path:
    return write(path, "".join(json.dumps(d) + "\n" for d in docs))


def records(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["post_id"], frame["text"]))


def user_error(input: object, text: str | None = None) -> str:
    """The message of the UserError that reading ``input`` raises; it must be one line."""
    with pytest.raises(UserError) as info:
        read_posts_input(None if input is None else str(input), text)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# ---------------------------------------------------------------------------- formats


def test_csv_keeps_quoted_commas_newlines_and_curly_quotes(tmp_path: Path) -> None:
    quoted = CURLY.replace('"', '""')
    path = write(
        tmp_path / "posts.csv",
        f'post_id,text,extra\n001,"{quoted}",x\nNA,"two, parts",\np3,"  padded  ",y\n',
    )
    frame, counts = read_posts_input(str(path), None)
    # ids stay strings ("001", not 1; "NA", not NaN); text kept exactly, extra column dropped
    assert list(frame.columns) == ["post_id", "text"]
    assert records(frame) == [("001", CURLY), ("NA", "two, parts"), ("p3", "  padded  ")]
    assert counts == {"posts": 3, "empty_skipped": 0, "ignored_files": 0}


def test_csv_bom_and_crlf(tmp_path: Path) -> None:
    body = 'post_id,text\r\np1,"one\r\ntwo"\r\np2,plain\r\n'
    path = write(tmp_path / "posts.csv", b"\xef\xbb\xbf" + body.encode("utf-8"))
    frame, _ = read_posts_input(str(path), None)
    assert list(frame.columns) == ["post_id", "text"]
    assert records(frame) == [("p1", "one\ntwo"), ("p2", "plain")]


def test_jsonl_numbers_blank_lines_bom_and_crlf(tmp_path: Path) -> None:
    lines = [
        json.dumps({"post_id": 7, "text": "a\r\nb", "extra": 1}),
        "",
        "   ",
        json.dumps({"post_id": "x", "text": CURLY}),
    ]
    path = write(tmp_path / "posts.ndjson", b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))
    frame, counts = read_posts_input(str(path), None)
    assert records(frame) == [("7", "a\nb"), ("x", CURLY)]
    assert counts["posts"] == 2


def test_folder_of_txt_files_sorted_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    write(folder / "b.txt", b"\xef\xbb\xbfsecond\r\npost\n")
    write(folder / "a.txt", "first post")
    write(folder / "10.txt", "ten")
    write(folder / "notes.md", "not a post")
    write(folder / ".DS_Store", b"\x00\xff")  # not UTF-8, but ignored
    (folder / "sub.txt").mkdir()  # a folder, not a post
    frame, counts = read_posts_input(str(folder), None)
    assert records(frame) == [("10", "ten"), ("a", "first post"), ("b", "second\npost\n")]
    assert counts == {"posts": 3, "empty_skipped": 0, "ignored_files": 3}


def test_text_argument_is_one_post(tmp_path: Path) -> None:
    frame, counts = read_posts_input(None, "I can't sleep.\r\nNothing helps. ")
    assert records(frame) == [("text", "I can't sleep.\nNothing helps. ")]
    assert counts["posts"] == 1
    frame, _ = read_posts_input("", "from text")  # an empty input= counts as not given
    assert records(frame) == [("text", "from text")]
    frame, _ = read_posts_input(None, 123)  # type: ignore[arg-type]  # Hydra parses text=123
    assert records(frame) == [("text", "123")]


def test_empty_posts_are_skipped_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = jsonl(
        tmp_path / "posts.jsonl",
        {"post_id": "a", "text": "kept"},
        {"post_id": "b", "text": ""},
        {"post_id": "c", "text": " \n\t"},
    )
    with caplog.at_level(logging.WARNING, logger="evidence_ft.post_inputs"):
        frame, counts = read_posts_input(str(path), None)
    assert records(frame) == [("a", "kept")]
    assert counts["posts"] == 1 and counts["empty_skipped"] == 2
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "skipped 2 empty post(s)" in warned[0]


def test_all_posts_empty_gives_an_empty_frame(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", "post_id,text\np1,\np2,  \n")
    frame, counts = read_posts_input(str(path), None)
    assert frame.empty and list(frame.columns) == ["post_id", "text"]
    assert counts == {"posts": 0, "empty_skipped": 2, "ignored_files": 0}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "folder"])
def test_chunks_give_the_same_frame_as_the_whole_read(tmp_path: Path, fmt: str) -> None:
    posts = [(f"p{i:02d}", f"post {i},\nline" if i % 4 else " ") for i in range(11)]
    if fmt == "csv":
        body = "".join(f'{pid},"{text}"\n' for pid, text in posts)
        path = write(tmp_path / "posts.csv", "post_id,text\n" + body)
    elif fmt == "jsonl":
        path = jsonl(tmp_path / "posts.jsonl", *({"post_id": p, "text": t} for p, t in posts))
    else:
        path = tmp_path / "posts"
        path.mkdir()
        for pid, text in posts:
            write(path / f"{pid}.txt", text)
    whole, whole_counts = read_posts_input(str(path), None)
    counts: dict[str, int] = {}
    chunks = list(iter_posts_input(str(path), None, 3, counts))
    assert [len(c) for c in chunks] == [3, 3, 2]  # 8 posts kept, 3 empty ones skipped
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert counts == whole_counts and counts["empty_skipped"] == 3
    assert records(whole) == [(p, t) for p, t in posts if t.strip()]


# ---------------------------------------------------------------------------- bad input


def test_neither_or_both_arguments(tmp_path: Path) -> None:
    neither = user_error(None)
    assert "input=" in neither and "text=" in neither
    with pytest.raises(UserError, match="not both") as info:
        read_posts_input(str(tmp_path / "posts.csv"), "some text")
    assert "input=" in str(info.value) and "text=" in str(info.value)
    assert "text= is empty" in user_error(None, text="  ")


def test_missing_file_or_folder(tmp_path: Path) -> None:
    message = user_error(tmp_path / "nope.csv")
    assert f"input={tmp_path / 'nope.csv'}: no such file or folder" in message
    assert ".jsonl" in message and ".txt" in message  # says what to give instead


@pytest.mark.parametrize("name", ["posts.xlsx", "posts"])
def test_unknown_format_lists_the_accepted_forms(tmp_path: Path, name: str) -> None:
    message = user_error(write(tmp_path / name, "post_id,text\np1,a\n"))
    assert f"input={tmp_path / name}: unknown input format" in message
    assert all(form in message for form in (".csv", ".jsonl", ".ndjson", "folder of .txt"))


def test_csv_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", "post_id,body\np1,a\n")
    message = user_error(path)
    assert f"input={path}: no text column in the header (found post_id, body)" in message


@pytest.mark.parametrize(
    "body, what",
    [
        ("", "the file is empty"),
        ("post_id,text\n", "a header but no rows"),
        ("post_id,text\np1,a, b\np2,c\n", "first row has more fields than the header"),
        ("post_id,text\np1,a\np2,b, c\n", "Expected 2 fields in line 3, saw 3"),
        ('post_id,text\np1,"never closed\n', "EOF inside string"),
    ],
)
def test_csv_empty_or_malformed(tmp_path: Path, body: str, what: str) -> None:
    path = write(tmp_path / "posts.csv", body)
    message = user_error(path)
    assert message.startswith(f"input={path}: ") and what in message


def test_csv_duplicate_post_id_names_both_rows_across_chunks(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", 'post_id,text\np1,a\np2,"two\nlines"\np3,c\np1,d\n')
    message = user_error(path)
    assert f"input={path}: post_id 'p1' appears twice (rows 2 and 5)" in message
    with pytest.raises(UserError, match=r"rows 2 and 5"):  # the repeat is in a later chunk
        list(iter_posts_input(str(path), None, 1))


def test_csv_empty_post_id(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", "post_id,text\np1,a\n,b\n")
    assert f"input={path} row 3: empty post_id" in user_error(path)


def test_csv_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", b'post_id,text\np1,ok\np2,"caf\xe9"\n')
    message = user_error(path)
    assert f"input={path}: not UTF-8 text (byte offset 26, line 3)" in message
    assert "UTF-8" in message.split(";")[1]  # the fix


@pytest.mark.parametrize(
    "line, what",
    [
        ('{"post_id": 2, text: "b"}', "line 2: not JSON"),
        ('["p2", "b"]', "line 2: a JSON list, not an object"),
        ('{"post_id": "p2"}', "line 2: no 'text' key"),
        ('{"text": "b"}', "line 2: no 'post_id' key"),
        ('{"post_id": null, "text": "b"}', "line 2: post_id must be a string or an integer"),
        ('{"post_id": "p2", "text": 5}', "line 2: text must be a string, not 5"),
        ('{"post_id": "", "text": "b"}', "line 2: empty post_id"),
    ],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str, what: str) -> None:
    path = write(tmp_path / "posts.jsonl", '{"post_id": "p1", "text": "a"}\n' + line + "\n")
    message = user_error(path)
    assert message.startswith(f"input={path} {what}")
    assert '{"post_id": ..., "text": ...}' in message or "give every post an id" in message


def test_jsonl_empty_duplicate_and_not_utf8(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.jsonl", "\n  \n")
    assert f"input={empty}: no posts" in user_error(empty)
    dup = jsonl(tmp_path / "dup.jsonl", {"post_id": 1, "text": "a"}, {"post_id": "1", "text": "b"})
    assert f"input={dup}: post_id '1' appears twice (lines 1 and 2)" in user_error(dup)
    bad = write(tmp_path / "bad.jsonl", b'{"post_id": 1, "text": "a"}\n{"text": "\xff"}\n')
    assert f"input={bad}: not UTF-8 text (byte offset 38, line 2)" in user_error(bad)


def test_folder_without_txt_files_and_not_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty / "post.md", "x")
    message = user_error(empty)
    assert f"input={empty}: no .txt files in this folder (other entries ignored: 1)" in message
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad / "a.txt", "fine")
    write(bad / "b.txt", b"\xef\xbb\xbfok\nno\xff")  # the BOM counts in the byte offset
    message = user_error(bad)
    assert f"input={bad}: b.txt is not UTF-8 text (byte offset 8, line 2)" in message


def test_header_errors_raise_before_the_first_chunk(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.csv", "id,body\np1,a\n")
    with pytest.raises(UserError, match="no post_id or text column"):
        iter_posts_input(str(path), None, 10)  # at the call, not at the first next()
