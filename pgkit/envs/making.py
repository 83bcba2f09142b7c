"""Making environments from a recipe's ``env`` settings.

Vector envs use gymnasium's SAME_STEP autoreset: the step that ends an episode returns the next
episode's first observation and puts the true final observation in ``info["final_obs"]``, so every
transition of a ``[T, N]`` batch is real (NEXT_STEP autoreset would insert a dead transition).
"""

from __future__ import annotations

import difflib
from typing import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from pgkit.envs.settings import EnvSettings
from pgkit.errors import Problem


def make_env(settings: EnvSettings, render_mode: str | None = None) -> gym.Env:
    kwargs = dict(settings.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gym.make(settings.id, **kwargs)
    for wrap in settings.wrappers():
        env = wrap(env)
    return env


def make_vector_env(settings: EnvSettings, num_envs: int | None = None) -> gym.vector.VectorEnv:
    return gym.make_vec(
        settings.id,
        num_envs=num_envs or settings.num_envs,
        vectorization_mode=settings.vectorization,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=settings.wrappers() or None,
        **settings.kwargs,
    )


def with_final_observations(next_obs: np.ndarray, info: dict, prepare: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``next_obs`` with the true final observation (passed through ``prepare``) where an episode ended.

    Under SAME_STEP autoreset the step that ends an episode returns the next episode's first
    observation; the final one is in ``info["final_obs"]``. Returns ``next_obs`` itself if none ended."""
    ended = info.get("_final_obs")
    if ended is None or not ended.any():
        return next_obs
    patched = next_obs.copy()
    for i in np.flatnonzero(ended):
        patched[i] = prepare(np.asarray(info["final_obs"][i])[None])[0]
    return patched


def probe_spaces(settings: EnvSettings) -> tuple[gym.Space, gym.Space] | Problem:
    """(observation_space, action_space) of one env, or a Problem saying why it cannot be made."""
    if settings.id not in gym.registry:
        close = difflib.get_close_matches(settings.id, list(gym.registry), n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see gymnasium.registry for the ids"
        return Problem("env.id", f"unknown environment '{settings.id}'", hint)
    try:
        env = make_env(settings)
    except Exception as exc:  # e.g. a missing optional dependency such as box2d
        return Problem("env", f"could not make '{settings.id}': {type(exc).__name__}: {exc}", "check env.kwargs and the env's extra dependencies")
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()
