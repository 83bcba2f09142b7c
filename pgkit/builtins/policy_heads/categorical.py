"""Policy head ``categorical``: a softmax over the actions of a Discrete space."""

from __future__ import annotations

import gymnasium as gym
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import DISCRETE_ACTIONS, ENTROPY, KL, LOG_PROB
from pgkit.nn import Categorical as CategoricalDistribution


class CategoricalModule(HeadModule):
    def __init__(self, in_features: int, num_actions: int, start: int):
        super().__init__()
        self.logits = nn.Linear(in_features, num_actions)
        nn.init.orthogonal_(self.logits.weight, gain=0.01)  # near-uniform initial policy
        nn.init.zeros_(self.logits.bias)
        self.start = start

    def forward(self, features: Tensor) -> CategoricalDistribution:
        return CategoricalDistribution(F.linear(features, self.logits.weight, self.logits.bias))

    def env_action(self, action: Tensor) -> Tensor:
        return action + self.start if self.start else action


class Categorical(PolicyHead):
    """pi(a|s) = softmax(W h(s) + b)_a over a Discrete action space."""

    name = "categorical"
    provides = frozenset({LOG_PROB, ENTROPY, KL})
    requires = frozenset({DISCRETE_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return CategoricalModule(in_features, int(action_space.n), int(action_space.start))


@hookimpl
def register_policy_heads(register):
    register(Categorical)
