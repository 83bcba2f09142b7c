"""A replay buffer of preallocated tensors that wraps around when full, holding each observation once."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.data.memory import check_memory


class ReplayBuffer:
    """Transitions (s, a, r, s', terminated) added one per env, N at a time; the oldest are overwritten once
    ``capacity`` (rounded up to a multiple of N) is reached.

    Each observation is stored once. The s' of a transition is, as a rule, the s of the same env's next
    transition, N slots on: the buffer checks that as the next row arrives and keeps apart only an s' that
    differs (an episode's final observation, under SAME_STEP autoreset) and the newest row's. So 1e5
    Atari frames take about their own bytes, not twice (SB3's optimize_memory_usage, for any N).
    ``next_obs`` is the true next observation and only ``terminated`` is kept: a truncated transition
    bootstraps like any other."""

    FIELDS = ("obs", "actions", "rewards", "terminated", "apart")

    def __init__(
        self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype, action_shape: tuple[int, ...],
        device: str | torch.device = "cpu", num_envs: int = 1,
    ):
        self.num_envs = num_envs
        self.capacity = math.ceil(capacity / num_envs) * num_envs
        if torch.device(device).type == "cpu":
            per_transition = math.prod(obs_shape) * obs_dtype.itemsize + 4 * math.prod(action_shape) + 4 + 2
            check_memory(self.capacity * per_transition, f"a replay buffer of {self.capacity:,} transitions")
        self.obs = torch.empty((self.capacity, *obs_shape), dtype=obs_dtype, device=device)  # written before it is read
        self.actions = torch.zeros((self.capacity, *action_shape), dtype=torch.float32, device=device)
        self.rewards = torch.zeros(self.capacity, dtype=torch.float32, device=device)
        self.terminated = torch.zeros(self.capacity, dtype=torch.bool, device=device)
        self.apart = torch.zeros(self.capacity, dtype=torch.bool, device=device)  # s' is in next_apart, not at i + N
        self.next_apart: dict[int, Tensor] = {}
        self.newest_next = torch.zeros((num_envs, *obs_shape), dtype=obs_dtype, device=device)  # s' of the newest row
        self.position = 0  # where the next row goes (a multiple of N)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes of everything stored, preallocated or kept apart."""
        tensors = [getattr(self, name) for name in self.FIELDS] + [self.newest_next, *self.next_apart.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def add(self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor) -> None:
        """Store one transition per env (leading dimension N, the same N every time)."""
        if len(rewards) != self.num_envs:
            raise ValueError(f"this replay buffer takes {self.num_envs} transitions at a time (one per env), got {len(rewards)}")
        index = self.position + torch.arange(self.num_envs, device=self.rewards.device)
        if self.size and self.capacity > self.num_envs:  # the newest row's s' is this row's s, unless they differ
            previous = (index - self.num_envs) % self.capacity
            differs = (obs != self.newest_next).flatten(1).any(1)
            self.apart[previous] = differs
            for k in differs.nonzero().flatten().tolist():
                self.next_apart[int(previous[k])] = self.newest_next[k].clone()
        for i in index[self.apart[index]].tolist():  # overwritten transitions' own s'
            del self.next_apart[i]
        self.obs[index], self.actions[index], self.rewards[index] = obs, actions, rewards
        self.terminated[index], self.apart[index] = terminated, False
        self.newest_next.copy_(next_obs)
        self.position = (self.position + self.num_envs) % self.capacity
        self.size = min(self.size + self.num_envs, self.capacity)

    def next_observations(self, index: Tensor) -> Tensor:
        """s' of the transitions at ``index``."""
        n = self.num_envs
        next_obs = self.obs[(index + n) % self.capacity]
        offset = (index - self.position + n) % self.capacity  # < N exactly for the newest row
        newest = offset < n
        if newest.any():
            next_obs[newest] = self.newest_next[offset[newest]]
        for j in self.apart[index].nonzero().flatten().tolist():
            next_obs[j] = self.next_apart[int(index[j])]
        return next_obs

    def state_dict(self) -> dict:
        """The stored transitions (copies of the filled part only), the s' kept apart, and where the next
        row goes."""
        filled = {name: getattr(self, name)[: self.size].clone() for name in self.FIELDS}
        apart = sorted(self.next_apart)
        stacked = torch.stack([self.next_apart[i] for i in apart]) if apart else self.newest_next[:0].clone()
        return {
            **filled, "newest_next": self.newest_next.clone(), "apart_index": torch.tensor(apart, dtype=torch.long),
            "apart_next": stacked, "position": self.position, "size": self.size,
        }

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"the checkpoint's replay buffer holds {size} transitions, more than this one's capacity {self.capacity}")
        for name in self.FIELDS:
            getattr(self, name)[:size] = state[name]
        self.newest_next.copy_(state["newest_next"])
        self.next_apart = {int(i): next_obs.to(self.obs.device) for i, next_obs in zip(state["apart_index"], state["apart_next"])}
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
            next_obs=self.next_observations(index),
        )
