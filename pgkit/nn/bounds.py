"""Mapping actions in [-1, 1] onto a bounded Box, for heads whose actions are squashed there."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import Tensor


def box_bounds(space: gym.spaces.Box) -> tuple[Tensor, Tensor]:
    """The space's low and high, flattened, as float32 tensors (to register as a head's buffers)."""
    return torch.as_tensor(space.low, dtype=torch.float32).flatten(), torch.as_tensor(space.high, dtype=torch.float32).flatten()


def to_box(action: Tensor, low: Tensor, high: Tensor, shape: tuple[int, ...]) -> Tensor:
    """a in [-1, 1]^d -> low + (a + 1) (high - low) / 2, reshaped to the space's ``shape`` (a is clipped first)."""
    scaled = low + (action.clamp(-1, 1) + 1) * 0.5 * (high - low)
    return scaled.reshape(*action.shape[:-1], *shape)
