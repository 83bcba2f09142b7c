"""Objective ``rwr``: reward-weighted regression, the policy gradient read as weighted imitation."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import LossContext, Metrics, Objective
from pgkit.kinds.capabilities import LOG_PROB, ON_POLICY_BATCHES


class RWRSpec(Spec):
    temperature: float = Field(1.0, gt=0, description="beta: weights are exp(score / beta), normalized over the minibatch; smaller is greedier.")
    score: Literal["returns", "advantages"] = Field("advantages", description="What weighs an action: its return (Peters & Schaal) or its advantage.")


class RewardWeightedRegression(Objective):
    """Reward-weighted regression (Peters & Schaal 2007): maximize sum_i w_i log pi(a_i|s_i) with
    w = softmax(score / beta) over the (mini)batch, score = the return (or the advantage) of each action:
    an EM step that imitates the batch's own actions in proportion to how well they did. Being a weighted
    maximum-likelihood fit, it may pass over a batch several times."""

    name = "rwr"
    Spec = RWRSpec
    requires = frozenset({LOG_PROB, ON_POLICY_BATCHES})

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        scores = batch.returns if self.spec.score == "returns" else batch.advantages
        weights = torch.softmax(scores.detach() / self.spec.temperature, dim=0)
        log_probs = context.policy(batch.obs).log_prob(batch.actions)
        loss = -(weights * log_probs).sum()
        effective = 1.0 / weights.square().sum()  # Kish's effective sample size of the weighting
        return loss, {"policy_loss": loss.detach(), "max_weight": weights.max().detach(), "effective_samples": effective.detach()}


@hookimpl
def register_objectives(register):
    register(RewardWeightedRegression)
