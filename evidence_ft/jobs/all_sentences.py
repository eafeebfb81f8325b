"""``run_eval.py pairs=all_sentences``: every sentence of the split's posts x every criterion.

ReDSM5 is annotated exhaustively, so a sentence without a positive row for a symptom is a true
negative for it. The posts are split into sentences with the splitter ``run_predict.py`` uses,
labelled from the annotations (``data.sentence_pairs``), scored by the model exactly as
prediction scores them (``inference.score_pairs``) and measured beside three baselines
(``sentence_metrics.all_sentence_report``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from evidence_ft import data
from evidence_ft.bootstrap import Resampler
from evidence_ft.errors import UserError
from evidence_ft.inference import CHUNK_PAIRS, Predictor, score_pairs
from evidence_ft.sentence_metrics import all_sentence_report

# The columns of all_sentence_predictions.csv, one row per sentence x criterion.
FRAME_COLUMNS = [
    "post_id",
    "sentence_index",
    "sentence",
    "criterion_id",
    "symptom",
    "annotated",
    "label",
    "probability",
]


def split_posts_of(
    posts: pd.DataFrame, split: str, manifest: Mapping[str, Any] | None
) -> pd.DataFrame:
    """The posts of ``split`` (every post of the file for ``split=all``), those without rows too.

    A manifest written before splits covered posts without annotation rows lists only annotated
    posts; then only those are scored (logged).
    """
    if split == "all":
        return posts.reset_index(drop=True)
    assert manifest is not None  # select_split has refused a missing manifest already
    ids = set(manifest["splits"][split])
    chosen = posts[posts["post_id"].isin(ids)].reset_index(drop=True)
    if chosen.empty:
        raise UserError(
            f"split={split}: none of its posts is in the posts file; point data.posts_path at "
            "the file the model was trained on, or use split=all"
        )
    return chosen


def score_all_sentences(
    predictor: Predictor,
    posts: pd.DataFrame,
    pairs: pd.DataFrame,
    criteria: Mapping[str, str],
    batch_size: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled sentence x criterion rows of ``posts`` with the model's P(evidence).

    Scored in chunks of ``CHUNK_PAIRS`` rows so memory stays bounded on a large split.
    """
    frame, stats = data.sentence_pairs(posts, pairs, criteria)
    probs = np.empty(len(frame), dtype=np.float64)
    with tqdm(total=len(frame), unit="pair", desc="all sentences", mininterval=5) as bar:
        for start in range(0, len(frame), CHUNK_PAIRS):
            chunk = frame.iloc[start : start + CHUNK_PAIRS]
            probs[start : start + len(chunk)] = score_pairs(
                predictor,
                chunk["criterion"].tolist(),
                chunk["sentence"].tolist(),
                batch_size,
                on_batch=bar.update,
            )
    return frame.assign(probability=probs)[FRAME_COLUMNS], stats


def all_sentence_section(
    predictor: Predictor,
    posts: pd.DataFrame,
    pairs: pd.DataFrame,
    batch_size: int,
    seed: int,
    rs: Resampler | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The report's ``all_sentences`` section and its scored frame (with bootstrap intervals
    when ``rs``, a resampler of the split's posts, is given).

    The model's criteria are scored: the nine DSM-5 ones, and SPECIAL_CASE when it was trained
    on it (its annotated rows then count; otherwise they are left out of the truth as well).
    """
    criteria = dict(predictor.criteria)
    if "SPECIAL_CASE" not in criteria:
        pairs = pairs[pairs["symptom"] != "SPECIAL_CASE"]
    frame, stats = score_all_sentences(predictor, posts, pairs, criteria, batch_size)
    section = all_sentence_report(
        frame,
        predictor.symptom_thresholds(),
        criteria,
        posts["post_id"].tolist(),
        seed=seed,
        rs=rs,
    )
    return {"matching": stats, **section}, frame
