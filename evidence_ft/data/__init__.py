"""ReDSM5 -> validated frames -> criterion-sentence pairs -> post-grouped split -> DatasetDict.

corpus = load_corpus(cfg.data)                       # read, validate, pair, de-duplicate
posts, pairs, counts = corpus.posts, corpus.pairs, corpus.counts
manifest = make_manifest(pairs, counts, ratios, seed, posts["post_id"])  # or load_manifest
dsd = to_dataset_dict(pairs, manifest)               # train / validation / test
dsd = tokenize(dsd, tokenizer, max_length)           # pair encoding, no padding stored

``schema`` holds the dataset's facts, ``files`` reads the inputs, ``pairs`` pairs them,
``splits`` splits and records the split, ``trainer_inputs`` builds what the Trainer gets.
Every public name is re-exported here: callers write ``data.make_pairs(...)``.
"""

from evidence_ft.data.files import (
    criterion_texts,
    fingerprint,
    read_annotations,
    read_criteria,
    read_csv,
    read_posts,
    resolve_criteria_path,
)
from evidence_ft.data.pairs import (
    Corpus,
    label_counts,
    load_corpus,
    load_pairs,
    log_counts,
    make_pairs,
)
from evidence_ft.data.schema import (
    ANNOTATION_COLUMNS,
    CRITERIA_IDS,
    CRITERIA_SPELLINGS,
    GATED_HINT,
    ID2LABEL,
    PAIR_COLUMNS,
    POSTS_COLUMNS,
    SPLITS,
    SYMPTOM_TO_CRITERION,
    SYMPTOMS,
)
from evidence_ft.data.splits import (
    NO_ROWS,
    check_splits,
    load_manifest,
    log_split,
    make_manifest,
    post_labels,
    save_manifest,
    split_posts,
    split_summary,
)
from evidence_ft.data.trainer_inputs import class_weights, to_dataset_dict, tokenize

__all__ = [
    "ANNOTATION_COLUMNS",
    "CRITERIA_IDS",
    "CRITERIA_SPELLINGS",
    "GATED_HINT",
    "ID2LABEL",
    "NO_ROWS",
    "PAIR_COLUMNS",
    "POSTS_COLUMNS",
    "SPLITS",
    "SYMPTOMS",
    "SYMPTOM_TO_CRITERION",
    "Corpus",
    "check_splits",
    "class_weights",
    "criterion_texts",
    "fingerprint",
    "label_counts",
    "load_corpus",
    "load_manifest",
    "load_pairs",
    "log_counts",
    "log_split",
    "make_manifest",
    "make_pairs",
    "post_labels",
    "read_annotations",
    "read_criteria",
    "read_csv",
    "read_posts",
    "resolve_criteria_path",
    "save_manifest",
    "split_posts",
    "split_summary",
    "to_dataset_dict",
    "tokenize",
]
