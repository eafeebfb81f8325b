"""Temperature scaling: the fit recovers a known temperature, never reorders pairs, and a
saved model holds it in its head; per-symptom thresholds are chosen, fall back and decide."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from transformers import AutoModelForSequenceClassification

from evidence_ft.calibration import (
    MAX_CALIBRATED_GAP,
    MIN_TEMPERATURE,
    calibrated,
    fit_temperature,
    nll,
)
from evidence_ft.metrics import choose_symptom_thresholds, choose_threshold, row_thresholds
from evidence_ft.serving import (
    CRITERIA_KEY,
    CRITERION_THRESHOLDS_KEY,
    TEMPERATURE_KEY,
    EvidenceModel,
    evidence_gap,
    evidence_probability,
    output_layer,
    sigmoid,
    threshold_in_head,
)


def synthetic_logits(temperature: float, n: int = 20000, seed: int = 0):
    """Labels drawn from true log-odds g, and the gaps of a model whose logits are T * g."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0.5, 2.0, n)
    labels = (rng.random(n) < sigmoid(true)).astype(int)
    return labels, true * temperature


@pytest.mark.parametrize("temperature", [0.1, 0.4, 1.0, 2.5, 6.0])
def test_the_fit_recovers_a_known_temperature(temperature):
    labels, gaps = synthetic_logits(temperature)
    fit = fit_temperature(labels, gaps)
    assert fit.value == pytest.approx(temperature, rel=0.05)
    assert not fit.separable and fit.pairs == len(labels)
    assert fit.nll_after <= fit.nll_before + 1e-9
    # it is the minimum: a step either side is worse
    for step in (0.9, 1.1):
        assert nll(labels, gaps, fit.value * step) > fit.nll_after


def test_calibration_never_changes_the_ranking():
    labels, gaps = synthetic_logits(3.0)
    fit = fit_temperature(labels, gaps)
    before, after = sigmoid(gaps), calibrated(gaps, fit.value)
    assert roc_auc_score(labels, after) == roc_auc_score(labels, before)
    assert average_precision_score(labels, after) == average_precision_score(labels, before)
    np.testing.assert_array_equal(
        np.argsort(after, kind="stable"), np.argsort(before, kind="stable")
    )


def test_calibration_lowers_the_expected_calibration_error():
    from evidence_ft.metrics import expected_calibration_error

    labels, gaps = synthetic_logits(3.0)
    fit = fit_temperature(labels, gaps)
    before = expected_calibration_error(labels, sigmoid(gaps))
    after = expected_calibration_error(labels, calibrated(gaps, fit.value))
    assert before > 0.05 and after < 0.02


def test_nothing_to_fit_keeps_temperature_one():
    separated = fit_temperature([0, 0, 1, 1], [-3.0, -1.0, 1.0, 3.0])
    assert separated.value == 1.0 and separated.separable
    assert fit_temperature([1, 1, 1], [0.2, 1.0, 2.0]).value == 1.0  # one class
    assert fit_temperature([], []).value == 1.0
    # the search stays within its bounds, and says when it ends on one
    labels, gaps = synthetic_logits(MIN_TEMPERATURE / 2, n=2000)
    fit = fit_temperature(labels, gaps)
    assert fit.value == pytest.approx(MIN_TEMPERATURE, rel=1e-3) and fit.at_bound
    assert not fit_temperature(*synthetic_logits(1.0)).at_bound


def test_no_calibrated_probability_rounds_to_one():
    """Large gaps cap how low T may go: sigmoid(gap / T) < 1.0 keeps every pair's order."""
    labels, gaps = synthetic_logits(2.0)  # the NLL wants T near 2 ...
    gaps[0] = 400.0  # ... but one gap is so large that T must stay above 400 / 30
    fit = fit_temperature(labels, gaps)
    assert fit.at_bound and fit.value == pytest.approx(400.0 / MAX_CALIBRATED_GAP, rel=1e-3)
    p = calibrated(gaps, fit.value)
    assert p.max() < 1.0
    assert roc_auc_score(labels, p) == roc_auc_score(labels, gaps)


# ---------------------------------------------------------------------------- the saved head


PROBE_IDS = torch.randint(5, 99, (48, 10), generator=torch.Generator().manual_seed(0))


@pytest.fixture
def tiny_model(tiny_bert):
    """The tiny model with its head scaled so the probe's logit gaps have sd 3: far from 0, so
    T shows, whatever the random weights underneath."""
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval()
    head = output_layer(model)
    with torch.no_grad():
        head.bias.zero_()
        spread = evidence_gap(_logits(model, PROBE_IDS)).std()
        head.weight.mul_(3.0 / float(spread))
        head.bias.copy_(torch.tensor([0.3, -0.2]))
    return model


