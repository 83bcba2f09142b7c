"""Shared fixtures: a registry of built-ins only, a tiny deterministic env for exact checks, and a signing
key of the session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

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


class MatchingEnv(gym.Env):
    """Each step shows a random target and pays the fraction of action dimensions that match it: a
    MultiBinary action space (``nvec`` None: buttons on or off) or a MultiDiscrete one (dials with
    ``nvec`` positions). The observation is the target scaled to [0, 1]; episodes last 16 steps."""

    metadata: dict = {"render_modes": []}

    def __init__(self, nvec: list[int] | None = None):
        counts = np.asarray(nvec if nvec is not None else [2, 2, 2, 2])
        self.counts = counts
        self.action_space = gym.spaces.MultiBinary(len(counts)) if nvec is None else gym.spaces.MultiDiscrete(counts)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (len(counts),), np.float32)

    def _show(self):
        self.target = self.np_random.integers(0, self.counts)
        return (self.target / np.maximum(self.counts - 1, 1)).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._show(), {}

    def step(self, action):
        reward = float(np.mean(np.asarray(action).reshape(-1) == self.target))
        return self._show(), reward, False, False, {}


class FramesEnv(gym.Env):
    """4 stacked 36x36 uint8 frames (the smallest the Nature CNN reads) whose brightness is the state;
    action 1 brightens, 0 darkens; reward is the brightness in [0, 1]."""

    metadata: dict = {"render_modes": []}
    observation_space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.level = int(self.np_random.integers(0, 256))
        return np.full((4, 36, 36), self.level, np.uint8), {}

    def step(self, action):
        self.level = int(np.clip(self.level + (32 if action else -32), 0, 255))
        return np.full((4, 36, 36), self.level, np.uint8), self.level / 255, False, False, {}


class ScreenEnv(FramesEnv):
    """FramesEnv seen as one 48x48 RGB screen (for the wrappers that read screens: grayscale, resize)."""

    observation_space = gym.spaces.Box(0, 255, (48, 48, 3), np.uint8)

    def reset(self, *, seed=None, options=None):
        _, info = super().reset(seed=seed)
        return np.full((48, 48, 3), self.level, np.uint8), info

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        return np.full((48, 48, 3), self.level, np.uint8), reward, terminated, truncated, info


FRAMES_ID, SCREEN_ID = "pgkit-test/Frames-v0", "pgkit-test/Screen-v0"
if FRAMES_ID not in gym.registry:
    gym.register(FRAMES_ID, entry_point=FramesEnv, max_episode_steps=32)
    gym.register(SCREEN_ID, entry_point=ScreenEnv, max_episode_steps=32)

BUTTONS_ID, DIALS_ID = "pgkit-test/Buttons-v0", "pgkit-test/Dials-v0"
if BUTTONS_ID not in gym.registry:
    gym.register(BUTTONS_ID, entry_point=MatchingEnv, max_episode_steps=16)
    gym.register(DIALS_ID, entry_point=MatchingEnv, max_episode_steps=16, kwargs={"nvec": [3, 4, 5]})


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


class CueEnv(gym.Env):
    """Structured observations: a cue (Discrete(4)) and a sign (Box) together say which of 4 actions pays 1:
    the cue when the sign is positive, 3 - cue otherwise, so a policy must read both parts. ``layout``:
    ``dict`` ({"cue", "sign"}), ``tuple`` ((cue, sign)) or ``nested`` ({"cue", "more": (sign, MultiBinary)})."""

    metadata: dict = {"render_modes": []}
    action_space = gym.spaces.Discrete(4)

    def __init__(self, layout: str = "dict"):
        self.layout = layout
        cue, sign = gym.spaces.Discrete(4), gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = {
            "dict": gym.spaces.Dict({"cue": cue, "sign": sign}),
            "tuple": gym.spaces.Tuple((cue, sign)),
            "nested": gym.spaces.Dict({"cue": cue, "more": gym.spaces.Tuple((sign, gym.spaces.MultiBinary(2)))}),
        }[layout]

    def _show(self):
        self.cue, self.sign = int(self.np_random.integers(4)), float(self.np_random.choice([-1.0, 1.0]))
        sign = np.array([self.sign], np.float32)
        if self.layout == "dict":
            return {"cue": self.cue, "sign": sign}
        if self.layout == "tuple":
            return (self.cue, sign)
        return {"cue": self.cue, "more": (sign, self.np_random.integers(0, 2, 2).astype(np.int8))}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._show(), {}

    def step(self, action):
        paid = int(action) == (self.cue if self.sign > 0 else 3 - self.cue)
        return self._show(), float(paid), False, False, {}


CUE_IDS = {layout: f"pgkit-test/Cue{layout.title()}-v0" for layout in ("dict", "tuple", "nested")}
for _layout, _id in CUE_IDS.items():
    if _id not in gym.registry:
        gym.register(_id, entry_point=CueEnv, max_episode_steps=16, kwargs={"layout": _layout})


class RecallEnv(gym.Env):
    """A memory task: the first observation shows a cue (one of two, one-hot), the next ``delay`` show
    nothing, and the last action pays 1 if it names the cue. A memoryless policy earns 0.5 per episode;
    one that remembers the cue earns 1."""

    metadata: dict = {"render_modes": []}
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: int = 2):
        self.delay = delay

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return np.eye(2, dtype=np.float32)[self.cue], {}

    def step(self, action):
        self.t += 1
        last = self.t > self.delay
        reward = float(int(action) == self.cue) if last else 0.0
        return np.zeros(2, np.float32), reward, last, False, {}


RECALL_ID = "pgkit-test/Recall-v0"
if RECALL_ID not in gym.registry:
    gym.register(RECALL_ID, entry_point=RecallEnv)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory) -> Iterator[str]:
    """A real local Ray cluster for the session (``ray start --head``, 2 CPUs): its address, which runs join
    as ``trainer.workers.address``. This process joins it too (as pgkit joins one), and leaves it at the end."""
    from pgkit.runtime.ray_cluster import connect_ray

    executable = str(Path(sys.executable).parent / "ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("ray")
    subprocess.run([executable, "start", "--head", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"],
                   check=True, capture_output=True, timeout=120)
    address = f"127.0.0.1:{port}"
    ray = None
    try:
        ray = connect_ray(address, 2, "the test session's Ray cluster")
        yield address
    finally:
        if ray is not None:
            ray.shutdown()
        subprocess.run([executable, "stop", "--force"], capture_output=True, timeout=120)


class StrictEnv(gym.Env):
    """Masked actions, enforced: every observation comes with a random action mask (the target action always
    valid) and an invalid action raises. The observation shows the target (one-hot per dimension); reward is
    the fraction of dimensions that hit it. ``space``: discrete (Discrete(6)), multi_discrete ([3, 4]) or
    multi_binary (3); ``source``: where the mask is given, observation (a Dict's 'action_mask'), info
    (info['action_mask']) or method (action_masks()); ``empty_at``: a step whose mask allows nothing."""

    metadata: dict = {"render_modes": []}
    COUNTS = {"discrete": [6], "multi_discrete": [3, 4], "multi_binary": [2, 2, 2]}

    def __init__(self, space: str = "discrete", source: str = "observation", empty_at: int | None = None):
        self.kind, self.source, self.empty_at = space, source, empty_at
        self.counts = self.COUNTS[space]
        self.action_space = {"discrete": gym.spaces.Discrete(6), "multi_discrete": gym.spaces.MultiDiscrete([3, 4]),
                             "multi_binary": gym.spaces.MultiBinary(3)}[space]
        target = gym.spaces.Box(0.0, 1.0, (sum(self.counts),), np.float32)
        self.observation_space = gym.spaces.Dict({"target": target, "action_mask": gym.spaces.MultiBinary(sum(self.counts))}) if source == "observation" else target

    def _show(self):
        self.target = self.np_random.integers(0, self.counts)
        self.mask = (self.np_random.random(sum(self.counts)) < 0.5).astype(np.int8)
        offsets = np.cumsum([0, *self.counts[:-1]])
        self.mask[offsets + self.target] = 1
        if self.empty_at is not None and self.t == self.empty_at:
            self.mask[:] = 0
        shown = np.zeros(sum(self.counts), np.float32)
        shown[offsets + self.target] = 1.0
        return ({"target": shown, "action_mask": self.mask} if self.source == "observation" else shown), (
            {"action_mask": self.mask.copy()} if self.source == "info" else {})

    def action_masks(self) -> np.ndarray:
        return self.mask.copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._show()

    def step(self, action):
        chosen = np.asarray(action).reshape(-1).astype(int)
        offsets = np.cumsum([0, *self.counts[:-1]])
        if not self.mask[offsets + chosen].all():
            raise ValueError(f"invalid action {chosen.tolist()} under mask {self.mask.tolist()}")
        reward = float(np.mean(chosen == self.target))
        self.t += 1
        obs, info = self._show()
        return obs, reward, False, False, info


STRICT_ID = "pgkit-test/Strict-v0"
if STRICT_ID not in gym.registry:
    gym.register(STRICT_ID, entry_point=StrictEnv, max_episode_steps=8)
