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
    """V(s) = w . h(s) + b on its own torso h; with ``normalized_targets``, V(s) = sigma (w . h(s) + b) + mu, the head
    regressed on returns standardized by running statistics (``TargetStatistics``).

    ``forward(obs, returns)`` is the regression's call: the statistics first updated by ``returns`` (when gradients
    are on), then ``(V(s), sigma)`` for every row. Modules that route rows, such as policy groups' critics
    (``pgkit.nn.GroupedModule``), pass each value function its own rows' returns, so each keeps its own statistics."""

    def __init__(self, torso: nn.Module, normalized_targets: bool = False):
        super().__init__()
        self.torso = torso
        self.head = nn.Linear(torso.out_features, 1)
        nn.init.orthogonal_(self.head.weight, gain=1.0)
        nn.init.zeros_(self.head.bias)
        self.targets = TargetStatistics() if normalized_targets else None

    def forward(self, obs: Tensor, returns: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if returns is not None and self.targets is not None and torch.is_grad_enabled():
            self.targets.update(returns)
        value = self.head(self.torso(obs)).squeeze(-1)
        scale = None if self.targets is None else self.targets.std()
        if scale is not None:
            value = value * scale + self.targets.mean()
        if returns is None:
            return value
        return value, (torch.ones_like(value) if scale is None else scale.expand_as(value))


class TargetStatistics(nn.Module):
    """Running mean and variance of the critic's targets, as MAPPO's ValueNorm keeps them (Yu et al. 2022): exponential
    averages of R and R^2 with weight ``beta`` per update, debiased as Adam's moments; the variance at least 1e-2."""

    def __init__(self, beta: float = 0.99999):
        super().__init__()
        self.beta = beta
        self.register_buffer("mean_r", torch.zeros(()))
        self.register_buffer("mean_r2", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    @torch.no_grad()
    def update(self, targets: Tensor) -> None:
        beta = self.beta
        self.mean_r.mul_(beta).add_((1 - beta) * targets.mean())
        self.mean_r2.mul_(beta).add_((1 - beta) * targets.square().mean())
        self.debias.mul_(beta).add_(1 - beta)

    def mean(self) -> Tensor:
        return self.mean_r / self.debias.clamp(min=1e-5)

    def std(self) -> Tensor:
        return (self.mean_r2 / self.debias.clamp(min=1e-5) - self.mean().square()).clamp(min=1e-2).sqrt()


class ValueSpec(Spec):
    loss: Literal["mse", "huber"] = Field("mse", description="Regression loss: mean squared error or Huber.")
    huber_delta: float = Field(1.0, gt=0, description="Where the Huber loss turns from quadratic to linear.")
    clip_range: float | None = Field(
        None, gt=0, description="PPO's value clipping: also penalize V_old + clip(V - V_old, -c, c) and take the larger loss; null: off."
    )
    shared_torso: bool = Field(False, description="Use the policy's torso (one network, two heads) instead of a separate one.")
    normalize_targets: bool = Field(
        False, description="Regress on returns standardized by their running mean and std (MAPPO's value normalization, Yu et al. 2022): "
        "the loss is the chosen one of (V - R) / sigma, V = sigma * head + mu, the statistics updated by each minibatch's returns "
        "(with policy groups, each group's critic by its own rows').",
    )


class Value(Critic):
    """State-value critic V(s) regressed on ``returns`` (MSE or Huber, optionally clipped around the old
    values as in PPO); its own torso built by the network slot, or the policy's."""

    name = "value"
    Spec = ValueSpec
    provides = frozenset({STATE_VALUE})

    def build(
        self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module
    ) -> nn.Module:
        return ValueFunction(policy_torso if self.spec.shared_torso else network.build(observation_space), self.spec.normalize_targets)

    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        if self.spec.normalize_targets:  # (V - R) / sigma = head - (R - mu) / sigma: the normalized regression, sigma per row
            predicted, scale = module(batch.obs, batch.returns)
        else:
            predicted, scale = module(batch.obs), 1.0
        loss = self._elementwise(predicted / scale, batch.returns / scale)
        if self.spec.clip_range is not None:  # in normalized units too, as MAPPO clips
            clipped = batch.values + (predicted - batch.values).clamp(-self.spec.clip_range * scale, self.spec.clip_range * scale)
            loss = torch.max(loss, self._elementwise(clipped / scale, batch.returns / scale))
        return loss.mean()

    def _elementwise(self, predicted: Tensor, target: Tensor) -> Tensor:
        if self.spec.loss == "huber":
            return F.huber_loss(predicted, target, delta=self.spec.huber_delta, reduction="none")
        return F.mse_loss(predicted, target, reduction="none")


@hookimpl
def register_critics(register):
    register(Value)
