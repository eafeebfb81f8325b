"""Loading models the way the Hub ships them: tokenizer files, pair encoding, the new head.

The fixtures rebuild, offline and at test time, the files of the Hub repositories behind
``model=deberta_v3`` (a SentencePiece ``spm.model``, which transformers 5 converts when
loading) and ``model=bert_base|bert_large`` (a WordPiece ``vocab.txt``), each beside a tiny
random pre-trained checkpoint without a classification head.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from safetensors.torch import load_file, save_file

from evidence_ft import data
from evidence_ft.errors import UserError
from evidence_ft.modeling import load_model, load_tokenizer

from .conftest import ROOT

CRITERION = "Insomnia or hypersomnia nearly every day."
SENTENCE = "I could not sleep at all last night, again."
CORPUS = [
    CRITERION,
    SENTENCE,
    "Depressed mood most of the day, nearly every day.",
    "Markedly diminished interest or pleasure in all activities.",
    "Fatigue or loss of energy nearly every day.",
    "I had pizza for lunch with my friends and it was great.",
    "Nothing feels worth doing any more and I am tired all the time.",
]
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope="session")
def deberta_v3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """microsoft/deberta-v3-base's layout: spm.model, a two-key tokenizer_config.json, config."""
    import sentencepiece
    from transformers import DebertaV2Config, DebertaV2Model

    folder = tmp_path_factory.mktemp("deberta_v3")
    spm = io.BytesIO()
    # Special pieces and ids as in deberta-v3's spm.model; [MASK] is not a piece there either.
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 10),
        model_writer=spm,
        model_type="unigram",
        vocab_size=150,
        hard_vocab_limit=False,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        minloglevel=2,
    )
    (folder / "spm.model").write_bytes(spm.getvalue())
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "vocab_type": "spm"}), encoding="utf-8"
    )
    # The Hub model: type_vocab_size 0 and relative positions, like deberta-v3-base's config.
    config = DebertaV2Config(
        vocab_size=256,
        type_vocab_size=0,
        relative_attention=True,
        position_biased_input=False,
        pos_att_type=["p2c", "c2p"],
        max_relative_positions=-1,
        position_buckets=32,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        **TINY,
    )
    torch.manual_seed(0)
    DebertaV2Model(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def bert_uncased_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bert-base/large-uncased's layout: vocab.txt, do_lower_case, a pre-training checkpoint."""
    from transformers import BertConfig, BertForPreTraining

    folder = tmp_path_factory.mktemp("bert_uncased")
    specials = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w.strip(".,").lower() for line in CORPUS for w in line.split()})
    chars = sorted({c for line in CORPUS for c in line.lower() if not c.isspace()})
    vocab = specials + words + chars + [f"##{c}" for c in chars]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 512}), encoding="utf-8"
    )
    torch.manual_seed(0)
    BertForPreTraining(BertConfig(vocab_size=len(vocab), **TINY)).save_pretrained(folder)
    return folder


