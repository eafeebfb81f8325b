"""Post-level views of sentence x criterion predictions: a profile per post, a wide table, HTML.

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

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evidence_ft.data import SYMPTOM_TO_CRITERION, SYMPTOMS
from evidence_ft.inference import PREDICTION_COLUMNS

DISCLAIMER = (
    "Research tool, not a diagnosis. The highlights are a language model's guesses that a "
    "sentence is evidence for a DSM-5 depression criterion; they can be wrong, they say "
    "nothing about a person, and they must not be used for clinical or personal decisions."
)
# Tableau 10 colours, one per criterion (nine DSM-5 criteria + SPECIAL_CASE).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:0 1em 3em;color:#222}
.note{border:2px solid #b00;background:#fee;padding:.5em .8em;border-radius:4px}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:1px 5px;text-align:right}
td:first-child,th:first-child{text-align:left}
.meta td,.meta th{text-align:left}
.sum{display:block;max-height:70vh;overflow:auto}
.sum thead th{position:sticky;top:0;background:#f4f4f4}
.sum a[class]{display:block;background:var(--l);color:#000;text-decoration:none}
.b{border:1px solid var(--c);background:var(--l);border-radius:3px;padding:0 .25em;
font-size:11px;white-space:nowrap;user-select:none}
mark{background:var(--l);border-bottom:2px solid var(--c);color:inherit}
.post{border-top:1px solid #ccc;margin-top:1.5em}
.post h3{margin:.6em 0 .2em;overflow-wrap:anywhere}
.post h3 a{font-size:12px;font-weight:normal;margin-left:.5em}
.ps{margin:.2em 0;padding-left:1.2em;font-size:13px}
.t{white-space:pre-wrap;overflow-wrap:anywhere;background:#fafafa;padding:.5em;border-radius:4px}
.none{color:#777;font-style:italic}
"""


def _check_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(missing)}")
    out = predictions.loc[:, list(PREDICTION_COLUMNS)].copy()
    out["post_id"] = out["post_id"].astype(str)
    out["decision"] = out["decision"].astype(bool)
    return out


