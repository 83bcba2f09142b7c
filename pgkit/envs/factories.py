"""Environments from a Python factory instead of a registered id: the factory is registered with
gymnasium under a fresh id, so every path that makes envs from a recipe (vector envs, evaluation,
checks) makes them from it."""

from __future__ import annotations

import itertools
from typing import Callable

import gymnasium as gym

_ids = itertools.count()


def register_env_factory(factory: Callable[[], gym.Env]) -> str:
    """A fresh gymnasium id (``pgkit-factory/EnvN-v0``) whose envs ``factory()`` makes (called without
    arguments). The id lives in this process only: a run trained on it is loaded with the same factory."""
    if not callable(factory):
        raise TypeError(f"env must be a function returning a gymnasium.Env, got {type(factory).__name__}")
    env_id = f"pgkit-factory/Env{next(_ids)}-v0"
    gym.register(env_id, entry_point=lambda: factory(), disable_env_checker=True)
    return env_id
