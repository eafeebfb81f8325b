"""Reading the three input files: posts and annotations CSVs, the DSM-5 criteria JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evidence_ft.data.schema import (
    ANNOTATION_COLUMNS,
    CRITERIA_IDS,
    CRITERIA_SPELLINGS,
    GATED_HINT,
    POSTS_COLUMNS,
    SYMPTOMS,
)
from evidence_ft.errors import UserError


def read_csv(path: str | Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """Read a ReDSM5 CSV (quoted fields may hold commas and newlines) and check its columns."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}; {GATED_HINT}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{path}: cannot parse as a UTF-8 CSV ({first})") from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)} "
            f"(found {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise UserError(
            f"{path}: {what} file has a header but no rows; point data.{what}_path at the "
            f"full {what} file"
        )
    return frame


def read_posts(path: str | Path) -> pd.DataFrame:
    """``redsm5_posts.csv``: one row per post (post_id, text)."""
    posts = read_csv(path, POSTS_COLUMNS, "posts")
    dup = posts["post_id"][posts["post_id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: post_id {dup.iloc[0]!r} appears more than once; keep one row")
    return posts


def read_annotations(path: str | Path) -> pd.DataFrame:
    """``redsm5_annotations.csv``, validated: known symptom, status 0/1, non-empty sentence."""
    ann = read_csv(path, ANNOTATION_COLUMNS, "annotations")
    for col in ("post_id", "sentence_id", "DSM5_symptom", "status"):
        ann[col] = ann[col].str.strip()
    line = ann.index.to_series() + 2  # header is line 1 (a row with newlines spans more)
    unknown = ~ann["DSM5_symptom"].isin(SYMPTOMS)
    if unknown.any():
        bad = ann.loc[unknown].iloc[0]
        raise UserError(
            f"{path} row {line[unknown].iloc[0]}: unknown DSM5_symptom {bad['DSM5_symptom']!r}; "
            f"expected one of {', '.join(SYMPTOMS)}"
        )
    bad_status = ~ann["status"].isin(["0", "1"])
    if bad_status.any():
        raise UserError(
            f"{path} row {line[bad_status].iloc[0]}: status "
            f"{ann.loc[bad_status, 'status'].iloc[0]!r} must be 0 or 1"
        )
    empty = ann["sentence_text"].str.strip() == ""
    if empty.any():
        raise UserError(
            f"{path} row {line[empty].iloc[0]}: empty sentence_text "
            f"(sentence_id {ann.loc[empty, 'sentence_id'].iloc[0]!r}); fill it or drop the row"
        )
    ann["status"] = ann["status"].astype(int)
    return ann


def resolve_criteria_path(path: str | Path) -> Path:
    """``data.criteria_path`` as given: either spelling works, but no silent swap of files.

    A missing file whose other spelling lies beside it names that file in the error instead
    of reading it, so the run reads exactly what the config says.
    """
    path = Path(path)
    if path.is_file():
        return path
    beside = [path.parent / n for n in CRITERIA_SPELLINGS if n != path.name]
    other = next((p for p in beside if p.is_file()), None)
    fix = (
        f"{other} exists beside it: set data.criteria_path={other}"
        if other
        else "set data.criteria_path to the DSM-5 criteria JSON "
        "(the project ships data/DSM5/MDD_Criteira.json)"
    )
    raise UserError(f"criteria file not found: {path}; {fix}")


def read_criteria(path: str | Path) -> dict[str, str]:
    """Criteria JSON ``{"criteria": [{"id": "A.1", "text": ...}, ...]}`` -> {id: text}.

    The model's job covers all nine criteria, so each of A.1-A.9 must appear once with a text,
    whether or not the annotations use it.
    """
    path = resolve_criteria_path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        items = [(str(c["id"]).strip(), str(c["text"]).strip()) for c in doc["criteria"]]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise UserError(
            f"{path}: expected JSON like "
            '{"criteria": [{"id": "A.1", "text": "..."}, ...]} '
            f"({type(err).__name__}: {first})"
        ) from err
    ids = [i for i, _ in items]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise UserError(f"{path}: criterion id {dup!r} appears {ids.count(dup)} times; keep one")
    empty = next((i for i, text in items if not text), None)
    if empty:
        raise UserError(f"{path}: criterion {empty!r} has an empty text; write its text")
    missing = [c for c in CRITERIA_IDS if c not in ids]
    if missing:
        raise UserError(
            f"{path}: no criterion text for {', '.join(missing)} (the model covers A.1-A.9); "
            f'add {{"id": "{missing[0]}", "text": ...}} or set data.criteria_path to a '
            "complete file"
        )
    return dict(items)


def criterion_texts(data_cfg: Any) -> dict[str, str]:
    """{criterion id: text} the model is trained to score, in symptom order (A.1 .. A.9, then
    SPECIAL_CASE unless dropped or without a text): what a saved model stores for prediction."""
    texts = read_criteria(data_cfg.criteria_path)
    out = {c: texts[c] for c in CRITERIA_IDS}
    special = (data_cfg.get("special_case_text") or "").strip()
    if special and not data_cfg.get("drop_special_case"):
        out["SPECIAL_CASE"] = special
    return out


def fingerprint(paths: Mapping[str, str | Path]) -> dict[str, str]:
    """SHA-256 of each input file, so a manifest records exactly which data it split."""
    return {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in paths.items()}
