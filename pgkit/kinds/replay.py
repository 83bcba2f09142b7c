"""Kind ``replay``: where an off-policy trainer keeps the transitions it collects, and how it draws its
minibatches from them (uniformly, by priority, as n-step returns)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch
from pydantic import Field
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.data.goals import GoalLayout
from pgkit.kinds.component import Component, Spec


@dataclass(frozen=True)
class ReplayLayout:
    """What a replay stores, as the trainer that owns it gives it."""

    capacity: int  # transitions (the trainer's buffer_size)
    obs_shape: tuple[int, ...]
    obs_dtype: torch.dtype
    action_shape: tuple[int, ...]
    device: torch.device
    num_envs: int  # transitions added at a time, one per env
    gamma: float  # the TD target's discount (n-step returns sum with it)
    goals: GoalLayout | None = None  # given to a replay that requires goal_observations: where the goals are, their reward
    memory_size: int = 0  # S: a recurrent agent's memory stored with each transition (a replay that provides sequences)


class ReplaySpec(Spec):
    n_step: int = Field(
        1, ge=1, le=1000, description="Steps per replayed transition: R = sum_{j<k} gamma^j r_{t+j}, bootstrapped from s_{t+k} with gamma^k; "
        "k = n_step, or fewer where the episode ends (terminated: no bootstrap; truncated: from its final observation) or the newest row is reached."
    )


class Replay(Component):
    """Holds an off-policy trainer's transitions and draws minibatches of them. ``allocate`` is called once
    (at the trainer's setup, before a checkpoint is restored into it); ``add`` with each vector step's
    transitions; ``sample`` for every gradient step (``sample_sequences`` instead for a recurrent agent, from a
    replay that provides ``sequences``); ``update_priorities`` after each critic step with the minibatch's TD
    errors, when the replay requires ``td_errors``. Its state (every stored transition) is checkpointed as a
    component's is."""

    kind = "replay"
    Spec = ReplaySpec

    @abstractmethod
    def allocate(self, layout: ReplayLayout) -> None:
        """Make the storage for ``layout`` (check memory first: ``pgkit.data.check_memory``)."""

    @abstractmethod
    def add(
        self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor, truncated: Tensor, memory: Tensor | None = None
    ) -> None:
        """Store one transition per env (each ``[N, ...]``): next_obs is the true final observation where an episode
        ended; ``memory [N, S]`` the recurrent agent's memory each acted from (given where layout.memory_size > 0)."""

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator, progress: float) -> Batch:
        """A flat Batch of ``batch_size`` transitions: obs, actions, rewards (n-step sums), terminated, next_obs
        (s_{t+k}), discounts (gamma^k) and, for a prioritized draw, importance weights; ``progress`` is the
        fraction of training done (for annealed parameters)."""

    @abstractmethod
    def __len__(self) -> int:
        """Transitions stored."""

    def sample_sequences(self, count: int, length: int, generator: torch.Generator, progress: float) -> Batch:
        """``count`` windows of ``length`` consecutive steps of one env each, as a flat time-major Batch of
        ``count`` columns with ``memory`` (the state each step acted from) and ``starts`` (where an episode
        begins inside a window): what a recurrent agent learns from. Only a replay that provides ``sequences``."""
        raise NotImplementedError(f"replay '{self.name}' draws single transitions, not sequences")

    def update_priorities(self, batch: Batch, td_errors: Tensor) -> None:
        """New priorities for the transitions of a batch this replay drew, from their TD errors ``[B]``.
        Default: none (a replay without priorities)."""
