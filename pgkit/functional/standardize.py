"""Standardizing advantages: (A - mean) / std, over a batch (the advantage slot's ``normalize``) or over each
minibatch (an objective's, as SB3's PPO ``normalize_advantage``)."""

from __future__ import annotations

import torch
from torch import Tensor

ROUNDING_ULPS = 64  # a spread within this many units in the last place of the values is rounding, not signal


def standardized(advantages: Tensor) -> Tensor:
    """(A - mean) / std. Advantages equal up to rounding (std <= 64 ulps of their largest magnitude, e.g. one
    episode's R(tau)) are all zero, as exact arithmetic gives: scaling that rounding noise up to std 1 would be
    a gradient made of nothing. One advantage is only centred."""
    centred = advantages - advantages.mean()
    if advantages.numel() < 2:
        return centred
    spread = centred.std()
    if spread <= ROUNDING_ULPS * torch.finfo(advantages.dtype).eps * advantages.abs().max():
        return torch.zeros_like(advantages)
    return centred / (spread + 1e-8)
