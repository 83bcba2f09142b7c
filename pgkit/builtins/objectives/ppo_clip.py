"""Objective ``ppo_clip``: PPO's clipped surrogate (Schulman et al. 2017)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, Spec, hookimpl
from pgkit.functional import Schedule, scheduled, standardized
from pgkit.kinds import LossContext, Metrics, Objective, entropy_bonus
from pgkit.kinds.capabilities import ENTROPY, LOG_PROB, ON_POLICY_BATCHES, Capability


class PPOClipSpec(Spec):
    clip_range: float = Field(0.2, gt=0, description="epsilon: the probability ratio is clipped to [1 - epsilon, 1 + epsilon].")
    clip_schedule: Schedule = Field("constant", description="constant, or linear decay of clip_range to 0 over training.")
    entropy_coef: float = Field(0.0, ge=0, description="Weight of the entropy bonus subtracted from the loss.")
    target_kl: float | None = Field(
        None, gt=0, description="Stop the epochs over a batch once approx_kl exceeds 1.5 * target_kl; null: never."
    )
    normalize_advantages: bool = Field(
        False, description="Standardize the advantages of each minibatch (SB3's and CleanRL's normalize_advantage), on top of "
        "the advantage slot's per-batch normalize; false: use them as the advantage slot gave them."
    )


class PPOClip(Objective):
    """L = -mean[min(rho A, clip(rho, 1 - eps, 1 + eps) A)] - c_H * mean[H], rho = pi(a|s) / pi_old(a|s).
    Clipping removes the incentive to move the ratio far from 1, so several epochs may reuse a batch."""

    name = "ppo_clip"
    Spec = PPOClipSpec

    @property
    def requires(self) -> frozenset[Capability]:
        return frozenset({LOG_PROB, ON_POLICY_BATCHES} | ({ENTROPY} if self.spec.entropy_coef > 0 else set()))

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        clip = scheduled(self.spec.clip_range, self.spec.clip_schedule, context.progress)
        distribution = context.policy(batch.obs)
        log_ratio = distribution.log_prob(batch.actions) - batch.log_probs
        ratio = log_ratio.exp()
        advantages = standardized(batch.advantages) if self.spec.normalize_advantages else batch.advantages
        surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
        policy_loss = -surrogate.mean()
        bonus, entropy = entropy_bonus(distribution, self.spec.entropy_coef)
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()  # KL(old || new) estimator, always >= 0
            clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        metrics = {"policy_loss": policy_loss.detach(), "entropy": entropy, "approx_kl": approx_kl, "clip_fraction": clip_fraction, "clip_range": clip}
        return policy_loss - bonus, metrics

    def stop_early(self, metrics: dict[str, float]) -> bool:
        return self.spec.target_kl is not None and metrics["approx_kl"] > 1.5 * self.spec.target_kl


@hookimpl
def register_objectives(register):
    register(PPOClip)
