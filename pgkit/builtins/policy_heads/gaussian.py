"""Policy head ``gaussian``: a diagonal Gaussian with a state-independent log standard deviation."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from pgkit import Spec, hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import BOX_ACTIONS, ENTROPY, KL, LOG_PROB, RSAMPLE
from pgkit.nn import DiagonalGaussian


class GaussianModule(HeadModule):
    def __init__(self, in_features: int, action_space: gym.spaces.Box, log_std_init: float):
        super().__init__()
        self.shape = action_space.shape
        size = math.prod(self.shape)
        self.mean = nn.Linear(in_features, size)
        nn.init.orthogonal_(self.mean.weight, gain=0.01)
        nn.init.zeros_(self.mean.bias)
        self.log_std = nn.Parameter(torch.full((size,), float(log_std_init)))
        finite = np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()
        self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32) if finite else None)
        self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32) if finite else None)

    def forward(self, features: Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean(features), self.log_std)

    def env_action(self, action: Tensor) -> Tensor:
        action = action.reshape(*action.shape[:-1], *self.shape)
        return action if self.low is None else torch.clamp(action, self.low, self.high)


class GaussianSpec(Spec):
    log_std_init: float = Field(0.0, ge=-20, le=2, description="Initial log standard deviation of every action dimension.")


class Gaussian(PolicyHead):
    """pi(a|s) = N(a; mu(s), diag(exp(2 log_std))); actions are clipped to the bounds only when sent to the env."""

    name = "gaussian"
    Spec = GaussianSpec
    provides = frozenset({LOG_PROB, ENTROPY, KL, RSAMPLE})
    requires = frozenset({BOX_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return GaussianModule(in_features, action_space, self.spec.log_std_init)


@hookimpl
def register_policy_heads(register):
    register(Gaussian)
