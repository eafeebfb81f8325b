import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer, DataCollatorWithPadding

from benchmarks import split_balance as split_check
from evidence_ft import data
from evidence_ft.errors import UserError
from evidence_ft.modeling import DEFAULT_MODEL, resolve_model_path

from .conftest import ROOT, public_names, row, tiny_sample_run, write_dataset

SPECIAL = "Something no single criterion covers."


def data_cfg(paths, **overrides):
    base = dict(
        special_case_text=SPECIAL,
        drop_special_case=False,
        conflict_policy="error",
        split_ratios=[0.7, 0.15, 0.15],
        split_manifest=None,
        max_length=512,
    )
    return SimpleNamespace(**{**base, **paths, **overrides})


# ------------------------------------------------------------------ parsing real-format quirks


def test_reads_quoted_commas_newlines_curly_quotes_and_dashes(tmp_path):
    text = "I can\u2019t sleep, at all\u2014not \u201conce\u201d.\nSecond line, still quoted."
    paths = write_dataset(
        tmp_path,
        [row("p1", 1, "SLEEP_ISSUES", 1, text=text, explanation='Says "can\u2019t", twice,\nyes')],
        posts=[{"post_id": "p1", "text": text + "\n\nMore, text."}],
    )
    pairs, counts = data.load_pairs(data_cfg(paths))
    assert pairs.loc[0, "sentence"] == text
    assert pairs.loc[0, "criterion_id"] == "A.4"
    assert counts["posts"] == 1 and counts["pairs"] == 1
    assert len(counts["fingerprint"]["posts"]) == 64


def test_symptom_mapping_covers_all_ten_labels(tmp_path):
    rows = [row("p1", k, s, 1) for k, s in enumerate(data.SYMPTOMS)]
    pairs, _ = data.load_pairs(data_cfg(write_dataset(tmp_path, rows)))
    mapping = dict(zip(pairs["symptom"], pairs["criterion_id"]))
    assert mapping["DEPRESSED_MOOD"] == "A.1" and mapping["SUICIDAL_THOUGHTS"] == "A.9"
    assert mapping["SPECIAL_CASE"] == "SPECIAL_CASE"
    assert pairs.set_index("symptom").loc["SPECIAL_CASE", "criterion"] == SPECIAL
    assert pairs.set_index("symptom").loc["ANHEDONIA", "criterion"] == "Criterion 2."


def test_multi_symptom_sentence_gives_one_pair_per_symptom(tmp_path):
    rows = [row("p1", 1, "FATIGUE", 1), row("p1", 1, "SLEEP_ISSUES", 1)]
    pairs, _ = data.load_pairs(data_cfg(write_dataset(tmp_path, rows)))
    assert sorted(pairs["criterion_id"]) == ["A.4", "A.6"]
    assert pairs["sentence"].nunique() == 1


def test_exact_repeats_are_counted_and_dropped(tmp_path):
    rows = [
        row("p1", 1, "FATIGUE", 1, explanation="first"),
        row("p1", 1, "FATIGUE", 1, explanation="second wording"),
        row("p1", 2, "FATIGUE", 0),
    ]
    pairs, counts = data.load_pairs(data_cfg(write_dataset(tmp_path, rows)))
    assert len(pairs) == 2 and counts["duplicates_dropped"] == 1
    assert counts["per_symptom"]["FATIGUE"] == {"positive": 1, "negative": 1}


@pytest.mark.parametrize(("policy", "expected"), [("keep_positive", [1, 1]), ("drop", [1])])
def test_conflicting_status_policies(tmp_path, policy, expected):
    rows = [row("p1", 1, "FATIGUE", 1), row("p1", 1, "FATIGUE", 0), row("p1", 2, "FATIGUE", 1)]
    paths = write_dataset(tmp_path, rows)
    with pytest.raises(UserError, match="both 1 and 0.*conflict_policy"):
        data.load_pairs(data_cfg(paths))
    pairs, counts = data.load_pairs(data_cfg(paths, conflict_policy=policy))
    assert sorted(pairs["label"]) == expected and counts["conflicts"] == 1


