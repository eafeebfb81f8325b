"""What the Trainer gets: Datasets per split, their pair encoding, and the class weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from sklearn.utils.class_weight import compute_class_weight

from evidence_ft.data.schema import SPLITS
from evidence_ft.errors import UserError


def to_dataset_dict(pairs: pd.DataFrame, manifest: Mapping[str, Any]) -> DatasetDict:
    """train / validation / test Datasets with the pair columns (untokenized)."""
    parts = {}
    for name in SPLITS:
        sub = pairs[pairs["post_id"].isin(set(manifest["splits"][name]))]
        parts[name] = Dataset.from_pandas(sub.reset_index(drop=True), preserve_index=False)
    return DatasetDict(parts)


def tokenize(dsd: DatasetDict, tokenizer: Any, max_length: int) -> DatasetDict:
    """The tokenizer's own pair encoding: criterion first, sentence second, sentence truncated.

    No padding is stored: the collator pads each batch to its longest pair.
    """

    def encode(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(
            batch["criterion"], batch["sentence"], truncation="only_second", max_length=max_length
        )

    return dsd.map(encode, batched=True, desc="tokenize")


def class_weights(labels: np.ndarray | list[int], mode: str = "balanced") -> list[float]:
    """Per-class weights from the training labels: inverse frequency, normalised to mean 1.

    >>> class_weights([0, 1, 1, 1])
    [1.5, 0.5]
    >>> class_weights([0, 1, 1, 1], mode="uniform")
    [1.0, 1.0]
    """
    if mode == "uniform":
        return [1.0, 1.0]
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:
        raise UserError(
            "the training split has only one class; use more data or training.class_weights=uniform"
        )
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    weights = weights / weights.mean()
    return [round(float(w), 6) for w in weights]
