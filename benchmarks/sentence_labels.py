"""All-sentence pairs and unannotated negatives on a corpus: how many, how well mapped, how fast.

python benchmarks/sentence_labels.py                # full-size synthetic corpus (seed 0)
python benchmarks/sentence_labels.py --data sample  # the bundled sample (data/sample)
python benchmarks/sentence_labels.py --data data/redsm5  # a folder with the two ReDSM5 CSVs

Prints the corpus, the all-sentence pairs ``data.sentence_pairs`` builds with their label
counts, the share of annotated rows mapped to a segment, its seconds (first call, which loads
spaCy, and again), and the unannotated negatives ``data.draw_negatives`` finds in the training
posts of a 70/15/15 split (split seed 0, one negative per positive).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evidence_ft import data, synthetic  # noqa: E402
from evidence_ft.config import load_config  # noqa: E402


def corpus(which: str, corpus_seed: int) -> tuple[data.Corpus, dict[str, str]]:
    """The corpus and its training criteria (criteria JSON + SPECIAL_CASE's default text)."""
    folder = Path(which)
    files = [f"data.{k}_path={folder / f'redsm5_{k}.csv'}" for k in ("posts", "annotations")]
    cfg = load_config(["data=sample"] if which in ("sample", "full") else files).data
    criteria = data.criterion_texts(cfg)
    if which != "full":
        return data.load_corpus(cfg), criteria
    posts, annotations = synthetic.generate_full_size(corpus_seed)
    pairs, counts = data.make_pairs(
        annotations, data.read_criteria(cfg.criteria_path), cfg.special_case_text
    )
    return data.Corpus(posts, pairs, counts), criteria


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", default="full", help="full | sample | a folder with the CSVs")
    parser.add_argument("--corpus-seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    found, criteria = corpus(args.data, args.corpus_seed)
    posts, pairs = found.posts, found.pairs
    with_rows = pairs["post_id"].nunique()
    print(
        f"corpus {args.data}: {len(posts)} posts ({len(posts) - with_rows} without annotation "
        f"rows), {len(pairs)} annotated pairs ({int(pairs['label'].sum())} positive); "
        f"{len(criteria)} criteria"
    )
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        frame, stats = data.sentence_pairs(posts, pairs, criteria)
        seconds.append(time.perf_counter() - start)
    print(
        f"all-sentence pairs: {stats['sentences']} sentences x {stats['criteria']} criteria = "
        f"{stats['rows']} pairs, {stats['positives']} positive "
        f"({100 * stats['positives'] / stats['rows']:.2f}%), {stats['annotated']} annotated"
    )
    print(
        f"annotated rows mapped to a segment: {stats['matched']}/{stats['annotated_rows']} "
        f"(share {stats['share_matched']}); to exactly one: {stats['single_segment']}; equal "
        f"to one: {stats['exact']}; found twice or more: {stats['repeated']}; not found: "
        f"{stats['not_found']}"
    )
    print(f"seconds: {seconds[0]:.2f} first call (loads spaCy), {seconds[1]:.2f} again")
    ids = posts["post_id"]
    manifest = data.make_manifest(pairs, found.counts, [0.7, 0.15, 0.15], 0, ids)
    start = time.perf_counter()
    negatives, drawn = data.draw_negatives(found, manifest["splits"]["train"], criteria, 1.0, 0)
    took = time.perf_counter() - start
    train = pairs[pairs["post_id"].isin(set(manifest["splits"]["train"]))]
    mixed = pd.concat([train, negatives])
    print(
        f"negatives (train split, 1 per positive): {drawn['added']} drawn from "
        f"{drawn['candidates']} candidates in {len(manifest['splits']['train'])} posts, "
        f"{took:.2f} s; training pairs {len(train)} -> {len(mixed)}, positive share "
        f"{train['label'].mean():.3f} -> {mixed['label'].mean():.3f}"
    )


if __name__ == "__main__":
    main()
