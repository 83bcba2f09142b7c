"""Critic ``value``: a learned state-value function V(s) regressed on the batch's returns."""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import torch
from pydantic import Field
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import Critic, Network
from pgkit.kinds.capabilities import STATE_VALUE


class ValueFunction(nn.Module):
    """V(s) = w . h(s) + b on its own torso h."""

    def __init__(self, torso: nn.Module):
        super().__init__()
        self.torso = torso
        self.head = nn.Linear(torso.out_features, 1)
        nn.init.orthogonal_(self.head.weight, gain=1.0)
        nn.init.zeros_(self.head.bias)

    def forward(self, obs: Tensor) -> Tensor:
        return self.head(self.torso(obs)).squeeze(-1)


class ValueSpec(Spec):
    loss: Literal["mse", "huber"] = Field("mse", description="Regression loss: mean squared error or Huber.")
    huber_delta: float = Field(1.0, gt=0, description="Where the Huber loss turns from quadratic to linear.")
    clip_range: float | None = Field(
        None, gt=0, description="PPO's value clipping: also penalize V_old + clip(V - V_old, -c, c) and take the larger loss; null: off."
    )
    shared_torso: bool = Field(False, description="Use the policy's torso (one network, two heads) instead of a separate one.")


class Value(Critic):
    """State-value critic V(s) regressed on ``returns`` (MSE or Huber, optionally clipped around the old
    values as in PPO); its own torso built by the network slot, or the policy's."""

    name = "value"
    Spec = ValueSpec
    provides = frozenset({STATE_VALUE})

    def build(
        self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module
    ) -> nn.Module:
        return ValueFunction(policy_torso if self.spec.shared_torso else network.build(observation_space))

    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        predicted = module(batch.obs)
        loss = self._elementwise(predicted, batch.returns)
        if self.spec.clip_range is not None:
            clipped = batch.values + (predicted - batch.values).clamp(-self.spec.clip_range, self.spec.clip_range)
            loss = torch.max(loss, self._elementwise(clipped, batch.returns))
        return loss.mean()

    def _elementwise(self, predicted: Tensor, target: Tensor) -> Tensor:
        if self.spec.loss == "huber":
            return F.huber_loss(predicted, target, delta=self.spec.huber_delta, reduction="none")
        return F.mse_loss(predicted, target, reduction="none")


@hookimpl
def register_critics(register):
    register(Value)
