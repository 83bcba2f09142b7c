"""Policy head ``bernoulli``: one independent Bernoulli per dimension of a MultiBinary action space."""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import ACTION_MASKS, ENTROPY, KL, LOG_PROB, MULTI_BINARY_ACTIONS
from pgkit.nn import Bernoulli as BernoulliDistribution
from pgkit.nn import MultiCategorical as MultiCategoricalDistribution


class BernoulliModule(HeadModule):
    """One logit per action dimension; actions are [B, d] in {0, 1}, shaped as the space for the env."""

    def __init__(self, in_features: int, space: gym.spaces.MultiBinary):
        super().__init__()
        self.shape = tuple(space.shape)
        self.logits = nn.Linear(in_features, math.prod(self.shape))
        nn.init.orthogonal_(self.logits.weight, gain=0.01)  # p close to 1/2 everywhere at first
        nn.init.zeros_(self.logits.bias)

    def forward(self, features: Tensor, action_mask: Tensor | None = None) -> BernoulliDistribution | MultiCategoricalDistribution:
        logits = F.linear(features, self.logits.weight, self.logits.bias)
        if action_mask is None:
            return BernoulliDistribution(logits)
        # masked: each dimension a categorical over {0, 1} with logits (0, l): softmax gives (sigmoid(-l), sigmoid(l))
        pairs = torch.stack([torch.zeros_like(logits), logits], dim=-1)
        return MultiCategoricalDistribution(pairs.masked_fill(~action_mask.unflatten(-1, (-1, 2)), -torch.inf))

    def env_action(self, action: Tensor) -> Tensor:
        return action.to(torch.int8).reshape(*action.shape[:-1], *self.shape)


class Bernoulli(PolicyHead):
    """pi(a|s) = prod_i sigmoid(l_i)^{a_i} sigmoid(-l_i)^{1 - a_i}, l = W h(s) + b, over a MultiBinary
    action space (as SB3's BernoulliDistribution). An action mask says per dimension whether 0 and whether 1
    may be chosen (2d entries, as sb3-contrib); a dimension with one choice left takes it with probability 1."""

    name = "bernoulli"
    provides = frozenset({LOG_PROB, ENTROPY, KL, ACTION_MASKS})
    requires = frozenset({MULTI_BINARY_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return BernoulliModule(in_features, action_space)


@hookimpl
def register_policy_heads(register):
    register(Bernoulli)
