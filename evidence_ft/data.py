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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
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
    """The dataset spells the file MDD_Criteira.json; accept MDD_Criteria.json beside it too."""
    path = Path(path)
    if path.is_file():
        return path
    for spelling in ("MDD_Criteira.json", "MDD_Criteria.json"):
        if (path.parent / spelling).is_file():
            return path.parent / spelling
    raise UserError(
        f"criteria file not found: {path}; set data.criteria_path to the DSM-5 criteria JSON "
        "(the project ships data/DSM5/MDD_Criteira.json)"
    )


def read_criteria(path: str | Path) -> dict[str, str]:
    """Criteria JSON ``{"criteria": [{"id": "A.1", "text": ...}, ...]}`` -> {id: text}."""
    path = resolve_criteria_path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        criteria = {str(c["id"]).strip(): str(c["text"]).strip() for c in doc["criteria"]}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(
            f"{path}: expected JSON like "
            '{"criteria": [{"id": "A.1", "text": "..."}, ...]} '
            f"({type(err).__name__}: {err})"
        ) from err
    return criteria


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


def post_strata(pairs: pd.DataFrame) -> pd.Series:
    """Stratum of each post: whether its pairs are all positive, all negative or mixed.

    The share of positives in a split follows from these, so stratifying on them keeps each
    split's positive rate close to the whole corpus's.
    """
    rate = pairs.groupby("post_id", sort=True)["label"].mean()
    return pd.Series(
        np.where(rate == 1, "all_pos", np.where(rate == 0, "all_neg", "mixed")), rate.index
    )


def split_posts(
    pairs: pd.DataFrame, ratios: list[float] | tuple[float, ...], seed: int
) -> dict[str, list[str]]:
    """Post-grouped, stratified train/validation/test split; the same for the same seed."""
    strata = post_strata(pairs)
    posts = strata.index.to_numpy()
    train_r, val_r, test_r = ratios
    rest_r = val_r + test_r
    if rest_r == 0:
        return {"train": sorted(posts), "validation": [], "test": []}
    train, rest = _stratified(posts, strata.to_numpy(), test_size=rest_r, seed=seed)
    if train_r == 0:
        train, rest = np.array([], dtype=posts.dtype), posts
    rest_strata = strata.loc[rest].to_numpy()
    if test_r == 0:
        val, test = rest, np.array([], dtype=posts.dtype)
    elif val_r == 0:
        val, test = np.array([], dtype=posts.dtype), rest
    else:
        val, test = _stratified(rest, rest_strata, test_size=test_r / rest_r, seed=seed)
    return {"train": sorted(train), "validation": sorted(val), "test": sorted(test)}


def _stratified(
    items: np.ndarray, strata: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's stratified shuffle split; unstratified where a stratum is too small."""
    try:
        a, b = train_test_split(items, test_size=test_size, random_state=seed, stratify=strata)
    except ValueError:
        log.warning(
            "split: too few posts per stratum to stratify %d posts; splitting at random", len(items)
        )
        a, b = train_test_split(items, test_size=test_size, random_state=seed)
    return np.asarray(a), np.asarray(b)


def make_manifest(
    pairs: pd.DataFrame, counts: Mapping[str, Any], ratios: list[float], seed: int
) -> dict[str, Any]:
    """Split the posts and record how: seed, ratios, input fingerprint and post_ids per split."""
    splits = split_posts(pairs, ratios, seed)
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
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        splits = {name: list(manifest["splits"][name]) for name in SPLITS}
    except FileNotFoundError as err:
        raise UserError(f"data.split_manifest: {path} not found") from err
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(
            f"data.split_manifest: {path} is not a split manifest "
            "(needs splits.train/validation/test)"
        ) from err
    assigned = [p for name in SPLITS for p in splits[name]]
    if len(assigned) != len(set(assigned)):
        raise UserError(f"data.split_manifest: {path} puts a post in more than one split")
    unassigned = sorted(set(pairs["post_id"]) - set(assigned))
    if unassigned:
        raise UserError(
            f"data.split_manifest: {path} has no split for {len(unassigned)} post(s) of this data "
            f"(e.g. {unassigned[0]!r}); it was made from other files: drop the override to "
            "split anew"
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
