"""FocalLossTrainer: the loss it logs, the step it takes under gradient accumulation, and the
loss settings of EvidenceTrainingArguments."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    TrainingArguments,
)

from evidence_ft.errors import UserError
from evidence_ft.hardware import Capabilities
from evidence_ft.trainer import EvidenceTrainingArguments, FocalLossTrainer, build_training_args


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
        "focal_gamma": 2.0,
        "class_weights": "balanced",
        "class_alpha": [0.8, 1.2],
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


LOSS = {"focal_gamma": 2.0, "class_weights": "balanced", "class_alpha": None}


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("focal_gamma", -0.5, "training.focal_gamma=-0.5 must be a number >= 0"),
        ("class_weights", "cubic", "training.class_weights=cubic must be balanced or uniform"),
        ("class_alpha", [1.0], "training.class_alpha=.* must be null or two positive numbers"),
    ],
)
def test_loss_fields_are_checked_in_post_init(field, value, match, tmp_path):
    with pytest.raises(ValueError, match=match) as err:
        EvidenceTrainingArguments(output_dir=str(tmp_path), **{**LOSS, field: value})
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=match):  # what the jobs see
        build_training_args({**LOSS, field: value}, str(tmp_path), seed=0, caps=Capabilities())


@pytest.mark.parametrize(
    ("training", "match"),
    [
        ({"metric_for_best_model": "accuracy"}, "metric_for_best_model=accuracy must be f1, "),
        (
            {"metric_for_best_model": "mcc", "greater_is_better": False},
            "greater_is_better=false must be true or null with training.metric_for_best_model=mcc",
        ),
    ],
)
def test_the_selection_metric_is_checked_in_post_init(training, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        EvidenceTrainingArguments(output_dir=str(tmp_path), **training)
    args = EvidenceTrainingArguments(
        output_dir=str(tmp_path),
        metric_for_best_model="pr_auc",
        load_best_model_at_end=True,
        eval_strategy="epoch",
        save_strategy="epoch",
    )
    assert args.greater_is_better is True  # null: the library's rule gives true for all four


def test_loss_fields_have_help_and_an_int_gamma_becomes_float(tmp_path):
    names = {f.name: f for f in dataclasses.fields(EvidenceTrainingArguments)}
    assert all(names[k].metadata["help"] for k in LOSS)
    args = EvidenceTrainingArguments(output_dir=str(tmp_path), **{**LOSS, "focal_gamma": 0})
    assert isinstance(args.focal_gamma, float)  # _hp_search_setup casts to the current type


def test_the_loss_follows_the_args_as_a_search_trial_sets_them(tiny_bert, tmp_path):
    trainer = make_trainer(tiny_bert, tmp_path, batch=4, accumulation=1)
    assert trainer.alpha == [0.8, 1.2]  # class_alpha wins
    trainer.args.class_alpha = None  # what Trainer._hp_search_setup does with a trial's values
    assert trainer.alpha == [1.0, 1.0]  # balanced on 4 + 4 labels
    trainer.args.class_weights = "uniform"
    assert trainer.alpha == [1.0, 1.0]
    trainer.args.focal_gamma = 0.0
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    loss = trainer.compute_loss(trainer.model, dict(batch))
    logits = trainer.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    assert loss.item() == pytest.approx(F.cross_entropy(logits, batch["labels"]).item(), rel=1e-5)


def test_focal_loss_trainer_refuses_plain_training_arguments(tiny_bert, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    with pytest.raises(TypeError, match="EvidenceTrainingArguments"):
        FocalLossTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path)))
