"""Post-grouped train/validation/test splits and the manifests that record them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.model_selection import train_test_split

from evidence_ft.data.schema import SPLITS
from evidence_ft.errors import UserError

log = logging.getLogger(__name__)

# The label column of a post without any annotation row: such posts are stratified as a label
# of their own, so they spread over the splits by the ratios like every symptom does.
NO_ROWS = ("NO_ROWS", 1)


def post_labels(pairs: pd.DataFrame, post_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Posts x (symptom, label) indicator matrix: 1 where the post has such a pair.

    Stratifying on it keeps every symptom's positives and negatives in proportion in every
    split, which the share of positive pairs alone does not. ``post_ids`` (every post of the
    posts file) adds the posts without pairs as rows with the ``NO_ROWS`` column set.
    """
    labels = (pd.crosstab(pairs["post_id"], [pairs["symptom"], pairs["label"]]) > 0).astype(int)
    without = set(() if post_ids is None else post_ids) - set(labels.index)
    if not without:
        return labels
    labels = labels.reindex(sorted(set(labels.index) | without), fill_value=0)
    labels[NO_ROWS] = labels.index.isin(without).astype(int)
    return labels


def split_posts(
    pairs: pd.DataFrame,
    ratios: Sequence[float],
    seed: int,
    post_ids: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Post-grouped train/validation/test split stratified by symptom and label; seeded.

    Posts are the items (so no post spans two splits) and ``post_labels`` their labels, split
    by iterative multi-label stratification: train against the rest, then the rest into
    validation and test. ``post_ids`` adds the posts without pairs (see ``post_labels``).
    """
    labels = post_labels(pairs, post_ids)
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
    pairs: pd.DataFrame,
    counts: Mapping[str, Any],
    ratios: list[float],
    seed: int,
    post_ids: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Split the posts and record how: seed, ratios, input fingerprint and post_ids per split.

    ``post_ids`` (every post of the posts file) puts the posts without pairs in splits too.
    """
    splits = split_posts(pairs, ratios, seed, post_ids)
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
    """Posts (with and without pairs), pairs and positive rate per split and for the whole."""
    with_pairs = set(pairs["post_id"])
    every = sorted(with_pairs.union(*map(set, splits.values())))
    out: dict[str, Any] = {}
    for name, ids in {"all": every, **splits}.items():
        sub = pairs[pairs["post_id"].isin(ids)]
        n_with = len(with_pairs.intersection(ids))
        out[name] = {
            "posts": len(ids),
            "posts_with_pairs": n_with,
            "posts_without_pairs": len(ids) - n_with,
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
    path: str | Path,
    pairs: pd.DataFrame,
    counts: Mapping[str, Any],
    post_ids: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Reuse a saved split; every post with pairs must be in exactly one of its splits.

    Posts without pairs (of ``post_ids``) that it leaves out stay in no split: manifests made
    before such posts were split are still valid (logged once).
    """
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
    left_out = set(() if post_ids is None else post_ids) - set(assigned) - set(pairs["post_id"])
    if left_out:
        log.info(
            "split: %s puts none of %d post(s) without annotation rows in a split (made before "
            "they were split); they stay out of every split",
            path,
            len(left_out),
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
            "split: %-10s %4d posts (%d without pairs) %5d pairs positive rate %s",
            name,
            s["posts"],
            s["posts_without_pairs"],
            s["pairs"],
            s["positive_rate"],
        )
