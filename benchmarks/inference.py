"""Whole-post scoring speed: length-sorted batches vs unsorted vs a plain loop, in one run.

python benchmarks/inference.py                 # MiniLM, 24 posts of the full-size corpus, 3 rounds
python benchmarks/inference.py --posts 48 --rounds 5 --json inference.json
python benchmarks/inference.py --quick         # smoke mode: tiny random model, 3 posts, 1 round
python benchmarks/inference.py --input ../shared/redsm5-sample/redsm5_posts.csv --posts 17

Posts are drawn (seeded) from the full-size synthetic corpus (``evidence_ft.synthetic``). Each
round times, on the same posts: [sorted] ``evidence_ft.inference.iter_predictions`` as
run_predict.py runs it (split, pair with the nine criteria, tokenize, sort by token length,
pad per batch, score, restore the order); [unsorted] the same with ``sort=False``; [loop] a
plain ``torch.inference_mode`` loop over the sorted path's batches, tokenized and padded
beforehand, timing only the forward passes. Rates are pairs per second, medians over rounds;
ratios are medians of each round's ratio.
The CPU time to score the whole corpus is the sorted path's CPU seconds per pair times the
corpus's pair count (an estimate: scoring every post takes about half an hour on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from evidence_ft import data  # noqa: E402
from evidence_ft.config import load_config  # noqa: E402
from evidence_ft.inference import (  # noqa: E402
    CHUNK_PAIRS,
    Predictor,
    iter_predictions,
    length_batches,
    post_chunks,
    sentence_rows,
)
from evidence_ft.modeling import load_model, load_tokenizer  # noqa: E402
from evidence_ft.synthetic import generate_full_size  # noqa: E402

GOALS = {"sorted_vs_unsorted": 1.5, "sorted_vs_loop": 0.9}


def build_predictor(name_or_path: str) -> Predictor:
    """The model with a fresh 2-class head: speed does not depend on trained weights."""
    cfg = load_config([f"model.name_or_path={name_or_path}"])
    model = load_model(cfg.model.name_or_path, cfg.model.attn_implementation).eval()
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    criteria = data.criterion_texts(cfg.data)
    return Predictor(model, tokenizer, 0.5, criteria, int(cfg.data.max_length), name_or_path)


def chunk_pairs(predictor: Predictor, posts: pd.DataFrame) -> Iterator[tuple[list, list]]:
    """(criterion texts, sentences) of each chunk, in the order iter_predictions pairs them."""
    texts = [t for c, t in predictor.criteria.items() if c != "SPECIAL_CASE"]
    for sentences in post_chunks(posts, len(texts), CHUNK_PAIRS):
        firsts = np.tile(texts, len(sentences)).tolist()
        yield firsts, np.repeat(sentences["sentence"].to_numpy(), len(texts)).tolist()


def padded_tokens(predictor: Predictor, posts: pd.DataFrame, batch_size: int) -> dict[str, float]:
    """Tokens per pair: the pairs' own, and as padded in sorted and in unsorted batches."""
    totals = {"real": 0.0, "sorted": 0.0, "unsorted": 0.0}
    n = 0
    for firsts, seconds in chunk_pairs(predictor, posts):
        encoded = predictor.tokenizer(
            firsts, seconds, truncation="only_second", max_length=predictor.max_length
        )
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        n += len(lengths)
        totals["real"] += lengths.sum()
        for name, sort in (("sorted", True), ("unsorted", False)):
            batches = length_batches(lengths, batch_size, sort)
            totals[name] += sum(lengths[rows].max() * len(rows) for rows in batches)
    return {name: float(total / n) for name, total in totals.items()}


def loop_batches(predictor: Predictor, posts: pd.DataFrame, batch_size: int) -> list[Any]:
    """The sorted path's batches, tokenized and padded ahead of the timed loop."""
    batches = []
    for firsts, seconds in chunk_pairs(predictor, posts):
        encoded = predictor.tokenizer(
            firsts, seconds, truncation="only_second", max_length=predictor.max_length
        )
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        for rows in length_batches(lengths, batch_size):
            batch = {c: [encoded[c][i] for i in rows] for c in encoded}
            batches.append(predictor.tokenizer.pad(batch, return_tensors="pt"))
    return batches


def plain_forward_loop(predictor: Predictor, batches: list[Any]) -> None:
    with torch.inference_mode():
        for batch in batches:
            predictor.model(**batch).logits.float().cpu()


