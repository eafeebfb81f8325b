"""Bootstrap confidence intervals that resample posts, not pairs.

The pairs (or sentences) of one post are not independent: they share a writer, a topic and
often a label. So a resample draws posts with replacement, and every metric is recomputed on
all the rows of the drawn posts, a post drawn twice counting twice. The interval is the
percentile interval of the resampled values (``level`` 0.95: the 2.5th and 97.5th
percentiles).

Vectorised: ``Resampler.counts`` holds how often each post is drawn in each resample (resamples
x posts). A metric built from sums over rows (confusion counts, squared errors, per-ranking
values) is then one matrix product with per-post sums; ROC-AUC and PR-AUC weight each row by
its post's count. Nothing loops over resamples in Python, so 1,000 resamples of a test split
take milliseconds to about a second. scikit-learn has no weighted-resample bootstrap and
``scipy.stats.bootstrap`` resamples independent observations (and recomputes the statistic per
resample), hence this module.

A metric undefined on a resample (no positive pair: recall, F1; nothing predicted: precision;
one class: the AUCs, MCC, macro-F1) is NaN there; the interval comes from the defined values
and the number of undefined resamples is reported beside it (``<name>_ci_undefined``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The keys an interval adds beside a metric ``m``: m_ci_low, m_ci_high (and m_ci_undefined).
LOW, HIGH, UNDEFINED = "_ci_low", "_ci_high", "_ci_undefined"
# ``m_minus_constant``: a decision rule's m minus the constant "evidence" predictor's m on the
# same pairs, for these m; its interval is paired (both computed on each resample).
MINUS_CONSTANT = "_minus_constant"
COMPARED_WITH_CONSTANT = ("f1", "macro_f1")


@dataclass(frozen=True)
class Resampler:
    """Which posts each resample draws: ``draws[b]`` are post indices (into ``posts``) and
    ``counts[b, p]`` how often post p is drawn in resample b."""

    posts: np.ndarray
    draws: np.ndarray
    counts: np.ndarray
    level: float
    seed: int

    @property
    def resamples(self) -> int:
        return len(self.counts)

    def codes(self, post_ids: Iterable[Any]) -> np.ndarray:
        """Each row's post as an index into ``posts`` (every post must be one of them)."""
        ids = np.asarray(list(post_ids) if not isinstance(post_ids, np.ndarray) else post_ids)
        codes = np.searchsorted(self.posts, ids)
        codes = np.minimum(codes, len(self.posts) - 1)
        if len(ids) and not np.array_equal(self.posts[codes], ids):
            raise ValueError("a row's post is not among the resampled posts")
        return codes

    def per_post(self, values: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (rows, or rows x k) over each post's rows: posts (x k)."""
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros((len(self.posts), *values.shape[1:]))
        np.add.at(out, codes, values)
        return out

    def totals(self, values: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Per resample, the sum of ``values`` over the drawn rows: resamples (x k)."""
        return np.tensordot(self.counts, self.per_post(values, codes), axes=1)

    def interval(self, samples: np.ndarray) -> tuple[float | None, float | None, int]:
        """(low, high, undefined resamples) of the percentile interval at ``level``."""
        samples = np.asarray(samples, dtype=np.float64)
        defined = samples[~np.isnan(samples)]
        undefined = len(samples) - len(defined)
        if not len(defined):
            return None, None, undefined
        tail = (1 - self.level) / 2 * 100
        low, high = np.percentile(defined, [tail, 100 - tail])
        return round(float(low), 4), round(float(high), 4), undefined


def resampler(post_ids: Iterable[Any], resamples: int, level: float, seed: int) -> Resampler:
    """Draw ``resamples`` resamples of the distinct posts of ``post_ids`` (seeded)."""
    posts = np.unique(np.asarray([str(p) for p in post_ids], dtype=object)).astype(str)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, max(len(posts), 1), size=(resamples, len(posts)))  # (B, 0) if none
    # counts[b, p]: one bincount over all resamples at once (resample b's posts offset by b*P)
    offsets = draws + np.arange(resamples)[:, None] * len(posts)
    counts = np.bincount(offsets.ravel(), minlength=resamples * len(posts))
    counts = counts.reshape(resamples, len(posts)).astype(np.float64)
    return Resampler(posts, draws, counts, float(level), int(seed))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (undefined on that resample)."""
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


# ---------------------------------------------------------------------------- metric families


def confusion_values(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """The threshold metrics from confusion counts (arrays), NaN where undefined.

    >>> {k: round(float(v), 4) for k, v in confusion_values(2, 1, 1, 1).items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'accuracy': 0.6, 'precision': 0.6667, 'recall': 0.6667, 'f1': 0.6667,
     'macro_f1': 0.5833, 'mcc': 0.1667, 'specificity': 0.5}
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    positives, negatives = tp + fn, tn + fp
    f1 = np.where(positives > 0, _ratio(2 * tp, 2 * tp + fp + fn), np.nan)
    f1_negative = np.where(negatives > 0, _ratio(2 * tn, 2 * tn + fn + fp), np.nan)
    margins = (tp + fp) * positives * negatives * (tn + fn)
    return {
        "accuracy": _ratio(tp + tn, positives + negatives),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, positives),
        "f1": f1,
        "macro_f1": (f1 + f1_negative) / 2,  # NaN when either class is missing
        "mcc": _ratio(tp * tn - fp * fn, np.sqrt(margins)),
        "specificity": _ratio(tn, negatives),
    }


def confusion_samples(
    rs: Resampler, labels: Any, scores: Any, threshold: Any, codes: np.ndarray
) -> dict[str, np.ndarray]:
    """``confusion_values`` of ``score >= threshold`` (a number, or one per pair) on each
    resample."""
    y = np.asarray(labels) > 0
    hit = np.asarray(scores, dtype=np.float64) >= threshold
    cells = np.column_stack([y & hit, ~y & hit, y & ~hit, ~y & ~hit])
    tp, fp, fn, tn = rs.totals(cells, codes).T
    return confusion_values(tp, fp, fn, tn)


def constant_samples(rs: Resampler, labels: Any, codes: np.ndarray) -> dict[str, np.ndarray]:
    """``confusion_values`` of the constant "evidence" predictor (every pair positive) on each
    resample."""
    labels = np.asarray(labels)
    return confusion_samples(rs, labels, np.ones(len(labels)), 1.0, codes)


def minus_constant(
    samples: Mapping[str, np.ndarray], constant: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per resample, ``samples`` minus the constant predictor's (``constant_samples`` on the
    same resampler) for each of ``COMPARED_WITH_CONSTANT``: a paired bootstrap of the gain.

    Pairing matters: the model and the constant score the same drawn posts, so a resample that
    is easy for one is often easy for the other, and the difference's interval is narrower than
    independent resamples would make it (whether two separate intervals overlap says little
    either way)."""
    return {
        name + MINUS_CONSTANT: samples[name] - constant[name]
        for name in COMPARED_WITH_CONSTANT
        if name in samples and name in constant
    }


def auc_samples(
    rs: Resampler, labels: Any, scores: Any, codes: np.ndarray
) -> dict[str, np.ndarray]:
    """ROC-AUC and PR-AUC (scikit-learn's average precision) on each resample.

    A post drawn k times counts its rows k times. Both AUCs are sums over positive rows i of
    counts "per post q" (negatives of q scored below i, ties half, for ROC-AUC; rows and
    positives of q scored >= i for the precision at i's cut, which is how scikit-learn's AP
    treats ties), so all resamples are three products of the post counts with positives x
    posts matrices built once.
    """
    y = np.asarray(labels) > 0
    s = np.asarray(scores, dtype=np.float64)
    # only the posts these rows come from (a symptom's few): the others add nothing
    present, codes = np.unique(np.asarray(codes), return_inverse=True)
    codes = codes.reshape(-1)
    counts, mine, n_posts = rs.counts[:, present], codes[y], len(present)
    # Per (positive row i, post q): rows of q that score below i's score, from one sorted key
    # (post, score rank) for all posts at once instead of a loop over posts.
    rank = np.unique(s, return_inverse=True)[1].reshape(-1)
    width = int(rank.max(initial=0)) + 2
    queries = np.arange(n_posts)[None, :] * width + rank[y][:, None]  # positives x posts

    def below(rows: np.ndarray, side: Any) -> np.ndarray:
        keys = np.sort(codes[rows] * width + rank[rows])
        return np.searchsorted(keys, queries, side) - np.searchsorted(
            keys, np.arange(n_posts) * width
        )

    negatives_under, negatives_to = below(~y, "left"), below(~y, "right")
    negatives_below = (negatives_under + negatives_to) / 2  # a tie counts half
    positives_at_least = np.bincount(mine, minlength=n_posts) - below(y, "left")
    rows_at_least = positives_at_least + np.bincount(codes[~y], minlength=n_posts)
    rows_at_least = rows_at_least - negatives_under
    n_pos = counts @ np.bincount(mine, minlength=n_posts)
    n_neg = counts @ np.bincount(codes[~y], minlength=n_posts)
    # per resample: sum over positives i of count(i's post) x weighted negatives below i
    correct = (counts[:, mine] * (counts @ negatives_below.T)).sum(axis=1)
    precision = _ratio(counts @ positives_at_least.T, counts @ rows_at_least.T)
    steps = (counts[:, mine] * np.nan_to_num(precision)).sum(axis=1)
    both = (n_pos > 0) & (n_neg > 0)
    return {
        "roc_auc": np.where(both, _ratio(correct, n_pos * n_neg), np.nan),
        "pr_auc": np.where(both, _ratio(steps, n_pos), np.nan),
    }


def mean_samples(rs: Resampler, values: Any, codes: np.ndarray) -> np.ndarray:
    """The mean of per-row (or per-ranking) ``values`` over the drawn rows, per resample."""
    values = np.asarray(values, dtype=np.float64)
    sums = rs.totals(np.column_stack([values, np.ones_like(values)]), codes)
    return _ratio(sums[:, 0], sums[:, 1])


def calibration_samples(
    rs: Resampler, labels: Any, probabilities: Any, codes: np.ndarray, n_bins: int = 10
) -> dict[str, np.ndarray]:
    """Brier score and ECE (``metrics.expected_calibration_error``'s bins) per resample."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], p)
    one_hot = np.eye(n_bins)[bins]  # rows x bins
    per_bin = rs.totals(
        np.concatenate([one_hot, one_hot * p[:, None], one_hot * y[:, None]], 1), codes
    )
    total, prob, hit = np.split(per_bin, 3, axis=1)
    return {
        "brier": mean_samples(rs, (p - y) ** 2, codes),
        "ece": _ratio(np.abs(prob - hit).sum(axis=1), total.sum(axis=1)),
    }


def multilabel_samples(
    rs: Resampler,
    truth: np.ndarray,
    predicted: np.ndarray,
    labels: Sequence[str],
    undefined_as: float | None,
) -> dict[str, Any]:
    """Post-level multi-label F1s per resample from posts x labels 0/1 matrices (rows in the
    order of ``rs.posts``).

    ``undefined_as``: the value of a label's F1 when it has no true and no predicted post
    (0 as scikit-learn's ``zero_division=0``), or None to leave that label out of macro-F1.
    """
    truth, predicted = np.asarray(truth) > 0, np.asarray(predicted) > 0
    tp = rs.counts @ (truth & predicted).astype(np.float64)  # resamples x labels
    fp = rs.counts @ (~truth & predicted).astype(np.float64)
    fn = rs.counts @ (truth & ~predicted).astype(np.float64)
    per_label = _ratio(2 * tp, 2 * tp + fp + fn)
    filled = per_label if undefined_as is None else np.nan_to_num(per_label, nan=undefined_as)
    with np.errstate(invalid="ignore"):
        macro = np.nanmean(filled, axis=1) if filled.shape[1] else np.full(rs.resamples, np.nan)
    support = tp + fn
    exact = (truth == predicted).all(axis=1).astype(np.float64)
    return {
        "micro_f1": _ratio(2 * tp.sum(1), (2 * tp + fp + fn).sum(1)),
        "macro_f1": np.where(np.isnan(filled).all(axis=1), np.nan, macro),
        "weighted_f1": _ratio((np.nan_to_num(per_label) * support).sum(1), support.sum(1)),
        "exact_match": _ratio(rs.counts @ exact, rs.counts.sum(1)),
        "per_label": {name: per_label[:, i] for i, name in enumerate(labels)},
    }


# ---------------------------------------------------------------------------- into reports


def add_intervals(
    figures: dict[str, Any], samples: Mapping[str, np.ndarray], rs: Resampler
) -> dict[str, Any]:
    """``figures`` with ``<name>_ci_low`` / ``_ci_high`` beside each metric of ``samples``
    (and ``_ci_undefined`` when some resamples leave it undefined). A metric that is None
    (undefined on the data itself) gets no interval."""
    for name, values in samples.items():
        if figures.get(name) is None:
            continue
        low, high, undefined = rs.interval(values)
        figures[name + LOW], figures[name + HIGH] = low, high
        if undefined:
            figures[name + UNDEFINED] = undefined
    return figures


def method(rs: Resampler) -> dict[str, Any]:
    """How a report's intervals were made (recorded once per report)."""
    return {
        "method": "percentile bootstrap, resampling posts with replacement",
        "resamples": rs.resamples,
        "level": rs.level,
        "seed": rs.seed,
        "posts": len(rs.posts),
    }


def scored_intervals(
    figures: dict[str, Any] | None,
    rs: Resampler,
    codes: np.ndarray,
    labels: Any,
    scores: Any,
    threshold: Any = None,
    aucs: bool = False,
) -> dict[str, Any] | None:
    """Intervals of the threshold metrics in ``figures`` (at ``threshold``: a number, or one
    per pair) and, with ``aucs``,
    of its ROC-AUC and PR-AUC; ``figures`` is changed in place and returned."""
    if figures is None:
        return None
    samples: dict[str, np.ndarray] = {}
    if threshold is not None:
        samples |= confusion_samples(rs, labels, scores, threshold, codes)
    if aucs:
        samples |= auc_samples(rs, labels, scores, codes)
    return add_intervals(figures, {k: v for k, v in samples.items() if k in figures}, rs)


def multilabel_intervals(
    figures: dict[str, Any],
    rs: Resampler,
    posts: Sequence[Any],
    matrices: tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
    undefined_as: float | None,
    per_label_key: str,
) -> dict[str, Any]:
    """Intervals of a post-level report (micro/macro/weighted F1, exact match, and each
    label's F1 under ``figures[per_label_key]``) from its (truth, predicted) posts x labels
    matrices, whose rows follow ``posts``."""
    rows = rs.codes([str(p) for p in posts])
    truth, predicted = (np.zeros((len(rs.posts), len(labels))) for _ in range(2))
    truth[rows], predicted[rows] = matrices
    samples = multilabel_samples(rs, truth, predicted, labels, undefined_as)
    per_label = samples.pop("per_label")
    add_intervals(figures, {k: v for k, v in samples.items() if k in figures}, rs)
    for name, values in per_label.items():
        add_intervals(figures[per_label_key][name], {"f1": values}, rs)
    return figures
