"""Action masks as data: what a mask of an action space is, and the env wrappers that put it in the observation.

A masked env's observation is a Dict with the mask under one key (``env.action_mask``, "action_mask" by
gymnasium's and PettingZoo's convention): the mask then travels with the observation through collection,
batches, replay, sequences and Ray joins with nothing added to them, and the policy reads it from the
observation's flat vector (``pgkit.data.structured.entry_columns``). Its layout follows sb3-contrib's
MaskablePPO: Discrete(n): n entries, 1 where the action is valid; MultiDiscrete(nvec): the dimensions'
masks back to back (sum(nvec) entries); MultiBinary(d): for each dimension, whether 0 and whether 1 may be
chosen (2d entries); a Dict or Tuple action space: its leaves' masks back to back, in the space's order (Box
leaves have none).

``MaskInObservation`` takes the mask from ``info[key]`` (Taxi-v4 gives one) or from the env's
``action_masks()`` method (sb3-contrib's convention) and presents the observation as a Dict with the
mask under ``key`` (the env's own Dict observation gains the key; any other becomes its "observation"
entry). ``CheckedMasks`` refuses a mask that leaves no action to take, naming the step.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from pgkit.envs.actions import STRUCTURED, action_leaves

MaskSource = Literal["info", "method"]


def mask_dimensions(action_space: gym.Space) -> list[tuple[int, int]]:
    """``(column, classes)`` for every maskable action dimension, in the mask's order: its column of the flat action
    row (``pgkit.envs.actions``) and how many entries of the mask it has. A Dict or Tuple space's leaves follow one
    another in the space's order, Box leaves without entries (nothing to mask)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return [(0, int(action_space.n))]
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return [(i, int(n)) for i, n in enumerate(np.asarray(action_space.nvec).reshape(-1))]
    if isinstance(action_space, gym.spaces.MultiBinary):
        return [(i, 2) for i in range(int(np.prod(action_space.shape)))]
    if isinstance(action_space, STRUCTURED):
        return [(leaf.start + column, classes) for leaf in action_leaves(action_space) for column, classes in mask_dimensions(leaf.space)]
    return []


def mask_size(action_space: gym.Space) -> int | None:
    """How many entries a mask of ``action_space`` has, or None for a space no mask applies to."""
    dimensions = mask_dimensions(action_space)
    return sum(classes for _, classes in dimensions) if dimensions else None


def carries_mask(observation_space: gym.Space, key: str | None) -> bool:
    """Whether observations of ``observation_space`` carry an action mask under ``key``."""
    return key is not None and isinstance(observation_space, gym.spaces.Dict) and key in observation_space.spaces


def mask_space_problem(observation_space: gym.Space, action_space: gym.Space, key: str) -> str | None:
    """Why the observation's entry ``key`` cannot be a mask of ``action_space``, or None if it can."""
    space = observation_space[key]
    size = mask_size(action_space)
    if size is None:
        return f"no action mask applies to {action_space} (Discrete, MultiDiscrete and MultiBinary actions can be masked, also as entries of a Dict or Tuple)"
    binary = isinstance(space, gym.spaces.MultiBinary) or (
        isinstance(space, gym.spaces.Box) and bool(np.all(space.low >= 0)) and bool(np.all(space.high <= 1)))
    if not binary or tuple(space.shape) != (size,):
        return f"observation['{key}'] is {space}, but a mask of {action_space} is {size} entries of 0 or 1 (MultiBinary({size}))"
    return None


def _dimension_starts(action_space: gym.Space) -> np.ndarray:
    """Where each action dimension's entries begin in a mask of ``action_space``."""
    classes = [count for _, count in mask_dimensions(action_space)]
    return np.concatenate([[0], np.cumsum(classes)[:-1]]).astype(np.int64)


class MaskCheck:
    """Refuses a mask that leaves no valid action in some action dimension (a policy could take none),
    naming the step of the episode it came after."""

    def __init__(self, action_space: gym.Space, key: str):
        self.key, self.starts = key, _dimension_starts(action_space)
        self.steps = 0

    def __call__(self, mask: Any, ended: bool = False) -> None:
        """Check the mask that came after ``steps`` steps; the final observation of an episode (``ended``) is
        never acted in, so its mask may be empty."""
        flat = np.asarray(mask).reshape(-1)
        valid = flat.any() if len(self.starts) == 1 else np.logical_or.reduceat(flat > 0, self.starts).all()
        if not (valid or ended):
            raise ValueError(f"the action mask observation['{self.key}'] after step {self.steps} of this episode leaves no valid action "
                             f"({flat.tolist()}); a masked env must allow an action in every state it does not end in")


class MaskInObservation(gym.Wrapper):
    """obs -> {"observation": obs, key: mask} (or a Dict obs with ``key`` added), the mask from ``source``,
    checked by ``MaskCheck``."""

    def __init__(self, env: gym.Env, source: MaskSource, key: str = "action_mask"):
        super().__init__(env)
        size = mask_size(env.action_space)
        if size is None:
            raise ValueError(f"no action mask applies to {env.action_space} (Discrete, MultiDiscrete and MultiBinary actions can be masked, also as entries of a Dict or Tuple)")
        if source == "method" and not callable(getattr(env.unwrapped, "action_masks", None)):
            raise ValueError(f"{env.unwrapped} has no action_masks() method to read masks from (use source: info if its info carries them)")
        self.source, self.key, self.size = source, key, size
        inner = env.observation_space
        self._inner_dict = isinstance(inner, gym.spaces.Dict)
        entries = dict(inner.spaces) if self._inner_dict else {"observation": inner}
        if key in entries:
            raise ValueError(f"the observation already has an entry '{key}': set env.action_mask to it, with no action_mask wrapper")
        self.observation_space = gym.spaces.Dict({**entries, key: gym.spaces.MultiBinary(size)})
        self.check = MaskCheck(env.action_space, key)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.check.steps = 0
        return self._with_mask(obs, info, False), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.check.steps += 1
        return self._with_mask(obs, info, terminated or truncated), reward, terminated, truncated, info

    def _with_mask(self, obs: Any, info: dict, ended: bool) -> dict[str, Any]:
        if self.source == "method":
            mask = self.env.unwrapped.action_masks()
        elif self.key in info:
            mask = info[self.key]
        else:
            raise ValueError(f"info has no '{self.key}' entry to read the action mask from (its keys: {sorted(info)})")
        mask = np.asarray(mask, dtype=np.int8).reshape(-1)
        if mask.size != self.size:
            raise ValueError(f"the action mask has {mask.size} entries; a mask of {self.action_space} has {self.size}")
        self.check(mask, ended)
        return {**obs, self.key: mask} if self._inner_dict else {"observation": obs, self.key: mask}


class CheckedMasks(gym.Wrapper):
    """An env whose observations carry their mask under ``key``, each checked by ``MaskCheck``."""

    def __init__(self, env: gym.Env, key: str):
        super().__init__(env)
        self.check = MaskCheck(env.action_space, key)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.check.steps = 0
        self.check(obs[self.check.key])
        return obs, info

    def step(self, action):
        result = self.env.step(action)
        self.check.steps += 1
        self.check(result[0][self.check.key], result[2] or result[3])
        return result


def checked_masks(key: str | None):
    """The pipeline step that checks masks under ``key``: a no-op for an env whose observations carry none, or
    whose masks the action_mask wrapper (outermost) puts there and checks itself."""

    def wrap(env: gym.Env) -> gym.Env:
        if not carries_mask(env.observation_space, key) or (isinstance(env, MaskInObservation) and env.key == key):
            return env
        return CheckedMasks(env, key)

    return wrap
