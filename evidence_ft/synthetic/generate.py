"""Whole corpora: rows planned from a shape, dealt to posts, written as the two CSV files."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd

from evidence_ft.data import ANNOTATION_COLUMNS
from evidence_ft.synthetic.banks import load
from evidence_ft.synthetic.compose import Group, Row, build_post
from evidence_ft.synthetic.shape import REDSM5_SHAPE, CorpusShape, sample_shape

# The published annotations file: the columns runs read, plus the annotators' rationale.
CSV_COLUMNS = [*ANNOTATION_COLUMNS, "explanation"]


def _plan_groups(shape: CorpusShape, rng: random.Random) -> list[Group]:
    """All (symptom, status) rows of the corpus, grouped by the sentence that will carry them."""
    units = [(s, 1) for s, n in shape.positives.items() for _ in range(n)]
    units += [(s, 0) for s, n in shape.negatives.items() for _ in range(n)]
    rng.shuffle(units)
    groups: list[Group] = []
    for _ in range(shape.repeated_rows):  # same key twice: the second row is the repeat
        unit = next((u for u in units if units.count(u) >= 2), None)
        if unit is None:
            break
        units.remove(unit)
        units.remove(unit)
        groups.append([unit, unit])
    for _ in range(shape.multi_symptom_sentences):  # one sentence, two DSM-5 symptoms
        pos = [u for u in units if u[1] == 1 and u[0] != "SPECIAL_CASE"]
        pair = next(((a, b) for a in pos for b in pos if a[0] != b[0]), None)
        if pair is None:
            break
        units.remove(pair[0])
        units.remove(pair[1])
        groups.append(list(pair))
    groups += [[u] for u in units]
    rng.shuffle(groups)
    return groups


def _deal_to_posts(
    groups: list[Group], shape: CorpusShape, rng: random.Random
) -> list[list[Group]]:
    """Groups per post: each annotated post gets one, the rest land on random annotated posts."""
    n_annotated = min(shape.n_posts - shape.n_empty_posts, len(groups))
    if n_annotated < 1:
        raise ValueError("the shape leaves no annotated post")
    per_post = [[g] for g in groups[:n_annotated]]
    for group in groups[n_annotated:]:
        rng.choice(per_post).append(group)
    per_post += [[] for _ in range(shape.n_posts - n_annotated)]
    rng.shuffle(per_post)
    return per_post


def generate_from_shape(
    shape: CorpusShape, seed: int, *, curly_rate: float = 0.6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posts (post_id, text) and annotations (ReDSM5 columns) with exactly ``shape``'s counts.

    Quirks are placed deterministically: the post holding the first multi-symptom sentence
    (em-dash inside) is curly, with quotes and a newline; repeated rows come from the plan.
    """
    rng = random.Random(seed)
    per_post = _deal_to_posts(_plan_groups(shape, rng), shape, rng)
    multi = [i for i, p in enumerate(per_post) if any(g[0][0] != g[-1][0] for g in p)]
    showcase = multi[0] if multi else next(i for i, p in enumerate(per_post) if p)
    short_texts = [t for t in load().short_posts if len(t.split()) == shape.min_words]
    shortest = next((i for i, p in enumerate(per_post) if not p and short_texts), -1)
    longest = rng.choice([i for i in range(shape.n_posts) if i != shortest])

    seen: set[str] = set()
    ids: list[str] = []
    texts: list[str] = []
    rows: list[Row] = []
    for i, groups in enumerate(per_post):
        post_id = f"s_{rng.randint(1, 3000)}_{rng.randint(1, 1200)}"
        while post_id in seen:
            post_id = f"s_{rng.randint(1, 3000)}_{rng.randint(1, 1200)}"
        seen.add(post_id)
        ids.append(post_id)
        curly = i == showcase or rng.random() < curly_rate
        target = math.exp(rng.gauss(math.log(shape.median_words), shape.sigma_words))
        target = shape.max_words if i == longest else target
        target = min(max(target, shape.min_words), shape.max_words)
        if i == shortest:
            texts.append(rng.choice(short_texts))
            continue
        text, post_rows = build_post(post_id, groups, target, curly, i == showcase, rng)
        texts.append(text)
        rows += post_rows

    posts = pd.DataFrame({"post_id": ids, "text": texts})
    annotations = pd.DataFrame(rows, columns=CSV_COLUMNS)
    annotations["status"] = annotations["status"].astype("int64")
    return posts, annotations


def generate_corpus(
    n_posts: int,
    seed: int,
    *,
    negative_rate: float = 0.35,
    empty_post_rate: float = 0.1,
    rows_per_post: float = 3.2,
    curly_rate: float = 0.6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small learnable corpus (see ``sample_shape``); deterministic for a given seed."""
    shape = sample_shape(
        n_posts,
        negative_rate=negative_rate,
        empty_post_rate=empty_post_rate,
        rows_per_post=rows_per_post,
    )
    return generate_from_shape(shape, seed, curly_rate=curly_rate)


def generate_full_size(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A benchmark corpus with the published shape of the full ReDSM5 (``REDSM5_SHAPE``).

    Exact counts from the paper: 1,484 posts, 392 of them without annotations, 1,547 rows with
    the published positives per symptom (the 163 status-0 rows spread in proportion); post
    lengths log-normal around 180 words with one post of ~6,990 and one of 2 words.
    """
    return generate_from_shape(REDSM5_SHAPE, seed)


def write_corpus(posts: pd.DataFrame, annotations: pd.DataFrame, out_dir: str | Path) -> None:
    """Write ``redsm5_posts.csv`` and ``redsm5_annotations.csv`` (UTF-8, default quoting)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    posts.to_csv(out / "redsm5_posts.csv", index=False, encoding="utf-8", lineterminator="\n")
    annotations.to_csv(
        out / "redsm5_annotations.csv", index=False, encoding="utf-8", lineterminator="\n"
    )
