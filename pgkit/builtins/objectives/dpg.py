"""Objective ``dpg``: the deterministic policy gradient, -Q(s, mu(s))."""

from __future__ import annotations

from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.plugins.hookspecs import hookimpl
from pgkit.kinds import Objective


class DPG(Objective):
    """L = -mean_s Q_1(s, mu(s)); its gradient is E[grad_theta mu(s) grad_a Q(s, a)|a=mu(s)] (Silver et al. 2014).
    Off-policy: learns from replayed states. With twin_q, the first network is used (TD3)."""

    name = "dpg"
    needs_log_prob = False
    allows_reuse = True
    off_policy = True

    def incompatibility(self, combo) -> str | None:
        head = combo.get("policy_head")
        if head is not None and not head.deterministic:
            return f"needs a deterministic policy head (a = mu(s)), but policy_head is '{head.name}'"
        critic = combo.get("critic")
        if getattr(critic, "estimates", None) != "action_value":
            return "needs Q(s, a) from a critic; add `critic: {type: q}` or `critic: {type: twin_q}`"
        return super().incompatibility(combo)

    def loss(
        self, policy: nn.Module, batch: Batch, progress: float = 0.0, critic: nn.Module | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        q = critic(batch.obs, policy(batch.obs).rsample(), networks=1)[0].float()
        policy_loss = -q.mean()
        return policy_loss, {"policy_loss": policy_loss.item()}


@hookimpl
def register_objectives(register):
    register(DPG)
