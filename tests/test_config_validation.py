"""Config values are checked by type and range in one place, before anything is written."""

import re
import subprocess
import sys

import pytest

from evidence_ft.config import ALL_RULES, PROJECT_ROOT, RULES, load_config
from evidence_ft.errors import UserError

BAD_TRAIN = [
    ("training.learning_rate=abc", "training.learning_rate=abc must be a number > 0"),
    ("training.learning_rate=-1e-5", "a number > 0"),
    ("training.learning_rate=0", "a number > 0"),
    ("training.learning_rate=nan", "a number > 0"),
    ("training.learning_rate=null", "training.learning_rate=null"),
    ("training.learning_rate=[1,2]", "a number > 0"),
    ("seed=abc", "seed=abc must be an integer >= 0"),
    ("seed=-1", "an integer >= 0"),
    ("seed=1.5", "an integer >= 0"),
    ("seed=true", "an integer >= 0"),
    ("seed=4294967296", "seed=4294967296 must be an integer >= 0 and <= 4294967295"),
    ("seed=99999999999", "must be an integer >= 0 and <= 4294967295"),
    ("ci.seed=4294967296", "ci.seed=4294967296 must be an integer >= 0 and <= 4294967295"),
    ("training.per_device_train_batch_size=0", "per_device_train_batch_size=0"),
    ("training.per_device_train_batch_size=8.5", "an integer >= 1"),
    ("training.per_device_eval_batch_size=x", "per_device_eval_batch_size"),
    ("training.num_train_epochs=-1", "training.num_train_epochs=-1 must be a number > 0"),
    ("training.num_train_epochs=0", "a number > 0"),
    ("training.max_steps=0", "-1 (train num_train_epochs) or an integer >= 1"),
    ("training.max_steps=-2", "training.max_steps"),
    ("training.gradient_accumulation_steps=0", "gradient_accumulation_steps"),
    ("training.warmup_steps=-0.1", "warmup_steps"),
    ("training.warmup_steps=1.5", "a whole number of steps"),
    ("training.weight_decay=-0.01", "training.weight_decay"),
    ("training.weight_decay=lots", "training.weight_decay"),
    ("training.logging_steps=0", "training.logging_steps"),
    ("training.logging_steps=2.5", "training.logging_steps"),
    ("early_stopping_patience=0", "null or an integer >= 1"),
    ("early_stopping_patience=two", "early_stopping_patience"),
    ("data.max_length=8", "an integer >= 16"),
    ("data.max_length=long", "data.max_length"),
    ("data.pad_to_multiple_of=0", "data.pad_to_multiple_of"),
    ("cv.folds=1", "0 (off) or an integer >= 2"),
    ("cv.folds=-3", "cv.folds"),
    ("cv.folds=five", "cv.folds"),
    ("training.class_alpha=[1,-1]", "two positive numbers"),
    (
        "training.metric_for_best_model=loss",
        "training.metric_for_best_model=loss must be f1, macro_f1, mcc or pr_auc",
    ),
    ("training.metric_for_best_model=eval_f1", "training.metric_for_best_model=eval_f1 must be"),
    ("training.metric_for_best_model=null", "training.metric_for_best_model=null must be"),
    (
        "training.greater_is_better=false",
        "training.greater_is_better=false must be true or null with "
        "training.metric_for_best_model=f1",
    ),
    ("data.split_ratios=[0.5,0.5,x]", "summing to 1"),
    (
        "data.conflict_policy=maybe",
        "data.conflict_policy=maybe must be one of error|keep_positive|drop, "
        "e.g. data.conflict_policy=error",
    ),
    ("data.drop_special_case=maybe", "data.drop_special_case=maybe must be true or false"),
    ("tracking.register=sometimes", "must be one of auto|always|never"),
    ("cv=3", "cv=3 must be a group of keys, e.g. cv.folds=5"),
    ("tracking.uri=5", "tracking.uri=5 must be an MLflow tracking URI"),
    ("tracking.experiment=null", "tracking.experiment=null must be a non-empty name"),
    ("model.name_or_path=''", "model.name_or_path"),
]


def test_the_largest_seed_numpy_takes_is_accepted():
    assert load_config(["seed=4294967295"]).seed == 2**32 - 1