def test_special_case_can_be_dropped_or_needs_text(tmp_path):
    paths = write_dataset(tmp_path, [row("p1", 1, "SPECIAL_CASE", 1), row("p1", 2, "FATIGUE", 0)])
    pairs, counts = data.load_pairs(data_cfg(paths, drop_special_case=True))
    assert list(pairs["symptom"]) == ["FATIGUE"] and counts["special_case_dropped"] == 1
    with pytest.raises(UserError, match="special_case_text"):
        data.load_pairs(data_cfg(paths, special_case_text=None))


# ------------------------------------------------------------------ one-line user errors


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r.update(DSM5_symptom="HAPPINESS"), "unknown DSM5_symptom 'HAPPINESS'"),
        (lambda r: r.update(status=2), "status '2' must be 0 or 1"),
        (lambda r: r.update(sentence_text="   "), "empty sentence_text"),
    ],
)
def test_bad_annotation_values(tmp_path, mutate, match):
    bad = row("p1", 2, "FATIGUE", 1)
    mutate(bad)
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1), bad])
    with pytest.raises(UserError, match=match) as info:
        data.load_pairs(data_cfg(paths))
    assert "redsm5_annotations.csv row 3" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_names_the_gate_and_the_sample(tmp_path):
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    with pytest.raises(UserError, match="gated.*data=sample"):
        data.load_pairs(data_cfg(paths, posts_path=str(tmp_path / "nope.csv")))


def test_missing_column(tmp_path):
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    ann = pd.read_csv(paths["annotations_path"]).drop(columns="status")
    ann.to_csv(paths["annotations_path"], index=False)
    with pytest.raises(UserError, match="missing column\\(s\\) status"):
        data.load_pairs(data_cfg(paths))


def test_criterion_missing_from_json(tmp_path):
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    doc = json.loads((tmp_path / "MDD_Criteira.json").read_text())
    doc["criteria"] = [c for c in doc["criteria"] if c["id"] != "A.6"]
    (tmp_path / "MDD_Criteira.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="no criterion text for A.6.*criteria_path"):
        data.load_pairs(data_cfg(paths))


def test_criteria_file_with_either_spelling(tmp_path):
    """Either spelling loads when data.criteria_path names it; a missing path never falls back
    to the other spelling beside it, but names it in the fix."""
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    other = tmp_path / "MDD_Criteria.json"
    (tmp_path / "MDD_Criteira.json").rename(other)
    pairs, _ = data.load_pairs(data_cfg(paths, criteria_path=str(other)))
    assert pairs.loc[0, "criterion"] == "Criterion 6."
    with pytest.raises(UserError, match="MDD_Criteira.json; .*exists beside it") as info:
        data.load_pairs(data_cfg(paths))
    assert f"set data.criteria_path={other}" in str(info.value)


def test_missing_criteria_file_without_the_other_spelling(tmp_path):
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    missing = str(tmp_path / "elsewhere" / "MDD_Criteira.json")
    with pytest.raises(UserError, match="criteria file not found: .*set data.criteria_path"):
        data.load_pairs(data_cfg(paths, criteria_path=missing))


def _edit_criteria(tmp_path, edit):
    doc = json.loads((tmp_path / "MDD_Criteira.json").read_text())
    edit(doc["criteria"])
    (tmp_path / "MDD_Criteira.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.pop(), "no criterion text for A.9 .*A.1-A.9.*data.criteria_path"),
        (lambda c: c.append(dict(c[0])), "criterion id 'A.1' appears 2 times"),
        (lambda c: c[2].update(text="  "), "criterion 'A.3' has an empty text"),
    ],
)
def test_incomplete_or_ambiguous_criteria_file(tmp_path, edit, match):
    """All nine criteria, once each, with a text, even when the data use only A.6."""
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    _edit_criteria(tmp_path, edit)
    with pytest.raises(UserError, match=match) as info:
        data.load_pairs(data_cfg(paths))
    assert "MDD_Criteira.json" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("which", ["annotations", "posts"])
