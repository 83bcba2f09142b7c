"""Polyak averaging of target-network parameters."""

from __future__ import annotations

from typing import Iterable

import torch


@torch.no_grad()
def polyak_update(targets: Iterable[torch.Tensor], sources: Iterable[torch.Tensor], tau: float) -> None:
    """theta' <- (1 - tau) theta' + tau theta, in place (one fused op over all tensors)."""
    targets, sources = list(targets), list(sources)
    torch._foreach_lerp_(targets, sources, tau)
