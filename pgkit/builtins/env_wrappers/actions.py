"""Action wrappers: clipping and rescaling Box actions."""

from __future__ import annotations

import gymnasium as gym
from pydantic import Field, model_validator

from pgkit import Spec, hookimpl
from pgkit.envs import rescale_box_actions
from pgkit.kinds import EnvWrapper


class ClipAction(EnvWrapper):
    """Box actions clipped to the action space's bounds before the env sees them (gymnasium's ClipAction)."""

    name = "clip_action"

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.ClipAction(env)


class RescaleActionSpec(Spec):
    low: float = Field(-1.0, description="The policy's actions range from low ...")
    high: float = Field(1.0, description="... to high, mapped linearly onto the env's bounds.")

    @model_validator(mode="after")
    def _ordered(self) -> RescaleActionSpec:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class RescaleAction(EnvWrapper):
    """A Box action space presented as [low, high] (gymnasium's RescaleAction)."""

    name = "rescale_action"
    Spec = RescaleActionSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return rescale_box_actions(env, self.spec.low, self.spec.high)


@hookimpl
def register_env_wrappers(register):
    register(ClipAction)
    register(RescaleAction)
