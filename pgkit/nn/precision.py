"""Which precision the matrix products of updates use: bfloat16 only where the hardware runs it natively.

On a CPU without native bfloat16 (no AVX512-BF16, no AMX), torch emulates it and autocast makes an
update slower, not faster (TD3 ran 2.8x slower than float32 on an Intel Xeon with AVX-512 but without
AVX512-BF16); on one with it, TD3's updates ran 1.4x (Intel Xeon with AMX) to 2x (AMD EPYC) faster."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["auto", "float32", "bfloat16"]
NATIVE_BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty elsewhere)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return frozenset()
    for line in info.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bfloat16(device: torch.device) -> bool:
    """Does ``device`` run bfloat16 matrix products natively?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(cpu_flags() & NATIVE_BFLOAT16_CPU_FLAGS)
    return False


def resolve_precision(precision: Precision, device: torch.device) -> Literal["float32", "bfloat16"]:
    """``auto``: bfloat16 where the device runs it natively, float32 elsewhere; other values as given."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision
