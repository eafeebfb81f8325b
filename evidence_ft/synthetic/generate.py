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


def _symptoms_per_post(shape: CorpusShape, rng: random.Random) -> list[list[str]]:
    """The symptoms of each symptomatic post, one evidence sentence each (seeded order).

    Every symptomatic post gets one symptom, then each remaining positive row goes to a random
    post that lacks its symptom.
    """
    n_posts = shape.n_symptomatic_posts
    labels = [s for s, n in shape.positives.items() for _ in range(n)]
    rng.shuffle(labels)
    symptoms = [[s] for s in labels[:n_posts]]
    for s in labels[n_posts:]:
        rng.choice([post for post in symptoms if s not in post]).append(s)
    return symptoms


def _positive_groups(shape: CorpusShape, rng: random.Random) -> list[list[Group]]:
    """Sentence groups of each symptomatic post: a few two-symptom or repeated, the rest single."""
    symptoms = _symptoms_per_post(shape, rng)
    groups: list[list[Group]] = [[] for _ in symptoms]
    dsm = [i for i, post in enumerate(symptoms) if len(set(post) - {"SPECIAL_CASE"}) >= 2]
    for i in rng.sample(dsm, min(shape.multi_symptom_sentences, len(dsm))):
        first, second = rng.sample([s for s in symptoms[i] if s != "SPECIAL_CASE"], 2)
        groups[i].append([(first, 1), (second, 1)])  # one sentence, two DSM-5 symptoms
        symptoms[i].remove(first)
        symptoms[i].remove(second)
    singles = [(i, s) for i, post in enumerate(symptoms) for s in post]
    for i, s in rng.sample(singles, min(shape.repeated_rows, len(singles))):
        groups[i].append([(s, 1), (s, 1)])  # the second row is the repeat
        symptoms[i].remove(s)
    for post, rest in zip(groups, symptoms):
        post += [[(s, 1)] for s in rest]
    return groups


def _plan_posts(shape: CorpusShape, rng: random.Random) -> list[list[Group]]:
    """Groups (rows sharing a sentence) per post, posts in random order, ``shape``'s counts.

    Status-0 rows: one in each mixed post (for a symptom the post lacks), the rest on the
    annotated posts without symptom, one each first, then at random among them.
    """
    shape.check()
    symptomatic = _positive_groups(shape, rng)
    absences = [s for s, n in shape.negatives.items() for _ in range(n)]
    rng.shuffle(absences)
    for post in rng.sample(symptomatic, shape.n_mixed_posts):
        present = {s for group in post for s, _ in group}
        symptom = next((s for s in absences if s not in present), None)
        if symptom is None:
            raise ValueError("impossible corpus shape: no absence left for a mixed post")
        absences.remove(symptom)
        post.append([(symptom, 0)])
    n_absence_posts = shape.n_no_symptom_posts - shape.n_unannotated_posts
    no_symptom: list[list[Group]] = [[] for _ in range(n_absence_posts)]
    for k, symptom in enumerate(absences):
        (no_symptom[k] if k < n_absence_posts else rng.choice(no_symptom)).append([(symptom, 0)])
    per_post = symptomatic + no_symptom + [[] for _ in range(shape.n_unannotated_posts)]
    for post in per_post:
        rng.shuffle(post)
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
    per_post = _plan_posts(shape, rng)
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
    n_posts: int, seed: int, *, curly_rate: float = 0.6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small learnable corpus (see ``sample_shape``); deterministic for a given seed."""
    return generate_from_shape(sample_shape(n_posts), seed, curly_rate=curly_rate)


def generate_full_size(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A benchmark corpus with the structure of the full ReDSM5 (``REDSM5_SHAPE``).

    1,484 posts, 392 without symptom (20 of them without rows), 1,550 positive rows (one per
    post and symptom) plus 12 repeats, 420 status-0 rows, about 20 sentences per post, one
    post of 2 words and one of ~6,990.
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
