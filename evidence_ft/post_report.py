"""``report.html``: one self-contained page of posts with their evidence sentences highlighted.

It shows the profiles of :mod:`evidence_ft.post_profiles` and the predictions they come from.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evidence_ft.data import SYMPTOM_TO_CRITERION
from evidence_ft.post_profiles import check_predictions, post_ids, symptom_rank

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


def _esc(value: Any) -> str:
    """Escaped for an attribute value or text."""
    return html.escape(str(value), quote=True)


def _text(value: str) -> str:
    """Escaped for element content (quotes stay as they are: post texts are full of them)."""
    return html.escape(value, quote=False)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _criteria(predictions: pd.DataFrame) -> list[tuple[str, str]]:
    """(criterion_id, symptom) of the scored criteria, canonical order first."""
    seen = predictions[["criterion_id", "symptom"]].drop_duplicates()
    seen = seen.assign(_rank=symptom_rank(seen["symptom"])).sort_values(["_rank", "symptom"])
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
    preds = check_predictions(predictions)
    ids = post_ids(posts)
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
        f"{threshold:.4f} for a criterion (or the criterion's own threshold, when the "
        "model has them: see above); the badges after each give the criterion and "
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
            out.append(f'<p class="none">{_plural(n, "sentence")}, no evidence</p>\n')
        else:
            out.append(f'<p>{_plural(n, "sentence")}, {e} with evidence:</p><ul class="ps">')
            for s in profile["symptoms"]:
                c = s["criterion_id"]
                k = cls.get(c, "")
                count = s["evidence_sentences"]
                out.append(
                    f'<li><span class="b {k}">{_esc(c)}</span> {_esc(s["symptom"])}: '
                    f"{_plural(count, 'sentence')}, strongest "
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