def _post_ids(posts: pd.DataFrame) -> pd.Series:
    ids = posts["post_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"duplicated post_id {ids[ids.duplicated()].iloc[0]!r} in posts")
    return ids.reset_index(drop=True)


def _symptom_rank(symptoms: pd.Series) -> pd.Series:
    """Canonical position of each symptom (unknown names after the known ones)."""
    return symptoms.map({s: i for i, s in enumerate(SYMPTOMS)}).fillna(len(SYMPTOMS))


def post_profiles(predictions: pd.DataFrame, posts: pd.DataFrame) -> list[dict[str, Any]]:
    """One profile per post of ``posts`` (same order): sentence counts and, per symptom with at
    least one positive decision, its evidence count and strongest sentence, strongest first."""
    preds = _check_predictions(predictions)
    ids = _post_ids(posts)
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
        _rank=_symptom_rank(per_symptom["symptom"]),
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


# ---------------------------------------------------------------------------- HTML


def _esc(value: Any) -> str:
    """Escaped for an attribute value or text."""
    return html.escape(str(value), quote=True)


def _text(value: str) -> str:
    """Escaped for element content (quotes stay as they are: post texts are full of them)."""
    return html.escape(value, quote=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _criteria(predictions: pd.DataFrame) -> list[tuple[str, str]]:
    """(criterion_id, symptom) of the scored criteria, canonical order first."""
    seen = predictions[["criterion_id", "symptom"]].drop_duplicates()
    seen = seen.assign(_rank=_symptom_rank(seen["symptom"])).sort_values(["_rank", "symptom"])
    pairs = list(zip(seen["criterion_id"].tolist(), seen["symptom"].tolist()))
    if not pairs:  # nothing scored: show the nine criteria in the legend anyway
        pairs = [(c, s) for s, c in SYMPTOM_TO_CRITERION.items() if c]
    return pairs


def _evidence_spans(preds: pd.DataFrame, cls: Mapping[str, str]) -> dict[str, list[tuple]]:
    """Per post, its evidence sentences in text order: (index, start, end, sentence, attributes
    of the highlight, badges), built with vectorised string operations."""
    pos = preds[preds["decision"]].sort_values(
        ["post_id", "sentence_index", "probability"], ascending=[True, True, False]
    )
    if pos.empty:
        return {}
    klass = pos["criterion_id"].map(cls)
    prob = pos["probability"].map("{:.2f}".format)
    tip = pos["criterion_id"] + " " + pos["symptom"] + " " + pos["probability"].map("{:.3f}".format)
    badge = '<span class="b ' + klass + '">' + pos["criterion_id"].map(_esc) + " " + prob
    badge = badge + "</span>"
    # Rows are sorted so that each sentence's criteria are adjacent: concatenate the strings of
    # each run with one reduceat (pandas' groupby "".join slices a Series per group: 2-5x slower
    # on 170k positive rows).
    first = ~pos.duplicated(["post_id", "sentence_index"]).to_numpy()
    runs = np.flatnonzero(first)

    def concat(values: pd.Series) -> np.ndarray:
        return np.add.reduceat(values.to_numpy(dtype=object), runs)

    spans = pos.loc[first, ["post_id", "sentence_index", "start", "end", "sentence"]]
    spans = spans.assign(
        klass=klass[first].to_numpy(),  # the strongest criterion colours the highlight
        badges=concat(badge),
        tips=pd.Series(concat("\n" + tip), index=spans.index).str[1:],
        criteria=pd.Series(concat(" " + pos["criterion_id"]), index=spans.index).str[1:],
    )
    spans["attrs"] = (
        ' class="'
        + spans["klass"]
        + '" data-criteria="'
        + spans["criteria"].map(_esc)
        + '" title="'
        + spans["tips"].map(_esc)
        + '"'
    )
    spans = spans.sort_values(["post_id", "start"])
    out: dict[str, list[tuple]] = {}
    cols = ["post_id", "sentence_index", "start", "end", "sentence", "attrs", "badges"]
    for post_id, *rest in zip(*(spans[c].tolist() for c in cols)):
        out.setdefault(post_id, []).append(tuple(rest))
    return out


def _highlighted(post_id: str, anchor: str, text: str, spans: list[tuple]) -> str:
    """The post text, escaped, with each evidence sentence wrapped in its highlight."""
    parts = []
    cursor = 0
    for index, start, end, sentence, attrs, badges in spans:
        if text[start:end] != sentence or start < cursor:
            raise ValueError(
                f"post {post_id!r} sentence {index}: offsets {start}:{end} do not hold the "
                "sentence text (or overlap the previous one)"
            )
        parts.append(_text(text[cursor:start]))
        # The id is the sentence's anchor for the per-post summary links.
        parts.append(f'<mark id="{anchor}s{index}"{attrs}>')
        parts.append(_text(sentence))
        parts.append("</mark>")
        parts.append(badges)
        cursor = end
    parts.append(_text(text[cursor:]))
    return "".join(parts)


def render_html(
    posts: pd.DataFrame,
    predictions: pd.DataFrame,
    profiles: list[dict[str, Any]],
    *,
    threshold: float,
    title: str,
    meta: Mapping[str, str],
) -> str:
    """One self-contained HTML page (inline CSS, no network assets): disclaimer, ``meta``, a
    posts x symptoms summary, then each post with its evidence sentences highlighted per
    criterion. Every post text is escaped; highlights come from the character offsets."""
    preds = _check_predictions(predictions)
    ids = _post_ids(posts)
    texts = [t if isinstance(t, str) else "" for t in posts["text"].tolist()]
    criteria = _criteria(preds)
    cls = {c: f"k{i}" for i, (c, _) in enumerate(criteria)}
    spans = _evidence_spans(preds, cls)
    by_id = {p["post_id"]: p for p in profiles}
    anchors = {post_id: f"p{i}" for i, post_id in enumerate(ids.tolist())}

    colours = "".join(
        f".{k}{{--c:{PALETTE[i % len(PALETTE)]};--l:{PALETTE[i % len(PALETTE)]}38}}\n"
        for i, k in enumerate(cls.values())
    )
    out = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{CSS}{colours}</style></head><body>\n",
        f'<h1 id="top">{_esc(title)}</h1>\n<p class="note">{_esc(DISCLAIMER)}</p>\n',
        '<table class="meta">',
        *(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in meta.items()),
        "</table>\n<p>Highlighted: sentences with P(evidence) &ge; "
        f"{threshold:.4f} for a criterion; the badges after each give the criterion and "
        "probability (hover for the symptom). Legend: ",
        " ".join(f'<span class="b {cls[c]}">{_esc(c)}</span> {_esc(s)}' for c, s in criteria),
        '</p>\n<h2>Summary</h2>\n<table class="sum"><thead><tr><th>post</th>'
        "<th>sentences</th><th>evidence</th>",
        *(f'<th title="{_esc(s)}">{_esc(c)}</th>' for c, s in criteria),
        "</tr></thead><tbody>\n",
    ]
    for post_id in ids.tolist():
        profile = by_id.get(post_id, {"sentences": 0, "evidence_sentences": 0, "symptoms": []})
        found = {s["symptom"]: s for s in profile["symptoms"]}
        a = anchors[post_id]
        cells = [
            (
                f'<td><a href="#{a}" class="{cls[c]}">{found[s]["probability"]:.2f}</a></td>'
                if s in found
                else "<td></td>"
            )
            for c, s in criteria
        ]
        out.append(
            f'<tr><td><a href="#{a}">{_esc(post_id)}</a></td><td>{profile["sentences"]}</td>'
            f'<td>{profile["evidence_sentences"]}</td>{"".join(cells)}</tr>\n'
        )
    out.append("</tbody></table>\n")

    for post_id, text in zip(ids.tolist(), texts):
        profile = by_id.get(post_id, {"sentences": 0, "evidence_sentences": 0, "symptoms": []})
        a = anchors[post_id]
        out.append(
            f'<section class="post" id="{a}"><h3>{_esc(post_id)}'
            '<a href="#top">&uarr; summary</a></h3>\n'
        )
        n, e = profile["sentences"], profile["evidence_sentences"]
        if n == 0:
            out.append('<p class="none">no sentences</p>\n')
        elif not profile["symptoms"]:
            out.append(f'<p class="none">{_count(n, "sentence")}, no evidence</p>\n')
        else:
            out.append(f'<p>{_count(n, "sentence")}, {e} with evidence:</p><ul class="ps">')
            for s in profile["symptoms"]:
                c = s["criterion_id"]
                k = cls.get(c, "")
                count = s["evidence_sentences"]
                out.append(
                    f'<li><span class="b {k}">{_esc(c)}</span> {_esc(s["symptom"])}: '
                    f"{_count(count, 'sentence')}, strongest "
                    f'<a href="#{a}s{s["strongest_sentence_index"]}">'
                    f'{s["probability"]:.2f}</a></li>'
                )
            out.append("</ul>\n")
        out.append(
            f'<div class="t">{_highlighted(post_id, a, text, spans.get(post_id, []))}</div>'
            "</section>\n"
        )
    out.append("</body></html>\n")
    return "".join(out)
