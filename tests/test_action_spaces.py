"""MultiBinary and MultiDiscrete action spaces: the bernoulli and multi_categorical heads learn the
matching task of conftest.MatchingEnv (pay the fraction of action dimensions equal to the shown target).

A random policy earns 1/2 per step with 4 buttons and (1/3 + 1/4 + 1/5) / 3 = 0.26 with dials of 3, 4
and 5 positions; a policy that reads the target earns 1. With PPO (seed 0) the eval return per step
must get at least halfway from random to perfect: seeds 0-3 reached 0.88-0.96 with buttons after 6,144
steps and seeds 0-2 0.81-0.83 with dials after 16,384 (the dials' positions must be read off one scaled
number each), so the margin holds across seeds, and a head that ignored the target would stay at random."""

from __future__ import annotations

import pytest

import pgkit
from pgkit.envs import EnvSettings
from pgkit.runtime.evaluation import evaluate

RANDOM = {"bernoulli": 0.5, "multi_categorical": (1 / 3 + 1 / 4 + 1 / 5) / 3}
EPISODE_STEPS = 16


@pytest.mark.parametrize("head, env_id, steps", [("bernoulli", "pgkit-test/Buttons-v0", 6144), ("multi_categorical", "pgkit-test/Dials-v0", 16384)])
def test_the_head_learns_to_match_the_target(head, env_id, steps):
    recipe = {
        "env": {"id": env_id, "num_envs": 4}, "policy_head": head, "critic": "value", "advantage": {"type": "gae", "normalize": True},
        "objective": "ppo_clip", "optimizer": {"type": "adam", "lr": 0.003},
        "trainer": {"type": "on_policy", "total_steps": steps, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64}, "logger": [],
    }
    agent = pgkit.train(recipe)
    per_step = evaluate(agent, EnvSettings(id=env_id), episodes=10).mean / EPISODE_STEPS
    assert per_step >= RANDOM[head] + 0.5 * (1 - RANDOM[head]), per_step
    actions, _ = agent.predict(agent.observation_space.sample())
    assert agent.action_space.contains(actions)
