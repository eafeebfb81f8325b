"""Every config group composes, builds TrainingArguments, and bad overrides fail in one line."""

import dataclasses
import inspect
import itertools

import pytest
import yaml
from omegaconf import OmegaConf

from evidence_ft.config import CONFIG_DIR, load_config
from evidence_ft.errors import UserError
from evidence_ft.hardware import Capabilities
from evidence_ft.options import describe, is_schema
from evidence_ft.schema import (
    SCHEMAS,
    DataConfig,
    EvalConfig,
    ModelConfig,
    PredictConfig,
    SummaryConfig,
    TrackingConfig,
    TrainConfig,
)
from evidence_ft.search_schema import SearchConfig, SearchGroupConfig
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


# ----------------------------------------------------------------- typed configs (schema.py)

SCHEMA_DEFAULTS = [
    # (schema, config name, overrides, key of the schema's options in the composed config)
    (DataConfig, "train", ["data=redsm5"], "data"),
    (ModelConfig, "train", ["model=minilm"], "model"),
    (TrackingConfig, "train", [], "tracking"),
    (EvalConfig, "eval", [], ""),
    (PredictConfig, "predict", [], ""),
    (SummaryConfig, "summary", [], ""),
    (TrainConfig, "train", [], ""),
    (SearchConfig, "search", [], ""),
    (SearchGroupConfig, "search", ["search=default"], "search"),
]

# Fields whose value is free-form YAML data filled by a config file (search.space's entries).
FREE_FORM = {(SearchGroupConfig, "space")}


def _resolved(node):
    return OmegaConf.to_container(node, resolve=True)


@pytest.mark.parametrize(("schema", "name", "overrides", "key"), SCHEMA_DEFAULTS)
def test_each_schema_default_is_what_load_config_composes(schema, name, overrides, key):
    needs_checkpoint = name in ("eval", "predict")
    cfg = load_config(["checkpoint=x", *overrides] if needs_checkpoint else overrides, name)
    composed = _resolved(OmegaConf.select(cfg, key) if key else cfg)
    if needs_checkpoint:
        composed["checkpoint"] = None
    expected = _resolved(OmegaConf.structured(schema))
    for _, free in {f for f in FREE_FORM if f[0] is schema}:
        assert composed[free], free  # filled by the YAML
        composed[free] = expected[free]
    # train.yaml's groups (data=, training=...) join TrainConfig's own keys at the top
    assert {k: composed[k] for k in expected} == expected
    assert [k for k in composed if k in expected] == list(expected)  # the saved order


def test_schemas_are_registered_and_not_config_groups():
    from hydra.core.config_store import ConfigStore

    stored = ConfigStore.instance().list("")
    assert {f"{name}_schema.yaml" for name in SCHEMAS} <= set(stored)
    # no group of their own: --help lists the same group options as before
    assert not (CONFIG_DIR / "schema").exists() and "schema" not in stored


def _fields(schema):
    for f in dataclasses.fields(schema):
        if is_schema(f.default_factory):  # a nested schema (EvalConfig.data)
            continue
        yield f


@pytest.mark.parametrize("schema", [s for s, _ in SCHEMAS.values()])
def test_a_check_lives_with_its_field_with_help_allowed_and_example(schema):
    for f in _fields(schema):
        meta = f.metadata
        assert meta["help"].strip(), f.name
        check = meta["check"]
        if check is None:
            continue
        assert meta["allowed"] and meta["example"], f.name
        # the default and the example shown in errors both pass the field's own check
        default = f.default_factory() if callable(f.default_factory) else f.default
        assert check(default), f.name
        example = OmegaConf.create({"v": yaml.safe_load(meta["example"])}).v
        example = OmegaConf.to_container(example) if OmegaConf.is_list(example) else example
        assert check(example), (f.name, meta["example"])


@pytest.mark.parametrize(
    "path",
    [
        "data/redsm5",
        "data/sample",
        "model/*",
        "tracking/default",
        "eval",
        "predict",
        "summary",
        "train",
        "search",
        "search/default",
    ],
)
def test_yaml_files_hold_only_what_differs_from_the_schema(path):
    by_name = {
        "data": DataConfig,
        "model": ModelConfig,
        "tracking": TrackingConfig,
        "eval": EvalConfig,
        "predict": PredictConfig,
        "summary": SummaryConfig,
        "train": TrainConfig,
        "search": SearchConfig,
        "search/default": SearchGroupConfig,
    }
    name = path if path in by_name else path.split("/")[0]
    store_name = {SCHEMAS[n][0]: n for n in SCHEMAS}[by_name[name]]
    for file in sorted(CONFIG_DIR.glob(f"{path}.yaml")):
        schema = by_name[name]
        text = yaml.safe_load(file.read_text())
        defaults = {f.name: f for f in _fields(schema)}
        for key, value in text.items():
            if key in ("defaults", "hydra") or (schema, key) in FREE_FORM:
                continue
            field = defaults[key]
            default = field.default_factory() if callable(field.default_factory) else field.default
            assert value != default, f"{file.name}: {key} repeats the schema default"
        assert any(f"/{store_name}_schema" in f"/{d}" for d in text["defaults"])


def test_code_takes_its_defaults_from_the_schemas():
    from evidence_ft import config, modeling

    assert load_config([]).model.name_or_path == modeling.DEFAULT_MODEL
    signature = inspect.signature(modeling.load_model)
    composed = load_config([]).model.attn_implementation
    assert signature.parameters["attn_implementation"].default == composed
    assert (
        tuple(f.metadata["choices"] for f in dataclasses.fields(EvalConfig) if f.name == "split")[0]
        == config.EVAL_SPLITS
    )


def test_describe_lists_every_key_with_its_default_and_allowed_values():
    lines = {line.split("=")[0]: line for line in describe(EvalConfig)}
    assert lines["split"].startswith("split=test  Posts to score")
    assert lines["split"].endswith("(one of test|validation|train|all)")
    assert lines["output_dir"].startswith("output_dir=''  Where report.json")
    composed = load_config(["checkpoint=x"], "eval")
    nested = ("data", "tracking", "ci")
    keys = {k for k in composed if k not in nested}
    keys |= {f"{g}.{k}" for g in nested for k in composed[g]}
    assert set(lines) == keys


def test_search_keys_and_help_come_from_the_search_schemas():
    from evidence_ft.cli import keys_help
    from evidence_ft.jobs.search.space import SEARCH_KEYS

    search, train = load_config([], "search"), load_config([])
    assert set(SEARCH_KEYS) == set(search) - set(train)
    lines = {line.split("=")[0]: line for line in keys_help("search").splitlines()}
    assert lines["n_trials"].startswith("n_trials=20  Trials this command adds")
    assert lines["pruner"].endswith("(median or none)")
    assert lines["search.median_pruner.warmup_epochs"].endswith("(an integer >= 0)")
    search_keys = {k for k in search if k in SEARCH_KEYS and k != "search"}
    search_keys |= {f"search.{k}" for k in search.search if k != "median_pruner"}
    search_keys |= {f"search.median_pruner.{k}" for k in search.search.median_pruner}
    assert search_keys <= set(lines)