@pytest.mark.parametrize(("override", "match"), BAD_TRAIN)
def test_bad_values_are_one_line_user_errors_naming_key_and_range(override, match):
    with pytest.raises(UserError) as info:
        load_config([override])
    message = str(info.value)
    assert match in message and "\n" not in message
    assert override.split("=")[0].split(".")[0] in message and ", e.g. " in message


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("batch_size=0", "batch_size=0 must be an integer >= 1"),
        ("batch_size=abc", "batch_size=abc"),
        ("split=everything", "split=everything must be one of test|validation|train|all"),
        ("log=maybe", "log=maybe"),
    ],
)
def test_bad_eval_values_are_one_line_user_errors(override, match):
    with pytest.raises(UserError, match=match) as info:
        load_config(["checkpoint=x", override], "eval")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("chunk_posts=0", "chunk_posts=0 must be an integer >= 1"),
        ("report_posts=-1", "report_posts=-1 must be null (every post) or an integer >= 0"),
        ("special_case=yes", "special_case=yes must be true or false"),
        ("progress=sometimes", "progress=sometimes must be null (when interactive)"),
        ("batch_size=0", "batch_size=0 must be an integer >= 1"),
    ],
)
def test_bad_predict_values_are_one_line_user_errors(override, match):
    with pytest.raises(UserError, match=re.escape(match)) as info:
        load_config(["checkpoint=x", override], "predict")
    assert "\n" not in str(info.value)


BAD_SEARCH = [
    ("n_trials=-1", "n_trials=-1 must be an integer >= 0 (0 = export and refit the study)"),
    ("n_trials=2.5", "n_trials=2.5 must be an integer >= 0"),
    ("n_trials=many", "n_trials=many"),
    ("study_name=''", "study_name='' must be a non-empty name, e.g. study_name=evidence_ft"),
    ("storage=''", "storage='' must be an Optuna RDB URL"),
    ("sampler_seed=-1", "sampler_seed=-1 must be null (random) or an integer >= 0"),
    ("sampler_seed=abc", "sampler_seed=abc"),
    ("refit=maybe", "refit=maybe must be true or false, e.g. refit=false"),
    ("experiment_dir=''", "experiment_dir='' must be a folder"),
    ("search.heartbeat_interval=0", "search.heartbeat_interval=0 must be an integer >= 1"),
    ("search.heartbeat_interval=fast", "search.heartbeat_interval=fast"),
    ("search.grace_period=-5", "search.grace_period=-5 must be an integer >= 1"),
    ("search.show_best=-1", "search.show_best=-1 must be an integer >= 0"),
    ("search.median_pruner.n_startup_trials=x", "search.median_pruner.n_startup_trials=x"),
    ("search.median_pruner.warmup_epochs=-1", "search.median_pruner.warmup_epochs=-1 must be"),
    ("search.median_pruner=3", "search.median_pruner=3 must be a group of keys"),
]


@pytest.mark.parametrize(("override", "match"), BAD_SEARCH)
def test_bad_search_values_are_one_line_user_errors(override, match):
    with pytest.raises(UserError, match=re.escape(match)) as info:
        load_config([override], "search")
    message = str(info.value)
    assert "\n" not in message and ", e.g. " in message


def test_bad_pruner_keeps_its_message():
    from evidence_ft.jobs.search.space import check_settings

    cfg = load_config(["pruner=hyperband"], "search")  # checked by the search, before trials
    with pytest.raises(UserError) as info:
        check_settings(cfg)
    assert str(info.value) == "pruner=hyperband must be median or none"


@pytest.mark.parametrize(
    "override",
    [
        "training.learning_rate=1e-5",
        "training.learning_rate=1",
        "seed=0",
        "training.max_steps=-1",
        "training.max_steps=1",
        "training.num_train_epochs=0.5",
        "training.warmup_steps=0",
        "training.warmup_steps=100",
        "training.logging_steps=0.1",
        "training.save_total_limit=null",
        "early_stopping_patience=null",
        "data.pad_to_multiple_of=8",
        "cv.folds=0",
        "cv.folds=5",
        "training.class_alpha=[1,3]",
    ],
)
def test_good_values_pass(override):
    load_config([override])


def test_every_rule_names_a_key_of_a_shipped_config():
    keys = set()
    for name in ("train", "eval", "search", "predict"):
        cfg = load_config(["checkpoint=x"] if name in ("eval", "predict") else [], name)
        keys |= {rule.key for rule in ALL_RULES if _has(cfg, rule.key)}
    assert keys == {rule.key for rule in ALL_RULES} >= {rule.key for rule in RULES}


def _has(cfg, key):
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key, default="<absent>") != "<absent>"


@pytest.mark.integration
@pytest.mark.parametrize("override", ["training.learning_rate=abc", "training.num_train_epochs=-1"])
def test_run_train_stops_on_a_bad_value_before_writing_anything(override, tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run_train.py"), "data=sample", override],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert override.split("=")[0] in lines[0]
    assert list(tmp_path.iterdir()) == []  # no outputs/, no mlflow.db, no mlruns/