def test_file_with_a_header_and_no_rows(tmp_path, which):
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1)])
    path = paths[f"{which}_path"]
    header = Path(path).read_text().splitlines()[0]
    Path(path).write_text(header + "\n")
    with pytest.raises(UserError, match=f"header but no rows; point data.{which}_path") as info:
        data.load_pairs(data_cfg(paths))
    assert path in str(info.value)


def test_annotation_for_unknown_post(tmp_path):
    paths = write_dataset(
        tmp_path, [row("p1", 1, "FATIGUE", 1)], posts=[{"post_id": "p2", "text": "x"}]
    )
    with pytest.raises(UserError, match="post_id 'p1' is not in"):
        data.load_pairs(data_cfg(paths))


# ------------------------------------------------------------------ splitting


def synthetic_pairs(n_posts=600, seed=0):
    """Posts with 1-3 pairs each and a ~85% positive rate, like the real corpus."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_posts):
        for k in range(rng.integers(1, 4)):
            rows.append(
                {
                    "post_id": f"p{p}",
                    "label": int(rng.random() < 0.85),
                    "sentence_id": f"p{p}_{k}",
                    "symptom": data.SYMPTOMS[rng.integers(len(data.SYMPTOMS))],
                }
            )
    return pd.DataFrame(rows)


def test_split_is_grouped_deterministic_and_stratified():
    pairs = synthetic_pairs()
    splits = data.split_posts(pairs, [0.7, 0.15, 0.15], seed=5)
    sets = [set(splits[s]) for s in data.SPLITS]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set().union(*sets) == set(pairs["post_id"])
    assert splits == data.split_posts(pairs, [0.7, 0.15, 0.15], seed=5)
    assert splits != data.split_posts(pairs, [0.7, 0.15, 0.15], seed=6)
    n = len(sets[0]) + len(sets[1]) + len(sets[2])
    assert abs(len(sets[0]) / n - 0.7) < 0.02 and abs(len(sets[2]) / n - 0.15) < 0.02
    summary = data.split_summary(pairs, splits)
    for name in data.SPLITS:
        assert abs(summary[name]["positive_rate"] - summary["all"]["positive_rate"]) < 0.05


@pytest.fixture(scope="module")
def full_size_pairs():
    return split_check.full_size_pairs(corpus_seed=0)


def test_split_keeps_every_symptom_in_proportion(full_size_pairs):
    """Full-size synthetic corpus: per-symptom positives per split within 5% of their share
    on average, and every symptom with 10+ positives in every split (see docs/DATA.md)."""
    seeds = range(5)
    got = split_check.measure(full_size_pairs, data.split_posts, [0.7, 0.15, 0.15], seeds)
    assert got["mean_deviation_pct"] <= 5.0
    assert got["all_present"] == "5/5"
    low, high = map(int, str(got["psychomotor_test"]).split("-"))
    assert low >= 3 and high <= 8  # about 5.2 expected
    for seed in seeds:  # still grouped and deterministic on the real shape
        splits = data.split_posts(full_size_pairs, [0.7, 0.15, 0.15], seed)
        assert splits == data.split_posts(full_size_pairs, [0.7, 0.15, 0.15], seed)
        assert sum(map(len, splits.values())) == full_size_pairs["post_id"].nunique()
        assert len(set().union(*map(set, splits.values()))) == full_size_pairs["post_id"].nunique()


def test_tiny_corpus_still_splits():
    pairs = synthetic_pairs(n_posts=9)
    manifest = data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], seed=0)
    splits = manifest["splits"]
    assert sum(len(v) for v in splits.values()) == 9
    assert all(splits[name] for name in data.SPLITS)


def test_unstratifiable_corpus_falls_back_with_a_log_line(caplog):
    """One symptom and one label: nothing to stratify on, so a plain seeded cut, logged."""
    pairs = synthetic_pairs(n_posts=40).assign(symptom="FATIGUE", label=1)
    with caplog.at_level("WARNING", logger="evidence_ft.data"):
        splits = data.split_posts(pairs, [0.7, 0.15, 0.15], seed=0)
    assert "splitting at random" in caplog.text
    assert splits == data.split_posts(pairs, [0.7, 0.15, 0.15], seed=0)
    assert sorted(len(v) for v in splits.values()) == [6, 6, 28]


@pytest.mark.parametrize(
    ("n_posts", "ratios", "match"),
    [
        (2, [0.7, 0.15, 0.15], "leaves the (validation|test) split without pairs"),
        (1, [0.7, 0.15, 0.15], "leaves the (validation|test) split without pairs"),
        (50, [1.0, 0.0, 0.0], "leaves the validation split without pairs"),
        (50, [0.0, 0.5, 0.5], "leaves the train split without pairs"),
    ],
)
def test_tiny_or_degenerate_split_is_one_line(n_posts, ratios, match):
    pairs = synthetic_pairs(n_posts=n_posts)
    with pytest.raises(UserError, match=f"data.split_ratios=.* {match}; .* posts with pairs"):
        data.make_manifest(pairs, {}, ratios, seed=0)


def test_split_without_a_positive_in_validation_or_test_is_one_line():
    pairs = synthetic_pairs(n_posts=40).assign(label=0)
    pairs.loc[0, "label"] = 1  # one positive pair: at most one split gets it
    with pytest.raises(UserError, match="no positive pair in the (validation|test) split") as info:
        data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], seed=0)
    assert "data.split_ratios=[0.7, 0.15, 0.15]" in str(info.value)
    assert "40 posts with pairs (1 positive pairs)" in str(info.value)


def test_manifest_round_trip_and_reuse(tmp_path):
    pairs = synthetic_pairs(50)
    counts = {"fingerprint": {"posts": "abc"}}
    manifest = data.make_manifest(pairs, counts, [0.7, 0.15, 0.15], seed=1)
    path = data.save_manifest(manifest, tmp_path / "split_manifest.json")
    again = data.load_manifest(path, pairs, counts)
    assert again["splits"] == manifest["splits"] and again["reused_from"] == str(path)
    with pytest.raises(UserError, match="no split for 1 post"):
        data.load_manifest(
            path, pd.concat([pairs, synthetic_pairs(1).assign(post_id="new")]), counts
        )
    with pytest.raises(UserError, match="not found"):
        data.load_manifest(tmp_path / "missing.json", pairs, counts)


def with_unannotated_posts(pairs, n=40):
    """Every post of a posts file: those of ``pairs`` plus ``n`` without any annotation row."""
    return [*pairs["post_id"].unique(), *(f"q{i}" for i in range(n))]


def test_splits_cover_posts_without_annotation_rows():
    pairs = synthetic_pairs(200)
    post_ids = with_unannotated_posts(pairs)
    manifest = data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], 3, post_ids)
    splits = manifest["splits"]
    sets = [set(splits[name]) for name in data.SPLITS]
    assert sum(map(len, sets)) == len(set().union(*sets)) == len(post_ids)  # each in one split
    assert set().union(*sets) == set(post_ids)
    without = [len([p for p in splits[name] if p.startswith("q")]) for name in data.SPLITS]
    assert without == [28, 6, 6]  # stratified as a label of their own: 70/15/15
    summary = manifest["summary"]
    assert summary["all"]["posts"] == 240 and summary["all"]["posts_without_pairs"] == 40
    assert [summary[name]["posts_without_pairs"] for name in data.SPLITS] == without
    assert summary["train"]["posts_with_pairs"] + without[0] == summary["train"]["posts"]
    assert splits == data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], 3, post_ids)["splits"]
    assert splits != data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], 4, post_ids)["splits"]
    # without such posts the split is the one made from the pairs alone
    same = data.split_posts(pairs, [0.7, 0.15, 0.15], 3, list(pairs["post_id"].unique()))
    assert same == data.split_posts(pairs, [0.7, 0.15, 0.15], 3)


def test_an_older_manifest_without_those_posts_stays_valid(tmp_path, caplog):
    pairs = synthetic_pairs(50)
    old = data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], seed=1)  # pairs' posts only
    path = data.save_manifest(old, tmp_path / "split_manifest.json")
    with caplog.at_level("INFO", logger="evidence_ft.data"):
        again = data.load_manifest(path, pairs, {}, with_unannotated_posts(pairs, 5))
    assert again["splits"] == old["splits"]
    assert caplog.text.count("5 post(s) without annotation rows") == 1
    assert again["summary"]["all"]["posts_without_pairs"] == 0


def test_load_corpus_keeps_every_post(tmp_path):
    posts = [{"post_id": p, "text": f"Sentence 1 of {p}."} for p in ("p1", "p2", "p3")]
    paths = write_dataset(tmp_path, [row("p1", 1, "FATIGUE", 1), row("p3", 1, "FATIGUE", 0)], posts)
    corpus = data.load_corpus(data_cfg(paths))
    assert list(corpus.posts["post_id"]) == ["p1", "p2", "p3"]
    assert corpus.counts["posts_with_pairs"] == 2 and corpus.counts["posts_without_pairs"] == 1
    pairs, counts = data.load_pairs(data_cfg(paths))
    assert pairs.equals(corpus.pairs) and counts["posts"] == 3


def _bad_manifests(tmp_path, pairs):
    good = data.make_manifest(pairs, {}, [0.7, 0.15, 0.15], seed=1)
    text = json.dumps(good)
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    (tmp_path / "wrong_shape.json").write_text(json.dumps({"splits": {"train": "p1"}}))
    empty_test = {**good, "splits": {**good["splits"], "test": []}}
    empty_test["splits"]["train"] = good["splits"]["train"] + good["splits"]["test"]
    (tmp_path / "empty_test.json").write_text(json.dumps(empty_test))
    return {
        "folder.json": "is not a file",
        "truncated.json": "is not a split manifest .*truncated",
        "wrong_shape.json": "is not a split manifest",
        "empty_test.json": "leaves the test split without pairs",
    }


def test_bad_split_manifests_are_one_line(tmp_path):
    pairs = synthetic_pairs(50)
    for name, match in _bad_manifests(tmp_path, pairs).items():
        with pytest.raises(UserError, match=f"data.split_manifest: .*{name} {match}") as info:
            data.load_manifest(tmp_path / name, pairs, {})
        assert "\n" not in str(info.value)


@pytest.mark.integration
@pytest.mark.parametrize("case", ["tiny_data", "truncated_manifest"])
def test_run_train_stops_on_bad_data_with_one_line(tmp_path, tiny_bert, case):
    """The real script: exit 2, one `error:` line ending stderr (after the data log lines), no
    traceback, no run folder written."""
    paths = write_dataset(tmp_path, [row(f"p{i}", 1, "FATIGUE", 1) for i in range(3)])
    extra = [f"data.{k}={v}" for k, v in paths.items()]
    if case == "truncated_manifest":
        (tmp_path / "split_manifest.json").write_text('{"splits": {"train": ["p0"')
        extra.append(f"data.split_manifest={tmp_path / 'split_manifest.json'}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_train.py"), *tiny_sample_run(tiny_bert, tmp_path, *extra)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and proc.stderr.splitlines()[-1] == errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "data.split_" in proc.stderr
    assert not (tmp_path / "outputs").exists()


# ------------------------------------------------------------------ datasets and tokens


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_path(DEFAULT_MODEL))


def test_dataset_dict_columns_and_pair_encoding(tmp_path, tokenizer):
    rows = [row(f"p{i}", 1, "FATIGUE", i % 2, text=f"I am tired {i}") for i in range(20)]
    pairs, counts = data.load_pairs(data_cfg(write_dataset(tmp_path, rows)))
    manifest = data.make_manifest(pairs, counts, [0.7, 0.15, 0.15], seed=0)
    dsd = data.tokenize(data.to_dataset_dict(pairs, manifest), tokenizer, max_length=512)
    assert set(dsd) == {"train", "validation", "test"}
    for col in ("criterion", "sentence", "label", "symptom", "post_id", "sentence_id", "input_ids"):
        assert col in dsd["train"].column_names
    first = dsd["train"][0]
    ids = first["input_ids"]
    sep = tokenizer.sep_token_id
    assert ids[0] == tokenizer.cls_token_id and ids.count(sep) == 2 and ids[-1] == sep
    criterion_ids = tokenizer(first["criterion"], add_special_tokens=False)["input_ids"]
    assert ids[1 : 1 + len(criterion_ids)] == criterion_ids  # criterion first, sentence second
    assert first["token_type_ids"][-1] == 1 and first["token_type_ids"][1] == 0


def test_truncation_cuts_the_sentence_not_the_criterion(tokenizer):
    from datasets import Dataset, DatasetDict

    criterion = "A criterion that must survive truncation intact."
    dsd = DatasetDict(
        {"train": Dataset.from_dict({"criterion": [criterion], "sentence": ["word " * 400]})}
    )
    ids = data.tokenize(dsd, tokenizer, max_length=32)["train"][0]["input_ids"]
    crit = tokenizer(criterion, add_special_tokens=False)["input_ids"]
    assert len(ids) == 32 and ids[1 : 1 + len(crit)] == crit


def test_collator_pads_each_batch_to_its_longest(tokenizer):
    features = [tokenizer("a", "b"), tokenizer("a much longer criterion text", "and sentence")]
    assert len(features[0]["input_ids"]) < len(features[1]["input_ids"])  # nothing stored padded
    batch = DataCollatorWithPadding(tokenizer)([dict(f) for f in features])
    assert batch["input_ids"].shape == (2, len(features[1]["input_ids"]))
    assert batch["attention_mask"][0].sum() == len(features[0]["input_ids"])


def test_class_weights_are_inverse_frequency_mean_one():
    weights = data.class_weights([0] * 10 + [1] * 90)
    assert weights[0] / weights[1] == pytest.approx(9.0)
    assert np.mean(weights) == pytest.approx(1.0)
    with pytest.raises(UserError, match="only one class"):
        data.class_weights([1, 1, 1])


def test_bundled_sample_loads(tmp_path):
    folder = ROOT / "data" / "sample"
    cfg = data_cfg(
        {
            "posts_path": str(folder / "redsm5_posts.csv"),
            "annotations_path": str(folder / "redsm5_annotations.csv"),
            "criteria_path": str(ROOT / "data" / "DSM5" / "MDD_Criteira.json"),
        }
    )
    pairs, counts = data.load_pairs(cfg)
    assert set(pairs["symptom"]) == set(data.SYMPTOMS)
    assert counts["duplicates_dropped"] >= 1
    assert pairs.groupby("sentence_id")["symptom"].nunique().max() >= 2


def test_the_data_package_reexports_every_public_name_of_its_modules():
    # callers write data.make_pairs(...) whichever module of the package defines the name
    from evidence_ft.data import files, pairs, schema, sentence_labels, splits, trainer_inputs

    for module in (files, pairs, schema, sentence_labels, splits, trainer_inputs):
        own = public_names(module)
        assert own and own <= set(data.__all__), (module.__name__, own - set(data.__all__))
        assert all(getattr(data, name) is getattr(module, name) for name in own)
