"""Env wrapper ``action_mask``: the action mask an env gives in its info or by its action_masks() method, put
into its observation, where the policy reads it (``pgkit.envs.action_masks``)."""

from __future__ import annotations

import gymnasium as gym
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.envs import MaskInObservation, MaskSource
from pgkit.kinds import EnvWrapper


class ActionMaskSpec(Spec):
    source: MaskSource = Field(
        "info", description="info: the mask is info[key] after reset and every step (Taxi-v4); method: the env's action_masks() "
        "(sb3-contrib's MaskablePPO convention)."
    )
    key: str = Field("action_mask", min_length=1, max_length=200, description="The info entry read, and the observation entry written (keep it env.action_mask).")


class ActionMask(EnvWrapper):
    """obs -> {"observation": obs, key: mask} (a Dict obs gains the entry), mask[i] = 1 where action i is valid,
    laid out as sb3-contrib's masks (Discrete: n; MultiDiscrete: sum(nvec); MultiBinary(d): 2d)."""

    name = "action_mask"
    Spec = ActionMaskSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return MaskInObservation(env, self.spec.source, self.spec.key)


@hookimpl
def register_env_wrappers(register):
    register(ActionMask)
