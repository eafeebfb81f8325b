"""The synthetic ReDSM5-format corpus: format, quirks, shape, and the committed sample."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from evidence_ft import synthetic
from evidence_ft.data import SYMPTOMS
from evidence_ft.synthetic import (
    CSV_COLUMNS,
    REDSM5_POSITIVES,
    REDSM5_SHAPE,
    generate_corpus,
    generate_full_size,
    write_corpus,
)
from evidence_ft.synthetic.banks import load

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
KEY = ["post_id", "sentence_id", "DSM5_symptom", "status"]
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"\u201d])\s+")


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_corpus(120, seed=13)


@pytest.fixture(scope="module")
def full() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_full_size(seed=0)


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
def test_annotated_sentence_is_sentence_k_of_its_post(
    which: str, request: pytest.FixtureRequest
) -> None:
    posts, ann = request.getfixturevalue(which)
    text = posts.set_index("post_id")["text"]
    for row in ann.itertuples():
        assert row.sentence_text in text[row.post_id], row.sentence_id
    # k in <post_id>_<k> is the sentence's index in its post (sentences end with . ! or ?,
    # perhaps inside a closing quote, and are joined by a space or newlines)
    for row in ann.itertuples():
        parts = SENTENCE_END.split(text[row.post_id])
        assert parts[int(row.sentence_id.rsplit("_", 1)[1])] == row.sentence_text


def test_sample_has_every_symptom_with_both_statuses(
    sample: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    posts, ann = sample
    table = pd.crosstab(ann["DSM5_symptom"], ann["status"])
    assert sorted(table.index) == sorted(SYMPTOMS)
    assert (table[0] > 0).all() and (table[1] > 0).all()
    assert 300 <= len(ann) <= 400
    assert 0.6 <= ann["status"].mean() <= 0.7
    assert (~posts["post_id"].isin(ann["post_id"])).sum() > 0


def test_sample_never_annotates_one_sentence_both_ways(
    sample: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, ann = sample
    statuses = ann.groupby(["post_id", "sentence_id", "DSM5_symptom"])["status"].nunique()
    assert (statuses == 1).all()


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


def test_full_size_has_the_published_shape(full: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    posts, ann = full
    assert len(posts) == 1484
    assert (~posts["post_id"].isin(ann["post_id"])).sum() == 392
    assert abs(len(ann) - 1547) <= 0.03 * 1547
    positives = ann[ann["status"] == 1]["DSM5_symptom"].value_counts()
    for symptom, published in REDSM5_POSITIVES.items():
        assert abs(positives[symptom] - published) <= max(2, 0.05 * published), symptom
    words = posts["text"].map(lambda t: len(t.split()))
    assert words.min() == 2
    assert 6500 <= words.max() <= REDSM5_SHAPE.max_words
    assert 100 <= words.median() <= 400, "most posts should be a few hundred words"
    sentence_words = ann["sentence_text"].map(lambda t: len(t.split()))
    assert 10 <= sentence_words.median() <= 25


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
