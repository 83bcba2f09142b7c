"""The ``env`` section of a recipe: which gymnasium environment, how many, normalization."""

from __future__ import annotations

from typing import Any, Callable, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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

    def wrappers(self) -> list[Callable[[gym.Env], gym.Env]]:
        """Wrappers applied to each env, innermost first."""
        return [_rescale_to_unit_box] if self.rescale_actions else []


def _rescale_to_unit_box(env: gym.Env) -> gym.Env:
    if isinstance(env.action_space, gym.spaces.Box):
        bound = np.ones(env.action_space.shape, dtype=env.action_space.dtype)
        return gym.wrappers.RescaleAction(env, min_action=-bound, max_action=bound)
    return env
