"""Bootstrap intervals over posts: the vectorised resamples against a slow reference that
rebuilds each resampled frame and scores it with scikit-learn and the report functions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, roc_auc_score

from evidence_ft import bootstrap
from evidence_ft.jobs.evaluate import build_report
from evidence_ft.metrics import expected_calibration_error
from evidence_ft.sentence_metrics import POST_LABELS, post_indicators, retrieval_metrics


def scored_frame(posts: int, seed: int = 1) -> pd.DataFrame:
    """Posts of 1-8 pairs each, a fifth positive, scores that separate the classes a little
    (rounded, so there are ties)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, posts)
    post_id = np.repeat([f"p{i:03d}" for i in range(posts)], sizes)
    label = (rng.random(len(post_id)) < 0.2).astype(int)
    probability = np.round(np.clip(rng.normal(0.35 + 0.3 * label, 0.2), 0, 1), 2)
    return pd.DataFrame({"post_id": post_id, "label": label, "probability": probability})


def resampled(frame: pd.DataFrame, rs: bootstrap.Resampler, b: int) -> pd.DataFrame:
    """Resample ``b`` as a frame: each drawn post's rows, a post drawn twice under two ids."""
    parts = [
        frame[frame["post_id"] == rs.posts[p]].assign(post_id=f"{rs.posts[p]}#{k}")
        for k, p in enumerate(rs.draws[b])
    ]
    return pd.concat(parts, ignore_index=True)


def test_pair_metrics_equal_a_slow_reference_on_every_resample():
    frame = scored_frame(40)
    rs = bootstrap.resampler(frame["post_id"], 50, 0.95, seed=3)
    codes = rs.codes(frame["post_id"])
    y, p = frame["label"].to_numpy(), frame["probability"].to_numpy()
    fast = bootstrap.confusion_samples(rs, y, p, 0.5, codes)
    fast |= bootstrap.auc_samples(rs, y, p, codes)
    fast |= bootstrap.calibration_samples(rs, y, p, codes)
    for b in range(rs.resamples):
        r = resampled(frame, rs, b)
        yb, pb = r["label"], r["probability"]
        assert fast["f1"][b] == pytest.approx(f1_score(yb, pb >= 0.5))
        assert fast["mcc"][b] == pytest.approx(matthews_corrcoef(yb, pb >= 0.5))
        assert fast["roc_auc"][b] == pytest.approx(roc_auc_score(yb, pb))
        assert fast["pr_auc"][b] == pytest.approx(average_precision_score(yb, pb))
        assert fast["brier"][b] == pytest.approx(((pb - yb) ** 2).mean())
        assert fast["ece"][b] == pytest.approx(expected_calibration_error(yb, pb), abs=1e-4)


def test_the_gain_over_the_constant_is_paired_and_equals_a_slow_reference():
    frame = scored_frame(40)
    rs = bootstrap.resampler(frame["post_id"], 50, 0.95, seed=3)
    codes = rs.codes(frame["post_id"])
    y, p = frame["label"].to_numpy(), frame["probability"].to_numpy()
    constant = bootstrap.constant_samples(rs, y, codes)
    gain = bootstrap.minus_constant(bootstrap.confusion_samples(rs, y, p, 0.5, codes), constant)
    assert set(gain) == {"f1_minus_constant", "macro_f1_minus_constant"}
    for b in range(rs.resamples):
        r = resampled(frame, rs, b)
        yb, decided, every = r["label"], r["probability"] >= 0.5, np.ones(len(r))
        want = f1_score(yb, decided) - f1_score(yb, every)
        assert gain["f1_minus_constant"][b] == pytest.approx(want)
        want = f1_score(yb, decided, average="macro") - f1_score(yb, every, average="macro")
        assert gain["macro_f1_minus_constant"][b] == pytest.approx(want)


def test_the_paired_gain_is_narrower_than_unpaired_resamples_would_make_it():
    from omegaconf import OmegaConf

    frame = scored_frame(60).assign(sentence_id="s", symptom="FATIGUE")
    ci = OmegaConf.create({"resamples": 2000, "level": 0.95, "seed": 0})
    pair = build_report(frame, 0.5, ci)["pair_level"]
    at, constant = pair["at_0.5"], pair["constant"]
    assert at["f1_minus_constant"] == round(at["f1"] - constant["f1"], 4)
    assert at["f1_minus_constant_ci_low"] < at["f1_minus_constant"]
    assert at["f1_minus_constant"] < at["f1_minus_constant_ci_high"]
    # the same differences with the model and the constant on independent resamples
    y, p = frame["label"].to_numpy(), frame["probability"].to_numpy()
    model_rs, constant_rs = (bootstrap.resampler(frame["post_id"], 2000, 0.95, s) for s in (0, 1))
    model = bootstrap.confusion_samples(model_rs, y, p, 0.5, model_rs.codes(frame["post_id"]))
    other = bootstrap.constant_samples(constant_rs, y, constant_rs.codes(frame["post_id"]))
    low, high, _ = model_rs.interval(model["f1"] - other["f1"])
    paired = at["f1_minus_constant_ci_high"] - at["f1_minus_constant_ci_low"]
    assert paired < 0.85 * (high - low)  # 0.176 against 0.234 here


