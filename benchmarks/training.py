"""Training speed: ratios measured in one run on one machine, on a full-size synthetic corpus.

python benchmarks/training.py                      # MiniLM, the figures in docs/PERFORMANCE.md
python benchmarks/training.py --quick              # smoke mode: tiny random model, few steps
python benchmarks/training.py --steps 40 --rounds 3 --json bench.json

It writes a corpus with ReDSM5's published shape (``evidence_ft.synthetic``) to a temp folder,
then measures: [a] FocalLossTrainer (built by ``train.build_trainer``) against a plain PyTorch
loop over the same model and the same batches; [b] epoch time with dynamic padding against
padding every pair to 512 and to 128 tokens, plus the other data-loading knobs; [c] the time to
build the DatasetDict from the CSVs; [d] evaluation throughput; [e] GPU figures, only where
CUDA is present. Nothing is logged to MLflow. The set-up is in ``training_setup.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from datasets import DatasetDict
from transformers import DataCollatorWithPadding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from benchmarks.training_setup import Bench, plain_training_loop, rate  # noqa: E402

GOALS = {"trainer_vs_loop": 0.90, "vs_pad512": 15.0, "vs_pad128": 2.0, "build_s": 5.0}


def trainer_vs_loop(bench: Bench, steps: int, rounds: int, skip: int) -> dict[str, float]:
    """[a] Same batches for both: a once-shuffled train split read sequentially, fp32 both."""
    steps = min(steps, bench.n_train // bench.batch)
    shuffled = bench.prepared.datasets["train"].shuffle(seed=bench.cfg.seed)
    prepared = replace(
        bench.prepared, datasets=DatasetDict({**bench.prepared.datasets, "train": shuffled})
    )
    fixed = [
        f"training.max_steps={steps}",
        "training.train_sampling_strategy=sequential",
        "training.bf16=false",
        "training.fp16=false",
    ]
    args = bench.trainer(fixed).args  # the loop's hyperparameters: the Trainer's own
    seconds = {"trainer": 0.0, "loop": 0.0}
    samples = (steps - skip) * bench.batch * rounds
    for r in range(rounds):
        for who in ("loop", "trainer") if r % 2 == 0 else ("trainer", "loop"):
            if who == "trainer":
                times = bench.train_times(fixed, prepared=prepared)
            else:
                times = plain_training_loop(bench, shuffled, steps, args)
            seconds[who] += times[-1] - times[skip]
    return {
        "trainer_samples_per_s": samples / seconds["trainer"],
        "loop_samples_per_s": samples / seconds["loop"],
        "ratio": seconds["loop"] / seconds["trainer"],
        "steps": steps,
        "rounds": rounds,
    }


def padding_epochs(
    bench: Bench, steps: int, pad_steps: dict[int, int], skip: int
) -> dict[str, float]:
    """[b] Full epochs for dynamic padding (random / length-grouped); fixed pads extrapolated."""
    out: dict[str, float] = {}
    out["epoch_dynamic_s"], times = bench.epoch(["training.train_sampling_strategy=random"])
    out["epoch_grouped_s"], _ = bench.epoch(["training.train_sampling_strategy=group_by_length"])
    for length, n in pad_steps.items():
        out[f"epoch_pad{length}_s"] = bench.fixed_pad_epoch(length, n)
    for strategy in ("random", "group_by_length"):
        out[f"padded_length_{strategy}"] = padded_length(bench, strategy)
    # Knobs that keep the same batches (same sampler and seed): first ``steps`` steps compared.
    steps = min(steps, len(times) - 1)
    base = rate(times, bench.batch, skip, steps)
    same = [f"training.max_steps={steps}", "training.train_sampling_strategy=random"]
    pad8 = DataCollatorWithPadding(bench.tokenizer, pad_to_multiple_of=8)
    t = bench.train_times(same, collator=pad8)
    out["pad_multiple_8_speedup"] = rate(t, bench.batch, skip) / base
    t = bench.train_times([*same, "training.dataloader_num_workers=2"])
    out["workers_2_speedup"] = rate(t, bench.batch, skip) / base
    out["knob_steps"] = steps
    return out


def padded_length(bench: Bench, strategy: str) -> float:
    """Mean padded sequence length of an epoch's batches (what dynamic padding computes on)."""
    trainer = bench.trainer([f"training.train_sampling_strategy={strategy}"])
    return statistics.mean(b["input_ids"].shape[1] for b in trainer.get_train_dataloader())


