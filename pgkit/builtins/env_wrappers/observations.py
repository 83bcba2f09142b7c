"""Observation wrappers: gymnasium's, plus ``select`` (keep some entries of a vector observation)."""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import numpy as np
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import EnvWrapper


class FrameStackSpec(Spec):
    stack_size: int = Field(4, ge=1, le=1024, description="Observations stacked along a new first axis ([stack_size, ...obs]).")
    padding: Literal["reset", "zero"] = Field("reset", description="What fills the stack after a reset: copies of the first observation, or zeros.")


class FrameStack(EnvWrapper):
    """The last ``stack_size`` observations stacked along a new first axis (gymnasium's FrameStackObservation)."""

    name = "frame_stack"
    Spec = FrameStackSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.FrameStackObservation(env, self.spec.stack_size, padding_type=self.spec.padding)


class ResizeSpec(Spec):
    shape: tuple[int, int] = Field((84, 84), description="(height, width) of the resized images.")


class Resize(EnvWrapper):
    """Image observations resized to ``shape`` (gymnasium's ResizeObservation; needs opencv-python)."""

    name = "resize"
    Spec = ResizeSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.ResizeObservation(env, self.spec.shape)


class GrayscaleSpec(Spec):
    keep_dim: bool = Field(False, description="Keep a channel axis of size 1 ([H, W, 1]) instead of [H, W].")


class Grayscale(EnvWrapper):
    """RGB image observations turned to grayscale (gymnasium's GrayscaleObservation)."""

    name = "grayscale"
    Spec = GrayscaleSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.GrayscaleObservation(env, keep_dim=self.spec.keep_dim)


class Flatten(EnvWrapper):
    """Any observation space flattened to one vector (gymnasium's FlattenObservation; Discrete parts one-hot)."""

    name = "flatten"

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.FlattenObservation(env)


class FilterSpec(Spec):
    keys: list[str | int] = Field(min_length=1, description="Keys of a Dict observation (or indices of a Tuple one) to keep.")


class Filter(EnvWrapper):
    """A Dict or Tuple observation reduced to some of its entries (gymnasium's FilterObservation)."""

    name = "filter"
    Spec = FilterSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.FilterObservation(env, self.spec.keys)


class ReshapeSpec(Spec):
    shape: list[int] = Field(min_length=1, description="The new shape of a Box observation (-1 not allowed).")


class Reshape(EnvWrapper):
    """A Box observation reshaped (gymnasium's ReshapeObservation)."""

    name = "reshape"
    Spec = ReshapeSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        return gym.wrappers.ReshapeObservation(env, tuple(self.spec.shape))


class SelectSpec(Spec):
    indices: list[int] = Field(min_length=1, description="Which entries of a 1-D Box observation to keep, in order (e.g. CartPole's positions: [0, 2]).")


class Select(EnvWrapper):
    """Some entries of a vector observation, the rest hidden: e.g. CartPole without its velocities, which only a recurrent policy can solve."""

    name = "select"
    Spec = SelectSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"select reads a 1-D Box observation, not {space}")
        indices = np.asarray(self.spec.indices)
        if indices.min() < -space.shape[0] or indices.max() >= space.shape[0]:
            raise ValueError(f"indices {self.spec.indices} are outside an observation of {space.shape[0]} entries")
        kept = gym.spaces.Box(space.low[indices], space.high[indices], dtype=space.dtype)
        return gym.wrappers.TransformObservation(env, _Take(indices), kept)


class _Take:
    """obs[indices], picklable (checkpoints and subprocess envs pickle their wrappers)."""

    def __init__(self, indices: np.ndarray):
        self.indices = indices

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return obs[self.indices]


@hookimpl
def register_env_wrappers(register):
    for wrapper in (FrameStack, Resize, Grayscale, Flatten, Filter, Reshape, Select):
        register(wrapper)
