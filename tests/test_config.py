"""Every config group composes, builds TrainingArguments, and bad overrides fail in one line."""

import itertools

import pytest
from omegaconf import OmegaConf

from evidence_ft.config import CONFIG_DIR, load_config
from evidence_ft.errors import UserError
from evidence_ft.hardware import Capabilities
from evidence_ft.trainer import build_training_args


def options(group):
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_groups_have_the_documented_options():
    assert options("data") == ["redsm5", "sample"]
    assert options("model") == ["bert_base", "bert_large", "deberta_v3", "minilm"]
    assert options("training") == ["default", "optimized"]


@pytest.mark.parametrize(
    ("data", "model", "training"),
    list(itertools.product(options("data"), options("model"), options("training"))),
)
def test_every_combination_composes_and_builds_training_args(data, model, training, tmp_path):
    cfg = load_config([f"data={data}", f"model={model}", f"training={training}"])
    assert cfg.data.name == data
    assert cfg.data.posts_path.endswith("redsm5_posts.csv") and "${" not in cfg.data.posts_path
    args, _ = build_training_args(
        OmegaConf.to_container(cfg.training), str(tmp_path), cfg.seed, caps=Capabilities()
    )
    assert args.metric_for_best_model == "f1" and args.load_best_model_at_end


def test_training_keys_pass_through_unrenamed(tmp_path):
    cfg = load_config(
        ["training.num_train_epochs=1", "training.max_steps=2", "training.learning_rate=3e-5"]
    )
    args, _ = build_training_args(
        OmegaConf.to_container(cfg.training), str(tmp_path), 0, Capabilities()
    )
    assert (args.num_train_epochs, args.max_steps, args.learning_rate) == (1, 2, 3e-5)


def test_optimized_preset_turns_on_compile_and_keeps_the_batches():
    cfg = load_config(["training=optimized"])
    assert cfg.training.torch_compile is True
    # length grouping is faster but changed results on the sample (docs/PERFORMANCE.md)
    assert cfg.training.train_sampling_strategy == "random"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("data.no_such_key=1", "no_such_key"),
        ("model=gpt9", "gpt9"),
        (
            "+training.not_a_field=1",
            "training.not_a_field is not a transformers.TrainingArguments field",
        ),
        ("data.split_ratios=[0.5,0.5,0.5]", "sum"),
        ("training.focal_gamma=-1", "training.focal_gamma"),
        ("data.conflict_policy=maybe", "conflict_policy"),
    ],
)
def test_bad_overrides_are_one_line_user_errors(override, match):
    with pytest.raises(UserError, match=match) as info:
        load_config([override])
    assert "\n" not in str(info.value)
