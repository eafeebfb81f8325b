"""The training benchmark's shared set-up: corpus, config, splits, trainers, a plain loop.

Every run is configured one way, through ``evidence_ft.config.load_config`` with overrides on
top of ``BENCH_OVERRIDES``; the plain loop takes its hyperparameters from the Trainer's own
``TrainingArguments`` for the same overrides.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from datasets import DatasetDict
from transformers import DataCollatorWithPadding, TrainerCallback, get_linear_schedule_with_warmup
from transformers.trainer_callback import PrinterCallback

from evidence_ft import synthetic
from evidence_ft.config import load_config
from evidence_ft.losses import focal_loss
from evidence_ft.modeling import load_model, load_tokenizer

# Timing only: no evaluation, checkpoints or MLflow inside the measured loops.
BENCH_OVERRIDES = [
    "training.report_to=[]",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepClock(TrainerCallback):
    """Wall-clock time at the start of training and after every optimizer step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        sync()
        self.times = [time.perf_counter()]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        sync()
        self.times.append(time.perf_counter())


def rate(times: Sequence[float], batch: int, skip: int, upto: int | None = None) -> float:
    """Samples per second over steps ``skip+1..upto`` (the first ``skip`` steps are warm-up)."""
    upto = len(times) - 1 if upto is None else upto
    return (upto - skip) * batch / (times[upto] - times[skip])


class Bench:
    """Shared set-up: the corpus, the composed config, the tokenized splits."""

    def __init__(self, model: str, work: Path, seed: int, train_pairs: int | None) -> None:
        from accelerate import PartialState

        from evidence_ft.jobs.train import prepare_data

        posts, annotations = synthetic.generate_full_size(seed)
        synthetic.write_corpus(posts, annotations, work / "corpus")
        self.corpus = {"posts": len(posts), "annotation_rows": len(annotations)}
        self.work = work
        self.base = [
            f"data.posts_path={work / 'corpus' / 'redsm5_posts.csv'}",
            f"data.annotations_path={work / 'corpus' / 'redsm5_annotations.csv'}",
            f"model.name_or_path={model}",
            f"output_dir={work / 'run'}",
            *BENCH_OVERRIDES,
        ]
        self.cfg = load_config(self.base)
        self.tokenizer = load_tokenizer(model)
        self.state = PartialState()
        self.build_times = []
        for _ in range(3):
            start = time.perf_counter()
            self.prepared = prepare_data(self.cfg, self.tokenizer, self.state)
            self.build_times.append(time.perf_counter() - start)
        if train_pairs:  # a fixed subset, for --quick
            datasets = dict(self.prepared.datasets)
            datasets["train"] = datasets["train"].select(range(train_pairs))
            self.prepared = replace(self.prepared, datasets=DatasetDict(datasets))
        self.batch = int(self.cfg.training.per_device_train_batch_size)
        self.n_train = len(self.prepared.datasets["train"])

    def trainer(self, overrides: Sequence[str], prepared: Any = None, collator: Any = None) -> Any:
        """``train.build_trainer`` for the default config plus ``overrides``, seeded."""
        from transformers import set_seed

        from evidence_ft.jobs.train import build_trainer

        cfg = load_config([*self.base, *overrides])
        set_seed(cfg.seed)
        trainer, _ = build_trainer(
            cfg, prepared or self.prepared, self.tokenizer, self.work / "run"
        )
        trainer.remove_callback(PrinterCallback)
        if collator is not None:
            trainer.data_collator = collator
        return trainer

    def train_times(self, overrides: Sequence[str], **kwargs: Any) -> list[float]:
        """Step times of ``trainer.train()`` with ``overrides`` on top of the default config."""
        trainer = self.trainer(overrides, **kwargs)
        clock = StepClock()
        trainer.add_callback(clock)
        trainer.train()
        return clock.times

    def epoch(self, overrides: Sequence[str] = ()) -> tuple[float, list[float]]:
        """One full epoch through the Trainer: (seconds, step times)."""
        times = self.train_times(["training.num_train_epochs=1", *overrides])
        return times[-1] - times[0], times

    def fixed_pad_epoch(self, length: int, steps: int) -> float:
        """Epoch seconds with every pair padded to ``length``: every step has the same shape,
        so (time per sample over steps 2..steps) x train pairs is the epoch time."""
        collator = DataCollatorWithPadding(self.tokenizer, padding="max_length", max_length=length)
        times = self.train_times([f"training.max_steps={steps}"], collator=collator)
        return self.n_train / rate(times, self.batch, skip=1)


def plain_training_loop(bench: Bench, dataset: Any, steps: int, args: Any) -> list[float]:
    """A hand-written loop over the same model, batches, loss, optimizer and schedule.

    ``args``: the TrainingArguments of a Trainer built for the same overrides, so that both
    sides read one configuration.
    """
    from torch.utils.data import DataLoader
    from transformers import set_seed

    cfg = bench.cfg
    set_seed(cfg.seed)
    device = args.device
    model = load_model(cfg.model.name_or_path, cfg.model.attn_implementation).to(device)
    model.train()
    columns = ("input_ids", "token_type_ids", "attention_mask", "label")
    keep = [c for c in columns if c in dataset.column_names]
    loader = DataLoader(
        dataset.select_columns(keep),
        batch_size=bench.batch,
        shuffle=False,
        collate_fn=DataCollatorWithPadding(bench.tokenizer),
    )
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay}],
        lr=args.learning_rate,
        weight_decay=0.0,
        fused=args.optim == "adamw_torch_fused",
    )
    schedule = get_linear_schedule_with_warmup(optimizer, args.get_warmup_steps(steps), steps)
    alpha = torch.tensor(bench.prepared.alpha, device=device)
    sync()
    times = [time.perf_counter()]
    for _, batch in zip(range(steps), loader):
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = batch.pop("labels")
        loss = focal_loss(
            model(**batch).logits, labels, alpha=alpha, gamma=cfg.training.focal_gamma
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter())
    return times
