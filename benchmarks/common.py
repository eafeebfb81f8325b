"""What the benchmark scripts share: the command line, the machine line, timing, JSON output.

Each script starts with ``sys.path.insert(0, ROOT)`` so that ``python benchmarks/x.py`` uses
this checkout's ``evidence_ft`` and ``benchmarks`` (see ``benchmarks/__init__.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def parser(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """The options every model benchmark has: --quick, --model, --threads, --seed, --json."""
    from evidence_ft.modeling import DEFAULT_MODEL

    out = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    out.add_argument("--quick", action="store_true", help=quick)
    out.add_argument("--model", help=f"model.name_or_path (default {DEFAULT_MODEL})")
    out.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    out.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus")
    out.add_argument("--json", type=Path, help="also write every figure to this file")
    return out


def quiet(threads: int | None) -> None:
    """Offline, no progress bars or tokenizer threads; ``threads`` torch threads if given."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)


def model_name(args: argparse.Namespace, folder: Path) -> str:
    """--model, else a tiny random model saved in ``folder`` for --quick, else the default."""
    from evidence_ft.modeling import DEFAULT_MODEL, save_tiny_model

    if args.model:
        return str(args.model)
    return str(save_tiny_model(folder / "tiny")) if args.quick else DEFAULT_MODEL


def machine() -> dict[str, Any]:
    """CPU count and model, library versions, torch threads, GPU name (None without CUDA)."""
    import transformers

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def machine_line(m: dict[str, Any], load: float) -> str:
    """The ``machine: ...`` line every benchmark prints first."""
    return (
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), torch {m['torch']}, transformers "
        f"{m['transformers']}, {m['torch_threads']} torch threads, GPU: {m['cuda'] or 'none'}; "
        f"load average {load:.2f}"
    )


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def write_json(path: Path | None, info: dict[str, Any]) -> None:
    """Every figure as JSON, when --json was given."""
    if path:
        path.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
