"""Observations as flat float vectors: what an MLP (or the layers before a recurrence) reads."""

from __future__ import annotations

import math

import gymnasium as gym
from torch import Tensor, nn


class ObservationEncoder(nn.Module):
    """Box observations -> flat float vectors; Discrete observations (of any ``start``) -> one-hot vectors;
    Dict and Tuple observations arrive flat already (``Agent.prepare``)."""

    def __init__(self, space: gym.Space):
        super().__init__()
        if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):  # pgkit.data.is_structured
            space = gym.spaces.flatten_space(space)
        self.first_class = int(space.start) if isinstance(space, gym.spaces.Discrete) else 0
        if isinstance(space, gym.spaces.Discrete):
            self.num_classes, self.out_features = int(space.n), int(space.n)
        elif isinstance(space, gym.spaces.Box):
            self.num_classes, self.out_features = 0, int(math.prod(space.shape))
        else:
            raise TypeError(f"reads Box, Discrete, Dict or Tuple observations, not {space}")
        self.start = 0 if isinstance(space, gym.spaces.Box) and space.shape == () else -len(getattr(space, "shape", ()))

    def forward(self, obs: Tensor) -> Tensor:
        if self.num_classes:
            return nn.functional.one_hot(obs.long() - self.first_class, self.num_classes).float()
        if self.start == 0:
            return obs.float().unsqueeze(-1)
        return obs.float().flatten(start_dim=obs.dim() + self.start)
