"""The synthetic ReDSM5-format corpus: format, quirks, shape, and the committed sample."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evidence_ft import synthetic
from evidence_ft.data import SYMPTOMS
from evidence_ft.sentences import split_sentences
from evidence_ft.synthetic import (
    CSV_COLUMNS,
    REDSM5_POSITIVES,
    REDSM5_SHAPE,
    generate_corpus,
    generate_full_size,
    write_corpus,
)
from evidence_ft.synthetic.banks import load
from evidence_ft.synthetic.shape import CorpusShape
from evidence_ft.synthetic.stats import describe

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
KEY = ["post_id", "sentence_id", "DSM5_symptom", "status"]


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_corpus(120, seed=13)


@pytest.fixture(scope="module")
def full() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_full_size(seed=0)


@pytest.fixture(scope="module")
def figures(
    sample: tuple[pd.DataFrame, pd.DataFrame], full: tuple[pd.DataFrame, pd.DataFrame]
) -> dict[str, dict[str, Any]]:
    return {"sample": describe(*sample), "full": describe(*full)}


def test_same_seed_same_corpus_other_seed_other_corpus() -> None:
    posts_a, ann_a = generate_corpus(40, seed=5)
    posts_b, ann_b = generate_corpus(40, seed=5)
    pd.testing.assert_frame_equal(posts_a, posts_b)
    pd.testing.assert_frame_equal(ann_a, ann_b)
    assert not posts_a.equals(generate_corpus(40, seed=6)[0])


def test_columns_ids_and_types(sample: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    posts, ann = sample
    assert list(posts.columns) == ["post_id", "text"]
    assert list(ann.columns) == CSV_COLUMNS
    assert CSV_COLUMNS == [
        "post_id",
        "sentence_id",
        "sentence_text",
        "DSM5_symptom",
        "status",
        "explanation",
    ]
    assert posts["post_id"].is_unique
    assert posts["post_id"].str.fullmatch(r"s_\d+_\d+").all()
    assert (ann["sentence_id"].str.rsplit("_", n=1).str[0] == ann["post_id"]).all()
    assert ann["status"].dtype == "int64" and set(ann["status"]) == {0, 1}
    assert ann["post_id"].isin(posts["post_id"]).all()
    assert (ann["explanation"].str.len() > 20).all()


@pytest.mark.parametrize("which", ["sample", "full"])
def test_annotated_sentence_is_segment_k_of_its_post(
    which: str, request: pytest.FixtureRequest
) -> None:
    """The project's splitter cuts every post as built: the sentence of <post_id>_<k> is
    segment k of its post (so all-sentence evaluation maps every row to a segment by text)."""
    posts, ann = request.getfixturevalue(which)
    segments = {p: split_sentences(t) for p, t in zip(posts["post_id"], posts["text"])}
    for row in ann.itertuples():
        k = int(row.sentence_id.rsplit("_", 1)[1])
        assert segments[row.post_id][k].text == row.sentence_text, row.sentence_id
    assert request.getfixturevalue("figures")[which]["exact_segment_share"] == 1.0
    texts = ann.groupby(["post_id", "sentence_text"])["sentence_id"].nunique()
    assert (texts == 1).all(), "two annotated sentences of one post share a text"


@pytest.mark.parametrize("which", ["sample", "full"])
def test_never_one_sentence_annotated_both_ways(which: str, request: pytest.FixtureRequest) -> None:
    _, ann = request.getfixturevalue(which)
    statuses = ann.groupby(["post_id", "sentence_id", "DSM5_symptom"])["status"].nunique()
    assert (statuses == 1).all()


@pytest.mark.parametrize("which", ["sample", "full"])
def test_posts_are_all_positive_or_all_negative_but_a_few(
    which: str, request: pytest.FixtureRequest
) -> None:
    """Status-0 rows sit in the posts without symptom (about a quarter of the posts), each of
    which has one unless it has no row at all; a few mixed posts hold one absence each, for a
    symptom the post does not have."""
    posts, ann = request.getfixturevalue(which)
    got = request.getfixturevalue("figures")[which]
    annotated = got["posts"] - got["posts_without_rows"]
    assert got["all_positive_posts"] + got["all_negative_posts"] + got["mixed_posts"] == annotated
    assert got["all_negative_posts"] == got["posts_without_symptom"] - got["posts_without_rows"]
    assert abs(got["posts_without_symptom"] - 0.25 * len(posts)) <= 0.02 * len(posts) + 1
    assert 1 <= got["mixed_posts"] <= 0.05 * got["posts"]
    assert got["status0_in_no_symptom_posts"] >= 0.85 * got["status0_rows"]
    assert got["status0_in_mixed_posts"] == got["mixed_posts"]
    assert got["status0_in_no_symptom_posts"] + got["status0_in_mixed_posts"] == got["status0_rows"]
    present = ann[ann["status"] == 1].groupby("post_id")["DSM5_symptom"].agg(set)
    for row in ann[(ann["status"] == 0) & ann["post_id"].isin(present.index)].itertuples():
        assert row.DSM5_symptom not in present[row.post_id], row.sentence_id


@pytest.mark.parametrize("which", ["sample", "full"])
def test_real_file_quirks_are_present(which: str, request: pytest.FixtureRequest) -> None:
    posts, ann = request.getfixturevalue(which)
    text = "".join(posts["text"])
    for char in ("\u2019", "\u201c", "\u201d", "\u2014", "\n"):
        assert char in text, repr(char)
    assert ann["sentence_text"].str.contains("\u2014").any()
    per_sentence = ann.groupby(["post_id", "sentence_id"])["DSM5_symptom"].nunique()
    assert (per_sentence >= 2).any(), "no sentence carries two symptoms"
    repeated = ann[ann.duplicated(KEY, keep=False)]
    assert len(repeated) >= 2, "no repeated (post, sentence, symptom, status) row"
    assert (repeated.groupby(KEY)["explanation"].nunique() == 2).all()
    assert ann["explanation"].str.contains("\n").any(), "no newline inside an explanation"


def test_csv_round_trip_keeps_commas_newlines_and_quotes(
    tmp_path: Path, sample: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    posts, ann = sample
    write_corpus(posts, ann, tmp_path)
    raw = (tmp_path / "redsm5_posts.csv").read_text(encoding="utf-8")
    assert raw.startswith("post_id,text\n") and '"' in raw
    back_posts = pd.read_csv(tmp_path / "redsm5_posts.csv", encoding="utf-8")
    back_ann = pd.read_csv(tmp_path / "redsm5_annotations.csv", encoding="utf-8")
    pd.testing.assert_frame_equal(back_posts, posts, check_dtype=False)
    pd.testing.assert_frame_equal(back_ann, ann, check_dtype=False)


def test_sample_is_the_structure_scaled_down_and_denser(
    sample: tuple[pd.DataFrame, pd.DataFrame], figures: dict[str, dict[str, Any]]
) -> None:
    """About 350 rows (the README job's time), 1-3 posts without rows, every symptom with
    both statuses and enough rows to learn from, posts shorter than the full size's."""
    _, ann = sample
    got = figures["sample"]
    assert got["posts"] == 120 and 1 <= got["posts_without_rows"] <= 3
    table = pd.crosstab(ann["DSM5_symptom"], ann["status"])
    assert sorted(table.index) == sorted(SYMPTOMS)
    assert (table[0] > 0).all() and (table[1] > 0).all()
    assert 300 <= len(ann) <= 400
    assert 0.65 <= ann["status"].mean() <= 0.75
    for symptom, (positive, absent) in got["rows_per_symptom"].items():
        assert positive >= 4 and absent >= 3, symptom
    assert 8 <= got["sentences_per_post_mean"] <= 14
    assert got["words_min"] == 2 and got["words_max"] <= 600


def test_full_size_has_the_real_structure(
    full: tuple[pd.DataFrame, pd.DataFrame], figures: dict[str, dict[str, Any]]
) -> None:
    """DESIGN's facts: 1,484 posts, 392 without symptom (~20 without rows), ~1,550 positive
    rows in the published shares (one per post and symptom, repeats aside), ~400 status-0
    rows (constant pair F1 near 0.88), ~20 sentences per post, 2 to 6,990 words."""
    posts, ann = full
    got = figures["full"]
    assert got["posts"] == 1484 and got["posts_without_symptom"] == 392
    assert 10 <= got["posts_without_rows"] <= 30
    assert 350 <= got["status0_rows"] <= 450
    with_symptom = ann[ann["status"] == 1].groupby("DSM5_symptom")["post_id"].nunique()
    assert 1500 <= with_symptom.sum() == got["positive_rows"] - got["repeated_rows"] <= 1600
    scale = with_symptom.sum() / sum(REDSM5_POSITIVES.values())
    for symptom, published in REDSM5_POSITIVES.items():
        assert abs(with_symptom[symptom] - scale * published) <= 1, symptom
    assert 0.18 <= got["status0_rows"] / got["rows"] <= 0.24
    assert 0.86 <= got["constant_pair_f1"] <= 0.90
    assert 18 <= got["sentences_per_post_mean"] <= 22 and 27_000 <= got["sentences"] <= 33_000
    assert got["words_min"] == 2 and 6500 <= got["words_max"] <= REDSM5_SHAPE.max_words
    assert 100 <= got["words_median"] <= 400, "most posts should be a few hundred words"
    sentence_words = ann["sentence_text"].map(lambda t: len(t.split()))
    assert 10 <= sentence_words.median() <= 25


def test_describe_counts_a_hand_made_corpus() -> None:
    posts = pd.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "text": ["I am sad. I sleep well.", "I sleep fine.", "Hi.", "I am tired. Ok then."],
        }
    )
    rows = [
        ("a", "a_0", "I am sad.", "DEPRESSED_MOOD", 1),
        ("a", "a_1", "I sleep well.", "SLEEP_ISSUES", 0),
        ("b", "b_0", "I sleep fine.", "SLEEP_ISSUES", 0),
        ("d", "d_0", "I am tired.", "FATIGUE", 1),
        ("d", "d_0", "I am tired.", "FATIGUE", 1),  # a repeat, dropped for the pair F1
        ("d", "d_1", "Ok then", "FATIGUE", 1),  # not exactly a segment (no full stop)
    ]
    ann = pd.DataFrame(rows, columns=CSV_COLUMNS[:5])
    got = describe(posts, ann)
    assert (got["posts_without_symptom"], got["posts_without_rows"]) == (2, 1)
    assert (got["all_positive_posts"], got["all_negative_posts"], got["mixed_posts"]) == (1, 1, 1)
    assert (got["status0_in_no_symptom_posts"], got["status0_in_mixed_posts"]) == (1, 1)
    assert got["rows_per_symptom"]["FATIGUE"] == [3, 0] and got["repeated_rows"] == 1
    assert got["constant_pair_f1"] == pytest.approx(2 * 0.6 / 1.6, abs=1e-4)  # 3 of 5 positive
    assert (got["sentences"], got["sentences_per_post_median"]) == (6, 1.5)
    assert got["exact_segment_share"] == pytest.approx(5 / 6, abs=1e-4)