@pytest.fixture
def hub_dir(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


@pytest.fixture
def load_records() -> list[logging.LogRecord]:
    """Records that reach transformers' loading logger's handlers (its red LOAD REPORT)."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("transformers.modeling_utils")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


FAMILIES = [
    pytest.param("deberta_v3_dir", "DebertaV2Tokenizer", id="deberta_v3"),
    pytest.param("bert_uncased_dir", "BertTokenizer", id="bert_uncased"),
]


@pytest.mark.parametrize("hub_dir, cls_name", FAMILIES, indirect=["hub_dir"])
def test_hub_tokenizer_encodes_criterion_sentence_pairs(hub_dir, cls_name):
    tokenizer = load_tokenizer(str(hub_dir))
    assert type(tokenizer).__name__ == cls_name
    enc = tokenizer(CRITERION, SENTENCE)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    first_sep = tokens.index("[SEP]")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
    assert "[UNK]" not in tokens
    assert tokenizer.decode(enc["input_ids"][1:first_sep]).lower() == CRITERION.lower()
    assert tokenizer.decode(enc["input_ids"][first_sep + 1 : -1]).lower() == SENTENCE.lower()
    # Segment ids: 0 for [CLS] criterion [SEP], 1 for sentence [SEP] (both families have them).
    n_first = first_sep + 1
    assert enc["token_type_ids"] == [0] * n_first + [1] * (len(tokens) - n_first)
    for name in ("cls", "sep", "pad", "unk", "mask"):
        assert getattr(tokenizer, f"{name}_token") == f"[{name.upper()}]"
    if cls_name == "BertTokenizer":
        assert tokens[1] == "insomnia"  # do_lower_case
    else:  # the ids deberta-v3's spm.model gives its special pieces
        assert [tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id] == [0, 1, 2]
        assert tokenizer.unk_token_id == 3 and tokenizer.mask_token_id is not None


@pytest.mark.parametrize("hub_dir, cls_name", FAMILIES, indirect=["hub_dir"])
def test_data_tokenize_truncates_only_the_sentence(hub_dir, cls_name):
    tokenizer = load_tokenizer(str(hub_dir))
    long_sentence = " ".join([SENTENCE] * 20)
    ds = Dataset.from_dict({"criterion": [CRITERION], "sentence": [long_sentence], "label": [1]})
    max_length = len(tokenizer(CRITERION, "I")["input_ids"]) + 5
    row = data.tokenize(DatasetDict(train=ds), tokenizer, max_length)["train"][0]
    ids = row["input_ids"]
    assert len(ids) == max_length
    whole_criterion = tokenizer(CRITERION)["input_ids"]  # [CLS] criterion [SEP]
    assert ids[: len(whole_criterion)] == whole_criterion
    assert ids[-1] == tokenizer.sep_token_id
    assert row["token_type_ids"].count(1) == max_length - len(whole_criterion)


@pytest.mark.parametrize("hub_dir, cls_name", FAMILIES, indirect=["hub_dir"])
def test_new_head_is_one_info_line_not_a_report(hub_dir, cls_name, load_records, caplog):
    with caplog.at_level(logging.INFO, logger="evidence_ft.modeling"):
        model = load_model(str(hub_dir))
    assert not [r for r in load_records if "LOAD REPORT" in r.getMessage()]
    (line,) = [r.getMessage() for r in caplog.records if "classification head" in r.getMessage()]
    assert "classifier.weight" in line and "expected" in line
    # The Hub folder's tokenizer and the loaded model agree on a real pair.
    tokenizer = load_tokenizer(str(hub_dir))
    with torch.no_grad():
        logits = model(**tokenizer(CRITERION, SENTENCE, return_tensors="pt")).logits
    assert logits.shape == (1, 2)


def test_a_missing_weight_inside_the_model_still_shows_the_report(
    bert_uncased_dir, tmp_path, load_records, caplog
):
    broken = tmp_path / "broken"
    shutil.copytree(bert_uncased_dir, broken)
    weights = load_file(broken / "model.safetensors")
    dropped = next(k for k in weights if "encoder.layer.0.output.dense.weight" in k)
    del weights[dropped]
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    with caplog.at_level(logging.INFO, logger="evidence_ft.modeling"):
        load_model(str(broken))
    (report,) = [r.getMessage() for r in load_records if "LOAD REPORT" in r.getMessage()]
    assert "encoder.layer.0.output.dense.weight" in report and "MISSING" in report
    assert not [r for r in caplog.records if "classification head" in r.getMessage()]


def test_spm_tokenizer_without_sentencepiece_is_a_user_error(deberta_v3_dir, monkeypatch):
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    def missing(*args, **kwargs):
        raise ImportError("SentencePieceExtractor requires the SentencePiece library")

    # What transformers does when sentencepiece is not installed (checked by uninstalling it).
    monkeypatch.setattr(TokenizersBackend, "_convert_from_sentencepiece", classmethod(missing))
    with pytest.raises(UserError, match="pip install"):
        load_tokenizer(str(deberta_v3_dir))


def test_packages_that_convert_spm_model_are_declared():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    runtime = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]  # tomllib is 3.11+
    for package in ("sentencepiece", "protobuf"):
        assert f'"{package}>=' in runtime
