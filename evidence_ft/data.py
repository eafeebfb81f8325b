"""ReDSM5 -> validated frames -> criterion-sentence pairs -> post-grouped split -> DatasetDict.

pairs, counts = load_pairs(cfg.data)                 # read, validate, pair, de-duplicate
manifest = make_manifest(pairs, cfg.data, seed)      # or load_manifest(path, pairs)
dsd = to_dataset_dict(pairs, manifest)               # train / validation / test
dsd = tokenize(dsd, tokenizer, max_length)           # pair encoding, no padding stored
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from evidence_ft.errors import UserError

log = logging.getLogger(__name__)

# ReDSM5 symptom label -> DSM-5 major-depression criterion id (a fact of the dataset).
SYMPTOM_TO_CRITERION: dict[str, str | None] = {
    "DEPRESSED_MOOD": "A.1",
    "ANHEDONIA": "A.2",
    "APPETITE_CHANGE": "A.3",
    "SLEEP_ISSUES": "A.4",
    "PSYCHOMOTOR": "A.5",
    "FATIGUE": "A.6",
    "WORTHLESSNESS": "A.7",
    "COGNITIVE_ISSUES": "A.8",
    "SUICIDAL_THOUGHTS": "A.9",
    "SPECIAL_CASE": None,  # no DSM-5 criterion: gets data.special_case_text
}
SYMPTOMS = list(SYMPTOM_TO_CRITERION)
CRITERIA_IDS = [c for c in SYMPTOM_TO_CRITERION.values() if c]  # A.1 .. A.9
CRITERIA_SPELLINGS = ("MDD_Criteira.json", "MDD_Criteria.json")  # the dataset's, and the usual
SPLITS = ("train", "validation", "test")
POSTS_COLUMNS = ("post_id", "text")
ANNOTATION_COLUMNS = ("post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status")
PAIR_COLUMNS = [
    "post_id",
    "sentence_id",
    "symptom",
    "criterion_id",
    "criterion",
    "sentence",
    "label",
]
ID2LABEL = {0: "no_evidence", 1: "evidence"}
GATED_HINT = (
    "the ReDSM5 dataset is gated by its authors: request it and place the CSVs in data/redsm5/ "
    "(see data/redsm5/README.md), point data.posts_path/data.annotations_path at them, "
    "or run the bundled synthetic sample with data=sample"
)


# ---------------------------------------------------------------------------- reading


def read_csv(path: str | Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """Read a ReDSM5 CSV (quoted fields may hold commas and newlines) and check its columns."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}; {GATED_HINT}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{path}: cannot parse as a UTF-8 CSV ({first})") from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)} "
            f"(found {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise UserError(
            f"{path}: {what} file has a header but no rows; point data.{what}_path at the "
            f"full {what} file"
        )
    return frame


