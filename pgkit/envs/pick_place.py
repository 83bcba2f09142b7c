"""``pgkit/PickPlace-v0``: carry an object to a target on a plane, with a Dict action of a move and a grip.

The gripper g, the object o and the target t start uniformly in [-1, 1]^2 (o at least 0.3 from t). Each step
the action ``{"move": Box(-1, 1, (2,)), "grip": Discrete(2)}`` moves the gripper by 0.1 * move (clipped to the
square) and closes (1) or opens (0) it: closed within 0.15 of the object it holds it, and the object moves
with it; opened, it lets go. The episode succeeds (terminates, reward +5) when the object lies within 0.1 of
the target, let go. Every step also pays the progress of the potential
Phi = -(|g - o| + |o - t|), so r = 2 (Phi' - Phi) (potential-based shaping, Ng et al. 1999), and -0.01.
Observation: g, o - g, t - o and whether it holds (7 values); episodes last at most 100 steps. Both entries
of the action matter: carrying needs the grip closed, success needs it opened at the target."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

REACH, PLACED, STEP = 0.15, 0.1, 0.1


class PickPlace(gym.Env):
    """See the module."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(-4.0, 4.0, (7,), np.float32)
        self.action_space = gym.spaces.Dict({"move": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "grip": gym.spaces.Discrete(2)})
        self.gripper = self.object = self.target = np.zeros(2)
        self.holding = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.gripper, self.target = self.np_random.uniform(-1, 1, 2), self.np_random.uniform(-1, 1, 2)
        self.object = self.np_random.uniform(-1, 1, 2)
        while np.linalg.norm(self.object - self.target) < 0.3:
            self.object = self.np_random.uniform(-1, 1, 2)
        self.holding = False
        return self._observation(), {}

    def step(self, action: dict[str, Any]):
        before = self._potential()
        self.gripper = np.clip(self.gripper + STEP * np.clip(np.asarray(action["move"], dtype=np.float64), -1, 1), -1, 1)
        closed = int(action["grip"]) == 1
        self.holding = closed and (self.holding or np.linalg.norm(self.gripper - self.object) < REACH)
        if self.holding:
            self.object = self.gripper.copy()
        placed = not self.holding and np.linalg.norm(self.object - self.target) < PLACED
        reward = 2.0 * (self._potential() - before) - 0.01 + (5.0 if placed else 0.0)
        return self._observation(), float(reward), bool(placed), False, {"is_success": bool(placed)}

    def _potential(self) -> float:
        return -float(np.linalg.norm(self.gripper - self.object) + np.linalg.norm(self.object - self.target))

    def _observation(self) -> np.ndarray:
        parts = [self.gripper, self.object - self.gripper, self.target - self.object, [float(self.holding)]]
        return np.concatenate(parts).astype(np.float32)


def register_pick_place() -> None:
    if "pgkit/PickPlace-v0" not in gym.registry:
        gym.register("pgkit/PickPlace-v0", entry_point=PickPlace, max_episode_steps=100)
