"""Critic ``value``: a learned state-value function V(s) regressed on the batch's returns."""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
from pydantic import Field
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit.batch import Batch
from pgkit.component import Spec
from pgkit.hookspecs import hookimpl
from pgkit.kinds import Critic, Network


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


class Value(Critic):
    """State-value critic V(s), fitted to ``returns`` by MSE or Huber loss; its torso is the network slot's."""

    name = "value"
    Spec = ValueSpec
    estimates = "state_value"

    def build(self, network: Network, observation_space: gym.Space, action_space: gym.Space) -> nn.Module:
        return ValueFunction(network.build(observation_space))

    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        predicted = module(batch.obs)
        if self.spec.loss == "huber":
            return F.huber_loss(predicted, batch.returns, delta=self.spec.huber_delta)
        return F.mse_loss(predicted, batch.returns)


@hookimpl
def register_critics(register):
    register(Value)
