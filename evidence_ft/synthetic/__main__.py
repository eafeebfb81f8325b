"""``python -m evidence_ft.synthetic``: write a synthetic corpus (see the package docstring)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import pandas as pd

from evidence_ft import synthetic
from evidence_ft.data import SYMPTOMS


def main(argv: Sequence[str] | None = None) -> None:
    doc = synthetic.__doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--out", required=True, help="folder for the two CSV files")
    parser.add_argument("--posts", type=int, default=120, help="number of posts (sample shape)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--negative-rate", type=float, default=0.35)
    parser.add_argument("--empty-post-rate", type=float, default=0.1)
    parser.add_argument("--full-size", action="store_true", help="the published ReDSM5 shape")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.full_size:
        posts, ann = synthetic.generate_full_size(args.seed)
    else:
        posts, ann = synthetic.generate_corpus(
            args.posts,
            args.seed,
            negative_rate=args.negative_rate,
            empty_post_rate=args.empty_post_rate,
        )
    elapsed = time.perf_counter() - start
    synthetic.write_corpus(posts, ann, args.out)
    empty = (~posts["post_id"].isin(ann["post_id"])).sum()
    print(
        f"{len(posts)} posts ({empty} without annotations), {len(ann)} annotation rows "
        f"({int(ann['status'].sum())} status 1) in {elapsed:.2f} s -> {args.out}"
    )
    print(pd.crosstab(ann["DSM5_symptom"], ann["status"]).reindex(SYMPTOMS).to_string())


if __name__ == "__main__":
    main()
