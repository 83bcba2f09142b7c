"""Kind ``network``: a torso that turns observations into a feature vector."""

from __future__ import annotations

from abc import abstractmethod

import gymnasium as gym
import torch
from torch import Tensor, nn

from pgkit.kinds.component import Component


class StackedTorsos(nn.Module):
    """K torsos as one module: ``forward(x [B, ...], members=None) -> [K, B, out_features]`` (only the first
    ``members`` torsos if given). The generic ensemble; a network may build a faster one."""

    def __init__(self, torsos: list[nn.Module]):
        super().__init__()
        self.torsos = nn.ModuleList(torsos)
        self.out_features = torsos[0].out_features

    def forward(self, x: Tensor, members: int | None = None) -> Tensor:
        return torch.stack([torso(x) for torso in list(self.torsos)[:members]])


class Network(Component):
    """Builds torso modules: ``module(obs [B, *obs_shape]) -> features [B, module.out_features]``."""

    kind = "network"

    @abstractmethod
    def build(self, observation_space: gym.Space) -> nn.Module:
        """A new torso with an ``out_features`` attribute; called once per policy and per critic."""

    def build_ensemble(self, observation_space: gym.Space, count: int) -> nn.Module:
        """``count`` independent torsos as one module, ``module(x [B, ...], members=None) -> [K, B, out_features]``
        (only the first ``members`` if given), for critics with several networks (twin Q). Default: the
        torsos of ``build`` stacked; a network may batch them (one matrix product per layer for all K)."""
        return StackedTorsos([self.build(observation_space) for _ in range(count)])
