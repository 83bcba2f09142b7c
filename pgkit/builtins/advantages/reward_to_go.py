"""Advantages ``reward_to_go`` and ``discounted_reward_to_go``: Phi_t = sum_{t' >= t} gamma^(t'-t) r_t' - b(s_t)."""

from __future__ import annotations

import torch
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.functional import discounted_reward_to_go
from pgkit.kinds import DiscountedSpec, MonteCarloAdvantage


class RewardToGo(MonteCarloAdvantage):
    """Phi_t = sum_{t' >= t} r_t' - b(s_t): only rewards after the action count (Spinning Up's reward-to-go).
    Episodes cut by a time limit or the batch's end are completed with V(s) if a critic exists (see
    trainer.complete_episodes for batches that cut none)."""

    name = "reward_to_go"

    def gamma(self) -> float:
        return 1.0

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        next_values = batch.next_values if batch.next_values is not None else torch.zeros_like(batch.rewards)
        returns = discounted_reward_to_go(batch.rewards, batch.terminated, batch.truncated, next_values, self.gamma())
        return returns - baseline, returns


class DiscountedRewardToGo(RewardToGo):
    """Phi_t = sum_{t' >= t} gamma^(t'-t) r_t' - b(s_t): the discounted reward-to-go."""

    name = "discounted_reward_to_go"
    Spec = DiscountedSpec

    def gamma(self) -> float:
        return self.spec.gamma


@hookimpl
def register_advantages(register):
    register(RewardToGo)
    register(DiscountedRewardToGo)
