"""Kind ``objective``: the policy loss on a batch."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Mapping

import gymnasium as gym
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit.data.batch import Batch
from pgkit.kinds.component import Component


Metrics = dict[str, float | Tensor]  # an objective's metrics: floats, or 0-d tensors without gradient


@dataclass(frozen=True)
class LossContext:
    """What an objective's loss may use besides the batch."""

    policy: nn.Module  # obs [B, ...] -> a new Distribution over B actions; gradients reach the policy's parameters
    progress: float = 0.0  # the fraction of training done, in [0, 1] (for schedules)
    critic: nn.Module | None = None  # the critic's module, if the recipe has one (see kinds.Critic.build)
    old_policy: nn.Module | None = None  # the policy as it was when the batch was collected, without gradient (given by trainers that provide old_policy)


class Objective(Component):
    """``loss(batch, context) -> (scalar loss, metrics)``; minimizing it ascends the policy objective.
    ``requires`` names what it reads: log_prob or deterministic_actions from the head, state_value or
    action_value from a critic, on_policy_batches (and single_pass) or replayed_transitions from the
    trainer, old_policy to compare with the policy that collected the batch. An objective that provides
    own_policy_step updates the policy itself in ``step`` (a trust region) instead of being minimized."""

    kind = "objective"

    def build(self, observation_space: gym.Space, action_space: gym.Space) -> nn.Module | None:
        """A module of the objective's own learnable parameters (SAC's temperature), or None. It is
        saved with the agent and trained with the policy by the recipe's optimizer. Default: none."""
        return None

    @abstractmethod
    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        """The loss on a flat batch (on-policy: with ``advantages`` filled in), and its metrics: floats, or 0-d
        tensors without gradient, which the trainer reads after the step (``metric_floats``), so that a compiled
        loss (``trainer.compile``) need not stop to read them."""

    def step(self, batch: Batch, context: LossContext) -> dict[str, float]:
        """Update ``context.policy``'s parameters from this batch and return metrics: called once per batch,
        instead of gradient steps on ``loss``, for objectives that provide own_policy_step (trust regions).
        The trainer then fits the critic with its own regression steps."""
        raise NotImplementedError(f"{self.describe()} takes no policy step of its own; it gives a loss")

    def stop_early(self, metrics: dict[str, float]) -> bool:
        """Called after each loss, before its gradient step: should the trainer stop passing over this
        batch (e.g. the policy moved too far)? Default: no."""
        return False

    def next_value(self, distribution: Distribution, critic: nn.Module, next_obs: Tensor) -> Tensor | None:
        """V(s') for an off-policy TD target, computed exactly by the objective from ``distribution`` =
        pi(.|s') and the target ``critic`` (discrete SAC: the expectation over every action), or None for the
        trainer's sampled estimate min_k Q'(s', a') + next_value_bonus. Default: None."""
        return None

    def next_value_bonus(self, distribution: Distribution, actions: Tensor) -> Tensor | float:
        """What an off-policy TD target adds to min_k Q'(s', a') for next actions a' drawn from
        ``distribution`` = pi(.|s') (SAC's soft value: -alpha log pi(a'|s')). Default: 0."""
        return 0.0

    def end_batch(self, batch: Batch, context: LossContext) -> dict[str, float]:
        """Called once after the gradient steps on ``batch`` (e.g. to adapt a penalty); returns metrics to
        log. Default: nothing."""
        return {}


def entropy_bonus(distribution: Distribution, coef: float) -> tuple[Tensor | float, Tensor]:
    """(c_H * mean H[pi(.|s)], mean H) for an objective's ``- c_H * H`` term and its metric (a 0-d tensor without
    gradient). With c_H = 0 the entropy is computed without a graph, so backward does not differentiate a term
    weighted 0."""
    if coef == 0:
        with torch.no_grad():
            return 0.0, distribution.entropy().mean()
    entropy = distribution.entropy().mean()
    return coef * entropy, entropy.detach()


def metric_floats(metrics: Mapping[str, float | Tensor]) -> dict[str, float]:
    """An objective's metrics as floats (a 0-d tensor read with ``item``)."""
    return {key: value.item() if isinstance(value, Tensor) else float(value) for key, value in metrics.items()}
