"""Policy head ``categorical``: a softmax over the actions of a Discrete space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import Spec, hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import ACTION_MASKS, DISCRETE_ACTIONS, ENTROPY, KL, LOG_PROB, OFF_POLICY_ACTIONS
from pgkit.nn import Categorical as CategoricalDistribution


class CategoricalModule(HeadModule):
    def __init__(self, in_features: int, num_actions: int, start: int, init_gain: float = 0.01):
        super().__init__()
        self.logits = nn.Linear(in_features, num_actions)
        nn.init.orthogonal_(self.logits.weight, gain=init_gain)
        nn.init.zeros_(self.logits.bias)
        self.start = start

    def forward(self, features: Tensor, action_mask: Tensor | None = None) -> CategoricalDistribution:
        logits = F.linear(features, self.logits.weight, self.logits.bias)
        return CategoricalDistribution(logits if action_mask is None else logits.masked_fill(~action_mask, -torch.inf))

    def env_action(self, action: Tensor) -> Tensor:
        return action + self.start if self.start else action


class CategoricalSpec(Spec):
    init_gain: float = Field(
        0.01, gt=0, description="Gain of W's orthogonal initialization: 0.01 starts near the uniform policy (SB3, CleanRL); a recurrent "
        "torso learns its memory faster behind a larger one (1.0), whose gradient reaches it unshrunk."
    )


class Categorical(PolicyHead):
    """pi(a|s) = softmax(W h(s) + b)_a over a Discrete action space; with an action mask m(s), the softmax over
    the valid actions only (logits of invalid ones set to -inf, as sb3-contrib's MaskableCategorical)."""

    name = "categorical"
    Spec = CategoricalSpec
    provides = frozenset({LOG_PROB, ENTROPY, KL, ACTION_MASKS, OFF_POLICY_ACTIONS})
    requires = frozenset({DISCRETE_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return CategoricalModule(in_features, int(action_space.n), int(action_space.start), self.spec.init_gain)

    def random_actions(self, count: int, action_space: gym.Space, rng: np.random.Generator) -> np.ndarray:
        """Choices (from 0; ``env_action`` adds the space's start) uniformly at random."""
        return rng.integers(0, int(action_space.n), count)

    def explore(self, actions: Tensor, noise: np.ndarray) -> Tensor:
        """A sample explores by itself (no noise)."""
        return actions


@hookimpl
def register_policy_heads(register):
    register(Categorical)
