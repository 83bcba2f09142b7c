"""Objectives ``sac`` and ``discrete_sac``: soft actor-critic's entropy-regularized policy loss and its temperature,
for Box actions (reparameterized samples) and for Discrete ones (exact expectations over the actions)."""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Literal, Union

import gymnasium as gym
import torch
from pydantic import Field, PositiveFloat
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import LossContext, Metrics, Objective
from pgkit.kinds.capabilities import ACTION_VALUE, ALL_ACTION_VALUES, DISCRETE_ACTIONS, LOG_PROB, REPLAYED_TRANSITIONS, RSAMPLE


class Temperature(nn.Module):
    """alpha = exp(log_alpha), learned (the objective's own parameter)."""

    def __init__(self, initial: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(initial)))


class TemperatureSpec(Spec):
    temperature: Union[PositiveFloat, Literal["auto"]] = Field(
        "auto", description="alpha, the weight of the entropy: a fixed number > 0, or auto: learned so that the entropy tracks its target."
    )
    initial_temperature: float = Field(1.0, gt=0, description="alpha before learning starts (temperature: auto).")


class SACSpec(TemperatureSpec):
    target_entropy: Union[float, Literal["auto"]] = Field("auto", description="The entropy a learned alpha aims for; auto: -dim(A).")


class SoftObjective(Objective):
    """What both soft actor-critics share: the temperature alpha, fixed or learned (its own parameter, built
    with the agent), and the temperature loss log(alpha) (H - H_target) that raises alpha when the entropy
    falls below its target."""

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        super().__init__(spec, **params)
        self._temperature: Temperature | None = None  # built with the agent, saved with it
        self._target_entropy = 0.0

    @abstractmethod
    def target_entropy(self, action_space: gym.Space) -> float:
        """H_target for ``action_space``."""

    def build(self, observation_space: gym.Space, action_space: gym.Space) -> nn.Module | None:
        self._target_entropy = self.target_entropy(action_space)
        self._temperature = Temperature(self.spec.initial_temperature) if self.spec.temperature == "auto" else None
        return self._temperature

    def alpha(self) -> Tensor | float:
        """The entropy's weight now (no gradient)."""
        if self._temperature is None:
            return float(self.spec.temperature)
        return self._temperature.log_alpha.detach().exp()

    def with_temperature_loss(self, policy_loss: Tensor, entropy: Tensor, metrics: Metrics) -> tuple[Tensor, Metrics]:
        """``policy_loss`` plus, for a learned alpha, mean log(alpha) (H - H_target) over ``entropy`` (an estimate per state, no gradient)."""
        if self._temperature is None:
            return policy_loss, metrics
        temperature_loss = (self._temperature.log_alpha * (entropy - self._target_entropy)).mean()
        metrics["temperature_loss"] = temperature_loss.detach()
        return policy_loss + temperature_loss, metrics


class SAC(SoftObjective):
    """Soft actor-critic (Haarnoja et al. 2018): L = mean_s[alpha log pi(a|s) - min_k Q_k(s, a)], a ~ pi(.|s)
    reparameterized; with a learned temperature also -log(alpha) (log pi(a|s) + H_target), so alpha grows
    when the entropy falls below its target. The soft TD target adds -alpha log pi(a'|s')."""

    name = "sac"
    Spec = SACSpec
    requires = frozenset({RSAMPLE, LOG_PROB, ACTION_VALUE, REPLAYED_TRANSITIONS})

    def target_entropy(self, action_space: gym.Space) -> float:
        target = self.spec.target_entropy
        return -float(math.prod(action_space.shape)) if target == "auto" else float(target)

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        distribution = context.policy(batch.obs)
        actions = distribution.rsample()
        log_pi = distribution.log_prob(actions)
        q = context.critic(batch.obs, actions).min(dim=0).values.float()
        alpha = self.alpha()
        policy_loss = (alpha * log_pi - q).mean()
        metrics = {"policy_loss": policy_loss.detach(), "entropy": -log_pi.detach().mean(), "alpha": alpha}
        return self.with_temperature_loss(policy_loss, -log_pi.detach(), metrics)

    def next_value_bonus(self, distribution: Distribution, actions: Tensor) -> Tensor:
        return -self.alpha() * distribution.log_prob(actions).float()


class DiscreteSACSpec(TemperatureSpec):
    target_entropy_scale: float = Field(
        0.89, gt=0, le=1, description="The entropy a learned alpha aims for, as a fraction of the largest, log|A| (Christodoulou 2019: 0.98; CleanRL's Atari SAC: 0.89)."
    )


class DiscreteSAC(SoftObjective):
    """Soft actor-critic for Discrete actions (Christodoulou 2019): L = mean_s sum_a pi(a|s) [alpha log pi(a|s) - min_k Q_k(s, a)],
    exact over the actions (no sampling); the soft TD target V(s') = sum_a pi(a|s') [min_k Q'_k(s', a) - alpha log pi(a|s')];
    with a learned temperature also log(alpha) (H[pi(.|s)] - H_target)."""

    name = "discrete_sac"
    Spec = DiscreteSACSpec
    requires = frozenset({DISCRETE_ACTIONS, LOG_PROB, ALL_ACTION_VALUES, REPLAYED_TRANSITIONS})

    def target_entropy(self, action_space: gym.Space) -> float:
        return self.spec.target_entropy_scale * math.log(int(action_space.n))

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        probs, plogp = _probabilities(context.policy(batch.obs))
        q = context.critic.values(batch.obs).min(dim=0).values.float()
        alpha = self.alpha()
        policy_loss = (alpha * plogp - probs * q).sum(-1).mean()
        entropy = -plogp.sum(-1)
        metrics = {"policy_loss": policy_loss.detach(), "entropy": entropy.detach().mean(), "alpha": alpha}
        return self.with_temperature_loss(policy_loss, entropy.detach(), metrics)

    def next_value(self, distribution: Distribution, critic: nn.Module, next_obs: Tensor) -> Tensor:
        probs, plogp = _probabilities(distribution)
        q = critic.values(next_obs).min(dim=0).values.float()
        return (probs * q - self.alpha() * plogp).sum(-1)


def _probabilities(distribution: Distribution) -> tuple[Tensor, Tensor]:
    """(pi(.|s), pi log pi) of a categorical distribution, [B, A]; 0 log 0 = 0 for masked actions."""
    log_probs = distribution.logits.float()
    probs = log_probs.exp()
    return probs, torch.where(probs > 0, probs * log_probs, torch.zeros_like(probs))


@hookimpl
def register_objectives(register):
    register(SAC)
    register(DiscreteSAC)
