"""All-sentence evaluation: every sentence of a post x every criterion, scored and ranked.

Input is a scored frame with one row per (post, sentence, criterion): ``post_id``,
``sentence_index``, ``sentence``, ``criterion_id``, ``symptom``, ``label`` (1 exactly when an
annotated positive row matches the sentence and symptom) and ``probability``. Annotation is
exhaustive, so every other sentence is a true negative. ``all_sentence_report`` gives, for the
model and three baselines on the very same rows (constant, random, lexical TF-IDF):

- retrieval per (post, criterion) with evidence: nDCG@10, Recall@1/3/10, MAP;
- sentence level over all rows: precision, recall, F1, MCC at a threshold, PR-AUC;
- the same per symptom;
- the dataset authors' post-level protocol: ten labels (nine symptoms + NO_SYMPTOMS).

Ties in a ranking count as a uniformly random order of the tied sentences, and every retrieval
figure is its expected value under that order (what scikit-learn's ``ndcg_score`` does), so a
constant predictor gets the figure of a random ranking, never a perfect one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    ndcg_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.metrics.pairwise import cosine_similarity

from evidence_ft import bootstrap
from evidence_ft.bootstrap import Resampler
from evidence_ft.data.schema import SYMPTOM_TO_CRITERION, SYMPTOMS
from evidence_ft.metrics import (
    Threshold,
    choose_threshold,
    row_thresholds,
    scored_metrics,
    undefined_as_none,
)

FRAME_COLUMNS = ("post_id", "sentence_index", "sentence", "criterion_id", "symptom", "label")
GROUP = ["post_id", "criterion_id"]  # one ranking: the sentences of a post for one criterion
RECALL_KS = (1, 3, 10)
NDCG_K = 10
# The ten labels of the authors' post-level protocol: SPECIAL_CASE is not one of them.
POST_LABELS = [s for s in SYMPTOMS if SYMPTOM_TO_CRITERION[s]] + ["NO_SYMPTOMS"]
BASELINE_THRESHOLD = 0.5  # the constant (1.0) and random baselines decide at 0.5
LEXICAL_TUNED_ON = "evaluated pairs (an upper bound for this baseline)"


# ---------------------------------------------------------------------------- retrieval


def _ranked(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows of the (post, criterion) groups with evidence, best first, with their tie blocks.

    Returns per row (sorted by group, then probability descending): ``group`` code, ``label``,
    ``score``, ``post`` id, ``position`` in the group (0-based), ``above`` (sentences ranked
    strictly above the row's tie block), ``tie_size``, ``tie_positives`` and
    ``positives_above`` (evidence sentences strictly above the block).
    """
    has_evidence = frame.groupby(GROUP, sort=False)["label"].transform("max") == 1
    rows = frame.loc[has_evidence, [*GROUP, "label", "probability"]].sort_values(
        [*GROUP, "probability"], ascending=[True, True, False], kind="mergesort"
    )
    group = rows.groupby(GROUP, sort=False).ngroup().to_numpy()
    label = rows["label"].to_numpy(dtype=np.float64)
    score = rows["probability"].to_numpy(dtype=np.float64)
    index = np.arange(len(rows))
    new_group = np.diff(group, prepend=-1) != 0
    new_tie = new_group | (np.diff(score, prepend=np.nan) != 0)
    group_start = np.maximum.accumulate(np.where(new_group, index, 0))
    tie_start = np.maximum.accumulate(np.where(new_tie, index, 0))
    tie = np.cumsum(new_tie) - 1
    before = np.cumsum(label) - label  # evidence rows strictly before each row
    return {
        "group": group,
        "label": label,
        "score": score,
        "post": rows["post_id"].to_numpy(),
        "position": index - group_start,
        "above": tie_start - group_start,
        "tie_size": np.bincount(tie)[tie].astype(np.float64),
        "tie_positives": np.bincount(tie, weights=label)[tie],
        "positives_above": before[tie_start] - before[group_start],
    }


