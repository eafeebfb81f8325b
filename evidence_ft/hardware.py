"""One place that decides precision, TF32, the optimizer and DataLoader pinning.

A ``training.*`` value of null means "decide from the hardware"; an explicit value wins.
CPUs stay in fp32: bf16 on these CPUs (no bf16 units) measured about 29x slower, fp16 does
nothing on CPU and tf32 raises there (see ../shared/DESIGN.md "Traps").
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What the machine offers, detected once (or built by hand in tests)."""

    cuda: bool = False
    bf16: bool = False
    compute_capability: tuple[int, int] = (0, 0)
    fused_adamw: bool = True
    device_name: str = "cpu"


def detect() -> Capabilities:
    """Read the capabilities of the first CUDA device, or describe the CPU."""
    # torch >= 2.4 has fused AdamW for CPU and CUDA tensors; on this 2-core CPU its step was
    # ~8x faster than the for-each one for a 7M-parameter stack.
    fused = "fused" in inspect.signature(torch.optim.AdamW).parameters
    if not torch.cuda.is_available():
        return Capabilities(fused_adamw=fused)
    return Capabilities(
        cuda=True,
        bf16=torch.cuda.is_bf16_supported(),
        compute_capability=torch.cuda.get_device_capability(0),
        fused_adamw=fused,
        device_name=torch.cuda.get_device_name(0),
    )


def resolve(training: dict[str, Any], caps: Capabilities) -> tuple[dict[str, Any], list[str]]:
    """Fill the null ``training`` keys from ``caps``; return the new dict and the decisions."""
    out = dict(training)
    decisions: list[str] = []

    def decide(key: str, auto: Any, why: str) -> None:
        if out.get(key) is None:
            out[key] = auto
            decisions.append(f"{key}={auto} ({why})")
        else:
            decisions.append(f"{key}={out[key]} (set in config)")

    explicit_precision = out.get("bf16") is not None or out.get("fp16") is not None
    use_cpu = bool(out.get("use_cpu")) or not caps.cuda
    if explicit_precision:
        out["bf16"], out["fp16"] = bool(out.get("bf16")), bool(out.get("fp16"))
        decisions.append(f"bf16={out['bf16']} fp16={out['fp16']} (set in config)")
    elif use_cpu:
        out["bf16"], out["fp16"] = False, False
        decisions.append("precision=fp32 (CPU: bf16 measured ~29x slower, fp16 unsupported)")
    elif caps.bf16:
        out["bf16"], out["fp16"] = True, False
        decisions.append(f"precision=bf16 ({caps.device_name} supports bf16)")
    else:
        out["bf16"], out["fp16"] = False, True
        decisions.append(f"precision=fp16 with loss scaling ({caps.device_name} lacks bf16)")

    ampere = not use_cpu and caps.compute_capability >= (8, 0)
    if out.get("tf32") is None:
        # None leaves torch's default matmul precision (TrainingArguments raises on tf32 off-CUDA).
        out["tf32"] = True if ampere else None
        decisions.append(
            f"tf32={out['tf32']} ({'CUDA Ampere or newer' if ampere else 'not CUDA Ampere+'})"
        )
    else:
        decisions.append(f"tf32={out['tf32']} (set in config)")
    fused = caps.fused_adamw
    decide(
        "optim",
        "adamw_torch_fused" if fused else "adamw_torch",
        f"fused AdamW {'available' if fused else 'missing'}",
    )
    decide("dataloader_pin_memory", not use_cpu, "pinned memory helps host-to-GPU copies only")
    if out.get("dataloader_persistent_workers") and not out.get("dataloader_num_workers"):
        out["dataloader_persistent_workers"] = False
        decisions.append("dataloader_persistent_workers=False (needs dataloader_num_workers > 0)")
    decisions.append(f"torch_compile={bool(out.get('torch_compile'))} (set in config)")
    for line in decisions:
        log.info("hardware: %s", line)
    return out, decisions
