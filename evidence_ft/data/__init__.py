"""ReDSM5 -> validated frames -> criterion-sentence pairs -> post-grouped split -> DatasetDict.

corpus = load_corpus(cfg.data)                       # read, validate, pair, de-duplicate
posts, pairs, counts = corpus.posts, corpus.pairs, corpus.counts
manifest = make_manifest(pairs, counts, ratios, seed, posts["post_id"])  # or load_manifest
frame, stats = sentence_pairs(posts, pairs, criteria)  # every sentence x criterion, labelled
dsd = to_dataset_dict(pairs, manifest)               # train / validation / test
dsd = tokenize(dsd, tokenizer, max_length)           # pair encoding, no padding stored

``schema`` holds the dataset's facts, ``files`` reads the inputs, ``pairs`` pairs them,
``splits`` splits and records the split, ``sentence_labels`` labels every sentence x criterion
of whole posts (and draws unannotated training negatives from them), ``trainer_inputs``
builds what the Trainer gets.
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
    CRITERION_TO_SYMPTOM,
    GATED_HINT,
    ID2LABEL,
    PAIR_COLUMNS,
    POSTS_COLUMNS,
    SPLITS,
    SYMPTOM_TO_CRITERION,
    SYMPTOMS,
)
from evidence_ft.data.sentence_labels import (
    SEGMENT_COLUMNS,
    SENTENCE_PAIR_COLUMNS,
    draw_negatives,
    locate_sentences,
    sentence_pairs,
    sentence_segments,
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
    "CRITERION_TO_SYMPTOM",
    "GATED_HINT",
    "ID2LABEL",
    "NO_ROWS",
    "PAIR_COLUMNS",
    "POSTS_COLUMNS",
    "SEGMENT_COLUMNS",
    "SENTENCE_PAIR_COLUMNS",
    "SPLITS",
    "SYMPTOMS",
    "SYMPTOM_TO_CRITERION",
    "Corpus",
    "check_splits",
    "class_weights",
    "criterion_texts",
    "draw_negatives",
    "fingerprint",
    "label_counts",
    "load_corpus",
    "load_manifest",
    "load_pairs",
    "locate_sentences",
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
    "sentence_pairs",
    "sentence_segments",
    "split_posts",
    "split_summary",
    "to_dataset_dict",
    "tokenize",
]
