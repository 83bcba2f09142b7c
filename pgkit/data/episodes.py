"""Episodes across vector envs: running sums per env, and statistics of the finished ones, in the env's
own reward units."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episode:
    ret: float  # undiscounted sum of the env's own (unscaled) rewards
    length: int


class RunningEpisodes:
    """The return and length so far of the episode each of N envs is in."""

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)

    def record(self, rewards: np.ndarray, dones: np.ndarray, acting: np.ndarray | None = None) -> list[Episode]:
        """T steps of every env at once (``rewards`` and ``dones`` are [T, N]); returns the episodes that
        finished, in order. Running sums by cumsum, then one Python iteration per finished episode. ``acting``
        ([T, N] bool, default all) says which steps count in the lengths: an idle agent's column
        (``pgkit.envs.agent_columns``) takes steps that are no agent's."""
        cumulative = np.cumsum(rewards, axis=0, dtype=np.float64)
        steps = np.cumsum(acting, axis=0, dtype=np.int64) if acting is not None else np.broadcast_to(np.arange(1, len(rewards) + 1)[:, None], rewards.shape)
        offset = np.zeros_like(self.returns)  # cumulative reward at each env's last episode end
        counted = np.zeros_like(self.lengths)  # cumulative steps at each env's last episode end
        finished = []
        for t, i in np.argwhere(dones):
            ret = self.returns[i] + cumulative[t, i] - offset[i]
            finished.append(Episode(float(ret), int(self.lengths[i] + steps[t, i] - counted[i])))
            self.returns[i], self.lengths[i], offset[i], counted[i] = 0.0, 0, cumulative[t, i], steps[t, i]
        self.returns += cumulative[-1] - offset
        self.lengths += steps[-1] - counted
        return finished

    def state_dict(self) -> dict:
        return {"returns": self.returns.tolist(), "lengths": self.lengths.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = np.asarray(state["returns"], dtype=np.float64)
        self.lengths = np.asarray(state["lengths"], dtype=np.int64)


class EpisodeStatistics:
    """The last ``window`` finished episodes and how many finished in all."""

    def __init__(self, window: int = 100):
        self.finished: deque[Episode] = deque(maxlen=window)
        self.total = 0

    def extend(self, episodes: list[Episode]) -> None:
        self.finished.extend(episodes)
        self.total += len(episodes)

    def metrics(self) -> dict[str, float]:
        """episodes (finished so far), return_mean and length_mean over the window (NaN before the first)."""
        finished = self.finished
        count = len(finished)
        return {
            "episodes": float(self.total),
            "return_mean": sum(e.ret for e in finished) / count if count else math.nan,
            "length_mean": sum(e.length for e in finished) / count if count else math.nan,
        }

    def state_dict(self) -> dict:
        return {"finished": [[e.ret, e.length] for e in self.finished], "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.finished.clear()
        self.finished.extend(Episode(float(r), int(n)) for r, n in state["finished"])
        self.total = int(state["total"])
