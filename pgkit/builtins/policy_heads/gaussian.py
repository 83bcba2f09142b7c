"""Policy heads ``gaussian`` and ``gsde``: diagonal Gaussians with a state-independent log standard deviation, or
with generalized state-dependent exploration's (gSDE, Raffin et al. 2022; SB3's ``use_sde``)."""

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
from pgkit.nn import DiagonalGaussian, StateDependentGaussian


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


class GSDEModule(GaussianModule):
    """The Gaussian head's mean and bounds; the log std an [F, A] matrix over the features (SB3's full_std)."""

    VARIANCE_FLOOR = 1e-6  # SB3's epsilon: sigma(s) > 0 where the features vanish

    def __init__(self, in_features: int, action_space: gym.spaces.Box, log_std_init: float, resample_every: int):
        super().__init__(in_features, action_space, log_std_init)
        self.log_std = nn.Parameter(torch.full((in_features, math.prod(self.shape)), float(log_std_init)))
        self.resample_every = resample_every

    def forward(self, features: Tensor) -> StateDependentGaussian:
        held = features.detach()  # the noise's scale does not train the torso (SB3's learn_features=False)
        variance = held.pow(2) @ torch.exp(2 * self.log_std) + self.VARIANCE_FLOOR
        return StateDependentGaussian(self.mean(features), 0.5 * torch.log(variance), held)

    def exploration(self, count: int) -> Tensor:
        """E ~ N(0, exp(2 L)), one [F, A] matrix per env."""
        std = torch.exp(self.log_std.detach())
        return torch.randn((count, *std.shape), dtype=std.dtype, device=std.device) * std


class GSDESpec(Spec):
    log_std_init: float = Field(0.0, ge=-20, le=2, description="Initial entries of the [features, action dims] log std matrix L (SB3's log_std_init).")
    resample_every: int = Field(0, ge=0, description="Steps between draws of the exploration matrices within a batch; 0: one draw per "
                                                     "batch (SB3's sde_sample_freq: the same, with -1 for 0).")


class GSDE(PolicyHead):
    """pi(a|s) = N(mu(s), diag(sigma(s)^2)), sigma_j(s)^2 = sum_i phi_i(s)^2 exp(2 L_ij); acting a = mu(s) + phi(s) E
    with E ~ N(0, exp(2 L)) held per env for resample_every steps (gSDE, Raffin et al. 2022); clipped to the bounds
    only when sent to the env. As an entry of a composite head or in policy groups it samples afresh at each step."""

    name = "gsde"
    Spec = GSDESpec
    provides = frozenset({LOG_PROB, ENTROPY, KL})
    requires = frozenset({BOX_ACTIONS})

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        return GSDEModule(in_features, action_space, self.spec.log_std_init, self.spec.resample_every)


@hookimpl
def register_policy_heads(register):
    register(Gaussian)
    register(GSDE)
