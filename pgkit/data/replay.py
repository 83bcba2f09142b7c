"""A replay buffer of preallocated tensors that wraps around when full, holding each observation once."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.data.memory import check_memory


class ReplayBuffer:
    """Transitions (s, a, r, s', terminated, truncated) added one per env, N at a time; the oldest are
    overwritten once ``capacity`` (rounded up to a multiple of N) is reached. Slot i + N holds the same env's
    transition after slot i's (until the newest row), so n-step returns read along the slots.

    Each observation is stored once. The s' of a transition is, as a rule, the s of the same env's next
    transition, N slots on: the buffer checks that as the next row arrives and keeps apart only an s' that
    differs (an episode's final observation, under SAME_STEP autoreset) and the newest row's. So 1e5
    Atari frames take about their own bytes, not twice (SB3's optimize_memory_usage, for any N).
    ``next_obs`` is the true next observation: a truncated transition bootstraps like any other, and its
    ``truncated`` flag only stops an n-step return from running into the next episode.

    With ``memory_size`` S > 0 each transition also keeps the recurrent agent's memory it acted from
    (``[S]``, zeroed at an episode's start), so sequences of an env's consecutive steps can be replayed from
    the state their first step had (R2D2's stored state, Kapturowski et al. 2019)."""

    FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "apart")

    def __init__(
        self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype, action_shape: tuple[int, ...],
        device: str | torch.device = "cpu", num_envs: int = 1, memory_size: int = 0,
    ):
        self.num_envs = num_envs
        self.capacity = math.ceil(capacity / num_envs) * num_envs
        if torch.device(device).type == "cpu":
            per_transition = math.prod(obs_shape) * obs_dtype.itemsize + 4 * math.prod(action_shape) + 4 + 3 + 4 * memory_size
            check_memory(self.capacity * per_transition, f"a replay buffer of {self.capacity:,} transitions")
        self.memory = torch.zeros((self.capacity, memory_size), dtype=torch.float32, device=device) if memory_size else None
        self.stored = (*self.FIELDS, "memory") if memory_size else self.FIELDS  # the per-slot tensors
        self.obs = torch.empty((self.capacity, *obs_shape), dtype=obs_dtype, device=device)  # written before it is read
        self.actions = torch.zeros((self.capacity, *action_shape), dtype=torch.float32, device=device)
        self.rewards = torch.zeros(self.capacity, dtype=torch.float32, device=device)
        self.terminated = torch.zeros(self.capacity, dtype=torch.bool, device=device)
        self.truncated = torch.zeros(self.capacity, dtype=torch.bool, device=device)
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
        tensors = [getattr(self, name) for name in self.stored] + [self.newest_next, *self.next_apart.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def add(
        self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor, truncated: Tensor | None = None,
        memory: Tensor | None = None,
    ) -> None:
        """Store one transition per env (leading dimension N, the same N every time); ``truncated`` None: no time
        limit ended one; ``memory [N, S]`` what a recurrent agent acted from (a buffer with memory_size S only)."""
        if len(rewards) != self.num_envs:
            raise ValueError(f"this replay buffer takes {self.num_envs} transitions at a time (one per env), got {len(rewards)}")
        if (memory is None) != (self.memory is None):
            raise ValueError("a replay buffer made with memory_size > 0 stores a memory with every transition, and only it does")
        n, start = self.num_envs, self.position
        index = slice(start, start + n)  # one row: never wraps, as the capacity is a multiple of N
        if self.size and self.capacity > n:  # the newest row's s' is this row's s, unless they differ
            previous = (start - n) % self.capacity
            differs = (obs != self.newest_next).flatten(1).any(1)
            self.apart[previous : previous + n] = differs
            for k in differs.nonzero().flatten().tolist():
                self.next_apart[previous + k] = self.newest_next[k].clone()
        for k in self.apart[index].nonzero().flatten().tolist():  # overwritten transitions' own s'
            del self.next_apart[start + k]
        self.obs[index], self.actions[index], self.rewards[index] = obs, actions, rewards
        self.terminated[index], self.apart[index] = terminated, False
        self.truncated[index] = False if truncated is None else truncated
        if memory is not None:
            self.memory[index] = memory
        self.newest_next.copy_(next_obs)
        self.position = (self.position + self.num_envs) % self.capacity
        self.size = min(self.size + self.num_envs, self.capacity)

    def next_observations(self, index: Tensor) -> Tensor:
        """s' of the transitions at ``index``."""
        n = self.num_envs
        next_obs = self.obs.index_select(0, (index + n) % self.capacity)  # index_select: half the cost of obs[...] here
        offset = (index - self.position + n) % self.capacity  # < N exactly for the newest row
        newest = offset < n
        if newest.any():
            next_obs[newest] = self.newest_next[offset[newest]]
        apart = self.apart.index_select(0, index).nonzero().flatten()
        if len(apart):
            next_obs[apart] = torch.stack([self.next_apart[i] for i in index[apart].tolist()])
        return next_obs

    def state_dict(self) -> dict:
        """The stored transitions (copies of the filled part only), the s' kept apart, and where the next
        row goes."""
        filled = {name: getattr(self, name)[: self.size].clone() for name in self.stored}
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
        for name in self.stored:
            getattr(self, name)[:size] = state[name]
        self.newest_next.copy_(state["newest_next"])
        self.next_apart = {int(i): next_obs.to(self.obs.device) for i, next_obs in zip(state["apart_index"], state["apart_next"])}
        self.position, self.size = int(state["position"]), size

    def uniform_index(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """``batch_size`` slots drawn uniformly with replacement from the stored ones."""
        return torch.randint(self.size, (batch_size,), generator=generator).to(self.rewards.device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """A flat Batch of ``batch_size`` one-step transitions drawn uniformly with replacement."""
        return self.rows(self.uniform_index(batch_size, generator))

    def sequence_index(self, count: int, length: int, generator: torch.Generator | None = None) -> Tensor:
        """``[length, count]`` slots: ``count`` windows of ``length`` consecutive steps of one env each (a uniformly
        drawn env and first row among those whose window is stored whole), time-major. Needs ``length`` rows."""
        n, rows = self.num_envs, self.size // self.num_envs
        if rows < length:
            raise ValueError(f"sequences of {length} steps need {length} stored rows, this buffer holds {rows}")
        oldest = self.position // n if self.size == self.capacity else 0
        first = torch.randint(rows - length + 1, (count,), generator=generator)
        env = torch.randint(n, (count,), generator=generator)
        row = (oldest + first[None, :] + torch.arange(length)[:, None]) % (self.capacity // n)
        return (row * n + env[None, :]).to(self.rewards.device)

    def sequences(self, index: Tensor) -> Batch:
        """The windows at ``index [L, M]`` (``sequence_index``) as a flat time-major Batch of M columns:
        one-step transitions with ``truncated`` as stored, ``memory`` the state each step acted from and
        ``starts`` where an episode begins after the window's first step (its stored memory is already zeroed)."""
        flat = index.reshape(-1)
        batch = self._batch(flat, self.rewards[flat], flat, None)
        batch.truncated = self.truncated[flat]
        ended = (self.terminated[index] | self.truncated[index])
        batch.starts = torch.cat([torch.zeros_like(ended[:1]), ended[:-1]]).reshape(-1)
        batch.memory = self.memory[flat] if self.memory is not None else None
        batch.columns = index.shape[1]
        return batch

    def newer_rows(self, index: Tensor) -> Tensor:
        """How many rows were added after the one of each slot in ``index`` (0 for the newest row)."""
        n = self.num_envs
        return ((self.position - (index - index % n) - n) % self.capacity) // n

    def rows(self, index: Tensor, n_step: int = 1, gamma: float = 1.0) -> Batch:
        """The transitions at ``index`` as a flat Batch, each summed over up to ``n_step`` of its env's steps:
        rewards R = sum_{j<k} gamma^j r_{t+j}, next_obs s_{t+k}, terminated that of step t+k-1, and
        discounts gamma^k, where k <= n_step stops after the step that ends an episode (terminated or
        truncated) and at the newest row. With n_step 1: the stored transitions, discounts None (the
        trainer's gamma)."""
        if n_step == 1:
            return self._batch(index, self.rewards.index_select(0, index), index, None)
        n = self.num_envs
        steps = torch.arange(n_step, device=index.device)
        slots = (index[:, None] + steps * n) % self.capacity  # [B, n]: the same env's next transitions
        ended = self.terminated[slots] | self.truncated[slots]
        after_end = (ended.long().cumsum(1) - ended.long()) > 0  # a step after the episode ended
        valid = (steps <= self.newer_rows(index)[:, None]) & ~after_end
        k = valid.sum(1)  # >= 1: the first step is always the transition itself
        rewards = (self.rewards[slots] * gamma ** steps.to(torch.float32) * valid).sum(1)
        last = slots.gather(1, (k - 1)[:, None]).squeeze(1)
        return self._batch(index, rewards, last, gamma ** k.to(torch.float32))

    def _batch(self, index: Tensor, rewards: Tensor, last: Tensor, discounts: Tensor | None) -> Batch:
        """Transitions from the slots ``index`` to the next observation of the slots ``last``."""
        terminated = self.terminated.index_select(0, last)
        return Batch(
            obs=self.obs.index_select(0, index),
            actions=self.actions.index_select(0, index),
            log_probs=torch.zeros_like(rewards),
            rewards=rewards,
            terminated=terminated,
            truncated=torch.zeros_like(terminated),
            next_obs=self.next_observations(last),
            discounts=discounts,
        )