def _logits(model, input_ids):
    with torch.no_grad():
        return model(input_ids=input_ids).logits.numpy()


def test_a_saved_model_holds_its_temperature_and_threshold(tiny_model, tmp_path):
    input_ids = PROBE_IDS
    raw_gap = evidence_gap(_logits(tiny_model, input_ids))
    assert np.abs(raw_gap).max() > 1.0
    temperature = 2.5
    want = calibrated(raw_gap, temperature)
    threshold = float(np.median(want))
    weight = output_layer(tiny_model).weight.detach().clone()
    with threshold_in_head(tiny_model, threshold, temperature):
        tiny_model.save_pretrained(tmp_path / "saved")
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    assert getattr(saved.config, TEMPERATURE_KEY) == temperature
    logits = _logits(saved, input_ids)
    np.testing.assert_allclose(evidence_probability(logits, saved.config), want, atol=1e-5)
    # the argmax is the calibrated probability at the threshold (ties aside)
    clear = np.abs(want - threshold) > 1e-5
    assert ((logits.argmax(-1) == 1) == (want >= threshold))[clear].all()
    # the model in memory is unchanged
    assert torch.equal(output_layer(tiny_model).weight, weight)
    refused = pytest.raises(ValueError, match="temperature 0 must be positive")
    with refused, threshold_in_head(tiny_model, 0.5, 0):
        pass


def test_the_pyfunc_decides_each_criterion_at_its_own_threshold(tiny_model, tmp_path, tiny_bert):
    tiny_model.config.label2id = {"no_evidence": 0, "evidence": 1}
    setattr(tiny_model.config, CRITERIA_KEY, {"A.1": "mood criterion", "A.4": "sleep criterion"})
    setattr(tiny_model.config, CRITERION_THRESHOLDS_KEY, {"A.4": 0.999999})
    with threshold_in_head(tiny_model, 1e-6):
        tiny_model.save_pretrained(tmp_path / "saved")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "saved")
    pyfunc = EvidenceModel()
    context = SimpleNamespace(
        artifacts={"hf_model": str(tmp_path / "saved")},
        model_config={"max_length": 32, "batch_size": 4},
    )
    pyfunc.load_context(context)
    frame = pd.DataFrame(
        {
            "text": ["mood criterion", "sleep criterion", "another text"],
            "text_pair": ["a sentence"] * 3,
        }
    )
    out = pyfunc.predict(None, frame)
    p = out["probability"].to_numpy()
    assert p.min() > 1e-6 and p.max() < 0.999999
    # A.1 and an unknown text: the global 1e-6; A.4: its own 0.999999
    assert out["label"].tolist() == ["evidence", "no_evidence", "evidence"]


# ---------------------------------------------------------------------------- per symptom


def test_per_symptom_thresholds_are_chosen_on_their_own_pairs_or_fall_back():
    rng = np.random.default_rng(1)
    rows = []
    for symptom, shift, n in (("FATIGUE", 0.3, 200), ("ANHEDONIA", -0.3, 200), ("RARE", 0, 6)):
        labels = (rng.random(n) < 0.7).astype(int)
        rows.append(
            pd.DataFrame(
                {"symptom": symptom, "label": labels,
                 "probability": np.clip(rng.normal(0.45 + shift + 0.2 * labels, 0.1), 0, 1)}
            )
        )  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    symptoms = ["FATIGUE", "ANHEDONIA", "RARE", "NONE"]
    chosen = choose_symptom_thresholds(frame, 0.5, "f1", symptoms, 10)
    for symptom in ("FATIGUE", "ANHEDONIA"):
        sub = frame[frame["symptom"] == symptom]
        assert chosen[symptom]["own"]
        assert chosen[symptom]["threshold"] == choose_threshold(sub["label"], sub["probability"])
    assert chosen["FATIGUE"]["threshold"] > chosen["ANHEDONIA"]["threshold"]
    for symptom in ("RARE", "NONE"):  # too few positives; no pairs at all
        positives = int(frame[frame["symptom"] == symptom]["label"].sum())
        assert chosen[symptom] == {"threshold": 0.5, "own": False, "positives": positives}
    cuts = row_thresholds(frame, {s: r["threshold"] for s, r in chosen.items()})
    assert cuts.shape == (len(frame),) and set(cuts[frame["symptom"] == "RARE"]) == {0.5}
    with pytest.raises(ValueError, match=r"no threshold for symptom\(s\) \['RARE'\]"):
        row_thresholds(frame, {"FATIGUE": 0.5, "ANHEDONIA": 0.5})
