"""Episode wrappers: time limits and sticky actions."""

from __future__ import annotations

import gymnasium as gym
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import EnvWrapper


class TimeLimitSpec(Spec):
    max_episode_steps: int = Field(ge=1, description="Episodes are truncated after this many steps.")


class TimeLimit(EnvWrapper):
    """Episodes truncated after ``max_episode_steps`` (gymnasium's TimeLimit; a truncation bootstraps, a termination does not)."""

    name = "time_limit"
    Spec = TimeLimitSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.TimeLimit(env, self.spec.max_episode_steps)


class StickyActionSpec(Spec):
    probability: float = Field(0.25, ge=0, lt=1, description="Chance that the previous action is repeated instead of the new one (Machado et al. 2018 use 0.25).")


class StickyAction(EnvWrapper):
    """With some probability the env repeats the previous action (gymnasium's StickyAction; Machado et al. 2018)."""

    name = "sticky_action"
    Spec = StickyActionSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.StickyAction(env, self.spec.probability)


@hookimpl
def register_env_wrappers(register):
    register(TimeLimit)
    register(StickyAction)
