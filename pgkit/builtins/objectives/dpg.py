"""Objective ``dpg``: the deterministic policy gradient, -Q(s, mu(s))."""

from __future__ import annotations

from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.kinds import LossContext, Metrics, Objective
from pgkit.kinds.capabilities import ACTION_VALUE, DETERMINISTIC_ACTIONS, REPLAYED_TRANSITIONS


class DPG(Objective):
    """L = -mean_s Q_1(s, mu(s)); its gradient is E[grad_theta mu(s) grad_a Q(s, a)|a=mu(s)] (Silver et al. 2014).
    Off-policy: learns from replayed states. With twin_q, the first network is used (TD3)."""

    name = "dpg"
    requires = frozenset({DETERMINISTIC_ACTIONS, ACTION_VALUE, REPLAYED_TRANSITIONS})

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        q = context.critic(batch.obs, context.policy(batch.obs).rsample(), networks=1)[0].float()
        policy_loss = -q.mean()
        return policy_loss, {"policy_loss": policy_loss.detach()}


@hookimpl
def register_objectives(register):
    register(DPG)
