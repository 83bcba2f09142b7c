"""Recurrent networks (lstm, gru): memory carried through collection, stored with the batch, re-run in the
loss from it, carried by evaluation and predict; refused where it cannot be carried."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import RECALL_ID
from pgkit.builtins.trainers.on_policy import OnPolicy
from pgkit.envs import EnvSettings, make_vector_env
from pgkit.errors import CompatibilityError
from pgkit.kinds.agent import Agent
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import train


def recurrent_recipe(registry, network: str = "lstm", shared_torso: bool = False, **trainer):
    return resolve(
        {
            "seed": 0,
            "env": {"id": RECALL_ID, "num_envs": 4},
            "network": {"type": network, "hidden_size": 16, "head_sizes": [16]},
            "policy_head": "categorical",
            "critic": {"type": "value", "shared_torso": shared_torso},
            "baseline": "none",
            "advantage": {"type": "gae", "gamma": 0.9, "lam": 0.9, "normalize": True},
            "objective": "ppo_clip",
            "optimizer": {"type": "adam", "lr": 0.003},
            "trainer": {"type": "on_policy", "total_steps": 1024, "steps_per_env": 16, "epochs": 4, "minibatch_size": 32, **trainer},
            "logger": [],
        },
        registry,
    )


def collected(registry, network: str, shared_torso: bool):
    recipe = recurrent_recipe(registry, network, shared_torso)
    env = gym.make(RECALL_ID)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    collector = RolloutCollector(make_vector_env(EnvSettings(id=RECALL_ID, num_envs=4)), agent, num_steps=7, seed=0)
    collector.collect()  # the second batch starts from carried memory, mid-episode
    return agent, collector.collect()


@pytest.mark.parametrize("network, shared_torso", [("lstm", False), ("gru", True)])
def test_the_loss_re_runs_the_recurrence_that_collected_the_batch(registry, network, shared_torso):
    """From the memory stored at each column's first step, with the state zeroed at episode starts, the
    policy and critic give the collection's log-probabilities and values, on the whole batch and on
    minibatches of whole env columns."""
    agent, batch = collected(registry, network, shared_torso)
    assert batch.memory.shape == (7, 4, agent.memory_size) and batch.starts[1:].any()
    OnPolicy._fill_values(SimpleNamespace(agent=agent), batch)
    flat = batch.flatten()
    minibatches = list(flat.minibatches(14, torch.Generator().manual_seed(0)))
    assert [m.columns for m in minibatches] == [2, 2]
    for part in [flat, *minibatches]:
        with torch.no_grad(), agent.torso_once(), agent.sequences_of(part):
            log_probs = agent.policy(part.obs).log_prob(part.actions)
            values = agent.critic(part.obs)
        torch.testing.assert_close(log_probs, part.log_probs)
        torch.testing.assert_close(values, part.values)
    ended = batch.terminated | batch.truncated
    ended[-1] = True
    with torch.no_grad(), agent.sequences(batch.next_memory[ended], torch.zeros(1, int(ended.sum()), dtype=torch.bool)):
        torch.testing.assert_close(batch.next_values[ended], agent.critic(batch.next_obs[ended]))


def test_predict_carries_the_state_and_zeroes_it_at_episode_starts(registry):
    agent, _ = collected(registry, "lstm", False)
    obs = np.random.default_rng(0).random((5, 3, 2), dtype=np.float32)
    starts = np.zeros((5, 3), dtype=bool)
    starts[0] = starts[3, 1] = True
    state, stepped = None, []
    for t in range(5):
        actions, state = agent.predict(obs[t], state, episode_start=starts[t], deterministic=True)
        stepped.append(actions)
    with torch.no_grad(), agent.sequences(agent.initial_memory(3), torch.as_tensor(starts)):
        expected = agent.policy(torch.as_tensor(obs).reshape(15, 2)).mode.view(5, 3)
    assert np.array_equal(np.stack(stepped), expected.numpy())
    assert state.shape == (3, agent.memory_size)


@pytest.mark.parametrize("network", ["lstm", "gru"])
def test_a_recurrent_policy_learns_what_a_memoryless_one_cannot(registry, network):
    """Recall: the cue is seen at the first step only and the last action must name it. Seed 0,
    12,288 steps: the recurrent policy's greedy evaluation must earn >= 0.9 per episode over 200
    episodes, where any memoryless policy earns 0.5 in expectation (std 0.035 over 200 episodes); the
    mlp, trained alike, stays below 0.7."""
    recipe = recurrent_recipe(registry, network, total_steps=12_288)
    agent, _ = train(recipe, registry=registry)
    assert evaluate(agent, EnvSettings(id=RECALL_ID), episodes=200, seed=1).mean >= 0.9
    if network == "lstm":
        document = recipe.to_dict()
        mlp = resolve({**document, "network": {"type": "mlp", "hidden_sizes": [16, 16]}}, registry)
        memoryless, _ = train(mlp, registry=registry)
        assert evaluate(memoryless, EnvSettings(id=RECALL_ID), episodes=200, seed=1).mean < 0.7


def test_where_memory_cannot_be_carried_the_recipe_is_refused(registry):
    """(Off-policy: tests/test_recurrent_off_policy.py.)"""
    document = {**recurrent_recipe(registry).to_dict(), "objective": "trpo"}
    with pytest.raises(CompatibilityError, match="objective trpo's old_policy"):
        check_compatibility(resolve(document, registry), registry)


def test_an_export_of_a_policy_with_memory_is_refused_with_the_way_to_deploy_it(registry, tmp_path):
    from pgkit.errors import PgkitError
    from pgkit.runtime.export import export_policy

    agent, _ = collected(registry, "gru", False)
    with pytest.raises(PgkitError, match=r"predict\(obs, state, episode_start\)"):
        export_policy(agent, tmp_path / "policy.onnx", "onnx")


def test_the_collectors_memory_is_saved_and_restored(registry):
    """A resume continues from the memory each env had (the resume contract checks whole runs)."""
    recipe = recurrent_recipe(registry)
    env = gym.make(RECALL_ID)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    collector = RolloutCollector(make_vector_env(EnvSettings(id=RECALL_ID, num_envs=4)), agent, num_steps=5, seed=0)
    collector.collect()
    state = collector.state_dict()
    assert torch.equal(state["memory"], collector.memory) and collector.memory.abs().sum() > 0
    other = RolloutCollector(make_vector_env(EnvSettings(id=RECALL_ID, num_envs=4)), agent, num_steps=5, seed=1)
    other.load_state_dict(state)
    assert torch.equal(other.memory, collector.memory) and np.array_equal(other.starts, collector.starts)
