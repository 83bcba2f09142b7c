"""Policy head ``multi_categorical``: one softmax per dimension of a MultiDiscrete action space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import ACTION_MASKS, ENTROPY, KL, LOG_PROB, MULTI_DISCRETE_ACTIONS
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
        self.register_buffer("mask_positions", torch.nonzero(~lacking.reshape(-1)).reshape(-1), persistent=False)
        self.shape = tuple(space.shape)

    def forward(self, features: Tensor, action_mask: Tensor | None = None) -> MultiCategoricalDistribution:
        logits = F.linear(features, self.logits.weight, self.logits.bias).unflatten(-1, (self.dims, self.classes)) + self.mask
        if action_mask is not None:  # [B, sum n_i] -> [B, d, n]: the dimensions' masks back to back
            valid = action_mask.new_zeros(*action_mask.shape[:-1], self.dims * self.classes).index_copy_(-1, self.mask_positions, action_mask)
            logits = logits.masked_fill(~valid.unflatten(-1, (self.dims, self.classes)), -torch.inf)
        return MultiCategoricalDistribution(logits)

    def env_action(self, action: Tensor) -> Tensor:
        return (action + self.start).reshape(*action.shape[:-1], *self.shape)


class MultiCategorical(PolicyHead):
    """pi(a|s) = prod_i softmax(W_i h(s) + b_i)_{a_i} over a MultiDiscrete action space (independent
    dimensions, as SB3's MultiCategoricalDistribution); an action mask removes classes per dimension."""

    name = "multi_categorical"
    provides = frozenset({LOG_PROB, ENTROPY, KL, ACTION_MASKS})
    requires = frozenset({MULTI_DISCRETE_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return MultiCategoricalModule(in_features, action_space)


@hookimpl
def register_policy_heads(register):
    register(MultiCategorical)
