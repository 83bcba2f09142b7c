"""Observation spaces the mlp reads: Box of any shape and dtype (integer frames stay integer until the
network), and Discrete of any ``start`` (one-hot)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgkit
from pgkit.data import ObservationEncoder


class ShiftedStates(gym.Env):
    """States 10..13 (Discrete(4, start=10)); the action moves up or down; reward 1 at state 13."""

    observation_space = gym.spaces.Discrete(4, start=10)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 10
        return self.state, {}

    def step(self, action):
        self.state = int(np.clip(self.state + (1 if action else -1), 10, 13))
        return self.state, float(self.state == 13), False, False, {}


def test_discrete_observations_with_a_start_are_one_hot_from_their_first_state():
    """Discrete(4, start=10) once crashed the one-hot encoder (state 10 is not a class below 4)."""
    encoder = ObservationEncoder(gym.spaces.Discrete(4, start=10))
    assert torch.equal(encoder(torch.tensor([10, 13, 11])), torch.eye(4)[[0, 3, 1]])
    negative = ObservationEncoder(gym.spaces.Discrete(3, start=-1))
    assert torch.equal(negative(torch.tensor([-1, 0, 1])), torch.eye(3))


def test_an_agent_trains_and_acts_on_shifted_discrete_states():
    recipe = {"env": {"id": "unused"}, "policy_head": "categorical", "critic": "value", "advantage": "gae", "objective": "ppo_clip",
              "optimizer": "adam", "trainer": {"type": "on_policy", "total_steps": 256, "steps_per_env": 32}, "logger": []}
    env = lambda: gym.wrappers.TimeLimit(ShiftedStates(), 16)  # noqa: E731
    agent = pgkit.train(recipe, env=env)
    actions, _ = agent.predict(np.array([10, 11, 12, 13]))
    assert actions.shape == (4,) and set(actions.tolist()) <= {0, 1}


class Frames(gym.Env):
    """4x6x6 uint8 frames whose brightness is the state; Box actions in [-1, 1] move it."""

    observation_space = gym.spaces.Box(0, 255, (4, 6, 6), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.level = 128
        return np.full((4, 6, 6), self.level, np.uint8), {}

    def step(self, action):
        self.level = int(np.clip(self.level + 40 * float(action[0]), 0, 255))
        return np.full((4, 6, 6), self.level, np.uint8), self.level / 255, False, False, {}


@pytest.mark.parametrize("trainer, head, objective, critic", [
    ({"type": "on_policy", "total_steps": 128, "steps_per_env": 32}, "gaussian", "ppo_clip", "value"),
    ({"type": "off_policy", "total_steps": 96, "learning_starts": 32, "batch_size": 16}, "deterministic", "dpg", "twin_q"),
])
def test_uint8_frames_stay_uint8_until_the_network(trainer, head, objective, critic):
    """Batches and the replay buffer hold the frames as uint8 (a quarter of float32's bytes); the networks
    convert them. With env.normalize.obs the normalized observations are float32."""
    recipe = {"env": {"id": "unused", "num_envs": 2}, "policy_head": head, "critic": critic, "objective": objective,
              "optimizer": "adam", "trainer": trainer, "logger": []}
    if trainer["type"] == "on_policy":
        recipe["advantage"] = "gae"
    env = lambda: gym.wrappers.TimeLimit(Frames(), 20)  # noqa: E731
    agent = pgkit.train(recipe, env=env)
    assert agent.obs_dtype == torch.uint8
    stored = agent.components["trainer"]
    obs = agent.components["replay"].buffer.obs if trainer["type"] == "off_policy" else stored._last_batch.obs
    assert obs.dtype == torch.uint8 and int(obs.max()) > 1
    normalized = pgkit.train({**recipe, "env": {"id": "unused", "num_envs": 2, "normalize": {"obs": True}}}, env=env)
    assert normalized.obs_dtype == torch.float32


def test_cnn_reads_channels_first_channels_last_and_plain_images_alike():
    """The same images laid out [C, H, W], [H, W, C] (auto-detected) or, with one channel, [H, W] give the
    same features from the same weights."""
    from pgkit.builtins.networks.cnn import CNN

    layers = [[8, 3, 1], [8, 3, 2]]
    first = CNN(layers=layers, features=16).build(gym.spaces.Box(0, 255, (2, 10, 10), np.uint8))
    last = CNN(layers=layers, features=16).build(gym.spaces.Box(0, 255, (10, 10, 2), np.uint8))
    last.load_state_dict(first.state_dict())
    images = torch.randint(0, 256, (3, 2, 10, 10), dtype=torch.uint8)
    assert torch.allclose(first(images), last(images.movedim(1, -1)))
    one = CNN(layers=layers, features=16).build(gym.spaces.Box(0, 255, (1, 10, 10), np.uint8))
    plain = CNN(layers=layers, features=16).build(gym.spaces.Box(0, 255, (10, 10), np.uint8))
    plain.load_state_dict(one.state_dict())
    assert torch.allclose(one(images[:, :1]), plain(images[:, 0]))
    unscaled = CNN(layers=layers, features=16).build(gym.spaces.Box(0.0, 1.0, (2, 10, 10), np.float32))
    unscaled.load_state_dict(first.state_dict())
    assert torch.allclose(first(images), unscaled(images.float() / 255), atol=1e-6)  # uint8 frames are scaled by 1/255 inside


def test_cnn_learns_from_frames():
    """conftest.FramesEnv pays the frames' brightness; the Nature CNN torso learns to brighten them: the
    eval return per step of 32 goes from about 0.5 (random) to at least 0.85 in 4,096 PPO steps (seeds 0-2
    each reached 0.96, always brightening: the most the random starting levels allow)."""
    from pgkit.envs import EnvSettings
    from pgkit.runtime.evaluation import evaluate

    recipe = {"env": {"id": "pgkit-test/Frames-v0", "num_envs": 4}, "network": "cnn", "policy_head": "categorical", "critic": "value",
              "advantage": "gae", "objective": "ppo_clip", "optimizer": {"type": "adam", "lr": 0.0003},
              "trainer": {"type": "on_policy", "total_steps": 4096, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64}, "logger": []}
    agent = pgkit.train(recipe)
    assert evaluate(agent, EnvSettings(id="pgkit-test/Frames-v0"), episodes=4).mean / 32 >= 0.85
