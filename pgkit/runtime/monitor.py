"""The vector envs the loop hands a trainer: every step counts toward the budget and every finished
episode reaches the logged statistics, whatever the trainer does with the envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from pgkit.data.episodes import EpisodeStatistics, RunningEpisodes
from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.idle_columns import idle_columns
from pgkit.errors import EnvironmentFault


class StepCounter:
    """Environment steps taken by all monitored envs together."""

    def __init__(self, steps: int = 0):
        self.steps = steps


class MonitoredVectorEnv(gym.vector.VectorWrapper):
    """Counts each step's ``num_envs`` steps into ``counter`` and keeps its rewards and episode ends until
    ``flush`` (called by the loop before it logs or saves) adds the finished episodes to ``statistics``:
    one cumulative sum per log row instead of bookkeeping at every step. An env that raises in reset or
    step becomes an EnvironmentFault naming it."""

    MAX_PENDING = 1024  # steps kept before a flush of their own, for runs that log rarely

    def __init__(self, env: gym.vector.VectorEnv, counter: StepCounter, statistics: EpisodeStatistics, env_id: str = "?"):
        super().__init__(env)
        self.env_id = env_id
        self.counter, self.statistics = counter, statistics
        self._agents = env.unwrapped if isinstance(env.unwrapped, AgentColumns) else None  # a multi-agent env: its games and policy groups
        self._groups = self._agents.column_groups if self._agents is not None else None
        self.running = RunningEpisodes(env.num_envs, self._groups)
        self._columns = idle_columns(env)  # a multi-agent env's or a native batch's: its idle columns' steps are no agent's
        self._size = env.num_envs if self._agents is None else self._agents.num_games  # steps per call: a multi-agent env's games, not its columns
        self._counts_acting = self._columns is not None and self._agents is None  # a native batch: its real steps, not its reset steps
        self._acted: list[np.ndarray] = []
        self._rewards: list[np.ndarray] = []
        self._terminated: list[np.ndarray] = []
        self._truncated: list[np.ndarray] = []
        self._unrecorded = np.zeros(env.num_envs, dtype=bool)  # envs whose episodes are not the run's until the next reset

    def reset(self, *, seed=None, options=None):
        """Episodes cut short by a reset are not finished episodes: they are dropped from the statistics."""
        self.flush()
        self.running = RunningEpisodes(self.num_envs, self._groups)
        self._unrecorded[:] = False
        try:
            return self.env.reset(seed=seed, options=options)
        except Exception as exc:
            raise EnvironmentFault(self.env_id, "reset", exc) from exc

    def step(self, actions):
        acted = self._columns.alive if self._columns is not None else None
        if acted is not None:
            self._acted.append(acted)
        try:
            obs, rewards, terminated, truncated, info = self.env.step(actions)
        except Exception as exc:
            raise EnvironmentFault(self.env_id, "step", exc) from exc
        self.counter.steps += int(acted.sum()) if self._counts_acting else self._size
        self._rewards.append(rewards)
        self._terminated.append(terminated)
        self._truncated.append(truncated)
        if len(self._rewards) >= self.MAX_PENDING:
            self.flush()
        return obs, rewards, terminated, truncated, info

    def record_no_more_episodes(self, envs: np.ndarray) -> None:
        """Episodes that the envs in the mask ``envs`` finish from now until the next reset are not the run's: a
        whole-episode batch drops them (they would bias the logged means towards short episodes)."""
        self.flush()
        self._unrecorded |= envs

    def flush(self) -> None:
        if self._rewards:
            dones = np.logical_or(np.stack(self._terminated), np.stack(self._truncated)) & ~self._unrecorded
            acted = np.stack(self._acted) if self._acted else None
            self.statistics.extend(self.running.record(np.stack(self._rewards), dones, acted))
            for pending in (self._rewards, self._terminated, self._truncated, self._acted):
                pending.clear()
