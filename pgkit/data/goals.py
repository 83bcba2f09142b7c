"""Goal-conditioned observations (gymnasium-robotics' convention, Plappert et al. 2018): a Dict with the
entries ``observation``, ``achieved_goal`` and ``desired_goal``, and an env method
``compute_reward(achieved_goal, desired_goal, info)`` that gives the reward of any pair, so a stored
transition can be replayed as if another goal had been asked for (hindsight experience replay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from pgkit.data.structured import entry_columns

GOAL_KEYS = ("achieved_goal", "desired_goal")


def is_goal_space(space: gym.Space) -> bool:
    """A Dict observation space with Box entries ``achieved_goal`` and ``desired_goal`` of one shape."""
    if not isinstance(space, gym.spaces.Dict) or not all(key in space.spaces for key in GOAL_KEYS):
        return False
    achieved, desired = (space.spaces[key] for key in GOAL_KEYS)
    return isinstance(achieved, gym.spaces.Box) and isinstance(desired, gym.spaces.Box) and achieved.shape == desired.shape


@dataclass(frozen=True)
class GoalLayout:
    """Where the goals sit in a stored observation row, and the env's reward of any (achieved, desired) pair."""

    achieved: tuple[int, int]  # (start, stop) columns of achieved_goal
    desired: tuple[int, int]  # (start, stop) columns of desired_goal
    compute_reward: Callable[[np.ndarray, np.ndarray], np.ndarray]  # ([B, g] achieved, [B, g] desired) -> [B] rewards

    @classmethod
    def of(cls, space: gym.Space, compute_reward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> GoalLayout:
        return cls(entry_columns(space, "achieved_goal"), entry_columns(space, "desired_goal"), compute_reward)
