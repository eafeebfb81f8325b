"""How well a post split keeps each symptom's positives in proportion, over many seeds.

python benchmarks/split_balance.py                  # full-size synthetic corpus, 20 seeds
python benchmarks/split_balance.py --seeds 5 --methods iterative

Measures, per method, on the full-size synthetic ReDSM5 corpus: the mean relative deviation of
each symptom's positive pairs per split from its expected share (ratio x total), the range of
PSYCHOMOTOR test positives, and in how many seeds every symptom with at least 10 positive
pairs has positives in every split. ``iterative`` is ``data.split_posts`` (what runs use);
``label_mix`` is the split it replaced and ``group_kfold`` the other candidate, kept here only
as references for docs/DATA.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evidence_ft import data, synthetic  # noqa: E402

Splitter = Callable[[pd.DataFrame, Sequence[float], int], dict[str, list[str]]]


def label_mix_split(
    pairs: pd.DataFrame, ratios: Sequence[float], seed: int
) -> dict[str, list[str]]:
    """The former split: strata all-positive / all-negative / mixed posts, two stratified cuts."""
    rate = pairs.groupby("post_id", sort=True)["label"].mean()
    strata = pd.Series(np.where(rate == 1, "pos", np.where(rate == 0, "neg", "mix")), rate.index)
    _, val_r, test_r = ratios
    train, rest = train_test_split(
        strata.index.to_numpy(), test_size=val_r + test_r, random_state=seed, stratify=strata
    )
    val, test = train_test_split(
        rest, test_size=test_r / (val_r + test_r), random_state=seed, stratify=strata[rest]
    )
    return {"train": list(train), "validation": list(val), "test": list(test)}


def group_kfold_split(
    pairs: pd.DataFrame, ratios: Sequence[float], seed: int, folds: int = 20
) -> dict[str, list]:
    """StratifiedGroupKFold on symptom x label pair strata, grouped by post; the folds are
    dealt out to the splits by ratio (20 folds: multiples of 5%)."""
    strata = pairs["symptom"] + "_" + pairs["label"].astype(str)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    parts = [
        set(pairs["post_id"].iloc[idx])
        for _, idx in splitter.split(pairs, strata, pairs["post_id"])
    ]
    n_val, n_test = round(ratios[1] * folds), round(ratios[2] * folds)
    pick = lambda chosen: sorted(set().union(*chosen)) if chosen else []  # noqa: E731
    return {
        "validation": pick(parts[:n_val]),
        "test": pick(parts[n_val : n_val + n_test]),
        "train": pick(parts[n_val + n_test :]),
    }


METHODS: dict[str, Splitter] = {
    "label_mix": label_mix_split,
    "group_kfold": group_kfold_split,
    "iterative": data.split_posts,
}


def full_size_pairs(corpus_seed: int = 0) -> pd.DataFrame:
    """Pairs of the full-size synthetic corpus (criterion texts do not affect a split)."""
    _, annotations = synthetic.generate_full_size(corpus_seed)
    texts = {c: c for c in data.CRITERIA_IDS}
    pairs, _ = data.make_pairs(annotations, texts, "SPECIAL_CASE")
    return pairs


def measure(
    pairs: pd.DataFrame, split: Splitter, ratios: Sequence[float], seeds: Sequence[int]
) -> dict[str, float | str]:
    """Deviation, PSYCHOMOTOR test range, coverage and post-share error over ``seeds``."""
    positives = pairs[pairs["label"] == 1]
    total = positives.groupby("symptom").size()
    common = total[total >= 10].index
    deviations, psychomotor, covered, share_error = [], [], 0, []
    for seed in seeds:
        splits = split(pairs, ratios, seed)
        n_posts = sum(len(ids) for ids in splits.values())
        present = True
        for name, ratio in zip(data.SPLITS, ratios):
            ids = set(splits[name])
            got = positives[positives["post_id"].isin(ids)].groupby("symptom").size()
            got = got.reindex(total.index, fill_value=0)
            expected = ratio * total
            deviations.extend((abs(got - expected) / expected).tolist())
            present &= bool((got[common] > 0).all())
            share_error.append(abs(len(ids) / n_posts - ratio))
            if name == "test":
                psychomotor.append(int(got.get("PSYCHOMOTOR", 0)))
        covered += present
    return {
        "mean_deviation_pct": round(100 * float(np.mean(deviations)), 1),
        "psychomotor_test": f"{min(psychomotor)}-{max(psychomotor)}",
        "all_present": f"{covered}/{len(seeds)}",
        "post_share_error_pct": round(100 * float(np.mean(share_error)), 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=20, help="split seeds 0..N-1")
    parser.add_argument("--corpus-seed", type=int, default=0)
    parser.add_argument("--ratios", type=float, nargs=3, default=[0.7, 0.15, 0.15])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # group_kfold: SPECIAL_CASE negatives are fewer than its 20 folds; known, not news per seed
    warnings.filterwarnings("ignore", message="The least populated class")

    pairs = full_size_pairs(args.corpus_seed)
    psychomotor = int(pairs.loc[pairs["symptom"] == "PSYCHOMOTOR", "label"].sum())
    print(
        f"full-size synthetic corpus (seed {args.corpus_seed}): {pairs['post_id'].nunique()} "
        f"posts with pairs, {len(pairs)} pairs ({int(pairs['label'].sum())} positive); "
        f"ratios {args.ratios}; PSYCHOMOTOR test positives expected "
        f"{args.ratios[2] * psychomotor:.1f}; seeds 0-{args.seeds - 1}"
    )
    rows = []
    for name in args.methods:
        start = time.perf_counter()
        row = measure(pairs, METHODS[name], args.ratios, range(args.seeds))
        row["seconds_per_split"] = round((time.perf_counter() - start) / args.seeds, 3)
        rows.append({"method": name, **row})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