def read_posts(path: str | Path) -> pd.DataFrame:
    """``redsm5_posts.csv``: one row per post (post_id, text)."""
    posts = read_csv(path, POSTS_COLUMNS, "posts")
    dup = posts["post_id"][posts["post_id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: post_id {dup.iloc[0]!r} appears more than once; keep one row")
    return posts


def read_annotations(path: str | Path) -> pd.DataFrame:
    """``redsm5_annotations.csv``, validated: known symptom, status 0/1, non-empty sentence."""
    ann = read_csv(path, ANNOTATION_COLUMNS, "annotations")
    for col in ("post_id", "sentence_id", "DSM5_symptom", "status"):
        ann[col] = ann[col].str.strip()
    line = ann.index.to_series() + 2  # header is line 1 (a row with newlines spans more)
    unknown = ~ann["DSM5_symptom"].isin(SYMPTOMS)
    if unknown.any():
        bad = ann.loc[unknown].iloc[0]
        raise UserError(
            f"{path} row {line[unknown].iloc[0]}: unknown DSM5_symptom {bad['DSM5_symptom']!r}; "
            f"expected one of {', '.join(SYMPTOMS)}"
        )
    bad_status = ~ann["status"].isin(["0", "1"])
    if bad_status.any():
        raise UserError(
            f"{path} row {line[bad_status].iloc[0]}: status "
            f"{ann.loc[bad_status, 'status'].iloc[0]!r} must be 0 or 1"
        )
    empty = ann["sentence_text"].str.strip() == ""
    if empty.any():
        raise UserError(
            f"{path} row {line[empty].iloc[0]}: empty sentence_text "
            f"(sentence_id {ann.loc[empty, 'sentence_id'].iloc[0]!r}); fill it or drop the row"
        )
    ann["status"] = ann["status"].astype(int)
    return ann


def resolve_criteria_path(path: str | Path) -> Path:
    """``data.criteria_path`` as given: either spelling works, but no silent swap of files.

    A missing file whose other spelling lies beside it names that file in the error instead
    of reading it, so the run reads exactly what the config says.
    """
    path = Path(path)
    if path.is_file():
        return path
    beside = [path.parent / n for n in CRITERIA_SPELLINGS if n != path.name]
    other = next((p for p in beside if p.is_file()), None)
    fix = (
        f"{other} exists beside it: set data.criteria_path={other}"
        if other
        else "set data.criteria_path to the DSM-5 criteria JSON "
        "(the project ships data/DSM5/MDD_Criteira.json)"
    )
    raise UserError(f"criteria file not found: {path}; {fix}")


def read_criteria(path: str | Path) -> dict[str, str]:
    """Criteria JSON ``{"criteria": [{"id": "A.1", "text": ...}, ...]}`` -> {id: text}.

    The model's job covers all nine criteria, so each of A.1-A.9 must appear once with a text,
    whether or not the annotations use it.
    """
    path = resolve_criteria_path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        items = [(str(c["id"]).strip(), str(c["text"]).strip()) for c in doc["criteria"]]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise UserError(
            f"{path}: expected JSON like "
            '{"criteria": [{"id": "A.1", "text": "..."}, ...]} '
            f"({type(err).__name__}: {first})"
        ) from err
    ids = [i for i, _ in items]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise UserError(f"{path}: criterion id {dup!r} appears {ids.count(dup)} times; keep one")
    empty = next((i for i, text in items if not text), None)
    if empty:
        raise UserError(f"{path}: criterion {empty!r} has an empty text; write its text")
    missing = [c for c in CRITERIA_IDS if c not in ids]
    if missing:
        raise UserError(
            f"{path}: no criterion text for {', '.join(missing)} (the model covers A.1-A.9); "
            f'add {{"id": "{missing[0]}", "text": ...}} or set data.criteria_path to a '
            "complete file"
        )
    return dict(items)


def criterion_texts(data_cfg: Any) -> dict[str, str]:
    """{criterion id: text} the model is trained to score, in symptom order (A.1 .. A.9, then
    SPECIAL_CASE unless dropped or without a text): what a saved model stores for prediction."""
    texts = read_criteria(data_cfg.criteria_path)
    out = {c: texts[c] for c in CRITERIA_IDS}
    special = (data_cfg.get("special_case_text") or "").strip()
    if special and not data_cfg.get("drop_special_case"):
        out["SPECIAL_CASE"] = special
    return out


def fingerprint(paths: Mapping[str, str | Path]) -> dict[str, str]:
    """SHA-256 of each input file, so a manifest records exactly which data it split."""
    return {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in paths.items()}


# ---------------------------------------------------------------------------- pairing


def make_pairs(
    annotations: pd.DataFrame,
    criteria: Mapping[str, str],
    special_case_text: str | None,
    drop_special_case: bool = False,
    conflict_policy: str = "error",
    source: str = "annotations",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One (criterion, sentence, label) pair per annotated row, de-duplicated.

    Exact repeats of (post_id, sentence_id, symptom, status) are counted and dropped (the real
    file repeats some with different explanations). The same (post_id, sentence_id, symptom)
    with both statuses is resolved by ``conflict_policy``: error | keep_positive | drop.
    """
    ann = annotations
    counts: dict[str, Any] = {"annotation_rows": len(ann)}
    if drop_special_case:
        counts["special_case_dropped"] = int((ann["DSM5_symptom"] == "SPECIAL_CASE").sum())
        ann = ann[ann["DSM5_symptom"] != "SPECIAL_CASE"]
    key = ["post_id", "sentence_id", "DSM5_symptom"]
    deduped = ann.drop_duplicates(subset=[*key, "status"])
    counts["duplicates_dropped"] = len(ann) - len(deduped)
    conflicted = deduped.duplicated(subset=key, keep=False)
    counts["conflicts"] = int(conflicted.sum() // 2)
    if conflicted.any():
        first = deduped.loc[conflicted].iloc[0]
        if conflict_policy == "error":
            raise UserError(
                f"{source}: sentence {first['sentence_id']!r} / {first['DSM5_symptom']} is "
                f"annotated both 1 and 0 ({counts['conflicts']} such pair(s)); fix the file or set "
                "data.conflict_policy=keep_positive|drop"
            )
        if conflict_policy == "keep_positive":
            deduped = deduped.sort_values("status", ascending=False).drop_duplicates(subset=key)
        else:
            deduped = deduped.loc[~conflicted]
        deduped = deduped.sort_index()

    criterion_ids = deduped["DSM5_symptom"].map(SYMPTOM_TO_CRITERION)
    texts = dict(criteria)
    if special_case_text:
        texts["SPECIAL_CASE"] = special_case_text.strip()
    needed = sorted(set(criterion_ids.fillna("SPECIAL_CASE")))
    missing = [c for c in needed if c not in texts]
    if missing:
        what = missing[0]
        fix = (
            "set data.special_case_text or data.drop_special_case=true"
            if what == "SPECIAL_CASE"
            else f"add {{'id': '{what}', 'text': ...}} to the criteria JSON (data.criteria_path)"
        )
        raise UserError(f"no criterion text for {what}; {fix}")

    pairs = pd.DataFrame(
        {
            "post_id": deduped["post_id"].to_numpy(),
            "sentence_id": deduped["sentence_id"].to_numpy(),
            "symptom": deduped["DSM5_symptom"].to_numpy(),
            "criterion_id": criterion_ids.fillna("SPECIAL_CASE").to_numpy(),
            "sentence": deduped["sentence_text"].str.strip().to_numpy(),
            "label": deduped["status"].astype(int).to_numpy(),
        }
    )
    pairs["criterion"] = pairs["criterion_id"].map(texts)
    pairs = pairs[PAIR_COLUMNS].reset_index(drop=True)
    counts["pairs"] = len(pairs)
    counts["positives"] = int(pairs["label"].sum())
    counts["negatives"] = int(len(pairs) - pairs["label"].sum())
    counts["per_symptom"] = label_counts(pairs)
    return pairs, counts


def label_counts(pairs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{symptom: {"positive": n, "negative": n}} in the canonical symptom order."""
    out = {}
    for symptom in SYMPTOMS:
        labels = pairs.loc[pairs["symptom"] == symptom, "label"]
        if len(labels):
            out[symptom] = {
                "positive": int((labels == 1).sum()),
                "negative": int((labels == 0).sum()),
            }
    return out


def load_pairs(data_cfg: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read and validate the three input files named in ``cfg.data`` and build the pairs."""
    posts = read_posts(data_cfg.posts_path)
    annotations = read_annotations(data_cfg.annotations_path)
    unknown_posts = ~annotations["post_id"].isin(posts["post_id"])
    if unknown_posts.any():
        raise UserError(
            f"{data_cfg.annotations_path}: post_id "
            f"{annotations.loc[unknown_posts, 'post_id'].iloc[0]!r} is not in "
            f"{data_cfg.posts_path}; the two files must come from the same release"
        )
    criteria = read_criteria(data_cfg.criteria_path)
    pairs, counts = make_pairs(
        annotations,
        criteria,
        data_cfg.special_case_text,
        drop_special_case=data_cfg.drop_special_case,
        conflict_policy=data_cfg.conflict_policy,
        source=str(data_cfg.annotations_path),
    )
    counts["posts"] = len(posts)
    counts["posts_with_pairs"] = int(pairs["post_id"].nunique())
    counts["fingerprint"] = fingerprint(
        {
            "posts": data_cfg.posts_path,
            "annotations": data_cfg.annotations_path,
            "criteria": resolve_criteria_path(data_cfg.criteria_path),
        }
    )
    log_counts(counts)
    return pairs, counts


def log_counts(counts: Mapping[str, Any]) -> None:
    log.info(
        "data: %d annotation rows -> %d pairs (%d positive, %d negative); %d exact duplicates "
        "dropped, %d conflicts; %d posts, %d with pairs",
        counts["annotation_rows"],
        counts["pairs"],
        counts["positives"],
        counts["negatives"],
        counts["duplicates_dropped"],
        counts["conflicts"],
        counts.get("posts", 0),
        counts.get("posts_with_pairs", 0),
    )
    for symptom, c in counts["per_symptom"].items():
        log.info("data:   %-18s %4d positive %4d negative", symptom, c["positive"], c["negative"])


# ---------------------------------------------------------------------------- splitting


def post_labels(pairs: pd.DataFrame) -> pd.DataFrame:
    """Posts x (symptom, label) indicator matrix: 1 where the post has such a pair.

    Stratifying on it keeps every symptom's positives and negatives in proportion in every
    split, which the share of positive pairs alone does not.
    """
    return (pd.crosstab(pairs["post_id"], [pairs["symptom"], pairs["label"]]) > 0).astype(int)


def split_posts(pairs: pd.DataFrame, ratios: Sequence[float], seed: int) -> dict[str, list[str]]:
    """Post-grouped train/validation/test split stratified by symptom and label; seeded.

    Posts are the items (so no post spans two splits) and ``post_labels`` their labels, split
    by iterative multi-label stratification: train against the rest, then the rest into
    validation and test.
    """
    labels = post_labels(pairs)
    posts = labels.index.to_numpy()
    train_r, val_r, test_r = ratios
    rest_r = val_r + test_r
    train, rest = _stratified(posts, labels, rest_r, seed)
    val, test = _stratified(rest, labels.loc[rest], test_r / rest_r if rest_r else 0.0, seed)
    return {"train": sorted(train), "validation": sorted(val), "test": sorted(test)}


def _stratified(
    items: np.ndarray, labels: pd.DataFrame, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``items`` cut into (1 - share, share) by iterative stratification on ``labels``.

    Falls back to an unstratified cut where stratification cannot run (too few items or a
    single label column), and keeps everything on one side where the data cannot be cut at all
    (the split checks then name the empty split).
    """
    empty = np.array([], dtype=items.dtype)
    if share >= 1:
        return empty, items
    if share <= 0 or len(items) < 2:
        return items, empty
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    try:
        keep, cut = next(splitter.split(np.zeros(len(items)), labels.to_numpy()))
        return items[keep], items[cut]
    except ValueError:
        log.warning("split: too few posts to stratify %d posts; splitting at random", len(items))
    try:
        a, b = train_test_split(items, test_size=share, random_state=seed)
    except ValueError:  # e.g. one post: nothing to cut
        return items, empty
    return np.asarray(a), np.asarray(b)


def check_splits(
    pairs: pd.DataFrame, splits: Mapping[str, list[str]], source: str, fix: str
) -> None:
    """Stop before training when a split holds no pair, or validation/test no positive pair.

    Without a positive pair the threshold cannot be chosen and F1 is undefined, so such a
    split would only produce a meaningless run. ``source`` names the setting; ``fix`` the cure.
    """
    for name in SPLITS:
        sub = pairs[pairs["post_id"].isin(set(splits[name]))]
        problem = None
        if sub.empty:
            problem = f"leaves the {name} split without pairs"
        elif name != "train" and not sub["label"].any():
            problem = f"leaves no positive pair in the {name} split"
        if problem:
            raise UserError(f"{source} {problem}; {fix}")


def make_manifest(
    pairs: pd.DataFrame, counts: Mapping[str, Any], ratios: list[float], seed: int
) -> dict[str, Any]:
    """Split the posts and record how: seed, ratios, input fingerprint and post_ids per split."""
    splits = split_posts(pairs, ratios, seed)
    n_posts, n_pos = pairs["post_id"].nunique(), int(pairs["label"].sum())
    check_splits(
        pairs,
        splits,
        f"data.split_ratios={list(ratios)}",
        f"the data have {n_posts} posts with pairs ({n_pos} positive pairs): use more data, "
        "give that split a larger share of data.split_ratios or try another seed",
    )
    return {
        "seed": seed,
        "ratios": list(ratios),
        "fingerprint": dict(counts.get("fingerprint", {})),
        "splits": splits,
        "summary": split_summary(pairs, splits),
    }


def split_summary(pairs: pd.DataFrame, splits: Mapping[str, list[str]]) -> dict[str, Any]:
    """Posts, pairs and positive rate per split (and for the whole), for logs and manifests."""
    out: dict[str, Any] = {}
    for name, ids in {"all": list(pairs["post_id"].unique()), **splits}.items():
        sub = pairs[pairs["post_id"].isin(ids)]
        out[name] = {
            "posts": len(ids),
            "pairs": len(sub),
            "positive_rate": round(float(sub["label"].mean()), 4) if len(sub) else None,
        }
    return out


def save_manifest(manifest: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_manifest(
    path: str | Path, pairs: pd.DataFrame, counts: Mapping[str, Any]
) -> dict[str, Any]:
    """Reuse a saved split; every post with pairs must be in exactly one of its splits."""
    path = Path(path)
    what = f"data.split_manifest: {path}"
    if not path.exists():
        raise UserError(f"{what} not found; point it at a run's split_manifest.json")
    if not path.is_file():
        raise UserError(f"{what} is not a file; point it at a run's split_manifest.json")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        splits = {name: manifest["splits"][name] for name in SPLITS}
        if not all(isinstance(ids, list) for ids in splits.values()):
            raise TypeError("splits must be lists of post ids")
        splits = {name: [str(p) for p in ids] for name, ids in splits.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise UserError(
            f"{what} is not a split manifest (truncated or not JSON with "
            "splits.train/validation/test lists); point it at a run's split_manifest.json or "
            "drop the override to split anew"
        ) from err
    assigned = [p for name in SPLITS for p in splits[name]]
    if len(assigned) != len(set(assigned)):
        raise UserError(f"{what} puts a post in more than one split")
    unassigned = sorted(set(pairs["post_id"]) - set(assigned))
    if unassigned:
        raise UserError(
            f"{what} has no split for {len(unassigned)} post(s) of this data "
            f"(e.g. {unassigned[0]!r}); it was made from other files: drop the override to "
            "split anew"
        )
    check_splits(
        pairs, splits, what, "use a manifest of these files or drop the override to split anew"
    )
    if manifest.get("fingerprint") and manifest["fingerprint"] != counts.get("fingerprint"):
        log.warning("split: %s was made from files with another fingerprint", path)
    manifest["splits"] = splits
    manifest["summary"] = split_summary(pairs, splits)
    manifest["reused_from"] = str(path)
    return manifest


def log_split(manifest: Mapping[str, Any]) -> None:
    for name, s in manifest["summary"].items():
        log.info(
            "split: %-10s %4d posts %5d pairs positive rate %s",
            name,
            s["posts"],
            s["pairs"],
            s["positive_rate"],
        )


# ---------------------------------------------------------------------------- datasets


def to_dataset_dict(pairs: pd.DataFrame, manifest: Mapping[str, Any]) -> DatasetDict:
    """train / validation / test Datasets with the pair columns (untokenized)."""
    parts = {}
    for name in SPLITS:
        sub = pairs[pairs["post_id"].isin(set(manifest["splits"][name]))]
        parts[name] = Dataset.from_pandas(sub.reset_index(drop=True), preserve_index=False)
    return DatasetDict(parts)


def tokenize(dsd: DatasetDict, tokenizer: Any, max_length: int) -> DatasetDict:
    """The tokenizer's own pair encoding: criterion first, sentence second, sentence truncated.

    No padding is stored: the collator pads each batch to its longest pair.
    """

    def encode(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(
            batch["criterion"], batch["sentence"], truncation="only_second", max_length=max_length
        )

    return dsd.map(encode, batched=True, desc="tokenize")


def class_weights(labels: np.ndarray | list[int], mode: str = "balanced") -> list[float]:
    """Per-class weights from the training labels: inverse frequency, normalised to mean 1.

    >>> class_weights([0, 1, 1, 1])
    [1.5, 0.5]
    >>> class_weights([0, 1, 1, 1], mode="uniform")
    [1.0, 1.0]
    """
    if mode == "uniform":
        return [1.0, 1.0]
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:
        raise UserError(
            "the training split has only one class; use more data or loss.class_weights=uniform"
        )
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    weights = weights / weights.mean()
    return [round(float(w), 6) for w in weights]
