"""All-sentence pairs labelled from the exhaustive annotation; unannotated training negatives."""

import pandas as pd
import pytest
from accelerate import PartialState

from evidence_ft import data
from evidence_ft.config import load_config
from evidence_ft.errors import UserError

from .conftest import CRITERIA, row

CRITERION_TEXTS = {c["id"]: c["text"] for c in CRITERIA["criteria"]}

# p1: seven segments (the splitter's); p2: no annotation row at all.
P1 = (
    "I can\u2019t sleep at night. My dog is brown.\n"
    "I feel worthless and tired. Nothing helps, honestly. The weather was nice today\n"
    "We moved last year.\n"
    "I can\u2019t sleep at night."
)
P2 = "Hello. Just checking in."


def two_post_pairs() -> pd.DataFrame:
    rows = [
        row("p1", 1, "SLEEP_ISSUES", 1, text="I can't sleep at night."),  # straight quote; twice
        row("p1", 2, "DEPRESSED_MOOD", 0, text="My dog is brown."),  # clinician-marked absence
        row("p1", 3, "WORTHLESSNESS", 1, text="I feel worthless and tired."),  # two symptoms
        row("p1", 3, "FATIGUE", 1, text="I feel worthless and tired."),
        row("p1", 4, "DEPRESSED_MOOD", 1, text="honestly. The weather was"),  # spans two segments
        row("p1", 5, "ANHEDONIA", 1, text="A sentence that is not in the post."),
    ]
    pairs, _ = data.make_pairs(pd.DataFrame(rows), CRITERION_TEXTS, None)
    return pairs


@pytest.fixture(scope="module")
def labelled():
    posts = pd.DataFrame({"post_id": ["p1", "p2"], "text": [P1, P2]})
    return data.sentence_pairs(posts, two_post_pairs(), CRITERION_TEXTS)


def test_every_sentence_x_criterion_is_one_row_with_derived_ids(labelled):
    frame, stats = labelled
    assert list(frame.columns) == data.SENTENCE_PAIR_COLUMNS
    assert len(frame) == (7 + 2) * 9 and stats["rows"] == len(frame)
    assert stats["sentences"] == 9 and stats["posts"] == 2
    first = frame.iloc[0]
    assert (first["post_id"], first["sentence_id"], first["sentence_index"]) == ("p1", "p1#0", 0)
    assert P1[first["start"] : first["end"]] == first["sentence"]
    assert list(frame["criterion_id"][:9]) == list(CRITERION_TEXTS)
    assert frame.set_index("criterion_id").loc["A.7", "symptom"].iloc[0] == "WORTHLESSNESS"


def labels_of(frame, index, post="p1"):
    """{symptom: (label, annotated)} of one segment."""
    seg = frame[(frame["post_id"] == post) & (frame["sentence_index"] == index)]
    return {s: (int(lab), bool(a)) for s, lab, a in zip(seg.symptom, seg.label, seg.annotated)}


def test_labels_follow_the_exhaustive_annotation(labelled):
    frame, _ = labelled
    for index in (0, 6):  # an annotated positive, written twice: both occurrences
        got = labels_of(frame, index)
        assert got.pop("SLEEP_ISSUES") == (1, True)
        assert set(got.values()) == {(0, False)}
    dog = labels_of(frame, 1)  # an annotated negative: label 0 but annotated
    assert dog.pop("DEPRESSED_MOOD") == (0, True) and set(dog.values()) == {(0, False)}
    both = labels_of(frame, 2)  # one sentence, two symptoms
    assert both.pop("WORTHLESSNESS") == both.pop("FATIGUE") == (1, True)
    assert set(both.values()) == {(0, False)}
    for index in (3, 4):  # the annotated text overlaps two segments: both are evidence
        assert labels_of(frame, index)["DEPRESSED_MOOD"] == (1, True)
    assert set(labels_of(frame, 5).values()) == {(0, False)}  # a sentence without rows
    p2 = frame[frame["post_id"] == "p2"]  # a post without rows: every pair a true negative
    assert len(p2) == 18 and not p2["label"].any() and not p2["annotated"].any()
    assert int(frame["label"].sum()) == 2 + 2 + 2  # sleep x2, the two symptoms, the overlap


