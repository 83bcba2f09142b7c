"""Advantage ``vtrace``: IMPALA's off-policy correction for batches a lagging behaviour policy collected."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.functional import vtrace
from pgkit.kinds import Advantage, DiscountedSpec
from pgkit.kinds.capabilities import LAG_CORRECTION, LEARNER_LOG_PROBS, STATE_VALUE


class VTraceSpec(DiscountedSpec):
    lam: float = Field(1.0, ge=0, le=1, description="lambda of the traces c_t = lambda min(c_bar, pi/mu) (IMPALA: 1).")
    rho_bar: float | None = Field(
        1.0, gt=0, description="Truncation of rho_t = min(rho_bar, pi/mu), the weight of each TD error and of the policy gradient: "
        "the targets' fixed point is the value of the policy proportional to min(rho_bar mu, pi) (pi itself when rho_bar is null: no "
        "truncation, unbiased, with the variance of importance sampling).",
    )
    c_bar: float | None = Field(
        1.0, gt=0, description="Truncation of the traces c_t = lambda min(c_bar, pi/mu): lower variance, slower contraction; it does not "
        "move the fixed point. null: not truncated.",
    )
    importance_weight: bool = Field(
        True, description="Multiply the policy-gradient advantage by rho_t (IMPALA's gradient, for objectives whose loss is "
        "log pi(a|s) * Phi: reinforce). Off for objectives whose surrogate holds the ratio to the behaviour policy itself "
        "(ppo_clip, whose ratio is pi / mu under asynchronous collection: APPO).",
    )


class VTrace(Advantage):
    """V-trace (Espeholt et al. 2018): critic targets v_t = V(s_t) + sum_k gamma^k (prod_{i<k} c_{t+i}) rho_{t+k} delta_{t+k}
    and Phi_t = rho_t (r_t + gamma v_{t+1} - V(s_t)), with rho and c the truncated ratios pi/mu between the learner's
    policy (Batch.learner_log_probs) and the one that acted (Batch.log_probs). On batches of the learner's own policy
    (pi = mu) it is GAE(lambda)."""

    name = "vtrace"
    Spec = VTraceSpec
    provides = frozenset({LAG_CORRECTION})
    requires = frozenset({STATE_VALUE, LEARNER_LOG_PROBS})

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        s = self.spec
        log_ratios = batch.learner_log_probs - batch.log_probs
        if batch.alive is not None:  # an idle column's step was no agent's action: no ratio to correct
            log_ratios = log_ratios.masked_fill(~batch.alive, 0.0)
        targets, advantages, rho = vtrace(
            batch.rewards, batch.terminated, batch.truncated, batch.values, batch.next_values, log_ratios, s.gamma, s.lam, s.rho_bar, s.c_bar
        )
        return (rho * advantages if s.importance_weight else advantages), targets


@hookimpl
def register_advantages(register):
    register(VTrace)
