"""Collecting on-policy batches: T steps from N vector envs into preallocated time-major buffers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from pgkit.agent import Policy
from pgkit.batch import Batch


@dataclass(frozen=True)
class Episode:
    ret: float  # undiscounted sum of the env's rewards
    length: int


class RolloutCollector:
    """Steps ``envs`` with ``policy`` and returns one Batch per ``collect()``.

    Episodes carry on across batches; ``prior_rewards`` tells what each running episode gathered
    before the batch. Finished episodes are kept in ``episodes`` (the last ``window``)."""

    def __init__(self, envs: gym.vector.VectorEnv, policy: Policy, num_steps: int, seed: int, device: str = "cpu", window: int = 100):
        self.envs, self.policy, self.num_steps, self.device = envs, policy, num_steps, device
        self.num_envs = envs.num_envs
        obs, _ = envs.reset(seed=seed)
        self.obs = obs
        obs_space = envs.single_observation_space
        self._obs_buffer = np.zeros((num_steps, self.num_envs, *obs.shape[1:]), dtype=obs.dtype)
        self._next_obs_buffer = np.zeros_like(self._obs_buffer)
        self._rewards = np.zeros((num_steps, self.num_envs), dtype=np.float32)
        self._terminated = np.zeros((num_steps, self.num_envs), dtype=bool)
        self._truncated = np.zeros((num_steps, self.num_envs), dtype=bool)
        self._obs_dtype = torch.float32 if isinstance(obs_space, gym.spaces.Box) else torch.long
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.episodes: deque[Episode] = deque(maxlen=window)
        self.total_episodes = 0

    def _tensor(self, array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A view of ``array`` where possible (for acting); batches use ``_copy`` instead."""
        return torch.as_tensor(array, dtype=dtype, device=self.device)

    def _copy(self, array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A tensor that owns its memory, so the next ``collect`` cannot overwrite a returned batch."""
        return torch.tensor(array, dtype=dtype, device=self.device)

    def collect(self) -> Batch:
        prior_rewards = self.episode_returns.astype(np.float32)
        actions, log_probs = [], []
        for t in range(self.num_steps):
            self._obs_buffer[t] = self.obs
            with torch.no_grad():
                distribution = self.policy(self._tensor(self.obs, self._obs_dtype))
                action = distribution.sample()
                log_probs.append(distribution.log_prob(action))
                actions.append(action)
                env_action = self.policy.head.env_action(action).cpu().numpy()
            obs, reward, terminated, truncated, info = self.envs.step(env_action)
            next_obs = self._next_obs_buffer[t]
            next_obs[:] = obs
            done = terminated | truncated
            if done.any():
                for i in np.flatnonzero(info["_final_obs"]):
                    next_obs[i] = info["final_obs"][i]
            self._rewards[t], self._terminated[t], self._truncated[t] = reward, terminated, truncated
            self._record_episodes(reward, done)
            self.obs = obs
        return Batch(
            obs=self._copy(self._obs_buffer, self._obs_dtype),
            actions=torch.stack(actions),
            log_probs=torch.stack(log_probs),
            rewards=self._copy(self._rewards),
            terminated=self._copy(self._terminated),
            truncated=self._copy(self._truncated),
            next_obs=self._copy(self._next_obs_buffer, self._obs_dtype),
            prior_rewards=self._copy(prior_rewards),
        )

    def _record_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.episode_returns += reward
        self.episode_lengths += 1
        for i in np.flatnonzero(done):
            self.episodes.append(Episode(float(self.episode_returns[i]), int(self.episode_lengths[i])))
            self.total_episodes += 1
        self.episode_returns[done] = 0.0
        self.episode_lengths[done] = 0
