"""Objective ``reinforce``: the score-function policy gradient, -E[log pi(a|s) * Phi]."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import LossContext, Metrics, Objective, entropy_bonus
from pgkit.kinds.capabilities import ENTROPY, LOG_PROB, ON_POLICY_BATCHES, SINGLE_PASS, Capability


class ReinforceSpec(Spec):
    entropy_coef: float = Field(0.0, ge=0, description="Weight of the entropy bonus subtracted from the loss.")


class Reinforce(Objective):
    """L = -mean_t[log pi(a_t|s_t) * Phi_t] - c_H * mean_t[H(pi(.|s_t))] (Williams 1992); one pass per batch,
    as its gradient is the policy gradient only on data from the current policy."""

    name = "reinforce"
    Spec = ReinforceSpec

    @property
    def requires(self) -> frozenset[Capability]:
        return frozenset({LOG_PROB, ON_POLICY_BATCHES, SINGLE_PASS} | ({ENTROPY} if self.spec.entropy_coef > 0 else set()))

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        distribution = context.policy(batch.obs)
        policy_loss = -(distribution.log_prob(batch.actions) * batch.advantages).mean()
        bonus, entropy = entropy_bonus(distribution, self.spec.entropy_coef)
        return policy_loss - bonus, {"policy_loss": policy_loss.detach(), "entropy": entropy}


@hookimpl
def register_objectives(register):
    register(Reinforce)
