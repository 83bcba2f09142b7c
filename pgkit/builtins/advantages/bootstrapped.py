"""Advantages ``td``, ``n_step`` and ``gae``: bootstrapped from the critic's V(s)."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.functional import generalized_advantage, n_step_return, td_residuals
from pgkit.kinds import Advantage, DiscountedSpec
from pgkit.kinds.capabilities import STATE_VALUE


class Bootstrapped(Advantage):
    """Estimators built on the critic's V(s) everywhere: they need a state-value critic and subtract no baseline."""

    provides = frozenset()
    requires = frozenset({STATE_VALUE})


class TD(Bootstrapped):
    """One-step actor-critic: Phi_t = delta_t = r_t + gamma V(s_{t+1}) - V(s_t); critic target r_t + gamma V(s_{t+1})."""

    name = "td"
    Spec = DiscountedSpec

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        advantages = td_residuals(batch.rewards, batch.terminated, batch.values, batch.next_values, self.spec.gamma)
        return advantages, advantages + batch.values


class NStepSpec(DiscountedSpec):
    n: int = Field(5, ge=1, description="Rewards summed before bootstrapping from V (1 is td).")


class NStep(Bootstrapped):
    """Phi_t = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n}) - V(s_t), cut at episode and batch ends (A3C's estimator)."""

    name = "n_step"
    Spec = NStepSpec

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        s = self.spec
        returns = n_step_return(batch.rewards, batch.terminated, batch.truncated, batch.next_values, s.gamma, s.n)
        return returns - batch.values, returns


class GAESpec(DiscountedSpec):
    lam: float = Field(0.95, ge=0, le=1, description="GAE's lambda: 0 is td (low variance, biased), 1 is reward-to-go minus V.")


class GAE(Bootstrapped):
    """Generalized advantage estimation (Schulman et al. 2015): Phi_t = sum_k (gamma lam)^k delta_{t+k};
    critic target Phi_t + V(s_t) (the TD(lambda) return)."""

    name = "gae"
    Spec = GAESpec

    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        s = self.spec
        advantages = generalized_advantage(
            batch.rewards, batch.terminated, batch.truncated, batch.values, batch.next_values, s.gamma, s.lam
        )
        return advantages, advantages + batch.values


@hookimpl
def register_advantages(register):
    register(TD)
    register(NStep)
    register(GAE)