def measure_all(args: argparse.Namespace, say: Callable[[str], None] = print) -> dict[str, Any]:
    common.quiet(args.threads)
    corpus = data.read_posts(args.input) if args.input else generate_full_size(args.seed)[0]
    posts = corpus.sample(n=min(args.posts, len(corpus)), random_state=args.seed)
    with tempfile.TemporaryDirectory(prefix="evidence_bench_") as tmp:
        predictor = build_predictor(common.model_name(args, Path(tmp)))
    k = sum(c != "SPECIAL_CASE" for c in predictor.criteria)
    pairs = len(sentence_rows(posts)) * k
    corpus_pairs = len(sentence_rows(corpus)) * k
    say(common.machine_line(common.machine(), os.getloadavg()[0]))
    say(
        f"workload: {len(posts)} of {len(corpus)} posts of "
        f"{args.input or 'the full-size synthetic corpus'} (seed {args.seed}) -> {pairs} pairs "
        f"({k} criteria), batch {args.batch_size}, model {predictor.source}; all its posts "
        f"make {corpus_pairs} pairs"
    )
    batches = loop_batches(predictor, posts, args.batch_size)
    tokens = padded_tokens(predictor, posts, args.batch_size)
    say(
        "tokens per pair: {real:.1f} of its own; padded to {sorted:.1f} in sorted batches, "
        "{unsorted:.1f} in unsorted ones".format(**tokens)
    )
    variants: dict[str, Callable[[], Any]] = {
        "sorted": lambda: list(iter_predictions(predictor, [posts], args.batch_size)),
        "unsorted": lambda: list(iter_predictions(predictor, [posts], args.batch_size, sort=False)),
        "loop": lambda: plain_forward_loop(predictor, batches),
    }
    variants["sorted"]()  # warm-up (first-call allocations, lazy init)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():  # interleaved, so drift hits every variant alike
            times[name].append(common.timed(fn)[1:])
        say(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{n} {pairs / t[-1][0]:.1f} pairs/s" for n, t in times.items())
        )
    rates = {n: statistics.median(pairs / w for w, _ in t) for n, t in times.items()}
    cpu_per_pair = statistics.median(c / pairs for _, c in times["sorted"])
    info = {
        "posts": len(posts),
        "pairs": pairs,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "model": predictor.source,
        "tokens_per_pair": tokens,
        "pairs_per_s": rates,
        # ratios: the median of each round's ratio (both rates measured minutes apart)
        **{
            f"sorted_vs_{other}": statistics.median(
                o / s for (s, _), (o, _) in zip(times["sorted"], times[other])
            )
            for other in ("unsorted", "loop")
        },
        "corpus_pairs": corpus_pairs,
        "corpus_cpu_s_estimate": cpu_per_pair * corpus_pairs,
        "corpus_wall_s_estimate": corpus_pairs / rates["sorted"],
        "load_end": os.getloadavg()[0],
    }
    say(
        "pairs/s (median of {} rounds): sorted {sorted:.1f}, unsorted {unsorted:.1f}, plain "
        "loop {loop:.1f}".format(args.rounds, **rates)
    )
    for key, goal in GOALS.items():
        verdict = "met" if info[key] >= goal else "NOT met"
        say(f"{key.replace('_', ' ')}: {info[key]:.2f}x (goal >= {goal}x, {verdict})")
    cpu_min, wall_min = info["corpus_cpu_s_estimate"] / 60, info["corpus_wall_s_estimate"] / 60
    say(
        f"all {len(corpus)} posts ({corpus_pairs} pairs): about {cpu_min:.0f} CPU minutes, "
        f"{wall_min:.0f} wall minutes at the sorted rate; load average at the end "
        f"{info['load_end']:.2f}"
    )
    return info


def main(argv: list[str] | None = None) -> None:
    parser = common.parser(__doc__, quick="tiny random model, smoke mode")
    parser.add_argument("--posts", type=int, help="posts drawn from the corpus (default 24)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass")
    parser.add_argument(
        "--input", help="a posts CSV (post_id,text) to draw posts from instead of the corpus"
    )
    args = parser.parse_args(argv)
    args.posts = args.posts or (3 if args.quick else 24)
    args.rounds = args.rounds or (1 if args.quick else 3)
    common.write_json(args.json, measure_all(args))


if __name__ == "__main__":
    main()
