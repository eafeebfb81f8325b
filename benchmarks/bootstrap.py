"""What the bootstrap intervals add to an evaluation's time, on a full-size test split.

python benchmarks/bootstrap.py                     # full-size synthetic corpus, simulated scores
python benchmarks/bootstrap.py --eval outputs/eval/<date>/<time>   # a run_eval.py report folder
python benchmarks/bootstrap.py --resamples 2000 --repeats 5

Times the annotated-pair report (``build_report``) and the all-sentence report
(``all_sentence_report``, the model and three baselines) without intervals and with
``--resamples`` of them, ``--repeats`` times each, and prints the medians and what the
intervals add. Without ``--eval`` the scores are simulated on the test split (70/15/15, split
seed 0) of the full-size synthetic corpus: P(evidence) ~ N(0.3 + 0.4 label, 0.2), clipped.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sentence_labels import corpus  # noqa: E402
from evidence_ft import data  # noqa: E402
from evidence_ft.jobs.evaluate import build_report, interval_resampler  # noqa: E402
from evidence_ft.sentence_metrics import all_sentence_report  # noqa: E402


def simulated(corpus_seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], list]:
    """The full-size corpus' test split, annotated and all-sentence frames, simulated scores."""
    found, criteria = corpus("full", corpus_seed)
    ids = found.posts["post_id"]
    manifest = data.make_manifest(found.pairs, found.counts, [0.7, 0.15, 0.15], 0, ids)
    test = list(manifest["splits"]["test"])
    posts = found.posts[found.posts["post_id"].isin(set(test))]
    pairs = found.pairs[found.pairs["post_id"].isin(set(test))]
    sentences, _ = data.sentence_pairs(posts, pairs, criteria)
    rng = np.random.default_rng(0)

    def scores(labels: pd.Series) -> np.ndarray:
        return np.clip(rng.normal(0.3 + 0.4 * labels.to_numpy(), 0.2), 0, 1)

    annotated = pairs[["post_id", "sentence_id", "symptom", "label"]]
    annotated = annotated.assign(probability=scores(pairs["label"]))
    return annotated, sentences.assign(probability=scores(sentences["label"])), criteria, test


def from_eval(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], list]:
    """A run_eval.py report folder's scored frames (criteria: the default criteria file)."""
    annotated = pd.read_csv(folder / "predictions.csv")
    sentences = pd.read_csv(folder / "all_sentence_predictions.csv")
    _, criteria = corpus("sample", 0)
    return annotated, sentences, criteria, sorted(sentences["post_id"].unique())


def median_seconds(job: Callable[[DictConfig], object], ci: DictConfig, repeats: int) -> float:
    """The median wall time of ``job(ci)`` over ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        job(ci)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--eval", type=Path, help="a run_eval.py report folder (pairs=both)")
    parser.add_argument("--corpus-seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    annotated, sentences, criteria, posts = (
        from_eval(args.eval) if args.eval else simulated(args.corpus_seed)
    )
    print(
        f"test split: {annotated['post_id'].nunique()} posts with {len(annotated)} annotated "
        f"pairs; {len(posts)} posts, {len(sentences)} sentence x criterion pairs "
        f"({int(sentences['label'].sum())} evidence); {args.resamples} resamples, median of "
        f"{args.repeats} runs"
    )
    ci = OmegaConf.create({"resamples": args.resamples, "level": 0.95, "seed": 0})
    off = OmegaConf.create({"resamples": 0, "level": 0.95, "seed": 0})
    jobs = {
        "annotated pairs (build_report)": lambda c: build_report(annotated, 0.5, c),
        "all sentences (all_sentence_report)": lambda c: all_sentence_report(
            sentences, 0.5, criteria, posts, rs=interval_resampler(pd.Series(posts), c)
        ),
    }
    for name, job in jobs.items():
        without = median_seconds(job, off, args.repeats)
        with_ci = median_seconds(job, ci, args.repeats)
        print(
            f"{name}: {without:.2f} s without intervals, {with_ci:.2f} s with; intervals add "
            f"{with_ci - without:.2f} s (x{with_ci / without:.2f})"
        )


if __name__ == "__main__":
    main()
