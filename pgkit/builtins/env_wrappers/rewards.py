"""Reward wrappers: clipping and scaling."""

from __future__ import annotations

import functools
import operator

import gymnasium as gym
from pydantic import Field, model_validator

from pgkit import Spec, hookimpl
from pgkit.kinds import EnvWrapper


class ClipRewardSpec(Spec):
    min: float = Field(-1.0, description="Rewards below this are raised to it.")
    max: float = Field(1.0, description="Rewards above this are lowered to it.")

    @model_validator(mode="after")
    def _ordered(self) -> ClipRewardSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class ClipReward(EnvWrapper):
    """Rewards clipped to [min, max] (gymnasium's ClipReward; [-1, 1] as in DQN's Atari setup)."""

    name = "clip_reward"
    Spec = ClipRewardSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.ClipReward(env, self.spec.min, self.spec.max)


class ScaleRewardSpec(Spec):
    scale: float = Field(description="Every reward is multiplied by this.")


class ScaleReward(EnvWrapper):
    """Rewards multiplied by a constant (gymnasium's TransformReward)."""

    name = "scale_reward"
    Spec = ScaleRewardSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.TransformReward(env, functools.partial(operator.mul, self.spec.scale))


@hookimpl
def register_env_wrappers(register):
    register(ClipReward)
    register(ScaleReward)
