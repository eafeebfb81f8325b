"""The scripts under benchmarks/ run end to end in smoke mode and print every figure line.

python -m pytest tests/test_benchmarks.py -v
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.selection import binormal, selection_rows, table
from benchmarks.training_setup import rate
from tests.conftest import ROOT

TRAINING_LINES = (
    "machine: ",
    "corpus: 1484 posts",
    "[a] trainer vs plain loop throughput: ",
    "[b] epoch seconds: ",
    "[b] dynamic padding vs pad to 512: ",
    "[b] dynamic padding vs pad to 128: ",
    "[b] group_by_length vs random order: ",
    "[c] DatasetDict from CSV",
    "[d] evaluation throughput: ",
    "[e] GPU",
)


def _training(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return _benchmark("training.py", *args, timeout=timeout)


def _benchmark(script: str, *args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    """``python benchmarks/<script> args`` from the project root, offline, output captured."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_rate_skips_warm_up_steps() -> None:
    # start, then 3 steps: the first takes 10 s (warm-up), the others 1 s each
    assert rate([0.0, 10.0, 11.0, 12.0], batch=4, skip=1) == pytest.approx(4.0)
    assert rate([0.0, 10.0, 11.0, 12.0], batch=4, skip=1, upto=2) == pytest.approx(4.0)


@pytest.mark.integration
def test_quick_training_benchmark_prints_every_figure(tmp_path: Path) -> None:
    done = _training("--quick", "--json", str(tmp_path / "bench.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for line in TRAINING_LINES:
        assert any(row.startswith(line) for row in out.splitlines()), f"missing {line!r}\n{out}"
    assert "(goal >= 0.90)" in out and "goal >= 15x" in out and "goal >= 2x" in out
    figures = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert figures["corpus"]["posts"] == 1484  # ReDSM5's published shape
    assert 1900 <= figures["corpus"]["annotation_rows"] <= 2050  # ~1,550 positive + ~420 status 0
    assert figures["a"]["ratio"] > 0 and figures["d"]["pairs_per_s"] > 0
    assert all(v > 0 for k, v in figures["b"].items() if k.startswith("epoch_"))
    assert len(figures["c"]["build_s"]) == 3
    if not figures["machine"]["cuda"]:
        assert figures["e"] is None and "not measured (no CUDA device" in out


@pytest.mark.integration  # runs a real script / trains end to end
def test_too_few_training_steps_is_a_one_line_error() -> None:
    done = _training("--steps", "2", timeout=60)
    assert done.returncode == 2
    assert "--steps must be >= 3" in done.stderr


@pytest.mark.integration
def test_inference_benchmark_prints_the_three_rates_and_two_ratios(tmp_path):
    out = tmp_path / "inference.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/inference.py", "--quick", "--threads", "1", "--json", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for start in (
        "machine: ",
        "workload: 3 of 1484 posts",
        "tokens per pair: ",
        "round 1/1: sorted ",
        "pairs/s (median of 1 rounds): sorted ",
        "sorted vs unsorted: ",
        "sorted vs loop: ",
        "all 1484 posts (",
    ):
        assert any(line.startswith(start) for line in lines), (start, done.stdout)
    info = json.loads(out.read_text())
    assert set(info["pairs_per_s"]) == {"sorted", "unsorted", "loop"}
    assert all(rate > 0 for rate in info["pairs_per_s"].values())
    tokens = info["tokens_per_pair"]
    assert tokens["real"] <= tokens["sorted"] <= tokens["unsorted"]
    assert info["pairs"] % 9 == 0 and info["corpus_pairs"] > info["pairs"]


@pytest.mark.integration
def test_splitter_benchmark_prints_its_table():
    done = subprocess.run(
        [sys.executable, "benchmarks/splitters.py", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| splitter |" in done.stdout
    assert "| spacy sentencizer + wrapper |" in done.stdout.lower()


@pytest.mark.integration
def test_split_balance_prints_one_row_per_method():
    done = subprocess.run(
        [sys.executable, "benchmarks/split_balance.py", "--seeds", "2", "--methods", "iterative"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("full-size synthetic corpus (seed 0): 1464 posts with pairs")
    assert "mean_deviation_pct" in done.stdout and "\niterative " in done.stdout


def test_selection_benchmark_rows_per_metric_and_the_constant_predictor() -> None:
    rng = np.random.default_rng(0)
    labels, scores = binormal(0.76, 4000, 0.8, rng)
    assert roc_auc_score(labels, scores) == pytest.approx(0.76, abs=0.02)
    assert labels.mean() == pytest.approx(0.8, abs=0.02)
    rows = selection_rows((labels, scores), binormal(0.76, 4000, 0.8, rng))
    assert list(rows) == ["f1", "macro_f1", "mcc", "pr_auc", "constant"]
    assert rows["pr_auc"] == rows["f1"] and rows["constant"]["mcc"] == 0.0
    assert rows["f1"]["predicted_positive"] > rows["mcc"]["predicted_positive"]
    assert table([rows, rows]).loc["mcc", "mcc"].endswith(" ± 0.0")


@pytest.mark.integration
def test_negatives_benchmark_trains_both_settings_and_prints_their_table(tmp_path: Path) -> None:
    """Smoke mode on the sample: one seed, both data.negatives settings, baselines beside."""
    done = _benchmark(
        "negatives.py", "--quick", "--data", "sample", "--seeds", "0",
        "--json", str(tmp_path / "negatives.json"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    start = lines.index("corpus: sample; test split of each seed; decision threshold of each model")
    rows = [line.split("  ")[0] for line in lines[start + 2 :]]
    assert rows == [
        "none seed 0",
        "unannotated seed 0",
        "none, mean ± sd",
        "unannotated, mean ± sd",
        "constant baseline",
        "lexical baseline",
    ]
    info = json.loads((tmp_path / "negatives.json").read_text())
    none, unannotated = info["rows"]
    assert (none["setting"], unannotated["setting"]) == ("none", "unannotated")
    # both settings of a seed are scored on the same test posts: the same baselines
    assert none["lexical nDCG@10"] == unannotated["lexical nDCG@10"] is not None
    assert 0 <= unannotated["nDCG@10"] <= 1 and 0 <= none["F1 annotated"] <= 1


@pytest.mark.integration
def test_bootstrap_benchmark_times_both_reports() -> None:
    proc = _benchmark("bootstrap.py", "--resamples", "50", "--repeats", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("test split: 217 posts with 301 annotated pairs; 220 posts, ")
    assert lines[1].startswith("annotated pairs (build_report): ") and "intervals add" in lines[1]
    assert lines[2].startswith("all sentences (all_sentence_report): ")
