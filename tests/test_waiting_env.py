"""``pgkit/Waiting-v0``: the wrapped env's episodes exactly, each step also waiting its wall time off the CPU."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

import pgkit.envs  # noqa: F401  (registers pgkit/Waiting-v0)


def test_episodes_are_the_wrapped_envs():
    waiting, plain = gym.make("pgkit/Waiting-v0", env_id="CartPole-v1", step_seconds=0.0), gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        np.testing.assert_array_equal(waiting.reset(seed=seed)[0], plain.reset(seed=seed)[0])
        for _ in range(600):  # past CartPole's 500-step limit, which the wrapped env keeps
            action = int(rng.integers(2))
            got, expected = waiting.step(action), plain.step(action)
            np.testing.assert_array_equal(got[0], expected[0])
            assert got[1:4] == expected[1:4]
            if got[2] or got[3]:
                break


def test_each_step_waits_its_wall_time_without_computing():
    env = gym.make("pgkit/Waiting-v0", env_id="CartPole-v1", step_seconds=0.01)
    env.reset(seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(40):
        _, _, terminated, truncated, _ = env.step(step % 2)
        if terminated or truncated:
            env.reset()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert wall >= 40 * 0.01  # sleep waits at least what it is asked
    assert cpu < wall / 2


def test_a_negative_wait_is_refused():
    with pytest.raises(ValueError, match="step_seconds must be >= 0"):
        gym.make("pgkit/Waiting-v0", step_seconds=-1)
