"""Action masks as data: where an observation carries its action mask, and what shape the mask has.

A masked env's observation is a Dict with the mask under one key (``env.action_mask``, "action_mask" by
gymnasium's and PettingZoo's convention): the mask then travels with the observation through collection,
batches, replay, sequences and Ray joins with nothing added to them, and the policy reads it from the
observation's flat vector (``pgkit.data.structured``) where ``mask_slice`` says. Its layout follows
sb3-contrib's MaskablePPO: Discrete(n): n entries, 1 where the action is valid; MultiDiscrete(nvec): the
dimensions' masks back to back (sum(nvec) entries); MultiBinary(d): for each dimension, whether 0 and
whether 1 may be chosen (2d entries).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from pgkit.data.structured import flat_layout


def mask_size(action_space: gym.Space) -> int | None:
    """How many entries a mask of ``action_space`` has, or None for a space no mask applies to."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return int(np.asarray(action_space.nvec).sum())
    if isinstance(action_space, gym.spaces.MultiBinary):
        return 2 * int(np.prod(action_space.shape))
    return None


def carries_mask(observation_space: gym.Space, key: str | None) -> bool:
    """Whether observations of ``observation_space`` carry an action mask under ``key``."""
    return key is not None and isinstance(observation_space, gym.spaces.Dict) and key in observation_space.spaces


def mask_slice(observation_space: gym.Space, key: str | None) -> tuple[int, int] | None:
    """``(start, stop)``: the columns of the observation's flat vector that hold the mask; None if unmasked."""
    if not carries_mask(observation_space, key):
        return None
    part = next(part for part in flat_layout(observation_space) if part.key == key)
    return part.offset, part.offset + part.size


def mask_space_problem(observation_space: gym.Space, action_space: gym.Space, key: str) -> str | None:
    """Why the observation's entry ``key`` cannot be a mask of ``action_space``, or None if it can."""
    space = observation_space[key]
    size = mask_size(action_space)
    if size is None:
        return f"no action mask applies to {action_space} (Discrete, MultiDiscrete and MultiBinary actions can be masked)"
    binary = isinstance(space, gym.spaces.MultiBinary) or (
        isinstance(space, gym.spaces.Box) and bool(np.all(space.low >= 0)) and bool(np.all(space.high <= 1)))
    if not binary or int(np.prod(space.shape)) != size or len(space.shape) != 1:
        return f"observation['{key}'] is {space}, but a mask of {action_space} is {size} entries of 0 or 1 (MultiBinary({size}))"
    return None


def lacks_valid_action(mask: np.ndarray, action_space: gym.Space) -> bool:
    """Whether ``mask`` (one observation's) leaves no action to take: every entry 0 for a Discrete space,
    or some dimension with every entry 0 for a MultiDiscrete or MultiBinary one."""
    mask = np.asarray(mask).reshape(-1) > 0
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        bounds = np.cumsum(np.asarray(action_space.nvec).reshape(-1))[:-1]
        return not all(part.any() for part in np.split(mask, bounds))
    if isinstance(action_space, gym.spaces.MultiBinary):
        return not mask.reshape(-1, 2).any(axis=1).all()
    return not mask.any()
