"""Does training on unannotated negatives help? The same runs with and without, several seeds.

python benchmarks/negatives.py                        # full-size synthetic corpus, seeds 0 1 2
python benchmarks/negatives.py --data sample --seeds 0 1 2 3
python benchmarks/negatives.py --quick --data sample  # smoke mode: tiny random model, 1 epoch

For each seed and each ``data.negatives`` setting (none, unannotated) it trains exactly as
``run_train.py`` does (the seed fixes the split and the initial weights, so both settings of a
seed share their test posts) and evaluates the best model on the test split with
``run_eval.py pairs=both``. It prints one row per run and the mean and standard deviation per
setting: all-sentence nDCG@10, MAP and F1, the ten-label post micro/macro-F1, and F1 on the
annotated pairs, beside the constant and lexical baselines of the same test posts. Everything
goes to a temporary folder (``--keep DIR`` keeps it), MLflow included.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, model_name, parser, quiet, write_json  # noqa: E402

SETTINGS = ("none", "unannotated")
# (column, path in run_eval's report.json); all at the model's decision threshold.
COLUMNS = (
    ("nDCG@10", ("all_sentences", "model", "retrieval", "ndcg_at_10")),
    ("MAP", ("all_sentences", "model", "retrieval", "map")),
    ("F1 all", ("all_sentences", "model", "sentence", "f1")),
    ("post micro", ("all_sentences", "post_protocol", "model", "micro_f1")),
    ("post macro", ("all_sentences", "post_protocol", "model", "macro_f1")),
    ("F1 annotated", ("pair_level", "at_threshold", "f1")),
)
BASELINES = ("constant", "lexical")


def pick(report: dict[str, Any], path: Sequence[str]) -> float | None:
    """The value at ``path`` in a nested report, None where a key is missing or undefined."""
    node: Any = report
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def baseline_path(path: Sequence[str], name: str) -> tuple[str, ...] | None:
    """The same figure for baseline ``name`` (None for the annotated-pair F1)."""
    if path[0] != "all_sentences":
        return None
    if path[1] == "post_protocol":
        return (path[0], path[1], name, *path[3:])
    return (path[0], "baselines", name, *path[2:])


def one_run(work: Path, data: list[str], setting: str, seed: int, extra: list[str]) -> dict:
    """Train one model and evaluate it on its test split; return run_eval's report."""
    from evidence_ft.config import load_config
    from evidence_ft.jobs.evaluate import evaluate
    from evidence_ft.jobs.train import train

    store = [f"tracking.uri=sqlite:///{work / 'mlflow.db'}"]
    store.append(f"tracking.artifact_location={work / 'mlruns'}")
    folder = work / f"{setting}-{seed}"
    overrides = [*data, *store, f"seed={seed}", f"data.negatives={setting}", *extra]
    train(load_config([*overrides, f"output_dir={folder}", "tracking.register=never"]))
    eval_cfg = load_config(
        [*store, f"checkpoint={folder / 'model'}", "pairs=both", "log=false"]
        + [f"output_dir={folder / 'eval'}"],
        "eval",
    )
    with open(folder / "eval.txt", "w", encoding="utf-8") as printed, redirect_stdout(printed):
        report, _ = evaluate(eval_cfg, overrides=[])  # its tables go to eval.txt, not here
    return report


def table(rows: list[dict[str, Any]]) -> str:
    """One line per run, then mean +- std per setting, then the baselines' means."""
    from evidence_ft.report import aligned

    def fmt(values: list[float | None]) -> str:
        real = [v for v in values if v is not None]
        if not real:
            return "-"
        spread = f" ± {statistics.stdev(real):.3f}" if len(real) > 1 else ""
        return f"{statistics.mean(real):.3f}{spread}"

    out = [["run", *(c for c, _ in COLUMNS)]]
    for r in rows:
        out.append([f"{r['setting']} seed {r['seed']}", *(fmt([r[c]]) for c, _ in COLUMNS)])
    for setting in SETTINGS:
        mine = [r for r in rows if r["setting"] == setting]
        if mine:
            out.append([f"{setting}, mean ± sd", *(fmt([r[c] for r in mine]) for c, _ in COLUMNS)])
    for name in BASELINES:
        out.append(
            [f"{name} baseline", *(fmt([r[f"{name} {c}"] for r in rows]) for c, _ in COLUMNS)]
        )
    return aligned(out)


def main(argv: Sequence[str] | None = None) -> None:
    args_parser = parser(__doc__, "tiny random model, 1 epoch, 2 seeds")
    args_parser.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 (--quick: 0 1)")
    args_parser.add_argument("--data", choices=("full", "sample"), default="full")
    args_parser.add_argument("--keep", type=Path, help="keep run folders and MLflow here")
    args_parser.add_argument("overrides", nargs="*", help="more run_train.py overrides")
    args = args_parser.parse_args(argv)
    quiet(args.threads)
    logging.basicConfig(level=logging.WARNING)
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    with tempfile.TemporaryDirectory(prefix="evidence_ft_negatives_") as tmp:
        work = (args.keep or Path(tmp)).absolute()
        work.mkdir(parents=True, exist_ok=True)
        extra = [f"model.name_or_path={model_name(args, work)}", *args.overrides]
        if args.quick:
            extra.append("training.num_train_epochs=1")
        data = ["data=sample"]
        if args.data == "full":
            from evidence_ft import synthetic

            synthetic.write_corpus(*synthetic.generate_full_size(args.seed), work / "corpus")
            data = [f"data.posts_path={work / 'corpus' / 'redsm5_posts.csv'}"]
            data.append(f"data.annotations_path={work / 'corpus' / 'redsm5_annotations.csv'}")
        rows = []
        for seed in seeds:
            for setting in SETTINGS:
                report = one_run(work, data, setting, seed, extra)
                row: dict[str, Any] = {"setting": setting, "seed": seed}
                for column, path in COLUMNS:
                    row[column] = pick(report, path)
                    for name in BASELINES:
                        other = baseline_path(path, name)
                        row[f"{name} {column}"] = pick(report, other) if other else None
                rows.append(row)
                print(f"done: {setting} seed {seed}", flush=True)
    print(f"corpus: {args.data}; test split of each seed; decision threshold of each model")
    print(table(rows))
    write_json(args.json, {"rows": rows, "data": args.data, "seeds": seeds, "root": str(ROOT)})


if __name__ == "__main__":
    main()
