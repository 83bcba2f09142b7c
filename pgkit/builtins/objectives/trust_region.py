"""Objectives ``trpo`` and ``natural_gradient``: one natural-gradient step per batch in a KL trust region,
taken by the objective itself (the trainer then fits the critic with its own regression steps)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import kl_divergence
from torch.nn.utils import parameters_to_vector

from pgkit import Batch, Spec, hookimpl
from pgkit.functional import backtracking_line_search, conjugate_gradient, flat_gradient, hessian_vector_product, trust_region_step
from pgkit.kinds import LossContext, Objective
from pgkit.kinds.capabilities import KL, LOG_PROB, OLD_POLICY, ON_POLICY_BATCHES, OWN_POLICY_STEP


class NaturalGradientSpec(Spec):
    max_kl: float = Field(0.01, gt=0, description="delta: the step is scaled so that its quadratic KL estimate is delta.")
    cg_iterations: int = Field(15, ge=1, description="Conjugate-gradient iterations solving F x = g.")
    cg_damping: float = Field(0.1, ge=0, description="Added to F's diagonal (F + damping I) for a stable solve.")


class TRPOSpec(NaturalGradientSpec):
    line_search_iterations: int = Field(10, ge=1, description="Backtracking tries before the step is dropped.")
    line_search_shrink: float = Field(0.8, gt=0, lt=1, description="Each backtracking try shrinks the step by this factor.")


class NaturalGradient(Objective):
    """Natural policy gradient with a normalized step (Kakade 2002; Rajeswaran et al. 2017): x = F^-1 g by
    conjugate gradient on Fisher-vector products, theta <- theta + sqrt(2 delta / x^T F x) x, where g is the
    gradient of the surrogate mean[pi(a|s) / pi_old(a|s) A] and F the Hessian of mean KL(pi_old || pi)."""

    name = "natural_gradient"
    Spec = NaturalGradientSpec
    provides = frozenset({OWN_POLICY_STEP})
    requires = frozenset({LOG_PROB, KL, OLD_POLICY, ON_POLICY_BATCHES})

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, dict[str, float]]:
        """Minus the surrogate mean[rho A], rho = pi(a|s) / pi_old(a|s): its gradient is the policy gradient."""
        surrogate = self._surrogate(context.policy, batch)
        return -surrogate, {"policy_loss": -surrogate.item()}

    def step(self, batch: Batch, context: LossContext) -> dict[str, float]:
        policy, spec = context.policy, self.spec
        parameters = [p for p in policy.parameters() if p.requires_grad]
        with torch.no_grad():
            old = context.old_policy(batch.obs)
        surrogate = self._surrogate(policy, batch)
        gradient = flat_gradient(surrogate, parameters, retain_graph=True)
        kl_gradient = flat_gradient(kl_divergence(old, policy(batch.obs)).mean(), parameters, create_graph=True)

        def fisher(vector: Tensor) -> Tensor:
            return hessian_vector_product(kl_gradient, parameters, vector, spec.cg_damping)

        direction = conjugate_gradient(fisher, gradient, spec.cg_iterations)
        full_step = trust_region_step(direction, fisher(direction), spec.max_kl)
        start = parameters_to_vector(parameters).detach()
        metrics = self._apply(policy, parameters, start, full_step, old, batch, surrogate.item())
        return {"policy_loss": -surrogate.item(), "grad_norm": gradient.norm().item(), **metrics}

    def _apply(self, policy, parameters, start: Tensor, full_step: Tensor, old, batch: Batch, before: float) -> dict[str, float]:
        """Take the full step; returns the metrics after it."""
        _set(parameters, start + full_step)
        improvement, kl = _evaluate(policy, old, batch, before)
        return {"kl": kl, "improvement": improvement}

    @staticmethod
    def _surrogate(policy, batch: Batch) -> Tensor:
        ratio = (policy(batch.obs).log_prob(batch.actions) - batch.log_probs).exp()
        return (ratio * batch.advantages).mean()


class TRPO(NaturalGradient):
    """Trust region policy optimization (Schulman et al. 2015): the natural-gradient step, then a
    backtracking line search that keeps the first fraction 0.8^i of it that improves the surrogate with
    mean KL(pi_old || pi) <= delta, or no step at all, so no accepted step leaves the trust region."""

    name = "trpo"
    Spec = TRPOSpec

    def _apply(self, policy, parameters, start: Tensor, full_step: Tensor, old, batch: Batch, before: float) -> dict[str, float]:
        found: dict[str, float] = {}

        def evaluate(fraction: float) -> tuple[float, float]:
            _set(parameters, start + fraction * full_step)
            improvement, kl = _evaluate(policy, old, batch, before)
            found.update(kl=kl, improvement=improvement)
            return improvement, kl

        result = backtracking_line_search(evaluate, self.spec.max_kl, self.spec.line_search_shrink, self.spec.line_search_iterations)
        if result is None:
            _set(parameters, start)
            return {"kl": 0.0, "improvement": 0.0, "line_search_accepted": 0.0, "step_fraction": 0.0}
        fraction, _ = result
        return {**found, "line_search_accepted": 1.0, "step_fraction": fraction}


@torch.no_grad()
def _evaluate(policy, old, batch: Batch, before: float) -> tuple[float, float]:
    """(surrogate improvement over ``before``, mean KL(pi_old || pi)) at the policy's current parameters."""
    distribution = policy(batch.obs)
    ratio = (distribution.log_prob(batch.actions) - batch.log_probs).exp()
    return (ratio * batch.advantages).mean().item() - before, kl_divergence(old, distribution).mean().item()


@torch.no_grad()
def _set(parameters, vector: Tensor) -> None:
    """Copy ``vector`` into the parameters in place (their tensors stay the same objects)."""
    offset = 0
    for p in parameters:
        p.copy_(vector[offset : offset + p.numel()].view_as(p))
        offset += p.numel()


@hookimpl
def register_objectives(register):
    register(NaturalGradient)
    register(TRPO)
