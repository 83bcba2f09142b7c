"""Kind ``network``: a torso that turns observations into a feature vector."""

from __future__ import annotations

from abc import abstractmethod

import gymnasium as gym
from torch import nn

from pgkit.kinds.component import Component


class Network(Component):
    """Builds torso modules: ``module(obs [B, *obs_shape]) -> features [B, module.out_features]``."""

    kind = "network"

    @abstractmethod
    def build(self, observation_space: gym.Space) -> nn.Module:
        """A new torso with an ``out_features`` attribute; called once per policy and per critic."""
