"""Objective ``ppo_kl``: PPO with an adaptive KL penalty instead of clipping."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import kl_divergence

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import LossContext, Metrics, Objective, entropy_bonus
from pgkit.kinds.capabilities import ENTROPY, KL, LOG_PROB, OLD_POLICY, ON_POLICY_BATCHES, Capability


class PPOKLSpec(Spec):
    target_kl: float = Field(0.01, gt=0, description="d_targ: the mean KL(pi_old || pi) per batch that beta is adapted toward.")
    initial_beta: float = Field(1.0, gt=0, description="The penalty's weight beta before the first batch.")
    entropy_coef: float = Field(0.0, ge=0, description="Weight of the entropy bonus subtracted from the loss.")


class PPOKL(Objective):
    """PPO with an adaptive KL penalty (Schulman et al. 2017): L = -mean[rho A] + beta mean KL(pi_old || pi)
    - c_H mean H, rho = pi(a|s) / pi_old(a|s), with the head's exact KL. After each batch, with d its mean
    KL: beta /= 2 if d < d_targ / 1.5, beta *= 2 if d > 1.5 d_targ (beta is checkpointed with the run)."""

    name = "ppo_kl"
    Spec = PPOKLSpec

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        super().__init__(spec, **params)
        self.beta = self.spec.initial_beta

    @property
    def requires(self) -> frozenset[Capability]:
        return frozenset({LOG_PROB, KL, OLD_POLICY, ON_POLICY_BATCHES} | ({ENTROPY} if self.spec.entropy_coef > 0 else set()))

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        distribution = context.policy(batch.obs)
        ratio = (distribution.log_prob(batch.actions) - batch.log_probs).exp()
        with torch.no_grad():
            old = context.old_policy(batch.obs)
        kl = kl_divergence(old, distribution).mean()
        surrogate = (ratio * batch.advantages).mean()
        bonus, entropy = entropy_bonus(distribution, self.spec.entropy_coef)
        metrics = {"policy_loss": -surrogate.detach(), "kl": kl.detach(), "entropy": entropy}
        return -surrogate + self.beta * kl - bonus, metrics

    def end_batch(self, batch: Batch, context: LossContext) -> dict[str, float]:
        with torch.no_grad():
            kl = kl_divergence(context.old_policy(batch.obs), context.policy(batch.obs)).mean().item()
        if kl < self.spec.target_kl / 1.5:
            self.beta /= 2
        elif kl > 1.5 * self.spec.target_kl:
            self.beta *= 2
        return {"batch_kl": kl, "beta": self.beta}


@hookimpl
def register_objectives(register):
    register(PPOKL)
