"""Polyak averaging of target-network parameters."""

from __future__ import annotations

from typing import Iterable

import torch


@torch.no_grad()
def polyak_update(targets: Iterable[torch.Tensor], sources: Iterable[torch.Tensor], tau: float) -> None:
    """theta' <- (1 - tau) theta' + tau theta, in place (one foreach kernel over all the tensors)."""
    targets, sources = list(targets), list(sources)
    if len(targets) != len(sources):
        raise ValueError(f"polyak_update got {len(targets)} target tensors for {len(sources)} source tensors")
    if targets:
        torch._foreach_lerp_(targets, sources, tau)
