"""The benchmark command runs end to end in its smoke mode and prints every figure line.

python -m pytest tests/test_bench.py -v
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence_ft.bench import rate
from tests.conftest import ROOT

LINES = (
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


def _bench(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "evidence_ft.bench", *args],
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
def test_quick_benchmark_prints_every_figure(tmp_path: Path) -> None:
    done = _bench("--quick", "--json", str(tmp_path / "bench.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for line in LINES:
        assert any(row.startswith(line) for row in out.splitlines()), f"missing {line!r}\n{out}"
    assert "(goal >= 0.90)" in out and "goal >= 15x" in out and "goal >= 2x" in out
    figures = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert figures["corpus"]["posts"] == 1484  # ReDSM5's published shape
    assert 1500 <= figures["corpus"]["annotation_rows"] <= 1600
    assert figures["a"]["ratio"] > 0 and figures["d"]["pairs_per_s"] > 0
    assert all(v > 0 for k, v in figures["b"].items() if k.startswith("epoch_"))
    assert len(figures["c"]["build_s"]) == 3
    if not figures["machine"]["cuda"]:
        assert figures["e"] is None and "not measured (no CUDA device" in out


def test_too_few_steps_is_a_one_line_error() -> None:
    done = _bench("--steps", "2", timeout=60)
    assert done.returncode == 2
    assert "--steps must be >= 3" in done.stderr
