"""An objective written as a plugin in this file: PPO with an adaptive KL penalty (Schulman et al. 2017).
It reads the policy that collected the batch (old_policy), takes the exact KL of the built-in heads from
torch.distributions.kl_divergence, adapts its beta after every batch, and resumes bit-exactly with it."""

from __future__ import annotations

import sys

import pytest
import torch
from pydantic import Field
from torch.distributions import kl_divergence

from pgkit import Batch, Spec, hookimpl
from pgkit.kinds import LossContext, Objective
from pgkit.kinds.capabilities import KL, LOG_PROB, OLD_POLICY, ON_POLICY_BATCHES
from pgkit.recipe import resolve
from pgkit.runtime.training import train
from pgkit.testing import check_objective, check_resume


class KLPenaltySpec(Spec):
    target_kl: float = Field(0.01, gt=0, description="d_targ: the KL per batch that beta is adapted toward.")
    initial_beta: float = Field(1.0, gt=0, description="The penalty's weight before the first batch.")


class KLPenaltyPPO(Objective):
    """L = -mean[rho A] + beta mean KL(pi_old || pi); after each batch beta doubles if KL > 1.5 d_targ and
    halves if KL < d_targ / 1.5."""

    name = "ppo_kl_test"
    Spec = KLPenaltySpec
    requires = frozenset({LOG_PROB, KL, ON_POLICY_BATCHES, OLD_POLICY})

    def __init__(self, spec=None, **params):
        super().__init__(spec, **params)
        self.beta = self.spec.initial_beta

    def loss(self, batch: Batch, context: LossContext):
        distribution = context.policy(batch.obs)
        ratio = (distribution.log_prob(batch.actions) - batch.log_probs).exp()
        kl = kl_divergence(context.old_policy(batch.obs), distribution).mean()
        surrogate = (ratio * batch.advantages).mean()
        return -surrogate + self.beta * kl, {"policy_loss": -surrogate.item(), "kl": kl.item()}

    def end_batch(self, batch: Batch, context: LossContext):
        with torch.no_grad():
            kl = kl_divergence(context.old_policy(batch.obs), context.policy(batch.obs)).mean().item()
        if kl > 1.5 * self.spec.target_kl:
            self.beta *= 2
        elif kl < self.spec.target_kl / 1.5:
            self.beta /= 2
        return {"batch_kl": kl, "beta": self.beta}


@hookimpl
def register_objectives(register):
    register(KLPenaltyPPO)


def recipe(env: str, head: str) -> dict:
    return {
        "env": {"id": env, "num_envs": 4},
        "policy_head": head,
        "critic": "value",
        "advantage": {"type": "gae", "normalize": True},
        "objective": {"type": "ppo_kl_test", "target_kl": 0.003},
        "optimizer": {"type": "adam", "lr": 0.003},
        "trainer": {"type": "on_policy", "total_steps": 2048, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64},
        "logger": [],
    }


def test_meets_the_objective_contract():
    check_objective(KLPenaltyPPO)


HEADS = [("CartPole-v1", "categorical"), ("Pendulum-v1", "gaussian")]


@pytest.mark.parametrize("env, head", HEADS)
def test_adapts_beta_with_the_exact_kl_of_the_builtin_heads(pgkit_registry, env, head):
    registry = pgkit_registry(sys.modules[__name__], name="kl-penalty")
    agent, run = train(resolve(recipe(env, head), registry), registry=registry)
    objective = agent.components["objective"]
    assert objective.beta != objective.spec.initial_beta and run.last_metrics["beta"] == objective.beta
    assert 0 < run.last_metrics["batch_kl"] < 1


@pytest.mark.parametrize("env, head", HEADS)
def test_resumes_bit_exactly_with_its_beta(pgkit_registry, tmp_path, env, head):
    """The check compares every component's state: the beta adapted before the interruption and after."""
    check_resume(recipe(env, head), pgkit_registry(sys.modules[__name__], name="kl-penalty"), workdir=tmp_path)
