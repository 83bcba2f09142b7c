"""The gsde policy head (generalized state-dependent exploration, Raffin et al. 2022): its law against the formula
by plain loops, the noise's scale training the log std but not the torso, and the collector holding each env's
exploration matrix for a batch or for resample_every steps."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgkit.builtins.policy_heads.gaussian import GSDE
from pgkit.envs import EnvSettings, make_vector_env
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent

REGISTRY = build_registry(entry_points=False)
STILL_ID = "pgkit-test/Still-v0"
BOX = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)


class Still(gym.Env):
    """The same observation at every step; a wide action box, so actions reach the env as drawn."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(-1e3, 1e3, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([0.5, -0.2, 0.9], np.float32), {}

    def step(self, action):
        return np.array([0.5, -0.2, 0.9], np.float32), 0.0, False, False, {}


if STILL_ID not in gym.registry:
    gym.register(STILL_ID, entry_point=Still, max_episode_steps=1000)


def test_log_prob_and_entropy_are_those_of_the_state_dependent_gaussian():
    torch.manual_seed(0)
    module = GSDE(log_std_init=-0.5).build(4, BOX)
    with torch.no_grad():
        module.log_std.add_(0.3 * torch.randn_like(module.log_std))
    features, actions = torch.randn(6, 4), torch.randn(6, 2)
    with torch.no_grad():
        distribution = module(features)
        for b in range(6):
            mean = module.mean(features[b])
            log_prob, entropy = 0.0, 0.0
            for j in range(2):
                variance = sum(features[b, i] ** 2 * math.exp(2 * module.log_std[i, j].item()) for i in range(4)) + 1e-6
                log_prob += -0.5 * (actions[b, j] - mean[j]) ** 2 / variance - 0.5 * math.log(2 * math.pi * variance)
                entropy += 0.5 * math.log(2 * math.pi * math.e * variance)
            assert distribution.log_prob(actions)[b].item() == pytest.approx(float(log_prob), rel=1e-5)
            assert distribution.entropy()[b].item() == pytest.approx(float(entropy), rel=1e-5)


def test_the_noise_scale_trains_the_log_std_and_not_the_torso():
    module = GSDE().build(4, BOX)
    with torch.no_grad():
        module.mean.weight.zero_()  # the mean no longer reads the features: any gradient to them came through sigma(s)
    features = torch.randn(6, 4, requires_grad=True)
    module(features).log_prob(torch.randn(6, 2)).sum().backward()
    assert features.grad is not None and torch.all(features.grad == 0)
    assert module.log_std.grad is not None and module.log_std.grad.abs().sum() > 0


def _actions(resample_every: int | None, batches: int = 2) -> list[torch.Tensor]:
    """Each batch's actions [T=8, N=2, 2] on the still env, from gsde with ``resample_every`` (None: the gaussian head)."""
    head = {"type": "gaussian"} if resample_every is None else {"type": "gsde", "resample_every": resample_every}
    recipe = resolve({"seed": 0, "env": {"id": STILL_ID, "num_envs": 2}, "network": {"type": "mlp", "hidden_sizes": [8]},
                      "policy_head": head, "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam",
                      "trainer": {"type": "on_policy", "total_steps": 64, "steps_per_env": 8}}, REGISTRY, source="test")
    collector = RolloutCollector(make_vector_env(EnvSettings(id=STILL_ID, num_envs=2)), build_agent(recipe, REGISTRY), num_steps=8, seed=0)
    return [collector.collect().actions for _ in range(batches)]


def _runs(actions: torch.Tensor) -> list[int]:
    """Lengths of the runs of equal consecutive actions of env 0 (the same observation throughout: equal noise, equal action)."""
    runs = [1]
    for previous, current in zip(actions[:-1, 0], actions[1:, 0]):
        if torch.equal(previous, current):
            runs[-1] += 1
        else:
            runs.append(1)
    return runs


def test_the_collector_holds_each_envs_noise_for_a_batch_and_draws_it_again_for_the_next():
    first, second = _actions(resample_every=0)
    assert _runs(first) == [8] and _runs(second) == [8]
    assert not torch.equal(first[0, 0], second[0, 0])  # a new draw each batch
    assert not torch.equal(first[0, 0], first[0, 1])  # one matrix per env


def test_resample_every_draws_the_noise_again_within_the_batch():
    assert [_runs(batch) for batch in _actions(resample_every=3)] == [[3, 3, 2], [3, 3, 2]]
    assert _runs(_actions(resample_every=None, batches=1)[0]) == [1] * 8  # the gaussian head draws afresh each step