def eval_throughput(bench: Bench) -> dict[str, float]:
    """[d] ``trainer.evaluate`` over validation + test; the second of two passes (warm)."""
    from datasets import concatenate_datasets

    pairs = concatenate_datasets(
        [bench.prepared.datasets["validation"], bench.prepared.datasets["test"]]
    )
    trainer = bench.trainer([])
    runtimes = [trainer.evaluate(pairs)["eval_runtime"] for _ in range(2)]
    return {"pairs": len(pairs), "pairs_per_s": len(pairs) / runtimes[-1]}


# [e] settings: the plain baseline turns off everything the hardware resolver would turn on.
GPU_RUNS = {
    "plain fp32": [
        "training.bf16=false",
        "training.fp16=false",
        "training.tf32=false",
        "training.optim=adamw_torch",
    ],
    "mixed precision": [],  # the default config: bf16 (else fp16), TF32, fused AdamW
    "training=optimized": ["training=optimized"],
    "optimized + checkpointing": ["training=optimized", "training.activation_checkpointing=true"],
}


def gpu(bench: Bench, skip: int) -> dict[str, dict[str, float]]:
    """[e] One epoch per setting: seconds (compile included), steady pairs/s, peak memory."""
    from transformers import BertConfig, BertForSequenceClassification

    # BERT-base shape with random weights: the same compute as bert-base-uncased, offline.
    folder = bench.work / "bert_base"
    config = BertConfig()
    config.num_labels = 2
    BertForSequenceClassification(config).save_pretrained(folder)
    bench.tokenizer.save_pretrained(folder)
    runs = {
        **GPU_RUNS,
        "bert-base optimized": ["training=optimized", f"model.name_or_path={folder}"],
    }
    out = {}
    for name, overrides in runs.items():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        seconds, times = bench.epoch(overrides)
        out[name] = {
            "epoch_s": seconds,
            "pairs_per_s": rate(times, bench.batch, skip),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
        }
    return out


