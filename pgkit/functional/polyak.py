"""Polyak averaging of target-network parameters."""

from __future__ import annotations

from typing import Iterable

import torch


@torch.no_grad()
def polyak_update(targets: Iterable[torch.Tensor], sources: Iterable[torch.Tensor], tau: float) -> None:
    """theta' <- (1 - tau) theta' + tau theta, in place."""
    for target, source in zip(targets, sources, strict=True):
        target.lerp_(source, tau)
