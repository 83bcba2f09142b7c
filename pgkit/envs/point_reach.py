"""``pgkit/PointReach-v0``: a goal env (gymnasium-robotics' convention) small enough to test hindsight replay on.

A point starts uniformly in [-1, 1]^2 and each step moves by 0.1 * action (``Box(-1, 1, (2,))``, clipped to the
square) toward a goal drawn uniformly in the square. Observation: the Dict ``observation`` (the position),
``achieved_goal`` (the position) and ``desired_goal`` (the goal); the reward is sparse, 0 within 0.1 of the goal
and -1 elsewhere, as ``compute_reward(achieved_goal, desired_goal, info)`` gives it for any batch of pairs;
``info["is_success"]`` says whether the point is there. Episodes last 50 steps (never terminated), as Fetch's do."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

REACHED, STEP = 0.1, 0.1


class PointReach(gym.Env):
    """See the module."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self):
        square = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict({"observation": square, "achieved_goal": square, "desired_goal": square})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.position = self.goal = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position, self.goal = self.np_random.uniform(-1, 1, 2), self.np_random.uniform(-1, 1, 2)
        return self._observation(), {}

    def step(self, action: np.ndarray):
        self.position = np.clip(self.position + STEP * np.clip(np.asarray(action, dtype=np.float64), -1, 1), -1, 1)
        reward = float(self.compute_reward(self.position, self.goal, {}))
        return self._observation(), reward, False, False, {"is_success": reward == 0.0}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """0 where |achieved - desired| < 0.1, else -1; for one pair or a batch (the last axis the goal)."""
        return -(np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1) >= REACHED).astype(np.float32)

    def _observation(self) -> dict[str, np.ndarray]:
        position = self.position.astype(np.float32)
        return {"observation": position, "achieved_goal": position.copy(), "desired_goal": self.goal.astype(np.float32)}


def register_point_reach() -> None:
    if "pgkit/PointReach-v0" not in gym.registry:
        gym.register("pgkit/PointReach-v0", entry_point=PointReach, max_episode_steps=50)
