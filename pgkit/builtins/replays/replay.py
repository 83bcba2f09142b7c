"""Replays ``uniform`` and ``prioritized`` (Schaul et al. 2016): transitions drawn uniformly or in
proportion to their TD errors, either as n-step returns."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.data import ReplayBuffer, SumTree
from pgkit.kinds import Replay, ReplayLayout, ReplaySpec
from pgkit.kinds.capabilities import SEQUENCES, TD_ERRORS

INDEX = "replay_index"  # the batch extra that holds the slots a prioritized minibatch was drawn from


class Uniform(Replay):
    """Every stored transition equally likely (the DQN and DDPG buffer), each observation stored once; n_step > 1
    replays n-step returns. For a recurrent agent (n_step 1) every window of an env's consecutive steps equally
    likely, with the memory its steps acted from (R2D2's stored state)."""

    name = "uniform"

    @property
    def provides(self) -> frozenset:
        return frozenset({SEQUENCES}) if self.spec.n_step == 1 else frozenset()

    def allocate(self, layout: ReplayLayout) -> None:
        self.gamma = layout.gamma
        self.buffer = ReplayBuffer(
            layout.capacity, layout.obs_shape, layout.obs_dtype, layout.action_shape, layout.device, layout.num_envs, layout.memory_size
        )

    def add(
        self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor, truncated: Tensor, memory: Tensor | None = None
    ) -> None:
        self.buffer.add(obs, actions, rewards, next_obs, terminated, truncated, memory)

    def sample(self, batch_size: int, generator: torch.Generator, progress: float) -> Batch:
        return self.buffer.rows(self.buffer.uniform_index(batch_size, generator), self.spec.n_step, self.gamma)

    def sample_sequences(self, count: int, length: int, generator: torch.Generator, progress: float) -> Batch:
        return self.buffer.sequences(self.buffer.sequence_index(count, length, generator))

    def __len__(self) -> int:
        return len(self.buffer)


class PrioritizedSpec(ReplaySpec):
    alpha: float = Field(0.6, ge=0, description="Priority exponent: P(i) = p_i^alpha / sum_k p_k^alpha (0: uniform).")
    beta: float = Field(0.4, ge=0, le=1, description="Importance-sampling exponent at the start, annealed linearly to 1 by the end of training.")
    epsilon: float = Field(1e-6, gt=0, description="Added to |TD error|, so no transition's priority is 0: p_i = |delta_i| + epsilon.")


class Prioritized(Uniform):
    """Transitions drawn with probability proportional to |TD error|^alpha (a sum tree), new ones at the highest priority so far; the critic's regression weighted by (N P(i))^-beta / max_j w_j over the minibatch (Schaul et al. 2016)."""

    name = "prioritized"
    Spec = PrioritizedSpec
    provides = frozenset()  # draws single transitions only
    requires = frozenset({TD_ERRORS})

    def allocate(self, layout: ReplayLayout) -> None:
        super().allocate(layout)
        self.tree = SumTree(self.buffer.capacity)
        self.highest = 1.0  # the highest p^alpha so far: new transitions' priority

    def add(
        self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor, truncated: Tensor, memory: Tensor | None = None
    ) -> None:
        slots = self.buffer.position + torch.arange(self.buffer.num_envs)
        super().add(obs, actions, rewards, next_obs, terminated, truncated, memory)
        self.tree.set(slots, torch.full((len(slots),), self.highest, dtype=torch.float64))

    def sample(self, batch_size: int, generator: torch.Generator, progress: float) -> Batch:
        index = self.tree.sample(batch_size, len(self.buffer), generator)
        probability = self.tree.priorities(index) / self.tree.total
        beta = self.spec.beta + (1.0 - self.spec.beta) * min(max(progress, 0.0), 1.0)
        weights = (len(self.buffer) * probability) ** -beta
        device = self.buffer.rewards.device
        batch = self.buffer.rows(index.to(device), self.spec.n_step, self.gamma)
        batch.weights = (weights / weights.max()).to(torch.float32).to(device)
        batch.extras[INDEX] = index
        return batch

    def update_priorities(self, batch: Batch, td_errors: Tensor) -> None:
        priorities = (td_errors.detach().double().cpu() + self.spec.epsilon) ** self.spec.alpha
        self.tree.set(batch.extras[INDEX], priorities)
        self.highest = max(self.highest, float(priorities.max()))


@hookimpl
def register_replays(register):
    register(Uniform)
    register(Prioritized)
