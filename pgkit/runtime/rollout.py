"""Collecting on-policy batches: T steps from N vector envs into preallocated time-major buffers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from pgkit.data.batch import Batch
from pgkit.data.episodes import RunningEpisodes
from pgkit.data.normalization import RewardScaler
from pgkit.envs.making import with_final_observations
from pgkit.kinds.agent import Agent
from pgkit.kinds.outputs import check_shape


class RolloutCollector:
    """Steps ``envs`` with the agent's policy and returns one Batch per ``collect()``.

    Observations are stored as the networks read them (normalized if the recipe asks); rewards are
    scaled by ``reward_scaler`` if given. Episodes carry on across batches; ``prior_rewards`` and
    ``prior_steps`` tell what each running episode gathered before (in the env's own rewards)."""

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        agent: Agent,
        num_steps: int,
        seed: int,
        reward_scaler: RewardScaler | None = None,
    ):
        self.envs, self.agent, self.num_steps, self.reward_scaler = envs, agent, num_steps, reward_scaler
        self.num_envs = envs.num_envs
        raw, _ = envs.reset(seed=seed)
        self.obs = agent.prepare(raw, update_statistics=True)
        self.episodes = RunningEpisodes(self.num_envs)

    def state_dict(self) -> dict:
        """What continuing exactly needs besides the envs themselves: the current observation,
        running episodes and the reward scaler."""
        return {
            "obs": torch.as_tensor(self.obs).clone(),
            "episodes": self.episodes.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict() if self.reward_scaler else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.obs = state["obs"].numpy().copy()
        self.episodes.load_state_dict(state["episodes"])
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])

    def collect(self) -> Batch:
        agent, device, dtype, head = self.agent, self.agent.device, self.agent.obs_dtype, self.agent.policy.head
        num_steps, num_envs = self.num_steps, self.num_envs
        prior_rewards = self.episodes.returns.astype(np.float32)
        prior_steps = self.episodes.lengths.copy()
        # new buffers every batch: the batch's tensors share their memory (no copy at the end)
        obs = np.empty((num_steps, *self.obs.shape), dtype=self.obs.dtype)
        next_obs = np.empty_like(obs)
        env_rewards = np.empty((num_steps, num_envs), dtype=np.float64)  # as the env gave them
        rewards = env_rewards if self.reward_scaler is None else np.empty((num_steps, num_envs), dtype=np.float32)
        terminated = np.empty((num_steps, num_envs), dtype=bool)
        truncated = np.empty((num_steps, num_envs), dtype=bool)
        actions, log_probs = [], []
        with torch.inference_mode():
            for t in range(num_steps):
                obs[t] = self.obs
                distribution = agent.policy(torch.as_tensor(self.obs, dtype=dtype, device=device))
                action = distribution.sample()
                log_probs.append(distribution.log_prob(action))
                actions.append(action)
                raw, env_rewards[t], terminated[t], truncated[t], info = self.envs.step(head.env_action(action).cpu().numpy())
                self.obs = agent.prepare(raw, update_statistics=True)
                next_obs[t] = with_final_observations(self.obs, info, agent.prepare)
                if self.reward_scaler is not None:
                    rewards[t] = self.reward_scaler(env_rewards[t], terminated[t] | truncated[t])
        self.episodes.record(env_rewards, terminated | truncated)
        stacked_log_probs = torch.stack(log_probs)  # stacked outside inference mode: ordinary tensors autograd may use
        check_shape(agent.components["policy_head"], "log_prob", stacked_log_probs, (num_steps, num_envs), "[B] per step: one log-probability per action, summed over action dimensions")
        return Batch(
            obs=torch.as_tensor(obs, dtype=dtype, device=device),
            actions=torch.stack(actions),
            log_probs=stacked_log_probs,
            rewards=torch.as_tensor(rewards, dtype=torch.float32, device=device),
            terminated=torch.as_tensor(terminated, device=device),
            truncated=torch.as_tensor(truncated, device=device),
            next_obs=torch.as_tensor(next_obs, dtype=dtype, device=device),
            prior_rewards=torch.as_tensor(prior_rewards, device=device),
            prior_steps=torch.as_tensor(prior_steps, device=device),
        )
