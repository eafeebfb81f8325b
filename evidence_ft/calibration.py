"""Temperature scaling of P(evidence): one parameter fitted on validation.

The model's evidence-minus-no_evidence logit gap g becomes g / T, so P(evidence) =
sigmoid(g / T). T is chosen to minimise the negative log-likelihood of the validation pairs'
labels. Dividing by a positive T never reorders the pairs (ROC-AUC and PR-AUC are
unchanged); it only makes the probabilities less (T > 1) or more (T < 1) confident. A saved
model holds T in its head (``serving.threshold_in_head``), so every loader applies it.

The NLL is convex in 1 / T (a logistic regression's loss in its one weight), so scipy's
bounded scalar search over 1 / T finds its minimum. A validation split the model separates
perfectly has no finite minimum (the NLL falls as T -> 0, towards probabilities of exactly 0
and 1): there is nothing to calibrate against, and the fit keeps T = 1 and says so
(``Temperature.separable``). T is searched between ``MAX_TEMPERATURE`` and a floor: the
larger of ``MIN_TEMPERATURE`` and max |g| / ``MAX_CALIBRATED_GAP`` over the validation
gaps, so that no calibrated gap exceeds 30 and sigmoid(g / T) stays below 1.0 in float64
(1 - 1e-13): probabilities that rounded to 1.0 would tie and change the pairs' order. A fit
that ends on a bound says so (``Temperature.at_bound``). A model trained with focal loss is
underconfident (its probabilities stay near the middle), so T < 1 is the usual result.

Written here because no library fits it: scikit-learn's ``CalibratedClassifierCV(method=
"sigmoid")`` is Platt scaling (a slope and an intercept, which move the 0.5 point and need an
estimator object to wrap); temperature scaling is its one-parameter case without intercept,
fitted here with scipy on the logits the Trainer already returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from evidence_ft.serving import sigmoid

# The temperatures the fit may return; 1 / T is searched in [1 / MAX, 1 / floor].
MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 20.0
# The largest |gap / T| the fit allows on validation: sigmoid(30) = 1 - 9e-14 < 1.0.
MAX_CALIBRATED_GAP = 30.0


@dataclass(frozen=True)
class Temperature:
    """A fitted temperature and the validation NLL before (T = 1) and after; ``separable``:
    validation needed T below ``MIN_TEMPERATURE``, so T = 1 was kept."""

    value: float
    nll_before: float
    nll_after: float
    pairs: int
    separable: bool = False
    at_bound: bool = False

    def as_metrics(self) -> dict[str, float]:
        """What a training run records: ``temperature`` and the validation NLLs."""
        return {
            "temperature": self.value,
            "eval_nll_uncalibrated": self.nll_before,
            "eval_nll": self.nll_after,
        }


def nll(labels: Any, gaps: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of 0/1 ``labels`` under P(evidence) = sigmoid(gap / T).

    >>> round(nll([1, 0], [0.0, 0.0]), 4)  # log 2: a coin flip
    0.6931
    >>> nll([1, 0], [2.0, -2.0]) > nll([1, 0], [2.0, -2.0], temperature=0.5)
    True
    """
    y = np.asarray(labels, dtype=np.float64)
    margin = (2 * y - 1) * np.asarray(gaps, dtype=np.float64) / temperature
    return float(np.logaddexp(0.0, -margin).mean()) if len(y) else 0.0


def fit_temperature(labels: Any, gaps: Any) -> Temperature:
    """The temperature that minimises the NLL of ``labels`` given the logit ``gaps``.

    T = 1 (no change) when there are no pairs, only one class, or the gaps separate the
    classes: nothing to fit against.

    >>> rng = np.random.default_rng(0)
    >>> g = rng.normal(0.0, 2.0, 20000)                 # true log-odds
    >>> y = rng.random(20000) < sigmoid(g)              # labels drawn from them
    >>> round(fit_temperature(y, g * 3.0).value, 1)     # a model 3x too confident
    3.0
    >>> fit = fit_temperature([0, 0, 1, 1], [-2.0, -1.0, 1.0, 2.0])  # separated: T = 1 kept
    >>> fit.value, fit.separable, fit.nll_before == fit.nll_after
    (1.0, True, True)
    """
    y = np.asarray(labels, dtype=np.float64)
    g = np.asarray(gaps, dtype=np.float64)
    before = round(nll(y, g), 6)
    if len(np.unique(y)) < 2:
        return Temperature(1.0, before, before, len(y))
    if g[y == 1].min() > g[y == 0].max():
        return Temperature(1.0, before, before, len(y), separable=True)
    floor = max(MIN_TEMPERATURE, float(np.abs(g).max()) / MAX_CALIBRATED_GAP)
    low, high = 1.0 / MAX_TEMPERATURE, 1.0 / floor
    result = minimize_scalar(
        lambda inverse: nll(y, g * inverse), bounds=(low, high), method="bounded",
        options={"xatol": 1e-6},
    )  # fmt: skip
    value = round(1.0 / float(result.x), 6)
    at_bound = not floor * 1.001 < value < MAX_TEMPERATURE * 0.999
    return Temperature(value, before, round(nll(y, g, value), 6), len(y), at_bound=at_bound)


def calibrated(gaps: Any, temperature: float) -> np.ndarray:
    """P(evidence) = sigmoid(gap / T).

    >>> calibrated([0.0, 2.0], 2.0).round(4).tolist()
    [0.5, 0.7311]
    """
    return sigmoid(np.asarray(gaps, dtype=np.float64) / temperature)