def test_retrieval_and_post_level_equal_a_slow_reference():
    rng = np.random.default_rng(5)
    rows = [
        (f"q{post}", i, criterion, int(rng.random() < 0.15), round(rng.random(), 1))
        for post in range(12)
        for i in range(int(rng.integers(2, 7)))
        for criterion in ("A.1", "A.6")
    ]
    frame = pd.DataFrame(rows, columns=["post_id", "sentence_index", "criterion_id", "label", "p"])
    frame = frame.rename(columns={"p": "probability"})
    frame["symptom"] = frame["criterion_id"].map({"A.1": "DEPRESSED_MOOD", "A.6": "FATIGUE"})
    rs = bootstrap.resampler(frame["post_id"], 30, 0.95, seed=0)
    figures = retrieval_metrics(frame, rs)
    posts = list(rs.posts)
    truth = post_indicators(frame, posts)
    predicted = post_indicators(frame.assign(label=(frame["probability"] >= 0.5)), posts)
    multi = bootstrap.multilabel_samples(rs, truth, predicted, POST_LABELS, 0.0)
    # the annotated-post roll-up leaves a label without true or predicted posts out of macro-F1
    defined = bootstrap.multilabel_samples(rs, truth, predicted, POST_LABELS, None)
    reference: dict[str, list[float]] = {"map": [], "ndcg_at_10": [], "recall_at_1": []}
    micros, macros, defined_macros = [], [], []
    for b in range(rs.resamples):
        r = resampled(frame, rs, b)
        for key, values in reference.items():
            values.append(retrieval_metrics(r)[key])
        ids = list(dict.fromkeys(r["post_id"]))
        t = post_indicators(r, ids)
        hit = post_indicators(r.assign(label=(r["probability"] >= 0.5)), ids)
        micros.append(f1_score(t, hit, average="micro", zero_division=0))
        macros.append(f1_score(t, hit, average="macro", zero_division=0))
        per_label = f1_score(t, hit, average=None, zero_division=np.nan)
        defined_macros.append(np.nanmean(per_label))
    for key, values in reference.items():
        low, high, undefined = rs.interval(np.asarray(values))
        assert (figures[f"{key}_ci_low"], figures[f"{key}_ci_high"]) == pytest.approx(
            (low, high), abs=1e-4
        ), key
    assert multi["micro_f1"] == pytest.approx(micros)
    assert multi["macro_f1"] == pytest.approx(macros)
    assert defined["macro_f1"] == pytest.approx(defined_macros)


def test_the_model_minus_a_baseline_is_paired_and_equals_a_slow_reference():
    from evidence_ft.sentence_metrics import compared_samples, model_minus, scorer_report

    rng = np.random.default_rng(7)
    rows = [
        (f"q{post}", i, criterion, int(rng.random() < 0.2))
        for post in range(15)
        for i in range(int(rng.integers(2, 7)))
        for criterion in ("A.1", "A.6")
    ]
    frame = pd.DataFrame(rows, columns=["post_id", "sentence_index", "criterion_id", "label"])
    frame["symptom"] = frame["criterion_id"].map({"A.1": "DEPRESSED_MOOD", "A.6": "FATIGUE"})
    model = np.round(np.clip(rng.normal(0.3 + 0.4 * frame["label"], 0.2), 0, 1), 1)
    other = np.round(rng.random(len(frame)), 1)
    rs = bootstrap.resampler(frame["post_id"], 40, 0.9, seed=2)
    figures = {
        "model": scorer_report(frame.assign(probability=model), 0.5),
        "other": scorer_report(frame.assign(probability=other), 0.4),
    }
    samples = (compared_samples(frame, model, 0.5, rs), compared_samples(frame, other, 0.4, rs))
    got = model_minus(figures["model"], figures["other"], samples, rs)
    assert got["f1"] == round(
        figures["model"]["sentence"]["f1"] - figures["other"]["sentence"]["f1"], 4
    )
    reference: dict[str, list[float]] = {"ndcg_at_10": [], "map": [], "f1": []}
    for b in range(rs.resamples):
        mine = resampled(frame.assign(probability=model), rs, b)
        theirs = resampled(frame.assign(probability=other), rs, b)
        for key in ("ndcg_at_10", "map"):
            reference[key].append(retrieval_metrics(mine)[key] - retrieval_metrics(theirs)[key])
        reference["f1"].append(
            f1_score(mine["label"], mine["probability"] >= 0.5)
            - f1_score(theirs["label"], theirs["probability"] >= 0.4)
        )
    for key, values in reference.items():
        low, high = np.percentile(values, [5, 95])
        # the reference rounds each figure to 4 places before subtracting
        assert got[f"{key}_ci_low"] == pytest.approx(low, abs=2e-4), key
        assert got[f"{key}_ci_high"] == pytest.approx(high, abs=2e-4), key