def test_stats_report_the_mapping_and_the_rows_not_found(labelled):
    _, stats = labelled
    assert stats["annotated_rows"] == 6 and stats["annotated_positive_rows"] == 5
    assert stats["located"] == stats["matched"] == 5
    assert stats["matched_positive_rows"] == 4
    assert stats["single_segment"] == stats["exact"] == 4  # all but the overlapping text
    assert stats["repeated"] == 1 and stats["share_matched"] == pytest.approx(5 / 6, abs=1e-4)
    assert stats["not_found"] == 1
    (missing,) = stats["not_found_rows"]
    assert missing["sentence_id"] == "p1_5" and missing["symptom"] == "ANHEDONIA"
    assert stats["positives"] == 6 and stats["annotated"] == 7  # + the annotated negative


def test_not_found_is_logged_and_other_posts_or_criteria_are_ignored(caplog):
    pairs = two_post_pairs()
    posts = pd.DataFrame({"post_id": ["p1"], "text": [P1]})
    with caplog.at_level("WARNING", logger="evidence_ft.data"):
        frame, stats = data.sentence_pairs(posts, pairs, {"A.2": "Criterion 2."})
    assert "1 annotated row(s) not found" in caplog.text and "p1_5" in caplog.text
    assert len(frame) == 7 and stats["annotated_rows"] == 1 and not frame["label"].any()
    empty, stats = data.sentence_pairs(
        pd.DataFrame({"post_id": ["x"], "text": ["   "]}), pairs, CRITERION_TEXTS
    )
    assert empty.empty and list(empty.columns) == data.SENTENCE_PAIR_COLUMNS
    assert stats["annotated_rows"] == 0 and stats["share_matched"] is None


@pytest.mark.parametrize(
    ("text", "annotated", "expected"),
    [
        ("I retired. Always tired.", "tired.", [0, 1]),  # whole words: not inside "retired."
        ("I am tired. Honestly, I am tired.", "I am tired.", [1, 0]),  # the whole segment only
        ("So tired...Then I slept. Fine.", "So tired...", [1, 0]),  # no boundary after "..."
    ],
)
def test_a_text_labels_whole_word_occurrences_preferring_whole_segments(text, annotated, expected):
    posts = pd.DataFrame({"post_id": ["p"], "text": [text]})
    pairs, _ = data.make_pairs(
        pd.DataFrame([row("p", 1, "FATIGUE", 1, text=annotated)]), CRITERION_TEXTS, None
    )
    frame, stats = data.sentence_pairs(posts, pairs, {"A.6": "Criterion 6."})
    assert list(frame["label"]) == expected and stats["repeated"] == 0


# ------------------------------------------------------------------ unannotated negatives


def negatives_corpus(n_posts=60, without_rows=10) -> data.Corpus:
    """Posts of four sentences; each annotated post has two rows (a positive in most) and every
    fifth a third whose text is not in the post."""
    symptoms = data.SYMPTOMS[:9]
    posts, rows = [], []
    for i in range(n_posts + without_rows):
        post = f"p{i:03d}"
        posts.append({"post_id": post, "text": " ".join(f"Post {i} line {k}." for k in range(4))})
        if i < n_posts:
            status = int(i % 4 != 0)
            rows.append(row(post, 0, symptoms[i % 9], status, text=f"Post {i} line 0."))
            rows.append(row(post, 1, symptoms[(i + 3) % 9], status, text=f"Post {i} line 1."))
            if i % 5 == 0:
                rows.append(row(post, 9, symptoms[(i + 5) % 9], 1, text="Paraphrased away."))
    pairs, counts = data.make_pairs(pd.DataFrame(rows), CRITERION_TEXTS, None)
    return data.Corpus(pd.DataFrame(posts), pairs, counts)


@pytest.fixture(scope="module")
def corpus_and_splits():
    corpus = negatives_corpus()
    manifest = data.make_manifest(
        corpus.pairs, corpus.counts, [0.7, 0.15, 0.15], 0, corpus.posts["post_id"]
    )
    return corpus, manifest["splits"]


