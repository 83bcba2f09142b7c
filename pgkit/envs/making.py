"""Making environments from a recipe's ``env`` settings.

Vector envs use gymnasium's SAME_STEP autoreset: the step that ends an episode returns the next
episode's first observation and puts the true final observation in ``info["final_obs"]``, so every
transition of a ``[T, N]`` batch is real (NEXT_STEP autoreset would insert a dead transition).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Literal

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from pydantic import BaseModel, ConfigDict, Field

from pgkit.errors import Problem


class NormalizeSettings(BaseModel):
    """Running normalization of observations and rewards (SB3's VecNormalize)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    obs: bool = Field(False, description="Normalize observations by running mean and std; the statistics are saved with the agent and used at eval.")
    reward: bool = Field(False, description="Scale rewards by the running std of the discounted return (training only).")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount of the return whose std scales the rewards.")
    clip_obs: float = Field(10.0, gt=0, description="Normalized observations are clipped to [-clip_obs, clip_obs].")
    clip_reward: float = Field(10.0, gt=0, description="Scaled rewards are clipped to [-clip_reward, clip_reward].")


class EnvSettings(BaseModel):
    """The ``env`` section of a recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(description="A registered gymnasium id, e.g. CartPole-v1.")
    num_envs: int = Field(1, ge=1, le=4096, description="Environments stepped together (N).")
    vectorization: Literal["sync", "async"] = Field(
        "sync", description="sync: one process; async: one subprocess per env (for slow envs)."
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")
    normalize: NormalizeSettings = Field(default_factory=NormalizeSettings, description="Observation and reward normalization.")
    rescale_actions: bool = Field(False, description="Present a Box action space as [-1, 1] (gymnasium's RescaleAction).")

    def wrappers(self) -> list:
        return [_rescale_to_unit_box] if self.rescale_actions else []


def _rescale_to_unit_box(env: gym.Env) -> gym.Env:
    if isinstance(env.action_space, gym.spaces.Box):
        bound = np.ones(env.action_space.shape, dtype=env.action_space.dtype)
        return gym.wrappers.RescaleAction(env, min_action=-bound, max_action=bound)
    return env


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
