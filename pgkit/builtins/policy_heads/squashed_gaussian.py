"""Policy head ``squashed_gaussian``: a = tanh(u), u from a Gaussian whose mean and log std depend on the state."""

from __future__ import annotations

import math

import gymnasium as gym
from pydantic import Field, model_validator
from torch import Tensor, nn

from pgkit import Spec, hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import BOUNDED_ACTIONS, BOX_ACTIONS, ENTROPY, KL, LOG_PROB, OFF_POLICY_ACTIONS, RSAMPLE, SQUASHED_ACTIONS
from pgkit.nn import SquashedDiagonalGaussian, box_bounds, to_box


class SquashedGaussianModule(HeadModule):
    """mean(h) and log_std(h) = clamp(W h + b, min, max) -> tanh(N(mean, std^2)) in [-1, 1]^d; ``env_action``
    maps it affinely onto [low, high]."""

    def __init__(self, in_features: int, action_space: gym.spaces.Box, log_std_min: float, log_std_max: float):
        super().__init__()
        self.shape, size = action_space.shape, math.prod(action_space.shape)
        self.mean = nn.Linear(in_features, size)
        self.log_std = nn.Linear(in_features, size)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        low, high = box_bounds(action_space)
        self.register_buffer("low", low)
        self.register_buffer("high", high)

    def forward(self, features: Tensor) -> SquashedDiagonalGaussian:
        # the distribution's arithmetic in float32 even when the linear layers run in bfloat16 (autocast)
        log_std = self.log_std(features).float().clamp(self.log_std_min, self.log_std_max)
        return SquashedDiagonalGaussian(self.mean(features).float(), log_std)

    def env_action(self, action: Tensor) -> Tensor:
        return to_box(action, self.low, self.high, self.shape)


class SquashedGaussianSpec(Spec):
    log_std_min: float = Field(-20.0, description="The state-dependent log std is clamped to at least this (SAC: -20).")
    log_std_max: float = Field(2.0, description="... and at most this (SAC: 2).")

    @model_validator(mode="after")
    def _ordered(self) -> SquashedGaussianSpec:
        if self.log_std_min >= self.log_std_max:
            raise ValueError(f"log_std_min ({self.log_std_min}) must be below log_std_max ({self.log_std_max})")
        return self


class SquashedGaussian(PolicyHead):
    """pi(a|s): a = tanh(u), u ~ N(mu(s), diag(sigma(s)^2)), mapped onto the Box bounds (SAC, Haarnoja et al. 2018).
    log_prob by the change of variables; entropy by a one-sample estimate (no closed form); exact KL."""

    name = "squashed_gaussian"
    Spec = SquashedGaussianSpec
    provides = frozenset({LOG_PROB, ENTROPY, KL, RSAMPLE, SQUASHED_ACTIONS, OFF_POLICY_ACTIONS})
    requires = frozenset({BOX_ACTIONS, BOUNDED_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return SquashedGaussianModule(in_features, action_space, self.spec.log_std_min, self.spec.log_std_max)


@hookimpl
def register_policy_heads(register):
    register(SquashedGaussian)
