"""Exploration noise for deterministic policies, one independent process per env."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class ActionNoise(ABC):
    """``sample() -> [num_envs, *action_shape]``; ``reset(mask)`` restarts the processes of finished episodes.
    Random draws come from the numpy Generator it was given (its owner saves that generator's state)."""

    @abstractmethod
    def sample(self) -> np.ndarray: ...

    def reset(self, mask: np.ndarray) -> None:
        """Restart the envs in ``mask`` (stateless noise has nothing to restart)."""

    def state_dict(self) -> dict:
        """The process's own state (none for noise drawn independently at every step)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved."""


class NoNoise(ActionNoise):
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def sample(self) -> np.ndarray:
        return np.zeros(self.shape, np.float32)


class GaussianNoise(ActionNoise):
    """Independent N(0, std^2) at every step (TD3)."""

    def __init__(self, shape: tuple[int, ...], std: float, rng: np.random.Generator):
        self.shape, self.std, self.rng = shape, std, rng

    def sample(self) -> np.ndarray:
        return self.rng.normal(0.0, self.std, self.shape).astype(np.float32)


class OrnsteinUhlenbeckNoise(ActionNoise):
    """x_{k+1} = x_k - theta x_k dt + std sqrt(dt) N(0, 1): temporally correlated noise (DDPG, Lillicrap et al. 2016).
    Its stationary standard deviation is std / sqrt(2 theta)."""

    def __init__(self, shape: tuple[int, ...], std: float, theta: float, dt: float, rng: np.random.Generator):
        self.std, self.theta, self.dt, self.rng = std, theta, dt, rng
        self.state = np.zeros(shape, np.float64)

    def sample(self) -> np.ndarray:
        shock = self.rng.normal(0.0, 1.0, self.state.shape)
        self.state = self.state - self.theta * self.state * self.dt + self.std * np.sqrt(self.dt) * shock
        return self.state.astype(np.float32)

    def reset(self, mask: np.ndarray) -> None:
        self.state[mask] = 0.0

    def state_dict(self) -> dict:
        return {"state": self.state.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.state = np.asarray(state["state"], dtype=np.float64)