def stage(say: Callable[[str], None], what: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement and say how long it took."""
    result, wall, _ = common.timed(fn)
    say(f"   ({what} took {wall:.0f} s)")
    return result


def measure_all(args: argparse.Namespace, say: Callable[[str], None] = print) -> dict[str, Any]:
    common.quiet(args.threads)
    skip = 1 if args.quick else 2
    info: dict[str, Any] = {"machine": common.machine(), "load_start": os.getloadavg()[0]}
    m = info["machine"]
    say(common.machine_line(m, info["load_start"]))
    with tempfile.TemporaryDirectory(prefix="evidence_bench_") as tmp:
        work = Path(tmp)
        model = common.model_name(args, work)
        bench = Bench(model, work, args.seed, args.train_pairs)
        sizes = {k: len(v) for k, v in bench.prepared.datasets.items()}
        lengths = [len(x) for x in bench.prepared.datasets["train"]["input_ids"]]
        info |= {"model": model, "corpus": bench.corpus, "pairs": sizes}
        say(
            f"corpus: {bench.corpus['posts']} posts, {bench.corpus['annotation_rows']} annotation "
            f"rows -> pairs {sizes}; train pairs {statistics.mean(lengths):.1f} tokens on "
            f"average (max {max(lengths)}); model {model}; batch {bench.batch}"
        )

        a = stage(say, "[a]", lambda: trainer_vs_loop(bench, args.steps, args.rounds, skip))
        info["a"] = a
        say(
            f"[a] trainer vs plain loop throughput: {a['ratio']:.2f}x (goal >= "
            f"{GOALS['trainer_vs_loop']:.2f}); FocalLossTrainer {a['trainer_samples_per_s']:.1f} "
            f"vs plain loop {a['loop_samples_per_s']:.1f} samples/s ({a['rounds']} rounds x "
            f"{a['steps']} steps, first {skip} of each excluded, same batches, fp32)"
        )

        pad_steps = {512: args.pad512_steps, 128: args.pad128_steps}
        b = stage(say, "[b]", lambda: padding_epochs(bench, args.steps, pad_steps, skip))
        info["b"] = b
        say(
            f"[b] epoch seconds: dynamic padding {b['epoch_dynamic_s']:.1f} (random order), "
            f"{b['epoch_grouped_s']:.1f} (group_by_length); padded to 512 {b['epoch_pad512_s']:.1f}"
            f", to 128 {b['epoch_pad128_s']:.1f} (fixed pads: {args.pad512_steps} and "
            f"{args.pad128_steps} steps timed, first excluded, x {bench.n_train} train pairs)"
        )
        for length in (512, 128):
            fixed = b[f"epoch_pad{length}_s"]
            goal = GOALS[f"vs_pad{length}"]
            say(
                f"[b] dynamic padding vs pad to {length}: {fixed / b['epoch_dynamic_s']:.2f}x "
                f"faster with random batches (the default), {fixed / b['epoch_grouped_s']:.2f}x "
                f"with group_by_length (goal >= {goal:g}x)"
            )
        grouped = b["epoch_dynamic_s"] / b["epoch_grouped_s"]
        say(
            f"[b] group_by_length vs random order: {grouped:.2f}x faster per epoch (batches "
            f"padded to {b['padded_length_group_by_length']:.1f} vs "
            f"{b['padded_length_random']:.1f} tokens on average); "
            f"pad_to_multiple_of=8: {b['pad_multiple_8_speedup']:.2f}x; "
            f"dataloader_num_workers=2: {b['workers_2_speedup']:.2f}x (both on the same "
            f"{b['knob_steps']} batches as random order, >1 = faster)"
        )

        built = bench.build_times
        info["c"] = {"build_s": built}
        say(
            f"[c] DatasetDict from CSV (load, validate, pair, split, tokenize): {built[0]:.2f} s "
            f"first call (goal < {GOALS['build_s']:g} s); {min(built):.2f} s best of {len(built)}"
        )

        d = stage(say, "[d]", lambda: eval_throughput(bench))
        info["d"] = d
        say(
            f"[d] evaluation throughput: {d['pairs_per_s']:.1f} pairs/s ({d['pairs']} pairs, "
            f"batch {bench.cfg.training.per_device_eval_batch_size}, dynamic padding)"
        )

        if torch.cuda.is_available():
            e = stage(say, "[e]", lambda: gpu(bench, skip))
            info["e"] = e
            base = e["plain fp32"]
            for name, got in e.items():
                say(
                    f"[e] GPU {m['cuda']}, {name}: epoch {got['epoch_s']:.1f} s (compile "
                    f"included), {got['pairs_per_s']:.1f} pairs/s after warm-up = "
                    f"{got['pairs_per_s'] / base['pairs_per_s']:.2f}x plain fp32, peak memory "
                    f"{got['peak_gib']:.2f} GiB = {got['peak_gib'] / base['peak_gib']:.2f}x"
                )
        else:
            info["e"] = None
            say("[e] GPU figures: not measured (no CUDA device on this machine)")
    info["load_end"] = os.getloadavg()[0]
    say(f"load average at the end: {info['load_end']:.2f}")
    return info


def main(argv: Sequence[str] | None = None) -> None:
    parser = common.parser(__doc__, quick="tiny random model, few steps")
    parser.add_argument("--steps", type=int, help="timed steps per run for [a] and the knobs")
    parser.add_argument("--rounds", type=int, help="alternating trainer/loop rounds for [a]")
    parser.add_argument("--pad512-steps", type=int, help="steps timed at 512 tokens")
    parser.add_argument("--pad128-steps", type=int, help="steps timed at 128 tokens")
    parser.add_argument("--train-pairs", type=int, help="use only the first N train pairs")
    args = parser.parse_args(argv)
    defaults = (
        {
            "steps": 3,
            "rounds": 1,
            "pad512_steps": 3,
            "pad128_steps": 3,
            "train_pairs": 64,
            "threads": 1,
        }
        if args.quick
        else {"steps": 30, "rounds": 2, "pad512_steps": 3, "pad128_steps": 8}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("steps", "pad512_steps", "pad128_steps"):
        if getattr(args, key) < 3:
            parser.error(f"--{key.replace('_', '-')} must be >= 3 (warm-up steps are excluded)")
    common.write_json(args.json, measure_all(args))


if __name__ == "__main__":
    main()
