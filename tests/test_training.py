"""Training end to end: rollouts keep terminated and truncated apart, runs are reproducible."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import COUNTER_ID
from pgkit.kinds.agent import Agent
from pgkit.envs import EnvSettings, make_vector_env
from pgkit.runtime.evaluation import evaluate
from pgkit.recipe import resolve
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent, train


def counter_agent(registry):
    recipe = resolve(
        {"env": {"id": COUNTER_ID}, "policy_head": "categorical", "advantage": "reward_to_go", "objective": "reinforce", "optimizer": "adam"},
        registry,
    )
    env = gym.make(COUNTER_ID)
    return Agent.build(recipe.instantiate(), env.observation_space, env.action_space)


@pytest.mark.parametrize("terminate_at, flag", [(1000, "truncated"), (2, "terminated")])
def test_rollout_keeps_final_observation_and_flags(registry, terminate_at, flag):
    """Counter episodes end after 3 steps (time limit) or 2 (termination); next_obs must hold the
    true final observation, and the following obs the next episode's first."""
    agent = counter_agent(registry)
    envs = make_vector_env(EnvSettings(id=COUNTER_ID, num_envs=2, kwargs={"terminate_at": terminate_at}))
    batch = RolloutCollector(envs, agent, num_steps=7, seed=0).collect()
    length = min(terminate_at, 3)
    ends = [t for t in range(7) if (t + 1) % length == 0]
    assert batch.terminated[:, 0].nonzero().flatten().tolist() == (ends if flag == "terminated" else [])
    assert batch.truncated[:, 0].nonzero().flatten().tolist() == (ends if flag == "truncated" else [])
    for t in ends:
        assert batch.next_obs[t, 0, 0] == length  # the true final observation, not the reset one
        assert batch.next_obs[t, 0, 1] == batch.obs[t, 0, 1]  # ... of the same episode
        if t + 1 < 7:
            assert batch.obs[t + 1, 0].tolist() == [0, batch.obs[t, 0, 1] + 1]  # next episode starts
    assert torch.equal(batch.next_obs[:, :, 0], batch.obs[:, :, 0] + 1)  # every transition is real
    assert torch.equal(batch.rewards, 1.0 + batch.actions.float())


def test_prior_rewards_carry_across_batches(registry):
    agent = counter_agent(registry)
    envs = make_vector_env(EnvSettings(id=COUNTER_ID, num_envs=1))
    collector = RolloutCollector(envs, agent, num_steps=2, seed=0)
    first = collector.collect()  # steps 1-2 of the first 3-step episode
    second = collector.collect()
    assert second.prior_rewards.item() == pytest.approx(first.rewards.sum().item())


def small_recipe(registry, seed: int, **trainer):
    return resolve(
        {
            "seed": seed,
            "env": {"id": "CartPole-v1", "num_envs": 2},
            "policy_head": "categorical",
            "critic": "value",
            "baseline": "critic",
            "advantage": {"type": "discounted_reward_to_go", "normalize": True},
            "objective": "reinforce",
            "optimizer": {"type": "adam", "lr": 0.01},
            "trainer": {"type": "on_policy", "total_steps": 1024, "steps_per_env": 64, **trainer},
            "logger": [],
        },
        registry,
    )


def parameters_of(agent) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in agent.parameters()])


def test_same_seed_same_run(registry):
    first, run1 = train(small_recipe(registry, seed=3), registry=registry)
    second, run2 = train(small_recipe(registry, seed=3), registry=registry)
    assert run1.last_metrics == {**run2.last_metrics, "time": run1.last_metrics["time"], "steps_per_second": run1.last_metrics["steps_per_second"]}
    assert torch.equal(parameters_of(first), parameters_of(second))
    other, _ = train(small_recipe(registry, seed=4), registry=registry)
    assert not torch.equal(parameters_of(first), parameters_of(other))


def test_minibatches_and_training_change_parameters(registry):
    recipe = small_recipe(registry, seed=0, minibatch_size=32)
    agent, run = train(recipe, registry=registry)
    untrained = build_agent(recipe, registry)
    assert not torch.equal(parameters_of(agent), parameters_of(untrained))
    assert run.last_metrics["episodes"] > 0


def test_evaluate_is_deterministic_with_the_mode(registry):
    agent, _ = train(small_recipe(registry, seed=0), registry=registry)
    env = EnvSettings(id="CartPole-v1")
    first, second = evaluate(agent, env, episodes=3, seed=7), evaluate(agent, env, episodes=3, seed=7)
    assert first.returns == second.returns and len(first.returns) == 3
    assert all(r >= 1 for r in first.returns) and np.isfinite(first.mean)


def test_prior_steps_carry_across_batches(registry):
    agent = counter_agent(registry)
    envs = make_vector_env(EnvSettings(id=COUNTER_ID, num_envs=1))
    collector = RolloutCollector(envs, agent, num_steps=2, seed=0)
    collector.collect()  # steps 0 and 1 of a 3-step episode
    assert collector.collect().prior_steps.tolist() == [2]


@pytest.mark.parametrize("terminate_at, whole_episodes, shared_torso", [(1000, False, False), (2, False, True), (2, True, False), (1000, True, True)])
def test_values_collected_and_read_off_the_next_row_are_the_critics(registry, terminate_at, whole_episodes, shared_torso):
    """V(s_t) comes with each step's action where the critic shares the policy's torso (which runs once for
    both), else from one pass after collection; V(s_{t+1}) is taken from the next row's V(s) where an episode
    went on and computed from next_obs where it ended: either way they must equal the critic's values of obs
    and next_obs."""
    from types import SimpleNamespace

    from pgkit.builtins.trainers.on_policy import OnPolicy

    recipe = resolve(
        {"env": {"id": COUNTER_ID}, "policy_head": "categorical", "critic": {"type": "value", "shared_torso": shared_torso}, "baseline": "critic", "advantage": "gae",
         "objective": "reinforce", "optimizer": "adam"},
        registry,
    )
    env = gym.make(COUNTER_ID)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    envs = make_vector_env(EnvSettings(id=COUNTER_ID, num_envs=3, kwargs={"terminate_at": terminate_at}))
    batch = RolloutCollector(envs, agent, num_steps=7, seed=0, whole_episodes=whole_episodes).collect()
    assert (batch.values is not None) == shared_torso  # collected with the actions only where the pass is shared
    OnPolicy._fill_values(SimpleNamespace(agent=agent), batch)
    with torch.no_grad():
        expected_values = agent.critic(batch.obs.flatten(0, 1)).view_as(batch.rewards)
        expected_next = agent.critic(batch.next_obs.flatten(0, 1)).view_as(batch.rewards)
    torch.testing.assert_close(batch.values, expected_values)
    torch.testing.assert_close(batch.next_values, expected_next)
