"""Making environments from a recipe's ``env`` settings.

Vector envs use gymnasium's SAME_STEP autoreset: the step that ends an episode returns the next
episode's first observation and puts the true final observation in ``info["final_obs"]``, so every
transition of a ``[T, N]`` batch is real (NEXT_STEP autoreset would insert a dead transition).
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AutoresetMode
from pydantic import BaseModel, ConfigDict, Field

from pgkit.errors import Problem


class EnvSettings(BaseModel):
    """The ``env`` section of a recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="A registered gymnasium id, e.g. CartPole-v1.")
    num_envs: int = Field(1, ge=1, le=4096, description="Environments stepped together (N).")
    vectorization: Literal["sync", "async"] = Field(
        "sync", description="sync: one process; async: one subprocess per env (for slow envs)."
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")


def make_env(settings: EnvSettings, render_mode: str | None = None) -> gym.Env:
    kwargs = dict(settings.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return gym.make(settings.id, **kwargs)


def make_vector_env(settings: EnvSettings, num_envs: int | None = None) -> gym.vector.VectorEnv:
    return gym.make_vec(
        settings.id,
        num_envs=num_envs or settings.num_envs,
        vectorization_mode=settings.vectorization,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        **settings.kwargs,
    )


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
