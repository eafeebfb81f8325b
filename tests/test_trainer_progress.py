"""Progress output: the Trainer's bars on a terminal, one line per epoch in logs and pipes."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from transformers import AutoTokenizer, DataCollatorWithPadding, PrinterCallback, ProgressCallback

from evidence_ft.config import load_config
from evidence_ft.hardware import Capabilities
from evidence_ft.modeling import load_model
from evidence_ft.trainer import (
    EpochLineCallback,
    FocalLossTrainer,
    build_training_args,
    show_progress,
)

from .conftest import ROOT, tiny_sample_run

EPOCH_LINE = re.compile(
    r"epoch (\d+)/(\d+) step (\d+)/(\d+) train_loss [\d.]+ eval_loss [\d.]+ eval_f1 [\d.]+ "
    r"elapsed \d+:\d\d ETA \d+:\d\d"
)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def default_training(**override):
    """configs/training/default.yaml as composed, made fast for a tiny model."""
    cfg = load_config(["data=sample"])
    training = OmegaConf.to_container(cfg.training, resolve=True)
    training |= {"report_to": [], "save_strategy": "no"}
    training |= {"load_best_model_at_end": False, "logging_steps": 1, **override}
    return training


def tiny_trainer(model_dir, out, training):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    n = 8
    ds = Dataset.from_dict(
        {"criterion": ["tired"] * n, "sentence": [f"s {i}" for i in range(n)], "label": [0, 1] * 4}
    )
    ds = ds.map(lambda b: tokenizer(b["criterion"], b["sentence"]), batched=True)
    ds = ds.remove_columns(["criterion", "sentence"])
    args, _ = build_training_args(training, str(out), seed=0, caps=Capabilities())
    torch.manual_seed(0)
    trainer = FocalLossTrainer(
        model=load_model(str(model_dir)),
        args=args,
        train_dataset=ds,
        eval_dataset=ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=lambda p: {"f1": 0.5},
    )
    show_progress(trainer)
    return trainer


@pytest.mark.parametrize("tty", [True, False])
def test_default_config_chooses_bars_only_on_a_terminal(tty, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    trainer = tiny_trainer(tiny_bert, tmp_path, default_training())
    kinds = {type(cb) for cb in trainer.callback_handler.callbacks}
    assert trainer.args.disable_tqdm is (not tty)
    assert (ProgressCallback in kinds) is tty
    assert (EpochLineCallback in kinds) is (not tty)
    assert PrinterCallback not in kinds


def test_explicit_disable_tqdm_wins(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(True))
    trainer = tiny_trainer(tiny_bert, tmp_path, default_training(disable_tqdm=True))
    assert trainer.args.disable_tqdm is True


def test_one_line_per_epoch_and_no_raw_dicts_off_a_terminal(tiny_bert, tmp_path, capsys, caplog):
    training = default_training(num_train_epochs=2, per_device_train_batch_size=4)
    trainer = tiny_trainer(tiny_bert, tmp_path, training)  # pytest's capture is no terminal
    with caplog.at_level(logging.INFO, logger="evidence_ft.trainer"):
        trainer.train()
    out = capsys.readouterr()
    assert "{'loss'" not in out.out + out.err and "{'eval_loss'" not in out.out + out.err
    lines = [r.getMessage() for r in caplog.records if r.name == "evidence_ft.trainer"]
    assert len(lines) == 2, lines
    for k, line in enumerate(lines, start=1):
        match = EPOCH_LINE.search(line)
        assert match, line
        assert match.groups() == (str(k), "2", str(2 * k), "4")


def test_without_evaluation_the_line_comes_at_the_epoch_end(tiny_bert, tmp_path, caplog):
    training = default_training(eval_strategy="no", per_device_train_batch_size=4)
    training["num_train_epochs"] = 1
    with caplog.at_level(logging.INFO, logger="evidence_ft.trainer"):
        tiny_trainer(tiny_bert, tmp_path, training).train()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "evidence_ft.trainer"]
    assert re.search(r"epoch 1/1 step 2/2 train_loss [\d.]+ eval_loss - eval_f1 - ", line), line


@pytest.mark.integration
def test_run_train_prints_epoch_lines_into_a_pipe(tiny_bert, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_train.py"),
            *tiny_sample_run(tiny_bert, tmp_path, "training.num_train_epochs=2"),
            f"output_dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    both = proc.stdout + proc.stderr
    assert "{'loss'" not in both and "{'eval_loss'" not in both
    epochs = [m.group(1) for m in EPOCH_LINE.finditer(both)]
    assert epochs == ["1", "2"], both[-3000:]
