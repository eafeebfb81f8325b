"""``python -m evidence_ft.synthetic``: write a synthetic corpus (see the package docstring)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from evidence_ft import synthetic
from evidence_ft.synthetic.stats import describe


def main(argv: Sequence[str] | None = None) -> None:
    doc = synthetic.__doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--out", required=True, help="folder for the two CSV files")
    parser.add_argument("--posts", type=int, default=120, help="number of posts (sample shape)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--full-size", action="store_true", help="the shape of the full ReDSM5")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.full_size:
        posts, ann = synthetic.generate_full_size(args.seed)
    else:
        posts, ann = synthetic.generate_corpus(args.posts, args.seed)
    elapsed = time.perf_counter() - start
    synthetic.write_corpus(posts, ann, args.out)
    print(f"{len(posts)} posts, {len(ann)} annotation rows in {elapsed:.2f} s -> {args.out}")
    for name, value in describe(posts, ann).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
