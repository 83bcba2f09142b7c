"""Shared fixtures: a registry of built-ins only, a tiny deterministic env for exact checks, and a signing
key of the session."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgkit.builtins.policy_heads.gaussian import Gaussian
from pgkit.plugins.registry import Registry, build_registry

COUNTER_ID = "pgkit-test/Counter-v0"


class CounterEnv(gym.Env):
    """obs = [steps taken, episode index]; reward = 1 + action; terminates after ``terminate_at`` steps."""

    metadata: dict = {"render_modes": []}

    def __init__(self, terminate_at: int = 1000):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate_at = terminate_at
        self.episode = -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.episode = 0, self.episode + 1
        return np.array([0, self.episode], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t, self.episode], np.float32)
        return obs, 1.0 + float(action), self.t >= self.terminate_at, False, {}


if COUNTER_ID not in gym.registry:
    gym.register(COUNTER_ID, entry_point=CounterEnv, max_episode_steps=3)


@pytest.fixture(scope="session", autouse=True)
def signing_key_folder(tmp_path_factory) -> None:
    """pgkit's signing key (pgkit.runtime.signing) in a folder of the test session, not the user's; the
    command-line runs that tests start inherit it."""
    os.environ["PGKIT_CONFIG_DIR"] = str(tmp_path_factory.mktemp("pgkit-config"))


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Built-in components only, so installed third-party plugins cannot change test outcomes."""
    return build_registry(entry_points=False)


class UnsummedGaussian(Gaussian):
    """log_prob per action dimension, [B, d], instead of summed over them (broken): what the contracts
    and the boundary checks must catch."""

    name = "unsummed_gaussian"

    def build(self, in_features, action_space):
        module = super().build(in_features, action_space)
        module.forward = lambda features: torch.distributions.Normal(module.mean(features), module.log_std.exp())
        return module
