"""A replay buffer of preallocated tensors that wraps around when full."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.data.memory import check_memory


class ReplayBuffer:
    """Transitions (s, a, r, s', terminated), N at a time; the oldest are overwritten once ``capacity`` is reached.

    ``next_obs`` is the true next observation (the final one where an episode ended), and only
    ``terminated`` is kept: a truncated transition bootstraps like any other."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype, action_shape: tuple[int, ...], device: str | torch.device = "cpu"):
        self.capacity = capacity
        if torch.device(device).type == "cpu":
            per_transition = 2 * math.prod(obs_shape) * obs_dtype.itemsize + 4 * math.prod(action_shape) + 4 + 1
            check_memory(capacity * per_transition, f"a replay buffer of {capacity:,} transitions")
        self.obs = torch.zeros((capacity, *obs_shape), dtype=obs_dtype, device=device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros((capacity, *action_shape), dtype=torch.float32, device=device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.terminated = torch.zeros(capacity, dtype=torch.bool, device=device)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor) -> None:
        """Store one transition per env (leading dimension N)."""
        index = (self.position + torch.arange(len(rewards), device=self.rewards.device)) % self.capacity
        self.obs[index], self.actions[index], self.rewards[index] = obs, actions, rewards
        self.next_obs[index], self.terminated[index] = next_obs, terminated
        self.position = int(index[-1] + 1) % self.capacity
        self.size = min(self.size + len(rewards), self.capacity)

    def state_dict(self) -> dict:
        """The stored transitions (copies of the filled part only) and where the next one goes."""
        filled = {name: getattr(self, name)[: self.size].clone() for name in self.FIELDS}
        return {**filled, "position": self.position, "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"the checkpoint's replay buffer holds {size} transitions, more than this one's capacity {self.capacity}")
        for name in self.FIELDS:
            getattr(self, name)[:size] = state[name]
        self.position, self.size = int(state["position"]), size

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """A flat Batch of ``batch_size`` transitions drawn uniformly with replacement."""
        index = torch.randint(self.size, (batch_size,), generator=generator).to(self.rewards.device)
        terminated = self.terminated[index]
        return Batch(
            obs=self.obs[index],
            actions=self.actions[index],
            log_probs=torch.zeros_like(self.rewards[index]),
            rewards=self.rewards[index],
            terminated=terminated,
            truncated=torch.zeros_like(terminated),
            next_obs=self.next_obs[index],
        )