def test_negatives_come_from_unannotated_training_pairs_only(corpus_and_splits):
    corpus, splits = corpus_and_splits
    train = splits["train"]
    negatives, info = data.draw_negatives(corpus, train, CRITERION_TEXTS, 0.5, seed=3)
    assert list(negatives.columns) == data.PAIR_COLUMNS
    assert set(negatives["post_id"]) <= set(train)
    assert not set(negatives["post_id"]) & set(splits["validation"] + splits["test"])
    positives = int(corpus.pairs.loc[corpus.pairs["post_id"].isin(train), "label"].sum())
    assert info["positives"] == positives and len(negatives) == round(0.5 * positives)
    assert info["added"] == len(negatives) and not negatives["label"].any()
    annotated = set(zip(corpus.pairs["post_id"], corpus.pairs["sentence"], corpus.pairs["symptom"]))
    drawn = set(zip(negatives["post_id"], negatives["sentence"], negatives["symptom"]))
    assert not drawn & annotated
    assert negatives["sentence_id"].str.contains("#").all()
    assert (negatives["criterion"] == negatives["criterion_id"].map(CRITERION_TEXTS)).all()
    # training posts x 4 sentences x 9 criteria, less the annotated (sentence, symptom)s and
    # the 4 sentences of a (post, symptom) whose annotated sentence is not in the post
    in_train = corpus.pairs[corpus.pairs["post_id"].isin(train)]
    lost = int((in_train["sentence"] == "Paraphrased away.").sum())
    assert lost and info["excluded_not_found"] == 4 * lost
    assert info["candidates"] == len(train) * 4 * 9 - (len(in_train) - lost) - 4 * lost


def test_negatives_are_deterministic_per_seed_and_capped(corpus_and_splits):
    corpus, splits = corpus_and_splits
    draw = lambda seed, ratio=1.0: data.draw_negatives(  # noqa: E731
        corpus, splits["train"], CRITERION_TEXTS, ratio, seed
    )
    first, _ = draw(7)
    assert first.equals(draw(7)[0])
    assert not first.equals(draw(8)[0]) and len(first) == len(draw(8)[0])
    everything, info = draw(7, ratio=1000.0)
    assert len(everything) == info["candidates"] == info["added"]


@pytest.fixture(scope="module")
def tokenizer():
    from evidence_ft.modeling import DEFAULT_MODEL, load_tokenizer

    return load_tokenizer(DEFAULT_MODEL)


def prepared(tokenizer, *overrides):
    from evidence_ft.jobs.train import prepare_data

    return prepare_data(load_config(["data=sample", *overrides]), tokenizer, PartialState())


def test_prepare_data_adds_negatives_to_the_training_split_only(tokenizer):
    plain = prepared(tokenizer)
    assert "unannotated_negatives" not in plain.manifest
    assert not any("#" in s for s in plain.datasets["train"]["sentence_id"])
    extra = prepared(tokenizer, "data.negatives=unannotated", "data.negatives_per_positive=0.5")
    drawn = extra.manifest["unannotated_negatives"]
    assert extra.counts["unannotated_negatives"] == drawn
    positives = sum(plain.datasets["train"]["label"])
    assert drawn["positives"] == positives and drawn["added"] == round(0.5 * positives)
    assert len(extra.datasets["train"]) == len(plain.datasets["train"]) + drawn["added"]
    for name in ("validation", "test"):
        assert extra.datasets[name]["sentence_id"] == plain.datasets[name]["sentence_id"]
    new = [
        p
        for p, s in zip(extra.datasets["train"]["post_id"], extra.datasets["train"]["sentence_id"])
        if "#" in s
    ]
    assert len(new) == drawn["added"] and set(new) <= set(extra.manifest["splits"]["train"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.negatives=foo", "data.negatives=foo must be one of none|unannotated"),
        ("data.negatives_per_positive=0", "data.negatives_per_positive=0 must be a number > 0"),
        ("data.negatives_per_positive=x", "data.negatives_per_positive=x must be a number > 0"),
    ],
)
def test_negatives_config_typos_are_one_line_errors(override, expected):
    with pytest.raises(UserError, match=expected) as info:
        load_config([override])
    assert "\n" not in str(info.value)
