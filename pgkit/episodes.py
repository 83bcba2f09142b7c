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
        self.returns += reward
        self.lengths += 1
        for i in np.flatnonzero(done):
            self.finished.append(Episode(float(self.returns[i]), int(self.lengths[i])))
            self.total += 1
        self.returns[done] = 0.0
        self.lengths[done] = 0

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
