"""``pgkit/Platform-v0``: a 1-D platform course with a parameterised action, as the Platform domain of Masson et
al. 2016 ("Reinforcement Learning with Parameterized Actions") asks for, without its physics.

Three platforms (lengths uniform in [1.5, 3]) lie on a line, separated by two gaps, each narrow (0.4 to 0.9)
or wide (1.8 to 2.6) at random. The action is ``(choice, (run, hop, leap))``: a Discrete(3) choice of run,
hop or leap, and one Box(-1, 1, (1,)) parameter per choice, of which only the chosen one acts. With
u = (parameter + 1) / 2 in [0, 1]: run moves 1.0 u, hop jumps 0.5 + 1.0 u, leap jumps 1.5 + 2.0 u. Whatever ends
over a gap falls (the episode terminates); passing the end of the last platform finishes the course. The
reward is the progress made, as a fraction of the course, so a finished course returns 1. Running cannot
cross a gap, a hop clears only narrow ones, a leap from too far back falls short and one from the edge of a
narrow gap overshoots the next platform when it is short: the right choice and its parameter depend on where
the agent stands. Observation: the distance to the next edge, the next gap's width (0 past the last gap), the
length of the platform after it and the progress so far (4 values); at most 30 steps."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

RUN, HOP, LEAP = 0, 1, 2
REACH = {RUN: (0.0, 1.0), HOP: (0.5, 1.0), LEAP: (1.5, 2.0)}  # choice -> (least distance, range of the parameter)


class Platform(gym.Env):
    """See the module."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 12.0, (4,), np.float32)
        parameter = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Tuple((parameter, parameter, parameter))))
        self.platforms = np.zeros((3, 2))  # [start, end] of each
        self.position = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        lengths = self.np_random.uniform(1.5, 3.0, 3)
        gaps = np.where(self.np_random.random(2) < 0.5, self.np_random.uniform(0.4, 0.9, 2), self.np_random.uniform(1.8, 2.6, 2))
        start = 0.0
        for i in range(3):
            self.platforms[i] = start, start + lengths[i]
            start += lengths[i] + (gaps[i] if i < 2 else 0.0)
        self.position = 0.0
        return self._observation(), {}

    def step(self, action: tuple[Any, tuple[Any, Any, Any]]):
        choice = int(action[0])
        u = (float(np.clip(np.asarray(action[1][choice]).reshape(-1)[0], -1.0, 1.0)) + 1.0) / 2.0
        least, span = REACH[choice]
        end = self.platforms[-1, 1]
        landing = min(self.position + least + span * u, end)
        reward = (landing - self.position) / end
        self.position = landing
        fell = not any(start <= landing <= stop for start, stop in self.platforms)
        finished = landing >= end
        return self._observation(), float(reward), bool(fell or finished), False, {"is_success": bool(finished)}

    def _observation(self) -> np.ndarray:
        ahead = [i for i, (start, stop) in enumerate(self.platforms) if stop >= self.position]
        current = ahead[0] if ahead else 2
        edge = max(self.platforms[current, 1] - self.position, 0.0)
        if current < 2:
            gap, following = self.platforms[current + 1, 0] - self.platforms[current, 1], np.diff(self.platforms[current + 1])[0]
        else:
            gap, following = 0.0, 0.0
        return np.array([edge, gap, following, self.position / self.platforms[-1, 1]], dtype=np.float32)


def register_platform() -> None:
    if "pgkit/Platform-v0" not in gym.registry:
        gym.register("pgkit/Platform-v0", entry_point=Platform, max_episode_steps=30)
