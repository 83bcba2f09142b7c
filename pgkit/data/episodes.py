"""Tracking finished episodes across vector envs: returns and lengths in the env's own reward units."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episode:
    ret: float  # undiscounted sum of the env's own (unscaled) rewards
    length: int


class EpisodeTracker:
    """Sums rewards per env; keeps the last ``window`` finished episodes."""

    def __init__(self, num_envs: int, window: int = 100):
        self.returns = np.zeros(num_envs, dtype=np.float64)  # of the episodes now running
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.finished: deque[Episode] = deque(maxlen=window)
        self.total = 0

    def step(self, reward: np.ndarray, done: np.ndarray) -> None:
        """One step of every env: ``reward`` and ``done`` are [N]."""
        self.record(reward[None], done[None])

    def record(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        """T steps of every env at once (``rewards`` and ``dones`` are [T, N]): running sums by cumsum,
        then one Python iteration per finished episode, not per step."""
        num_steps = len(rewards)
        cumulative = np.cumsum(rewards, axis=0, dtype=np.float64)
        offset = np.zeros_like(self.returns)  # cumulative reward at each env's last episode end
        last_end = np.full(len(self.returns), -1)  # the step of each env's last episode end
        for t, i in np.argwhere(dones):
            ret = self.returns[i] + cumulative[t, i] - offset[i]
            self.finished.append(Episode(float(ret), int(self.lengths[i] + t - last_end[i])))
            self.total += 1
            self.returns[i], self.lengths[i], offset[i], last_end[i] = 0.0, 0, cumulative[t, i], t
        self.returns += cumulative[-1] - offset
        self.lengths += num_steps - 1 - last_end

    def state_dict(self) -> dict:
        return {
            "returns": self.returns.tolist(),
            "lengths": self.lengths.tolist(),
            "finished": [[e.ret, e.length] for e in self.finished],
            "total": self.total,
        }

    def load_state_dict(self, state: dict) -> None:
        self.returns = np.asarray(state["returns"], dtype=np.float64)
        self.lengths = np.asarray(state["lengths"], dtype=np.int64)
        self.finished.clear()
        self.finished.extend(Episode(float(r), int(n)) for r, n in state["finished"])
        self.total = int(state["total"])

    def metrics(self) -> dict[str, float]:
        """episodes (finished so far), return_mean and length_mean over the window (NaN before the first)."""
        finished = self.finished
        return {
            "episodes": float(self.total),
            "return_mean": float(np.mean([e.ret for e in finished])) if finished else math.nan,
            "length_mean": float(np.mean([e.length for e in finished])) if finished else math.nan,
        }