def test_posts_are_resampled_not_pairs():
    """Ten identical pairs per post carry no more information than one: the intervals over
    posts are the same; resampling pairs would make them far narrower."""
    one = scored_frame(60, seed=2).groupby("post_id").head(1).reset_index(drop=True)
    ten = one.loc[one.index.repeat(10)].reset_index(drop=True)
    intervals = []
    for frame in (one, ten):
        rs = bootstrap.resampler(frame["post_id"], 1000, 0.95, seed=7)
        samples = bootstrap.confusion_samples(
            rs, frame["label"], frame["probability"], 0.5, rs.codes(frame["post_id"])
        )
        intervals.append(rs.interval(samples["accuracy"]))
    assert intervals[0] == intervals[1]
    assert all(rs.counts.sum(axis=1) == len(rs.posts))


def test_intervals_shrink_as_the_sample_grows():
    widths = []
    for posts in (25, 100, 400):  # 4x the posts: about half the width
        frame = scored_frame(posts, seed=4)
        rs = bootstrap.resampler(frame["post_id"], 1000, 0.95, seed=0)
        codes = rs.codes(frame["post_id"])
        samples = bootstrap.auc_samples(rs, frame["label"], frame["probability"], codes)
        low, high, _ = rs.interval(samples["roc_auc"])
        widths.append(high - low)
    assert widths[0] > 1.5 * widths[1] > 2.25 * widths[2]


def test_undefined_resamples_are_counted_not_dropped():
    frame = pd.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "label": [1, 0, 0, 0],
            "probability": [0.9, 0.2, 0.6, 0.1],
        }
    )
    rs = bootstrap.resampler(frame["post_id"], 200, 0.95, seed=0)
    figures = {"f1": 0.6667, "precision": 0.5}
    bootstrap.scored_intervals(
        figures, rs, rs.codes(frame["post_id"]), frame["label"], frame["probability"], 0.5
    )
    without_a = int((rs.counts[:, 0] == 0).sum())  # post "a" holds the only positive
    assert 0 < without_a < 200
    assert figures["f1_ci_undefined"] == without_a
    assert figures["f1_ci_low"] <= figures["f1"] <= figures["f1_ci_high"]
    # precision is undefined only where neither "a" nor "c" (the predicted ones) is drawn
    neither = int(((rs.counts[:, 0] == 0) & (rs.counts[:, 2] == 0)).sum())
    assert figures.get("precision_ci_undefined", 0) == neither


def test_the_same_seed_gives_the_same_intervals_and_none_turns_them_off():
    frame = scored_frame(25).assign(sentence_id="s", symptom="FATIGUE")
    ci = {"resamples": 300, "level": 0.9, "seed": 11}
    from omegaconf import OmegaConf

    first = build_report(frame, 0.5, OmegaConf.create(ci))
    again = build_report(frame, 0.5, OmegaConf.create(ci))
    assert first == again
    assert first["intervals"] | {} == {
        "method": "percentile bootstrap, resampling posts with replacement",
        "resamples": 300,
        "level": 0.9,
        "seed": 11,
        "posts": 25,
    }
    pair = first["pair_level"]
    for key in ("roc_auc", "pr_auc", "brier", "ece"):
        assert pair[f"{key}_ci_low"] <= pair[key] <= pair[f"{key}_ci_high"], key
    tuned = pair["at_threshold"]
    assert tuned["f1_ci_low"] <= tuned["f1"] <= tuned["f1_ci_high"]
    post = first["annotated_post_level"]["at_threshold"]
    assert post["micro_f1_ci_low"] <= post["micro_f1"] <= post["micro_f1_ci_high"]
    assert "f1_ci_low" in first["per_symptom"]["FATIGUE"]["at_threshold"]
    off = build_report(frame, 0.5, OmegaConf.create(ci | {"resamples": 0}))
    assert "intervals" not in off and "f1_ci_low" not in off["pair_level"]["at_threshold"]


def test_tables_and_the_plot_show_the_intervals():
    from omegaconf import OmegaConf

    from evidence_ft.plots import symptom_f1_figure
    from evidence_ft.report import format_eval_report, metrics_table

    frame = scored_frame(30).assign(sentence_id="s", symptom="FATIGUE")
    tree = build_report(frame, 0.5, OmegaConf.create({"resamples": 200, "level": 0.95, "seed": 0}))
    table = format_eval_report(tree)
    pair = tree["pair_level"]["at_threshold"]
    f1_row = next(line for line in table.splitlines() if line.startswith("f1 "))
    assert f"{pair['f1']:.4f} [{pair['f1_ci_low']:.3f}, {pair['f1_ci_high']:.3f}]" in f1_row
    assert table.splitlines()[-1] == (
        "[low, high]: 95% percentile bootstrap interval, 200 resamples of the 30 posts (seed 0)"
    )
    ax = symptom_f1_figure(tree).axes[0]
    assert len(ax.collections) == 2  # one set of error bars per threshold
    assert "error bars: bootstrap interval" in ax.get_xlabel()
    train = metrics_table({"eval_f1": 0.5, "test_f1": 0.25, "test_f1_ci_low": 0.1,
                           "test_f1_ci_high": 0.4})  # fmt: skip
    assert train.splitlines()[1] == "f1      0.5000  0.2500 [0.100, 0.400]"
