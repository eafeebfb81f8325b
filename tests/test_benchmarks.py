"""The scripts under benchmarks/ run end to end in smoke mode and print every figure line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


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


def test_split_balance_prints_one_row_per_method():
    done = subprocess.run(
        [sys.executable, "benchmarks/split_balance.py", "--seeds", "2", "--methods", "iterative"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("full-size synthetic corpus (seed 0): 1092 posts with pairs")
    assert "mean_deviation_pct" in done.stdout and "\niterative " in done.stdout
