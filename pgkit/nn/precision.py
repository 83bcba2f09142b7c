"""Which precision the matrix products of updates use: bfloat16 only where the hardware runs it natively.

On a CPU without native bfloat16 (no AVX512-BF16, no AMX), torch emulates it and autocast makes an
update slower, not faster (TD3 ran 2.8x slower than float32 on an Intel Xeon with AVX-512 but without
AVX512-BF16); on one with it, TD3's updates ran 1.4x (Intel Xeon with AMX) to 2x (AMD EPYC) faster. Small
matrices gain nothing: on the Xeon with AMX, SAC ran 1.3x faster in bfloat16 with [256, 256] layers but
0.88x with [64, 64] ones (the casts cost more than the products save), so ``auto`` looks at the modules'
largest matrix too."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable, Literal

import torch
from torch import nn

Precision = Literal["auto", "float32", "bfloat16"]
NATIVE_BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
BFLOAT16_MIN_WEIGHTS = 128 * 128  # the largest matrix (or kernel) for which auto picks bfloat16: between 64x64 (slower) and 256x256 (faster)


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


def largest_matrix(modules: Iterable[nn.Module]) -> int:
    """Weights in the largest matrix or kernel (a parameter of 2 or more dimensions) of ``modules``."""
    return max((p.numel() for module in modules for p in module.parameters() if p.dim() >= 2), default=0)


def resolve_precision(precision: Precision, device: torch.device, modules: Iterable[nn.Module] | None = None) -> Literal["float32", "bfloat16"]:
    """``auto``: bfloat16 where the device runs it natively and (if ``modules`` are given) their largest matrix
    has at least ``BFLOAT16_MIN_WEIGHTS`` weights, float32 elsewhere; other values as given."""
    if precision == "auto":
        large = modules is None or largest_matrix(modules) >= BFLOAT16_MIN_WEIGHTS
        return "bfloat16" if native_bfloat16(device) and large else "float32"
    return precision
