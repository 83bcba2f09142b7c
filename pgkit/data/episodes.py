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
    group: str | None = None  # the policy group of the agent whose episode it was (multi-agent envs with env.agents.groups)


class RunningEpisodes:
    """The return and length so far of the episode each of N envs is in; ``groups`` labels each env's episodes with
    its agent's policy group."""

    def __init__(self, num_envs: int, groups: list[str] | None = None):
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.groups = groups

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
            finished.append(Episode(float(ret), int(self.lengths[i] + steps[t, i] - counted[i]), self.groups[i] if self.groups else None))
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
    """The last ``window`` finished episodes and how many finished in all; with ``groups`` (policy groups of a
    multi-agent env), each group's return_mean too, over its agents' episodes in the window."""

    def __init__(self, window: int = 100, groups: list[str] | None = None):
        self.finished: deque[Episode] = deque(maxlen=window)
        self.total = 0
        self.groups = groups or []

    def extend(self, episodes: list[Episode]) -> None:
        self.finished.extend(episodes)
        self.total += len(episodes)

    def metrics(self) -> dict[str, float]:
        """episodes (finished so far), return_mean and length_mean over the window (NaN before the first)."""
        finished = self.finished
        count = len(finished)
        metrics = {
            "episodes": float(self.total),
            "return_mean": sum(e.ret for e in finished) / count if count else math.nan,
            "length_mean": sum(e.length for e in finished) / count if count else math.nan,
        }
        for group in self.groups:
            returns = [e.ret for e in finished if e.group == group]
            metrics[f"return_mean/{group}"] = sum(returns) / len(returns) if returns else math.nan
        return metrics

    def state_dict(self) -> dict:
        return {"finished": [[e.ret, e.length, *([e.group] if e.group is not None else [])] for e in self.finished], "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.finished.clear()
        self.finished.extend(Episode(float(r), int(n), *(str(g) for g in group)) for r, n, *group in state["finished"])
        self.total = int(state["total"])