def test_impossible_shapes_are_refused() -> None:
    good = synthetic.sample_shape(40)
    good.check()
    too_many_mixed = CorpusShape(**{**vars(good), "n_mixed_posts": good.n_posts})
    with pytest.raises(ValueError, match="more mixed than symptomatic posts"):
        too_many_mixed.check()
    few_absences = CorpusShape(**{**vars(good), "negatives": dict.fromkeys(SYMPTOMS, 0)})
    with pytest.raises(ValueError, match="too few 0 rows"):
        synthetic.generate_from_shape(few_absences, seed=0)


def test_full_size_is_fast() -> None:
    start = time.perf_counter()
    generate_full_size(seed=1)
    assert time.perf_counter() - start < 5.0


def test_committed_sample_equals_the_documented_command(tmp_path: Path) -> None:
    doc = synthetic.__doc__ or ""
    command = next(line.split("#")[0].split() for line in doc.splitlines() if "data/sample" in line)
    assert command[:3] == ["python", "-m", "evidence_ft.synthetic"]
    args = command[3:]
    args[args.index("--out") + 1] = str(tmp_path)
    subprocess.run([sys.executable, "-m", "evidence_ft.synthetic", *args], cwd=ROOT, check=True)
    for name in ("redsm5_posts.csv", "redsm5_annotations.csv"):
        committed = (SAMPLE / name).read_bytes()
        assert (
            committed == (tmp_path / name).read_bytes()
        ), f"data/sample/{name} is stale: rerun `{' '.join(command)}`"


def test_banks_cover_every_symptom_and_every_slot_they_use() -> None:
    """The YAML banks ship with the package and are complete: a template naming a missing slot
    or a symptom without sentences would only fail deep inside a seeded generation."""
    banks = load()
    for per_symptom in (banks.evidence, banks.absence, banks.criteria):
        assert list(per_symptom) == SYMPTOMS
    reasons = {reason for items in banks.absence.values() for reason, _ in items}
    assert reasons == set(banks.explain_absence)
    templates = [*banks.filler, *banks.short_posts, *banks.openers]
    templates += [t for ts in banks.evidence.values() for t in ts]
    templates += [t for items in banks.absence.values() for _, t in items]
    templates += [v for vs in banks.slots.values() for v in vs]
    used = {name.removesuffix("_cap") for t in templates for name in re.findall(r"\{(\w+)\}", t)}
    assert used and used <= set(banks.slots), used - set(banks.slots)
    assert all(isinstance(v, str) for vs in banks.slots.values() for v in vs)  # '2019' stays text
