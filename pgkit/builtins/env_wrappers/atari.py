"""Atari preprocessing (Machado et al. 2018; Mnih et al. 2015) through gymnasium's AtariPreprocessing."""

from __future__ import annotations

import gymnasium as gym
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import EnvWrapper


class AtariPreprocessingSpec(Spec):
    noop_max: int = Field(30, ge=0, description="At most this many no-op actions after a reset (random starts).")
    frame_skip: int = Field(4, ge=1, description="Frames per action, the observation the max of the last two; the env itself must not skip (ALE/...-v5: env.kwargs {frameskip: 1}).")
    screen_size: int = Field(84, ge=8, le=1024, description="Frames are resized to screen_size x screen_size.")
    terminal_on_life_loss: bool = Field(False, description="End the episode when a life is lost (SB3's AtariWrapper does).")
    grayscale: bool = Field(True, description="Grayscale frames ([H, W]) instead of RGB ([H, W, 3]).")


class AtariPreprocessing(EnvWrapper):
    """Atari frames as DQN reads them: no-op starts, frame skip with max-pooling, grayscale, resize (gymnasium's AtariPreprocessing, frames kept uint8)."""

    name = "atari_preprocessing"
    Spec = AtariPreprocessingSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        s = self.spec
        return gym.wrappers.AtariPreprocessing(
            env, noop_max=s.noop_max, frame_skip=s.frame_skip, screen_size=s.screen_size,
            terminal_on_life_loss=s.terminal_on_life_loss, grayscale_obs=s.grayscale, scale_obs=False,
        )


@hookimpl
def register_env_wrappers(register):
    register(AtariPreprocessing)
