"""A goal env's own reward function, for relabelling stored transitions with other goals."""

from __future__ import annotations

import numpy as np

from pgkit.envs.making import make_env
from pgkit.envs.settings import EnvSettings
from pgkit.errors import PgkitError


class GoalRewards:
    """``compute_reward(achieved_goal, desired_goal, info)`` of one env made from ``settings`` (the env's
    unwrapped method, as gymnasium-robotics' GoalEnv defines it), called on batches: each info is an empty
    dict (one array of them per batch size, reused: replays keep no infos, and the Fetch, Hand and maze envs
    neither read nor write them). Owns that env; ``close`` releases it."""

    def __init__(self, settings: EnvSettings):
        self._env = make_env(settings)
        self._compute = getattr(self._env.unwrapped, "compute_reward", None)
        if not callable(self._compute):
            self._env.close()
            raise PgkitError(f"{settings.id} has no compute_reward(achieved_goal, desired_goal, info) method, so its goals cannot be "
                             "relabelled; use a goal env (gymnasium-robotics) or another replay")
        self.env_id = settings.id
        self._infos: dict[int, np.ndarray] = {}  # an array of empty dicts per batch size, made once

    def __call__(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Rewards [B] of the pairs (achieved[b], desired[b])."""
        info = self._infos.get(len(achieved))
        if info is None:
            info = self._infos[len(achieved)] = np.array([{} for _ in range(len(achieved))], dtype=object)
        rewards = np.asarray(self._compute(achieved, desired, info), dtype=np.float32)
        if rewards.shape != (len(achieved),):
            raise PgkitError(f"{self.env_id}'s compute_reward gave shape {rewards.shape} for {len(achieved)} goal pairs, not one reward "
                             "each; relabelling needs a compute_reward that takes batches, as gymnasium-robotics' envs do")
        return rewards

    def close(self) -> None:
        self._env.close()
