"""Dict and Tuple observations as one flat float32 row: entries in the space's order (as
``gymnasium.spaces.flatten`` orders them), Box and MultiBinary parts flattened, a Discrete part one column
holding its class index (0-based) and a MultiDiscrete part one such column per dimension. Batches, replay
buffers and normalizers keep one tensor per observation; networks read class indices as one-hot vectors
(``pgkit.nn.ObservationEncoder``) or, in a first linear layer, as a lookup of the weight's columns
(``pgkit.nn.EncodedLinear``): W onehot(i) = W[:, i], without the one-hot vector's width in every batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def is_structured(space: gym.Space) -> bool:
    return isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple))


def unsupported_part(space: gym.Space, path: str = "observation") -> str | None:
    """The first part of ``space`` that cannot be flattened into a fixed vector (Text, Graph, Sequence,
    OneOf, ...), as 'path: space', or None."""
    if isinstance(space, gym.spaces.Dict):
        return next((found for key, sub in space.spaces.items() if (found := unsupported_part(sub, f"{path}[{key!r}]"))), None)
    if isinstance(space, gym.spaces.Tuple):
        return next((found for i, sub in enumerate(space.spaces) if (found := unsupported_part(sub, f"{path}[{i}]"))), None)
    return None if isinstance(space, LEAVES) else f"{path}: {space}"


@dataclass(frozen=True)
class Segment:
    """One leaf of a structured space: its columns of the stored row and of the encoded (one-hot) vector."""

    start: int  # first column in the stored row
    width: int  # columns in the stored row
    encoded_start: int  # first column in the encoded vector
    classes: tuple[int, ...] = ()  # a categorical leaf: the classes of each of its columns; () for a dense one

    @property
    def encoded_width(self) -> int:
        return sum(self.classes) if self.classes else self.width


def _entries(space: gym.Space) -> list[tuple[Any, gym.Space]]:
    return list(space.spaces.items()) if isinstance(space, gym.spaces.Dict) else list(enumerate(space.spaces))


def _leaves(space: gym.Space) -> list[gym.Space]:
    return [leaf for _, sub in _entries(space) for leaf in _leaves(sub)] if is_structured(space) else [space]


def segments(space: gym.Space) -> list[Segment]:
    """The leaves of a Dict or Tuple space, in order, with their columns stored and encoded."""
    found, start, encoded = [], 0, 0
    for leaf in _leaves(space):
        if isinstance(leaf, gym.spaces.Discrete):
            segment = Segment(start, 1, encoded, (int(leaf.n),))
        elif isinstance(leaf, gym.spaces.MultiDiscrete):
            nvec = tuple(int(n) for n in np.asarray(leaf.nvec).reshape(-1))
            segment = Segment(start, len(nvec), encoded, nvec)
        else:
            segment = Segment(start, math.prod(leaf.shape), encoded)
        found.append(segment)
        start, encoded = start + segment.width, encoded + segment.encoded_width
    return found


def stored_width(space: gym.Space) -> int:
    return sum(segment.width for segment in segments(space))


def stored_shape(space: gym.Space) -> tuple[int, ...]:
    """The shape of one observation as batches, replay buffers and normalizers hold it: (columns,) for Dict
    and Tuple spaces, the space's own shape otherwise."""
    return (stored_width(space),) if is_structured(space) else tuple(space.shape or ())


def index_columns(space: gym.Space) -> list[int]:
    """The columns of a structured space's stored row that hold class indices (read as they are, never normalized)."""
    return [segment.start + i for segment in segments(space) for i in range(len(segment.classes))]


@dataclass(frozen=True)
class Part:
    """One top-level entry of a structured space: where it sits in the stored row."""

    key: str | int
    space: gym.Space
    offset: int
    size: int


def flat_layout(space: gym.spaces.Dict | gym.spaces.Tuple) -> list[Part]:
    """The top-level entries of ``space`` and their columns of the stored row, in order."""
    parts, offset = [], 0
    for key, sub in _entries(space):
        size = stored_width(gym.spaces.Tuple((sub,)))
        parts.append(Part(key, sub, offset, size))
        offset += size
    return parts


def entry_columns(space: gym.Space, key: str | int) -> tuple[int, int]:
    """``(start, stop)``: the columns of the stored row that hold the top-level entry ``key`` of ``space``."""
    part = next(part for part in flat_layout(space) if part.key == key)
    return part.offset, part.offset + part.size


def flatten_batch(space: gym.Space, obs: Any) -> np.ndarray:
    """A batch of structured observations -> [B, columns] float32 stored rows. ``obs`` is what a vector env
    returns (a dict or tuple of batched arrays) or a sequence of single observations (e.g. final observations)."""
    if isinstance(obs, (list, np.ndarray)) and (not isinstance(obs, np.ndarray) or obs.dtype == object):
        obs = _stacked(space, list(obs))
    return _flatten_batched(space, obs)


def _stacked(space: gym.Space, singles: list[Any]) -> Any:
    """Single observations -> one batched observation (a dict or tuple of arrays, as a vector env returns)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _stacked(sub, [single[key] for single in singles]) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_stacked(sub, [single[i] for single in singles]) for i, sub in enumerate(space.spaces))
    return np.stack([np.asarray(single) for single in singles])


def _flatten_batched(space: gym.Space, obs: Any) -> np.ndarray:
    if is_structured(space):
        return np.concatenate([_flatten_batched(sub, obs[key]) for key, sub in _entries(space)], axis=1)
    values = np.asarray(obs)
    rows = values.reshape(len(values), -1)
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        rows = rows - np.asarray(space.start).reshape(-1)  # class indices from 0
    return rows.astype(np.float32, copy=False)
