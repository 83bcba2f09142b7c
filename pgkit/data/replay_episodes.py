"""Which stored transitions of a replay buffer belong to which episode: for each slot, its step within its
episode and, once that episode has ended, the episode's length (what hindsight relabelling draws goals from)."""

from __future__ import annotations

import torch
from torch import Tensor


class ReplayEpisodes:
    """Episode bookkeeping beside a ``ReplayBuffer`` of the same ``capacity`` and N envs, whose slot i + N
    holds the same env's transition after slot i's. ``step[i]`` is the transition's step t within its
    episode; ``length[i]`` is the episode's length L once it has ended (terminated or truncated), and 0
    while it runs, once a newer row has overwritten any of its transitions, or when it is too long to be
    held whole (L > capacity / N). So a slot with ``length > 0`` is part of a whole stored episode, whose
    step t' sits at slot i + (t' - t) N (modulo the capacity)."""

    def __init__(self, capacity: int, num_envs: int, device: torch.device | str = "cpu"):
        self.capacity, self.num_envs = capacity, num_envs
        self.step = torch.zeros(capacity, dtype=torch.long, device=device)
        self.length = torch.zeros(capacity, dtype=torch.long, device=device)
        self.running = torch.zeros(num_envs, dtype=torch.long, device=device)  # steps taken in each env's current episode
        self.whole_slots = 0  # how many slots have length > 0

    def add(self, slots: Tensor, ended: Tensor) -> None:
        """Record one transition per env at ``slots`` (one row, [N]); ``ended`` [N]: its episode ended there."""
        overwritten = self.length[slots] > 0
        for i in slots[overwritten].tolist():  # the whole old episode stops being one
            length = int(self.length[i])
            self.length[self._episode_slots(i, length)] = 0
            self.whole_slots -= length
        self.step[slots], self.length[slots] = self.running, 0
        self.running += 1
        for e in ended.nonzero().flatten().tolist():
            episode_length = int(self.running[e])
            if episode_length <= self.capacity // self.num_envs:
                self.length[self._episode_slots(int(slots[e]), episode_length)] = episode_length
                self.whole_slots += episode_length
            self.running[e] = 0

    def slot_at(self, slots: Tensor, steps: Tensor) -> Tensor:
        """The slot of step ``steps[b]`` of the episode that holds ``slots[b]``."""
        return (slots + (steps - self.step[slots]) * self.num_envs) % self.capacity

    def _episode_slots(self, slot: int, length: int) -> Tensor:
        """Every slot of the episode (of ``length`` steps) that holds ``slot``."""
        return self.slot_at(torch.full((length,), slot, device=self.step.device), torch.arange(length, device=self.step.device))

    def whole(self, slots: Tensor) -> Tensor:
        """Whether each of ``slots`` is part of a whole stored episode, bool of the same shape."""
        return self.length[slots] > 0

    def whole_slot_list(self, size: int) -> Tensor:
        """Every slot among the first ``size`` that is part of a whole stored episode, in order."""
        return (self.length[:size] > 0).nonzero().flatten()

    def state_dict(self) -> dict:
        return {"step": self.step.clone(), "length": self.length.clone(), "running": self.running.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.step.copy_(state["step"])
        self.length.copy_(state["length"])
        self.running.copy_(state["running"])
        self.whole_slots = int((self.length > 0).sum())
