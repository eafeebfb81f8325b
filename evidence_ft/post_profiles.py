"""Post-level views of sentence x criterion predictions: a profile per post, a wide table.

``predictions`` has one row per (sentence, criterion) of a post, with the columns of
:data:`PREDICTION_COLUMNS` (what ``evidence_ft.predict`` returns); ``posts`` has ``post_id``
and ``text``. A post with no sentences may have no prediction rows; it still gets a profile.

>>> preds = pd.DataFrame({
...     "post_id": ["p1"] * 2, "sentence_index": [0, 0], "start": [0, 0], "end": [6, 6],
...     "sentence": ["I cry."] * 2, "criterion_id": ["A.1", "A.4"],
...     "symptom": ["DEPRESSED_MOOD", "SLEEP_ISSUES"], "probability": [0.9, 0.1],
...     "decision": [True, False]})
>>> [p["symptom"] for p in post_profiles(preds, pd.DataFrame({"post_id": ["p1"],
...     "text": ["I cry."]}))[0]["symptoms"]]
['DEPRESSED_MOOD']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from evidence_ft.data import SYMPTOMS
from evidence_ft.inference import PREDICTION_COLUMNS


def check_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """The :data:`PREDICTION_COLUMNS` of ``predictions`` (ValueError if one is missing), with
    string post ids and boolean decisions."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(missing)}")
    out = predictions.loc[:, list(PREDICTION_COLUMNS)].copy()
    out["post_id"] = out["post_id"].astype(str)
    out["decision"] = out["decision"].astype(bool)
    return out


def post_ids(posts: pd.DataFrame) -> pd.Series:
    """The post ids of ``posts`` as strings, in order (ValueError if one repeats)."""
    ids = posts["post_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"duplicated post_id {ids[ids.duplicated()].iloc[0]!r} in posts")
    return ids.reset_index(drop=True)


def symptom_rank(symptoms: pd.Series) -> pd.Series:
    """Canonical position of each symptom (unknown names after the known ones)."""
    return symptoms.map({s: i for i, s in enumerate(SYMPTOMS)}).fillna(len(SYMPTOMS))


def post_profiles(predictions: pd.DataFrame, posts: pd.DataFrame) -> list[dict[str, Any]]:
    """One profile per post of ``posts`` (same order): sentence counts and, per symptom with at
    least one positive decision, its evidence count and strongest sentence, strongest first."""
    preds = check_predictions(predictions)
    ids = post_ids(posts)
    stray = ~preds["post_id"].isin(ids)
    if stray.any():
        raise ValueError(
            f"predictions for post_id {preds.loc[stray, 'post_id'].iloc[0]!r} "
            "that is not in posts"
        )
    sentences = preds.groupby("post_id")["sentence_index"].nunique()
    pos = preds[preds["decision"]]
    evidence = pos.groupby("post_id")["sentence_index"].nunique()

    # The strongest row per (post, symptom): highest probability, earliest sentence on a tie.
    ranked = pos.sort_values(["probability", "sentence_index"], ascending=[False, True])
    strongest = ranked.drop_duplicates(["post_id", "symptom"]).set_index(["post_id", "symptom"])
    per_symptom = strongest.join(
        pos.groupby(["post_id", "symptom"])["sentence_index"].nunique().rename("count")
    ).reset_index()
    order = ids.reset_index().set_index("post_id")["index"]
    per_symptom = per_symptom.assign(
        _post=per_symptom["post_id"].map(order),
        _rank=symptom_rank(per_symptom["symptom"]),
    ).sort_values(["_post", "probability", "_rank"], ascending=[True, False, True])

    symptoms: dict[str, list[dict[str, Any]]] = {}
    columns = ["post_id", "symptom", "criterion_id", "count", "sentence_index", "sentence"]
    # One iteration per (post, symptom) with evidence, not per prediction row.
    for post_id, symptom, criterion, count, index, sentence, probability in zip(
        *(per_symptom[c].tolist() for c in columns), per_symptom["probability"].tolist()
    ):
        symptoms.setdefault(post_id, []).append(
            {
                "symptom": symptom,
                "criterion_id": criterion,
                "evidence_sentences": int(count),
                "strongest_sentence_index": int(index),
                "strongest_sentence": sentence,
                "probability": float(probability),
            }
        )
    n_sentences = sentences.reindex(ids, fill_value=0).tolist()
    n_evidence = evidence.reindex(ids, fill_value=0).tolist()
    return [
        {
            "post_id": post_id,
            "sentences": int(n),
            "evidence_sentences": int(e),
            "symptoms": symptoms.get(post_id, []),
        }
        for post_id, n, e in zip(ids.tolist(), n_sentences, n_evidence)
    ]


def profile_table(profiles: list[dict[str, Any]], symptoms: Sequence[str]) -> pd.DataFrame:
    """The wide view of :func:`post_profiles`, one row per post: counts, the ";"-joined symptoms
    with evidence (in the order of ``symptoms``), then ``<SYMPTOM>_sentences`` and
    ``<SYMPTOM>_max_probability`` (NaN without evidence) for each of ``symptoms``."""
    rows = []
    for profile in profiles:
        found = {s["symptom"]: s for s in profile["symptoms"]}
        row: dict[str, Any] = {
            "post_id": profile["post_id"],
            "sentences": profile["sentences"],
            "evidence_sentences": profile["evidence_sentences"],
            "symptoms": ";".join(s for s in symptoms if s in found),
        }
        for s in symptoms:
            row[f"{s}_sentences"] = found[s]["evidence_sentences"] if s in found else 0
            row[f"{s}_max_probability"] = found[s]["probability"] if s in found else float("nan")
        rows.append(row)
    columns = ["post_id", "sentences", "evidence_sentences", "symptoms"]
    for s in symptoms:
        columns += [f"{s}_sentences", f"{s}_max_probability"]
    table = pd.DataFrame(rows, columns=columns)
    counts = ["sentences", "evidence_sentences", *(f"{s}_sentences" for s in symptoms)]
    table[counts] = table[counts].astype(int)
    probs = [f"{s}_max_probability" for s in symptoms]
    table[probs] = table[probs].astype(float)
    return table
