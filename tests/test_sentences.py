"""evidence_ft.sentences: sensible splits of post text, and offsets that always hold."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evidence_ft.data import read_annotations, read_posts
from evidence_ft.sentences import Segment, split_sentences
from evidence_ft.synthetic import generate_full_size

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def check(text: str, segments: list[Segment], covers: bool = True) -> None:
    """The interface's promises: offsets, stripped non-empty text, order, no overlap.

    ``covers``: also every letter and digit of the post lies in a segment (nothing readable
    lost); off for list markers such as "1.", which are dropped on purpose.
    """
    previous_end = 0
    for i, seg in enumerate(segments):
        assert seg.index == i
        assert text[seg.start : seg.end] == seg.text
        assert seg.text and seg.text == seg.text.strip()
        assert seg.start >= previous_end
        previous_end = seg.end
    if covers:
        inside = bytearray(len(text))
        for seg in segments:
            inside[seg.start : seg.end] = b"\x01" * (seg.end - seg.start)
        assert all(inside[i] for i, ch in enumerate(text) if ch.isalnum())


def texts(text: str) -> list[str]:
    segments = split_sentences(text)
    check(text, segments)
    return [seg.text for seg in segments]


@pytest.mark.parametrize("text", ["", "   ", "\n\n \r\n\t"])
def test_empty_or_blank_text_has_no_segments(text: str) -> None:
    assert split_sentences(text) == []


def test_plain_sentences() -> None:
    assert texts("I can't focus. Nothing helps! Why me?") == [
        "I can't focus.",
        "Nothing helps!",
        "Why me?",
    ]


def test_single_newline_ends_a_sentence_without_punctuation() -> None:
    assert texts("I can't sleep\nI keep waking up at 3am") == [
        "I can't sleep",
        "I keep waking up at 3am",
    ]


def test_blank_lines_end_a_paragraph() -> None:
    assert texts("Work was fine\n\nThe evenings are the worst.\n\n\nSo yeah") == [
        "Work was fine",
        "The evenings are the worst.",
        "So yeah",
    ]


def test_bullet_and_numbered_lists_lose_their_markers() -> None:
    text = "Things I lost:\n- my appetite\n* my friends\n• my job\n1. sleep\n2) focus\n(3) hope"
    segments = split_sentences(text)
    check(text, segments, covers=False)
    assert [s.text for s in segments] == [
        "Things I lost:",
        "my appetite",
        "my friends",
        "my job",
        "sleep",
        "focus",
        "hope",
    ]
    assert text[segments[1].start - 2 : segments[1].start] == "- "


def test_numbers_inside_a_line_are_not_list_markers() -> None:
    assert texts("It was 3.5 years ago. I was 19.\n2 weeks later I quit.") == [
        "It was 3.5 years ago.",
        "I was 19.",
        "2 weeks later I quit.",
    ]


def test_curly_quotes_stay_with_their_sentence() -> None:
    assert texts("She said “you’re fine.” I’m not fine. It’s been weeks.") == [
        "She said “you’re fine.”",
        "I’m not fine.",
        "It’s been weeks.",
    ]


def test_emoji_keep_offsets_and_do_not_stand_alone() -> None:
    text = "I'm exhausted 😩 and sad. Tomorrow is worse. 😞\n😶"
    segments = split_sentences(text)
    check(text, segments)
    assert [s.text for s in segments] == [
        "I'm exhausted 😩 and sad.",
        "Tomorrow is worse. 😞",
        "😶",
    ]
    assert segments[1].end == text.index("\n")


def test_ellipses() -> None:
    assert texts("I tried... nothing works. Whatever… I’m done. I waited...  Nobody came") == [
        "I tried... nothing works.",
        "Whatever…",
        "I’m done.",
        "I waited...",
        "Nobody came",
    ]


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert texts("My therapist, Dr. Lee, says things, e.g. showering, are hard. I agree.") == [
        "My therapist, Dr. Lee, says things, e.g. showering, are hard.",
        "I agree.",
    ]


def test_no_final_punctuation() -> None:
    assert texts("I give up") == ["I give up"]
    assert texts("Okay. I give up") == ["Okay.", "I give up"]


def test_leading_and_trailing_whitespace_is_not_part_of_a_segment() -> None:
    text = "  \n\t Hello there.   \n\n  Still here  \n "
    segments = split_sentences(text)
    check(text, segments)
    assert [(s.start, s.text) for s in segments] == [(5, "Hello there."), (24, "Still here")]


def test_windows_line_endings() -> None:
    text = "Line one.\r\nLine two\r\n\r\nLine three\rLine four\r\n"
    assert texts(text) == ["Line one.", "Line two", "Line three", "Line four"]


def test_a_7000_word_post_is_split_quickly_with_exact_offsets() -> None:
    split_sentences("Warm up.")  # build the splitter outside the timing
    sentence = "I have not slept properly for days and I feel numb."  # 11 words
    count = 7000 // 11
    wall = " ".join([sentence] * count)  # one paragraph
    paragraphs = " ".join(sentence + ("\n\n" if i % 50 == 49 else "") for i in range(count))
    run_on = " ".join(["and then nothing"] * 2334)  # 7,002 words, no punctuation, no newline
    start = time.perf_counter()
    split = {text: split_sentences(text) for text in (wall, paragraphs, run_on)}
    took = time.perf_counter() - start
    for text, segments in split.items():
        check(text, segments)
    assert [s.text for s in split[wall]] == [sentence] * count
    assert len(split[paragraphs]) == count
    assert [(s.start, s.end) for s in split[run_on]] == [(0, len(run_on))]
    assert took < 5.0, f"three 7,000-word posts took {took:.1f}s"


def test_every_annotated_sample_sentence_is_one_segment() -> None:
    """The bundled sample is split as annotated (the benchmark's exact-segment share, 100%)."""
    posts = read_posts(SAMPLE / "redsm5_posts.csv")
    ann = read_annotations(SAMPLE / "redsm5_annotations.csv")
    texts_by_post = dict(zip(posts["post_id"], posts["text"]))
    for post_id, text in texts_by_post.items():
        segments = split_sentences(text)
        check(text, segments)
        wanted = set(ann.loc[ann["post_id"] == post_id, "sentence_text"].str.strip())
        assert wanted <= {s.text for s in segments}, post_id


def test_offsets_hold_on_every_full_size_synthetic_post() -> None:
    posts, _ = generate_full_size(0)
    for text in posts["text"]:
        check(text, split_sentences(text))
