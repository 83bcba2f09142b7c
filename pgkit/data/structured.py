"""Dict and Tuple observations as one flat float32 vector, laid out as ``gymnasium.spaces.flatten`` does:
entries in the space's order, Discrete and MultiDiscrete parts one-hot, Box and MultiBinary parts
flattened. Batches, replay buffers and normalizers keep one tensor per observation; a network that reads
the parts apart (``multi_input``) cuts the vector where ``flat_layout`` says."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def is_structured(space: gym.Space) -> bool:
    return isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple))


def stored_shape(space: gym.Space) -> tuple[int, ...]:
    """The shape of one observation as batches, replay buffers and normalizers hold it: (flatdim,) for Dict
    and Tuple spaces, the space's own shape otherwise."""
    return (gym.spaces.flatdim(space),) if is_structured(space) else tuple(space.shape or ())


def unsupported_part(space: gym.Space, path: str = "observation") -> str | None:
    """The first part of ``space`` that cannot be flattened into a fixed vector (Text, Graph, Sequence,
    OneOf, ...), as 'path: space', or None."""
    if isinstance(space, gym.spaces.Dict):
        return next((found for key, sub in space.spaces.items() if (found := unsupported_part(sub, f"{path}[{key!r}]"))), None)
    if isinstance(space, gym.spaces.Tuple):
        return next((found for i, sub in enumerate(space.spaces) if (found := unsupported_part(sub, f"{path}[{i}]"))), None)
    return None if isinstance(space, LEAVES) else f"{path}: {space}"


@dataclass(frozen=True)
class Part:
    """One top-level entry of a structured space: where it sits in the flat vector."""

    key: str | int
    space: gym.Space
    offset: int
    size: int


def flat_layout(space: gym.spaces.Dict | gym.spaces.Tuple) -> list[Part]:
    """The top-level entries of ``space`` and their slices of the flat vector, in order."""
    items = space.spaces.items() if isinstance(space, gym.spaces.Dict) else enumerate(space.spaces)
    parts, offset = [], 0
    for key, sub in items:
        size = gym.spaces.flatdim(sub)
        parts.append(Part(key, sub, offset, size))
        offset += size
    return parts


def entry_columns(space: gym.Space, key: str | int) -> tuple[int, int]:
    """``(start, stop)``: the columns of the flat vector that hold the top-level entry ``key`` of ``space``."""
    part = next(part for part in flat_layout(space) if part.key == key)
    return part.offset, part.offset + part.size


def flatten_batch(space: gym.Space, obs: Any) -> np.ndarray:
    """A batch of structured observations -> [B, flatdim] float32. ``obs`` is what a vector env returns (a
    dict or tuple of batched arrays) or a sequence of single observations (e.g. final observations)."""
    if isinstance(obs, (list, np.ndarray)) and (not isinstance(obs, np.ndarray) or obs.dtype == object):
        return np.stack([gym.spaces.flatten(space, single) for single in obs]).astype(np.float32, copy=False)
    return _flatten_batched(space, obs)


def _flatten_batched(space: gym.Space, obs: Any) -> np.ndarray:
    if isinstance(space, gym.spaces.Dict):
        return np.concatenate([_flatten_batched(sub, obs[key]) for key, sub in space.spaces.items()], axis=1)
    if isinstance(space, gym.spaces.Tuple):
        return np.concatenate([_flatten_batched(sub, obs[i]) for i, sub in enumerate(space.spaces)], axis=1)
    values = np.asarray(obs)
    if isinstance(space, gym.spaces.Discrete):
        return _one_hot(values.reshape(-1) - int(space.start), int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        rows = values.reshape(len(values), -1) - np.asarray(space.start).reshape(-1)
        return np.concatenate([_one_hot(rows[:, i], int(n)) for i, n in enumerate(np.asarray(space.nvec).reshape(-1))], axis=1)
    return values.reshape(len(values), math.prod(space.shape)).astype(np.float32, copy=False)


def _one_hot(indices: np.ndarray, classes: int) -> np.ndarray:
    """[B] class indices -> [B, classes] float32 one-hot rows (without an identity matrix per call)."""
    rows = np.zeros((len(indices), classes), dtype=np.float32)
    rows[np.arange(len(indices)), indices] = 1.0
    return rows
