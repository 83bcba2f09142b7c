"""``pgkit/Waiting-v0``: another env whose every step also waits a fixed wall time without using the CPU, as a
simulator behind a socket or a robot does (modelled by ``time.sleep``); the benchmark of collection that scales
with workers (benchmarks/costly_env_scaling.py) steps it. ``env.kwargs``: ``env_id`` (the env stepped, made by
``gymnasium.make`` with its own registration's time limit) and ``step_seconds`` (the wait per step; resets wait
too); its other kwargs make the wrapped env. Observations, rewards and episodes are the wrapped env's."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym


class Waiting(gym.Wrapper):
    """See the module."""

    def __init__(self, env_id: str = "CartPole-v1", step_seconds: float = 0.001, **kwargs: Any):
        if step_seconds < 0:
            raise ValueError(f"step_seconds must be >= 0, got {step_seconds}")
        super().__init__(gym.make(env_id, **kwargs))
        self.step_seconds = step_seconds

    def reset(self, **kwargs: Any):
        time.sleep(self.step_seconds)
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        time.sleep(self.step_seconds)
        return self.env.step(action)


def register_waiting() -> None:
    if "pgkit/Waiting-v0" not in gym.registry:
        gym.register("pgkit/Waiting-v0", entry_point=Waiting)
