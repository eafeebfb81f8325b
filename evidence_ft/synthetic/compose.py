"""Sentences and posts from the banks: slot filling, quote style, filler, explanations."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from evidence_ft.synthetic.banks import load

Group = list[tuple[str, int]]  # the (symptom, status) rows that share one sentence
Row = tuple[str, str, str, str, int, str]  # one line of redsm5_annotations.csv

_SLOT = re.compile(r"\{(\w+)\}")
_RETRIES = 50  # draws of an annotated sentence before a repeat within a post is accepted


def _fill(template: str, rng: random.Random) -> str:
    """Replace each {slot} (or {slot_cap}, capitalised) with a random choice from the slots.

    Slot values may hold slots themselves ("since {month}"), so fill until none is left.
    """
    slots = load().slots

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("_cap"):
            word = rng.choice(slots[name[:-4]])
            return word[:1].upper() + word[1:]
        return rng.choice(slots[name])

    text = template
    while "{" in text:
        text = _SLOT.sub(pick, text)
    return text.replace("--", "\u2014")


def _lower_first(text: str) -> str:
    """Lower-case the first letter so the text can follow a comma ('I' stays upper-case)."""
    return text if text.startswith(("I ", "I'")) else text[:1].lower() + text[1:]


def _curly(text: str) -> str:
    """Straight apostrophes and double quotes -> curly ones (alternating open/close)."""
    text = text.replace("'", "\u2019")
    parts = text.split('"')
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += ("\u201c" if i % 2 == 0 else "\u201d") + part
    return out


def _join_clauses(first: str, second: str) -> str:
    """Two sentences -> one sentence 'first--and second' (for multi-symptom rows)."""
    return f"{first.rstrip('.')}\u2014and {_lower_first(second)}"


def _explain(symptom: str, status: int, reason: str, rng: random.Random, avoid: str = "") -> str:
    """A one-sentence rationale, different from ``avoid`` (for repeated rows)."""
    banks = load()
    desc, name, topic = banks.criteria[symptom]
    options = banks.explain_positive if status == 1 else banks.explain_absence[reason]
    choices = [o for o in options if o.format(desc=desc, name=name, topic=topic) != avoid]
    return rng.choice(choices).format(desc=desc, name=name, topic=topic).replace("--", "\u2014")


def _annotated_sentence(group: Group, rng: random.Random) -> tuple[str, str]:
    """(sentence, absence reason or '') for a group of rows sharing one sentence."""
    banks = load()
    (symptom, status), *rest = group
    reason = ""
    if status == 1:
        text = _fill(rng.choice(banks.evidence[symptom]), rng)
        if rest and rest[0][0] != symptom:
            text = _join_clauses(text, _fill(rng.choice(banks.evidence[rest[0][0]]), rng))
    else:
        reason, template = rng.choice(banks.absence[symptom])
        text = _fill(template, rng)
    if rng.random() < 0.25:
        text = rng.choice(banks.openers) + _lower_first(text)
    return text, reason


def _post_text(sentences: Sequence[str], rng: random.Random, force_newline: bool) -> str:
    """Join sentences with spaces, with an occasional paragraph break or single newline."""
    text = sentences[0]
    breaks = {i for i in range(1, len(sentences)) if rng.random() < 0.08}
    if force_newline and not breaks and len(sentences) > 1:
        breaks = {len(sentences) // 2}
    for i, sentence in enumerate(sentences[1:], start=1):
        if i in breaks:
            text += ("\n" if rng.random() < 0.3 else "\n\n") + sentence
        else:
            text += " " + sentence
    return text


def build_post(
    post_id: str,
    groups: list[Group],
    target_words: float,
    curly: bool,
    showcase: bool,
    rng: random.Random,
) -> tuple[str, list[Row]]:
    """One post: its annotated sentences at random places among filler, and their rows.

    The showcase post always has a quoted filler sentence (curly quotes) and a newline. A
    repeated row's second explanation is worded differently and runs over two lines.
    """
    filler_bank = load().filler
    style = _curly if curly else str
    annotated: list[tuple[Group, str, str]] = []
    for group in groups:  # no two annotated sentences of a post alike (rows map by text)
        text, reason = _annotated_sentence(group, rng)
        for _ in range(_RETRIES):
            if text not in {t for _, t, _ in annotated}:
                break
            text, reason = _annotated_sentence(group, rng)
        annotated.append((group, text, reason))
    sentences = [style(text) for _, text, _ in annotated]
    n_words = sum(len(s.split()) for s in sentences)
    quoted = [f for f in filler_bank if '"' in f and "'" in f]
    filler = [style(_fill(rng.choice(quoted), rng))] if showcase else []
    while True:  # pad with filler up to the target length
        candidate = style(_fill(rng.choice(filler_bank), rng))
        if n_words + len(candidate.split()) > target_words and (sentences or filler):
            break
        filler.append(candidate)
        n_words += len(candidate.split())
    positions = sorted(rng.sample(range(len(filler) + len(sentences)), len(sentences)))
    order = filler[:]
    for k, sentence in zip(positions, sentences):
        order.insert(k, sentence)
    rows: list[Row] = []
    for k, (group, _, reason) in zip(positions, annotated):
        first = _explain(group[0][0], group[0][1], reason, rng)
        explanations = [first]
        if len(group) == 2 and group[0] == group[1]:  # a repeat: other words, on two lines
            second = _explain(group[0][0], group[0][1], reason, rng, avoid=first)
            explanations.append(f"{second}\n{rng.choice(load().second_pass)}")
        elif len(group) == 2:
            explanations.append(_explain(group[1][0], group[1][1], reason, rng))
        for (symptom, status), explanation in zip(group, explanations):
            row = (post_id, f"{post_id}_{k}", order[k], symptom, status, style(explanation))
            rows.append(row)
    return _post_text(order, rng, force_newline=showcase), rows
