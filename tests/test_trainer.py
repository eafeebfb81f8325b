"""FocalLossTrainer: the loss it logs and the step it takes under gradient accumulation."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from evidence_ft.hardware import Capabilities
from evidence_ft.trainer import FocalLossTrainer, build_training_args


def make_trainer(model_dir, out, batch, accumulation, n=8):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [f"sentence number {i} " * (1 + i % 3) for i in range(n)]
    ds = Dataset.from_dict(
        {"criterion": ["tired"] * n, "sentence": texts, "label": [i % 2 for i in range(n)]}
    )
    ds = ds.map(lambda b: tokenizer(b["criterion"], b["sentence"]), batched=True)
    ds = ds.remove_columns(["criterion", "sentence"])
    training = {
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": accumulation,
        "max_steps": 1,
        "learning_rate": 1e-2,
        "warmup_steps": 0,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "no",
        "eval_strategy": "no",
        "train_sampling_strategy": "sequential",
        "bf16": None,
        "fp16": None,
        "tf32": None,
        "optim": "adamw_torch",
        "dataloader_pin_memory": None,
    }
    args, _ = build_training_args(training, str(out), seed=0, caps=Capabilities())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return FocalLossTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        eval_dataset=ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        alpha=[0.8, 1.2],
        gamma=2.0,
    )


@pytest.mark.parametrize("family", ["bert", "deberta"])
def test_gradient_accumulation_matches_one_big_batch(family, tiny_bert, tiny_deberta, tmp_path):
    model_dir = tiny_bert if family == "bert" else tiny_deberta
    big = make_trainer(model_dir, tmp_path / "big", batch=8, accumulation=1)
    acc = make_trainer(model_dir, tmp_path / "acc", batch=4, accumulation=2)
    big.train()
    acc.train()
    assert big.model_accepts_loss_kwargs is False  # else DDP multiplies the loss by world size
    big_loss = big.state.log_history[0]["loss"]
    acc_loss = acc.state.log_history[0]["loss"]
    assert acc_loss == pytest.approx(big_loss, rel=1e-4)
    for p_big, p_acc in zip(big.model.parameters(), acc.model.parameters(), strict=True):
        assert torch.allclose(p_big, p_acc, atol=1e-5)
    assert big.state.log_history[0]["grad_norm"] == pytest.approx(
        acc.state.log_history[0]["grad_norm"], rel=1e-3
    )


def test_predict_keeps_every_row(tiny_bert, tmp_path):
    trainer = make_trainer(tiny_bert, tmp_path, batch=3, accumulation=1, n=7)
    out = trainer.predict(trainer.eval_dataset)
    assert out.predictions.shape == (7, 2)
    assert "test_loss" in out.metrics
