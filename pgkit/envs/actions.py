"""Actions of Dict and Tuple spaces as one flat float32 row, and back into the tree the env steps with.

A batch, a replay buffer and a Ray join hold one action tensor per step whatever the space. For a
structured space that row is its leaves' actions side by side, in the space's order: a Discrete leaf one
column (its index), MultiDiscrete and MultiBinary leaves one column per dimension, a Box leaf its values
flattened. Indices are integers below 2^24, exact in float32. The env receives the tree (a dict or tuple of
batched arrays, as ``gymnasium.vector`` batches a Dict or Tuple space)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

ActionTree = Any  # a leaf (array or tensor), or a dict or tuple of ActionTrees
STRUCTURED = (gym.spaces.Dict, gym.spaces.Tuple)


@dataclass(frozen=True)
class ActionLeaf:
    """One leaf of an action space: its path of keys from the root, its space and its columns of the flat row."""

    path: tuple[str | int, ...]
    space: gym.Space
    start: int
    stop: int

    @property
    def name(self) -> str:
        """``action.<key>.<key>...``: how exports and messages name this leaf."""
        return ".".join(["action", *map(str, self.path)])


def action_width(space: gym.Space) -> int:
    """The columns of one flat action row of ``space`` (see the module)."""
    if isinstance(space, gym.spaces.Discrete):
        return 1
    if isinstance(space, STRUCTURED):
        return sum(action_width(sub) for sub in entries(space).values())
    return math.prod(space.shape)


def entries(space: gym.spaces.Dict | gym.spaces.Tuple) -> dict[str | int, gym.Space]:
    """The top-level entries of a structured space by key (a Tuple's by index), in the space's order."""
    return dict(space.spaces.items()) if isinstance(space, gym.spaces.Dict) else dict(enumerate(space.spaces))


def action_leaves(space: gym.Space, path: tuple[str | int, ...] = (), start: int = 0) -> list[ActionLeaf]:
    """Every leaf of ``space`` in order, with its columns of the flat row (one leaf for an unstructured space)."""
    if not isinstance(space, STRUCTURED):
        return [ActionLeaf(path, space, start, start + action_width(space))]
    leaves = []
    for key, sub in entries(space).items():
        leaves += action_leaves(sub, (*path, key), start)
        start += action_width(sub)
    return leaves


def map_leaves(function: Callable[[Any], Any], tree: ActionTree) -> ActionTree:
    """``tree`` with ``function`` applied to every leaf, its dicts and tuples kept."""
    if isinstance(tree, dict):
        return {key: map_leaves(function, value) for key, value in tree.items()}
    if isinstance(tree, tuple):
        return tuple(map_leaves(function, value) for value in tree)
    return function(tree)


def leaves_of(tree: ActionTree) -> list[Any]:
    """The leaves of ``tree`` in order (dicts in their keys' order)."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in leaves_of(value)]
    if isinstance(tree, tuple):
        return [leaf for value in tree for leaf in leaves_of(value)]
    return [tree]


def as_numpy(tree: ActionTree) -> ActionTree:
    """Env actions as the env takes them: every tensor leaf moved to numpy on the CPU."""
    return map_leaves(lambda leaf: leaf.cpu().numpy() if hasattr(leaf, "cpu") else np.asarray(leaf), tree)


def row(tree: ActionTree, index: int) -> ActionTree:
    """The ``index``-th action of a batched ``tree`` (one env's action from a vector env's batch)."""
    return map_leaves(lambda leaf: leaf[index], tree)
