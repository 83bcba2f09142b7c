"""Policy head ``deterministic``: a = mu(s), tanh-bounded to the action space, explored with added noise."""

from __future__ import annotations

import math
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit import Spec, hookimpl
from pgkit.kinds import HeadModule, PolicyHead
from pgkit.kinds.capabilities import BOUNDED_ACTIONS, BOX_ACTIONS, DETERMINISTIC_ACTIONS, OFF_POLICY_ACTIONS, RSAMPLE, SQUASHED_ACTIONS
from pgkit.nn import ActionNoise, GaussianNoise, NoNoise, OrnsteinUhlenbeckNoise, box_bounds, to_box


class Dirac(Distribution):
    """All probability on one action: ``sample``, ``rsample`` and ``mode`` return it (``rsample`` with gradient)."""

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, action: Tensor):
        self.action = action
        super().__init__(batch_shape=action.shape[:-1], event_shape=action.shape[-1:], validate_args=False)

    @property
    def mode(self) -> Tensor:
        return self.action

    @property
    def mean(self) -> Tensor:
        return self.action

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self.action.expand(*sample_shape, *self.action.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError("a deterministic policy has no log-probability; train it with the dpg objective")

    def entropy(self) -> Tensor:
        raise NotImplementedError("a deterministic policy has no entropy")


class DeterministicModule(HeadModule):
    """mu(s) = tanh(W h + b) in [-1, 1]^d; ``env_action`` maps it affinely onto [low, high]."""

    def __init__(self, in_features: int, action_space: gym.spaces.Box):
        super().__init__()
        self.shape = action_space.shape
        self.linear = nn.Linear(in_features, math.prod(self.shape))
        low, high = box_bounds(action_space)
        self.register_buffer("low", low)
        self.register_buffer("high", high)

    def forward(self, features: Tensor) -> Dirac:
        return Dirac(torch.tanh(self.linear(features)))

    def env_action(self, action: Tensor) -> Tensor:
        return to_box(action, self.low, self.high, self.shape)


class DeterministicSpec(Spec):
    noise: Literal["gaussian", "ornstein_uhlenbeck", "none"] = Field("gaussian", description="Exploration noise added to mu(s) while training.")
    noise_std: float = Field(0.1, ge=0, description="Noise scale, as a fraction of the half-width of the action range.")
    ou_theta: float = Field(0.15, gt=0, description="Ornstein-Uhlenbeck mean reversion rate theta.")
    ou_dt: float = Field(1e-2, gt=0, description="Ornstein-Uhlenbeck time step dt.")


class Deterministic(PolicyHead):
    """a = mu(s), squashed by tanh into the Box bounds (Silver et al. 2014; Lillicrap et al. 2016). Training
    explores with Gaussian or Ornstein-Uhlenbeck noise; evaluation uses mu(s). No log-probability."""

    name = "deterministic"
    Spec = DeterministicSpec
    provides = frozenset({DETERMINISTIC_ACTIONS, SQUASHED_ACTIONS, OFF_POLICY_ACTIONS, RSAMPLE})
    requires = frozenset({BOX_ACTIONS, BOUNDED_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return DeterministicModule(in_features, action_space)

    def exploration_noise(self, num_envs: int, action_shape: tuple[int, ...], rng: np.random.Generator) -> ActionNoise:
        """Noise in the policy's [-1, 1] units, one process per env."""
        shape, s = (num_envs, math.prod(action_shape)), self.spec
        if s.noise == "none" or s.noise_std == 0:
            return NoNoise(shape)
        if s.noise == "gaussian":
            return GaussianNoise(shape, s.noise_std, rng)
        return OrnsteinUhlenbeckNoise(shape, s.noise_std, s.ou_theta, s.ou_dt, rng)


@hookimpl
def register_policy_heads(register):
    register(Deterministic)
