"""Advantage ``total_return``: Phi_t = R(tau), the whole episode's return, at every step."""

from __future__ import annotations

import torch
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.functional import discounted_reward_to_go, episode_total_return
from pgkit.kinds import MonteCarloAdvantage


class TotalReturn(MonteCarloAdvantage):
    """Phi_t = R(tau) - b(s_t): every action is weighted by its episode's total (undiscounted) return,
    the simplest policy gradient (Williams 1992; Spinning Up's first form). Critic targets are the
    undiscounted rewards-to-go."""

    name = "total_return"

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        next_values = batch.next_values if batch.next_values is not None else torch.zeros_like(batch.rewards)
        prior = batch.prior_rewards if batch.prior_rewards is not None else torch.zeros_like(batch.rewards[0])
        totals = episode_total_return(batch.rewards, batch.terminated, batch.truncated, next_values, prior)
        to_go = discounted_reward_to_go(batch.rewards, batch.terminated, batch.truncated, next_values, 1.0)
        return totals - baseline, to_go


@hookimpl
def register_advantages(register):
    register(TotalReturn)
