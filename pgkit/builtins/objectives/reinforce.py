"""Objective ``reinforce``: the score-function policy gradient, -E[log pi(a|s) * Phi]."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.kinds.component import Spec
from pgkit.plugins.hookspecs import hookimpl
from pgkit.kinds import Objective, entropy_bonus


class ReinforceSpec(Spec):
    entropy_coef: float = Field(0.0, ge=0, description="Weight of the entropy bonus subtracted from the loss.")


class Reinforce(Objective):
    """L = -mean_t[log pi(a_t|s_t) * Phi_t] - c_H * mean_t[H(pi(.|s_t))] (Williams 1992). Its gradient is
    the policy gradient only on data from the current policy, so one pass per batch."""

    name = "reinforce"
    Spec = ReinforceSpec

    def loss(
        self, policy: nn.Module, batch: Batch, progress: float = 0.0, critic: nn.Module | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        distribution = policy(batch.obs)
        policy_loss = -(distribution.log_prob(batch.actions) * batch.advantages).mean()
        bonus, entropy = entropy_bonus(distribution, self.spec.entropy_coef)
        return policy_loss - bonus, {"policy_loss": policy_loss.item(), "entropy": entropy}


@hookimpl
def register_objectives(register):
    register(Reinforce)
