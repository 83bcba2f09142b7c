"""A component that returns the wrong shape fails at the boundary where pgkit receives it, with a
message naming the component, its plugin, the expected and the actual shape (no traceback deep inside
a trainer)."""

from __future__ import annotations

import sys

import pytest
import torch

from conftest import UnsummedGaussian
from pgkit import hookimpl
from pgkit.builtins.advantages.reward_to_go import RewardToGo
from pgkit.builtins.baselines.mean_return import MeanReturn
from pgkit.builtins.critics.q import Q
from pgkit.builtins.critics.value import Value, ValueFunction
from pgkit.builtins.objectives.reinforce import Reinforce
from pgkit.errors import ComponentError
from pgkit.recipe import resolve
from pgkit.runtime.training import train


class FlatAdvantage(RewardToGo):
    """Returns advantages flattened to [T * N] (broken)."""

    name = "flat_advantage"

    def compute(self, batch, baseline):
        advantages, returns = super().compute(batch, baseline)
        return advantages.flatten(), returns


class ColumnBaseline(MeanReturn):
    """Returns b(s) as [T, N, 1] (broken)."""

    name = "column_baseline"

    def __call__(self, batch):
        return super().__call__(batch).unsqueeze(-1)


class ColumnValue(Value):
    """V(s) as [B, 1] (broken)."""

    name = "column_value"

    def build(self, network, observation_space, action_space, policy_torso):
        module = super().build(network, observation_space, action_space, policy_torso)
        return _Unsqueezed(module)


class _Unsqueezed(torch.nn.Module):
    def __init__(self, module: ValueFunction):
        super().__init__()
        self.module = module

    def forward(self, obs):
        return self.module(obs).unsqueeze(-1)


class VectorLoss(Reinforce):
    """Returns one loss per transition instead of their mean (broken)."""

    name = "vector_loss"

    def loss(self, batch, context):
        distribution = context.policy(batch.obs)
        return -(distribution.log_prob(batch.actions) * batch.advantages), {}


class SingleQ(Q):
    """Q(s, a) as [B] without the ensemble axis (broken)."""

    name = "single_q"

    def build(self, network, observation_space, action_space, policy_torso):
        ensemble = super().build(network, observation_space, action_space, policy_torso)
        original = ensemble.forward
        ensemble.forward = lambda obs, action, networks=None: original(obs, action, networks)[0]
        return ensemble


@hookimpl
def register_advantages(register):
    register(FlatAdvantage)


@hookimpl
def register_baselines(register):
    register(ColumnBaseline)


@hookimpl
def register_critics(register):
    register(ColumnValue)
    register(SingleQ)


@hookimpl
def register_policy_heads(register):
    register(UnsummedGaussian)


@hookimpl
def register_objectives(register):
    register(VectorLoss)


ON_POLICY = {
    "env": {"id": "CartPole-v1", "num_envs": 2},
    "policy_head": "categorical",
    "advantage": "reward_to_go",
    "objective": "reinforce",
    "optimizer": "adam",
    "trainer": {"type": "on_policy", "total_steps": 64, "steps_per_env": 8},
    "logger": [],
}
OFF_POLICY = {
    "env": {"id": "Pendulum-v1"},
    "policy_head": "deterministic",
    "critic": "single_q",
    "objective": "dpg",
    "optimizer": "adam",
    "trainer": {"type": "off_policy", "total_steps": 64, "learning_starts": 16, "batch_size": 16, "buffer_size": 64},
    "logger": [],
}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"advantage": "flat_advantage"}, "advantage 'flat_advantage' (plugin broken 0) returned advantages of shape (16,); expected (8, 2) ([T, N], like batch.rewards)"),
        ({"baseline": "column_baseline"}, "baseline 'column_baseline' (plugin broken 0) returned b(s) of shape (8, 2, 1); expected (8, 2)"),
        ({"critic": "column_value"}, "critic 'column_value' (plugin broken 0) returned V(s) of shape (18, 1); expected (18,) ([B]: one value per observation)"),
        ({"env": {"id": "Pendulum-v1", "num_envs": 2}, "policy_head": "unsummed_gaussian"},
         "policy_head 'unsummed_gaussian' (plugin broken 0) returned log_prob of shape (8, 2, 1); expected (8, 2)"),
        ({"objective": "vector_loss"}, "objective 'vector_loss' (plugin broken 0) returned loss of shape (16,); expected () (a scalar)"),
    ],
    ids=["advantage", "baseline", "value", "log_prob", "loss"],
)
def test_a_wrong_shape_names_the_component(pgkit_registry, changes, message):
    registry = pgkit_registry(sys.modules[__name__], name="broken")
    with pytest.raises(ComponentError) as info:
        train(resolve({**ON_POLICY, **changes}, registry), registry=registry)
    assert message in str(info.value)


def test_a_q_critic_without_the_ensemble_axis_is_caught_before_training(pgkit_registry):
    registry = pgkit_registry(sys.modules[__name__], name="broken")
    with pytest.raises(ComponentError, match=r"critic 'single_q' \(plugin broken 0\) returned Q\(s, a\) of shape \(1,\); expected \(1, 1\) \(\[K, B\]"):
        train(resolve(OFF_POLICY, registry), registry=registry)
