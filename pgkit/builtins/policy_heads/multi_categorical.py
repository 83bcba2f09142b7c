"""Policy head ``multi_categorical``: one softmax per dimension of a MultiDiscrete action space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import ENTROPY, KL, LOG_PROB, MULTI_DISCRETE_ACTIONS
from pgkit.nn import MultiCategorical as MultiCategoricalDistribution


class MultiCategoricalModule(HeadModule):
    """One linear layer gives d x n logits (n the most classes of any dimension); classes a dimension
    lacks are masked to -inf. Actions are [B, d] class indices, offset by the space's start for the env."""

    def __init__(self, in_features: int, space: gym.spaces.MultiDiscrete):
        super().__init__()
        counts = torch.as_tensor(np.asarray(space.nvec).reshape(-1), dtype=torch.long)
        self.dims, self.classes = len(counts), int(counts.max())
        self.logits = nn.Linear(in_features, self.dims * self.classes)
        nn.init.orthogonal_(self.logits.weight, gain=0.01)  # near-uniform initial policy
        nn.init.zeros_(self.logits.bias)
        lacking = torch.arange(self.classes)[None, :] >= counts[:, None]
        self.register_buffer("mask", torch.zeros(self.dims, self.classes).masked_fill(lacking, -torch.inf), persistent=False)
        self.register_buffer("start", torch.as_tensor(np.asarray(space.start).reshape(-1), dtype=torch.long), persistent=False)
        self.shape = tuple(space.shape)

    def forward(self, features: Tensor) -> MultiCategoricalDistribution:
        logits = F.linear(features, self.logits.weight, self.logits.bias).unflatten(-1, (self.dims, self.classes))
        return MultiCategoricalDistribution(logits + self.mask)

    def env_action(self, action: Tensor) -> Tensor:
        return (action + self.start).reshape(*action.shape[:-1], *self.shape)


class MultiCategorical(PolicyHead):
    """pi(a|s) = prod_i softmax(W_i h(s) + b_i)_{a_i} over a MultiDiscrete action space (independent
    dimensions, as SB3's MultiCategoricalDistribution)."""

    name = "multi_categorical"
    provides = frozenset({LOG_PROB, ENTROPY, KL})
    requires = frozenset({MULTI_DISCRETE_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return MultiCategoricalModule(in_features, action_space)


@hookimpl
def register_policy_heads(register):
    register(MultiCategorical)