def _expected_recall_at(r: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Per group: expected share of its evidence among the top ``k`` (ties in random order).

    A tie block with ``above`` sentences before it has ``k - above`` of its ``tie_size`` places
    in the top k, so each of its sentences is there with probability (k - above) / tie_size.
    """
    in_top = np.clip(k - r["above"], 0, r["tie_size"]) / r["tie_size"]
    hits = np.bincount(r["group"], weights=r["label"] * in_top)
    return hits / np.bincount(r["group"], weights=r["label"])


def _expected_average_precision(r: dict[str, np.ndarray]) -> np.ndarray:
    """Per group: average precision expected under a random order of tied sentences.

    Written here because scikit-learn's ``average_precision_score`` counts a tie block as one
    cut-off (so a constant scorer gets the prevalence), which disagrees with ``ndcg_score``'s
    tie averaging. An evidence sentence at place j of a block of g with p positives, below n
    sentences holding r positives, has expected precision (r + 1 + (j-1)(p-1)/(g-1)) / (n + j);
    each place j is equally likely (the tie treatment of McSherry and Najork, ECIR 2008).
    Without ties this equals scikit-learn's value.
    """
    j = r["position"] - r["above"] + 1  # place within the tie block, 1..g
    g, p = r["tie_size"], r["tie_positives"]
    others = np.divide((j - 1) * (p - 1), g - 1, out=np.zeros_like(g), where=g > 1)
    precision = (r["positives_above"] + 1 + others) / (r["above"] + j)
    summed = np.bincount(r["group"], weights=precision * p / g)
    return summed / np.bincount(r["group"], weights=r["label"])


def _ndcg(r: dict[str, np.ndarray]) -> float:
    """Mean nDCG@10 over groups with scikit-learn's ``ndcg_score`` (ties averaged).

    ``ndcg_score`` wants one equal-length row per group, so shorter groups are padded with
    non-evidence entries scored below every real one: they sit after the real sentences and
    add no gain. At least two columns, since ``ndcg_score`` refuses a single document.
    """
    width = max(2, int(r["position"].max()) + 1)
    groups = int(r["group"].max()) + 1
    truth = np.zeros((groups, width))
    scores = np.full((groups, width), r["score"].min() - 1.0)
    truth[r["group"], r["position"]] = r["label"]
    scores[r["group"], r["position"]] = r["score"]
    return float(ndcg_score(truth, scores, k=NDCG_K))


def _ndcg_per_group(r: dict[str, np.ndarray]) -> np.ndarray:
    """Per group: nDCG@10 with tied sentences averaged, as ``ndcg_score`` computes it (whose
    mean over groups is all it returns; the bootstrap needs each group's value).

    A tie block's evidence is spread evenly over its places: each row gains
    tie_positives / tie_size at its place's discount 1 / log2(place + 2).
    """
    discount = np.where(r["position"] < NDCG_K, 1 / np.log2(r["position"] + 2), 0.0)
    dcg = np.bincount(r["group"], weights=discount * r["tie_positives"] / r["tie_size"])
    best = np.cumsum(1 / np.log2(np.arange(NDCG_K) + 2))
    evidence = np.bincount(r["group"], weights=r["label"]).astype(int)
    return dcg / best[np.minimum(evidence, NDCG_K) - 1]


def retrieval_metrics(frame: pd.DataFrame, rs: Resampler | None = None) -> dict[str, Any]:
    """nDCG@10, Recall@1/3/10 and MAP, each a mean over the (post, criterion) groups that have
    at least one evidence sentence (the others have nothing to retrieve); None without groups.
    With ``rs``, each has its bootstrap interval (the groups of the drawn posts).

    >>> f = pd.DataFrame({"post_id": "p", "criterion_id": "A.1",
    ...                   "label": [0, 1, 0], "probability": [0.9, 0.5, 0.1]})
    >>> m = retrieval_metrics(f)  # evidence ranked 2nd: nDCG 1/log2(3), R@1 0, R@3 1, AP 1/2
    >>> m["groups"], m["ndcg_at_10"], m["recall_at_1"], m["recall_at_3"], m["map"]
    (1, 0.6309, 0.0, 1.0, 0.5)
    """
    r = _ranked(frame)
    keys = ["ndcg_at_10", *(f"recall_at_{k}" for k in RECALL_KS), "map"]
    if not len(r["group"]):
        return {"groups": 0, **dict.fromkeys(keys)}
    values = [
        _ndcg(r),
        *(_expected_recall_at(r, k).mean() for k in RECALL_KS),
        _expected_average_precision(r).mean(),
    ]
    out = {"groups": int(r["group"].max()) + 1} | {
        k: round(float(v), 4) for k, v in zip(keys, values)
    }
    if rs is not None:
        bootstrap.add_intervals(out, retrieval_samples(r, rs, keys), rs)
    return out


def retrieval_samples(
    r: dict[str, np.ndarray], rs: Resampler, keys: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each retrieval figure of ``keys`` (all by default) per resample of ``rs``, from the
    ``_ranked`` rows ``r``: the mean of its per-group values over the drawn posts' groups.

    Groups are numbered by (post, criterion) alone, so two scorers of the same rows get the
    same groups and their samples can be subtracted (a paired comparison)."""
    per_group: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
        "ndcg_at_10": _ndcg_per_group,
        **{f"recall_at_{k}": partial(_expected_recall_at, k=k) for k in RECALL_KS},
        "map": _expected_average_precision,
    }
    first = np.flatnonzero(np.diff(r["group"], prepend=-1) != 0)
    codes = rs.codes(r["post"][first].astype(str))
    wanted = per_group if keys is None else keys
    return {k: bootstrap.mean_samples(rs, per_group[k](r), codes) for k in wanted}


# ---------------------------------------------------------------------------- sentence level


def sentence_metrics(
    frame: pd.DataFrame, threshold: Threshold, rs: Resampler | None = None
) -> dict[str, Any]:
    """Over all rows: precision, recall, F1, MCC of ``probability >= threshold`` (one, or one
    per symptom), PR-AUC and ROC-AUC; a metric that is 0/0 (no evidence, nothing predicted,
    one class) is None. With ``rs``, each has its bootstrap interval.

    >>> f = pd.DataFrame({"label": [0, 0, 1, 1], "probability": [0.1, 0.6, 0.4, 0.9]})
    >>> m = sentence_metrics(f, 0.5)
    >>> m["pairs"], m["positives"], m["predicted"], m["f1"], m["pr_auc"]
    (4, 2, 2, 0.5, 0.8333)
    """
    labels, probabilities = frame["label"].to_numpy(), frame["probability"].to_numpy()
    cut = row_thresholds(frame, threshold)
    scored = undefined_as_none(scored_metrics(labels, probabilities, cut))
    both = len(np.unique(labels)) == 2  # the AUCs are undefined with one class
    # Not metrics.ranking_metrics: its Brier score and ECE mean nothing for a cosine score,
    # and they doubled the time of the 44 calls a report makes.
    pr_auc = average_precision_score(labels, probabilities) if both else None
    roc_auc = roc_auc_score(labels, probabilities) if both else None
    out = {
        "pairs": len(frame),
        "positives": int(labels.sum()),
        "predicted": int((probabilities >= cut).sum()),
        **{k: scored[k] for k in ("precision", "recall", "f1", "mcc")},
        "pr_auc": None if pr_auc is None else round(float(pr_auc), 4),
        "roc_auc": None if roc_auc is None else round(float(roc_auc), 4),
    }
    if rs is not None:
        codes = rs.codes(frame["post_id"].astype(str).to_numpy())
        bootstrap.scored_intervals(out, rs, codes, labels, probabilities, cut, aucs=True)
    return out


def per_criterion_metrics(
    frame: pd.DataFrame, threshold: Threshold, rs: Resampler | None = None
) -> dict[str, dict[str, Any]]:
    """Retrieval and sentence-level figures per symptom present in ``frame`` (dataset order),
    with bootstrap intervals when ``rs`` is given."""
    present = set(frame["symptom"].unique())
    order = [s for s in SYMPTOMS if s in present] + sorted(present - set(SYMPTOMS))
    parts = dict(list(frame.groupby("symptom", sort=False)))
    return {
        s: {
            "criterion_id": str(parts[s]["criterion_id"].iat[0]),
            "retrieval": retrieval_metrics(parts[s], rs),
            "sentence": sentence_metrics(parts[s], threshold, rs),
        }
        for s in order
    }


# ---------------------------------------------------------------------------- post protocol


def post_indicators(
    frame: pd.DataFrame, post_ids: Sequence[Any], column: str = "label"
) -> np.ndarray:
    """Posts x ``POST_LABELS`` 0/1 matrix: a symptom is present when any of the post's rows has
    ``column`` 1 for it; NO_SYMPTOMS when none of the nine is. A post without rows has none.

    >>> f = pd.DataFrame({"post_id": ["a", "a", "b"], "label": [1, 0, 1],
    ...                   "symptom": ["FATIGUE", "ANHEDONIA", "SPECIAL_CASE"]})
    >>> post_indicators(f, ["a", "b", "c"])[:, [1, 5, 9]].tolist()  # ANHEDONIA, FATIGUE, NO_
    [[0, 1, 0], [0, 0, 1], [0, 0, 1]]
    """
    nine = POST_LABELS[:-1]
    wide = frame.groupby(["post_id", "symptom"])[column].max().unstack(fill_value=0)
    present = wide.reindex(index=list(post_ids), columns=nine, fill_value=0).fillna(0)
    symptoms = (present.to_numpy() > 0).astype(int)
    return np.column_stack([symptoms, 1 - symptoms.max(axis=1, initial=0)])


def post_protocol_metrics(
    frame: pd.DataFrame,
    threshold: Threshold,
    post_ids: Sequence[Any],
    rs: Resampler | None = None,
) -> dict[str, Any]:
    """The ReDSM5 authors' post-level protocol over every post in ``post_ids``.

    Predicted present: any sentence with ``probability >= threshold``. Micro-, macro- and
    weighted-F1 are scikit-learn's ``f1_score`` on the indicator matrices with
    ``zero_division=0`` (a label with no true and no predicted post counts 0 in macro-F1);
    exact match is subset accuracy. Per label, an undefined precision/recall/F1 is None.
    With ``rs`` (resampling ``post_ids``), each F1 and exact match has its bootstrap interval.
    """
    posts = list(dict.fromkeys(post_ids))
    stray = set(frame["post_id"].unique()) - set(posts)
    if stray:
        raise ValueError(
            f"{len(stray)} post(s) of the frame are not in post_ids, e.g. {min(stray)}"
        )
    cut = row_thresholds(frame, threshold)
    scored = frame.assign(predicted=(frame["probability"] >= cut).astype(int))
    truth = post_indicators(scored, posts, "label")
    predicted = post_indicators(scored, posts, "predicted")
    out: dict[str, Any] = {"posts": len(posts), "zero_division": 0}
    if not posts:  # scikit-learn refuses empty matrices; every figure is undefined
        empty = {"support": 0, "predicted": 0, "precision": None, "recall": None, "f1": None}
        out |= dict.fromkeys(("micro_f1", "macro_f1", "weighted_f1", "exact_match"))
        return out | {"per_label": {name: dict(empty) for name in POST_LABELS}}
    for average in ("micro", "macro", "weighted"):
        f1 = f1_score(truth, predicted, average=average, zero_division=0)
        out[f"{average}_f1"] = round(float(f1), 4)
    out["exact_match"] = round(float(accuracy_score(truth, predicted)), 4)
    p, r, f, support = precision_recall_fscore_support(
        truth, predicted, average=None, zero_division=np.nan
    )
    out["per_label"] = {
        name: {
            "support": int(support[i]),
            "predicted": int(predicted[:, i].sum()),
            **{k: _rounded(v[i]) for k, v in (("precision", p), ("recall", r), ("f1", f))},
        }
        for i, name in enumerate(POST_LABELS)
    }
    if rs is not None:
        bootstrap.multilabel_intervals(
            out, rs, posts, (truth, predicted), POST_LABELS, 0.0, "per_label"
        )
    return out


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


# ---------------------------------------------------------------------------- baselines


def constant_scores(frame: pd.DataFrame) -> np.ndarray:
    """Every pair is evidence: probability 1.0 for all rows."""
    return np.ones(len(frame))


def random_scores(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Uniform probabilities from ``numpy.random.default_rng(seed)``, one per row in order."""
    return np.random.default_rng(seed).random(len(frame))


def lexical_scores(frame: pd.DataFrame, criteria: dict[str, str]) -> np.ndarray:
    """TF-IDF cosine similarity between each row's criterion text and its sentence.

    Unsupervised: the vectorizer is fitted on the frame's distinct sentences plus the criterion
    texts, no label is used. Each distinct sentence is vectorised once.

    >>> f = pd.DataFrame({"criterion_id": ["A.6", "A.6"],
    ...                   "sentence": ["I am tired all day", "We went to the beach"]})
    >>> lexical_scores(f, {"A.6": "Fatigue: tired, no energy"}).round(4).tolist()
    [0.1616, 0.0]
    """
    missing = sorted(set(frame["criterion_id"]) - set(criteria))
    if missing:
        raise ValueError(f"no criterion text for {', '.join(missing)}")
    sentence_codes, sentences = pd.factorize(frame["sentence"])
    criterion_ids = sorted(criteria)
    texts = [criteria[c] for c in criterion_ids]
    vectorizer = TfidfVectorizer().fit([*sentences, *texts])
    similarity = cosine_similarity(vectorizer.transform(sentences), vectorizer.transform(texts))
    criterion_codes = pd.Index(criterion_ids).get_indexer(frame["criterion_id"])
    return np.asarray(similarity[sentence_codes, criterion_codes], dtype=np.float64)


# ---------------------------------------------------------------------------- driver


def rounded_threshold(threshold: Threshold) -> Any:
    """A threshold as a report records it: a number, or {symptom: number}.

    >>> rounded_threshold(0.123456), rounded_threshold({"FATIGUE": 0.4444444})
    (0.1235, {'FATIGUE': 0.4444})
    """
    if isinstance(threshold, Mapping):
        return {s: round(float(t), 4) for s, t in threshold.items()}
    return round(float(threshold), 4)


def scorer_report(
    frame: pd.DataFrame, threshold: Threshold, rs: Resampler | None = None
) -> dict[str, Any]:
    """Retrieval, sentence-level and per-criterion figures of one scorer (``probability``)."""
    return {
        "threshold": rounded_threshold(threshold),
        "retrieval": retrieval_metrics(frame, rs),
        "sentence": sentence_metrics(frame, threshold, rs),
        "per_criterion": per_criterion_metrics(frame, threshold, rs),
    }


# The figures compared between the model and each baseline: (section, key).
COMPARED = (("retrieval", "ndcg_at_10"), ("retrieval", "map"), ("sentence", "f1"))


def compared_samples(
    frame: pd.DataFrame, scores: np.ndarray, threshold: Threshold, rs: Resampler
) -> dict[str, np.ndarray]:
    """One scorer's ``COMPARED`` figures on each resample of ``rs`` (``scores`` for the rows
    of ``frame``, deciding at ``threshold``)."""
    scored = frame.assign(probability=scores)
    r = _ranked(scored)
    out = retrieval_samples(r, rs, ["ndcg_at_10", "map"]) if len(r["group"]) else {}
    codes = rs.codes(scored["post_id"].astype(str).to_numpy())
    cut = row_thresholds(scored, threshold)
    out["f1"] = bootstrap.confusion_samples(rs, scored["label"], scores, cut, codes)["f1"]
    return out


def model_minus(
    model: dict[str, Any],
    baseline: dict[str, Any],
    samples: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
    rs: Resampler | None = None,
) -> dict[str, Any]:
    """The ``COMPARED`` figures of the ``model``'s report (``scorer_report``) minus the
    ``baseline``'s, with paired bootstrap intervals when given both scorers'
    ``compared_samples`` on the same ``rs``: each resample's difference is taken on the same
    drawn posts. A difference is None where either figure is undefined."""
    out: dict[str, Any] = {}
    for section, key in COMPARED:
        mine, theirs = model[section][key], baseline[section][key]
        out[key] = None if mine is None or theirs is None else round(mine - theirs, 4)
    if samples is None or rs is None:
        return out
    mine_s, theirs_s = samples
    differences = {k: mine_s[k] - theirs_s[k] for k in mine_s if k in theirs_s}
    return bootstrap.add_intervals(out, differences, rs)


def all_sentence_report(
    frame: pd.DataFrame,
    threshold: Threshold,
    criteria: dict[str, str],
    post_ids: Sequence[Any],
    seed: int = 0,
    rs: Resampler | None = None,
) -> dict[str, Any]:
    """The model and the constant, random and lexical baselines on the same rows (JSON-ready).

    With ``rs`` (a resampler of ``post_ids``) every figure of every scorer has its bootstrap
    interval, all from the same resamples of the posts.

    Rows are put in a canonical order first (post, sentence, criterion), so the random
    baseline depends only on the rows and ``seed``. The lexical threshold maximises its
    sentence-level F1 on these very rows: an upper bound for that baseline, recorded as such.
    """
    missing = [c for c in (*FRAME_COLUMNS, "probability") if c not in frame.columns]
    if missing:
        raise ValueError(f"the scored frame lacks column(s) {', '.join(missing)}")
    frame = frame.sort_values(
        ["post_id", "sentence_index", "criterion_id"], kind="mergesort"
    ).reset_index(drop=True)
    lexical = lexical_scores(frame, criteria)
    lexical_threshold = choose_threshold(frame["label"], lexical)
    scorers: dict[str, tuple[np.ndarray, Threshold, dict[str, Any]]] = {
        "model": (frame["probability"].to_numpy(), threshold, {}),
        "constant": (constant_scores(frame), BASELINE_THRESHOLD, {}),
        "random": (random_scores(frame, seed), BASELINE_THRESHOLD, {"seed": seed}),
        "lexical": (lexical, lexical_threshold, {"threshold_tuned_on": LEXICAL_TUNED_ON}),
    }
    figures, protocol = {}, {}
    for name, (scores, t, extra) in scorers.items():
        scored = frame.assign(probability=scores)
        figures[name] = scorer_report(scored, t, rs) | extra
        protocol[name] = post_protocol_metrics(scored, t, post_ids, rs)
    samples = {
        name: compared_samples(frame, scores, t, rs)
        for name, (scores, t, _) in scorers.items()
        if rs is not None
    }
    gains = {
        name: model_minus(
            figures["model"],
            figures[name],
            (samples["model"], samples[name]) if samples else None,
            rs,
        )
        for name in scorers
        if name != "model"
    }
    intervals = {"intervals": bootstrap.method(rs)} if rs is not None else {}
    return {
        "threshold": rounded_threshold(threshold),
        "pairs": len(frame),
        "posts": len(dict.fromkeys(post_ids)),
        "posts_with_rows": int(frame["post_id"].nunique()),
        "positives": int(frame["label"].sum()),
        "groups": figures["model"]["retrieval"]["groups"],
        "ties": "random order of tied sentences (expected value)",
        "model": figures.pop("model"),
        "baselines": figures,
        "model_minus": gains,
        "post_labels": list(POST_LABELS),
        "post_protocol": protocol,
        **intervals,
    }
