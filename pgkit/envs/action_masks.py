"""Env wrappers for action masks: one that puts a mask given elsewhere into the observation, one that checks it.

``MaskInObservation`` takes the mask from ``info[key]`` (Taxi-v4 gives one) or from the env's
``action_masks()`` method (sb3-contrib's convention) and presents the observation as a Dict with the
mask under ``key`` (the env's own Dict observation gains the key; any other becomes its "observation"
entry), so that the mask travels with the observation (``pgkit.data.action_masks``). ``CheckedMasks``
refuses a mask that leaves no action to take, naming the step.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from pgkit.data.action_masks import carries_mask, lacks_valid_action, mask_size

MaskSource = Literal["info", "method"]


class MaskInObservation(gym.ObservationWrapper):
    """obs -> {"observation": obs, key: mask} (or a Dict obs with ``key`` added), the mask from ``source``."""

    def __init__(self, env: gym.Env, source: MaskSource, key: str = "action_mask"):
        super().__init__(env)
        size = mask_size(env.action_space)
        if size is None:
            raise ValueError(f"no action mask applies to {env.action_space} (Discrete, MultiDiscrete and MultiBinary actions can be masked)")
        if source == "method" and not callable(getattr(env.unwrapped, "action_masks", None)):
            raise ValueError(f"{env.unwrapped} has no action_masks() method to read masks from (use source: info if its info carries them)")
        self.source, self.key = source, key
        inner = env.observation_space
        entries = dict(inner.spaces) if isinstance(inner, gym.spaces.Dict) else {"observation": inner}
        if key in entries:
            raise ValueError(f"the observation already has an entry '{key}': set env.action_mask to it, with no action_mask wrapper")
        self.observation_space = gym.spaces.Dict({**entries, key: gym.spaces.MultiBinary(size)})
        self._mask: np.ndarray | None = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._mask = self._read(info)
        return self.observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._mask = self._read(info)
        return self.observation(obs), reward, terminated, truncated, info

    def observation(self, observation: Any) -> dict[str, Any]:
        entries = dict(observation) if isinstance(observation, dict) else {"observation": observation}
        return {**entries, self.key: self._mask}

    def _read(self, info: dict) -> np.ndarray:
        if self.source == "method":
            mask = self.env.unwrapped.action_masks()
        elif self.key in info:
            mask = info[self.key]
        else:
            raise ValueError(f"info has no '{self.key}' entry to read the action mask from (its keys: {sorted(info)})")
        mask = np.asarray(mask).reshape(-1)
        if mask.shape != self.observation_space[self.key].shape:
            raise ValueError(f"the action mask has {mask.size} entries; a mask of {self.action_space} has {self.observation_space[self.key].n}")
        return mask.astype(np.int8)


class CheckedMasks(gym.Wrapper):
    """Raises where an observation's mask under ``key`` leaves no valid action (a policy could take none)."""

    def __init__(self, env: gym.Env, key: str):
        super().__init__(env)
        self.key, self._steps = key, 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._steps = 0
        self._check(obs)
        return obs, info

    def step(self, action):
        result = self.env.step(action)
        self._steps += 1
        if not (result[2] or result[3]):  # the final observation of an episode is never acted in
            self._check(result[0])
        return result

    def _check(self, obs: dict) -> None:
        if lacks_valid_action(obs[self.key], self.action_space):
            raise ValueError(f"the action mask observation['{self.key}'] after step {self._steps} of this episode leaves no valid action "
                             f"({np.asarray(obs[self.key]).reshape(-1).tolist()}); a masked env must allow an action in every state it does not end in")


def checked_masks(key: str | None):
    """The pipeline step that checks masks under ``key`` (a no-op for an env whose observations carry none)."""

    def wrap(env: gym.Env) -> gym.Env:
        return CheckedMasks(env, key) if carries_mask(env.observation_space, key) else env

    return wrap
