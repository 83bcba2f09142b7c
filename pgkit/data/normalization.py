"""Running normalization of observations and rewards (as SB3's VecNormalize), saved with the agent."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class RunningMeanStd:
    """Mean and variance of a stream of arrays, merged batch by batch (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        self.merge(batch.mean(axis=0), batch.var(axis=0), batch.shape[0])

    def merge(self, mean: np.ndarray, var: np.ndarray, count: float) -> None:
        """Add the moments of ``count`` more samples (from a batch, or from another process's stream)."""
        delta = mean - self.mean
        total = self.count + count
        self.mean = self.mean + delta * count / total
        self.var = (self.var * self.count + var * count + delta**2 * self.count * count / total) / total
        self.count = total

    def since(self, earlier: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
        """(mean, var, count) of the samples merged in since ``earlier`` (this stream's ``state_dict`` then):
        ``merge`` undone, so that workers can send only what they saw to be merged into the learner's statistics."""
        before_mean, before_var, before_count = np.asarray(earlier["mean"]), np.asarray(earlier["var"]), float(earlier["count"])
        count = self.count - before_count
        if count <= 0:
            return np.zeros_like(self.mean), np.ones_like(self.var), 0.0
        mean = (self.mean * self.count - before_mean * before_count) / count
        delta = mean - before_mean
        squares = self.var * self.count - before_var * before_count - delta**2 * before_count * count / self.count
        return mean, np.maximum(squares / count, 0.0), count

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = np.asarray(state["mean"]), np.asarray(state["var"]), float(state["count"])


class ObservationNormalizer:
    """obs -> clip((obs - mean) / sqrt(var + eps), -clip, clip), statistics updated while training; the
    ``kept`` columns of a flat row (class indices, an action mask) pass as they are."""

    def __init__(self, shape: tuple[int, ...], clip: float, epsilon: float = 1e-8, kept: Sequence[int] = ()):
        self.stats, self.clip, self.epsilon = RunningMeanStd(shape), clip, epsilon
        self.kept = np.asarray(sorted(kept), dtype=np.int64)

    def __call__(self, obs: np.ndarray, update: bool) -> np.ndarray:
        if update:
            self.stats.update(obs)
        normalized = np.clip((obs - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon), -self.clip, self.clip).astype(np.float32)
        if len(self.kept):
            normalized[..., self.kept] = obs[..., self.kept]
        return normalized

    def state_dict(self) -> dict[str, Any]:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state)


class RewardScaler:
    """r -> clip(r / sqrt(Var[discounted return] + eps)): rewards scaled by the spread of the return
    R_t = gamma R_{t-1} + r_t, tracked per env and reset at episode ends (as in SB3's VecNormalize)."""

    def __init__(self, num_envs: int, gamma: float, clip: float, epsilon: float = 1e-8):
        self.stats, self.gamma, self.clip, self.epsilon = RunningMeanStd(), gamma, clip, epsilon
        self.returns = np.zeros(num_envs, np.float64)

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + reward
        self.stats.update(self.returns)
        self.returns[done] = 0.0
        return np.clip(reward / np.sqrt(self.stats.var + self.epsilon), -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {**self.stats.state_dict(), "returns": self.returns.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state)
        self.returns = np.asarray(state["returns"])
