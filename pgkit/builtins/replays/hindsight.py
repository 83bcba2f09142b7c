"""Replay ``hindsight``: hindsight experience replay (Andrychowicz et al. 2017) for goal envs."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.data import GoalLayout, ReplayBuffer, ReplayEpisodes
from pgkit.kinds import Replay, ReplayLayout, ReplaySpec
from pgkit.kinds.capabilities import GOAL_OBSERVATIONS, RAW_OBSERVATIONS

FALLBACK_AFTER = 8  # rounds of redrawing slots outside whole episodes before drawing among the whole ones directly


class HindsightSpec(ReplaySpec):
    goal_selection: Literal["future", "final", "episode"] = Field(
        "future", description="Where a relabelled transition's new goal comes from: the goal achieved at a step t' of the same episode, "
        "t' drawn uniformly from t..L-1 (future), t' = L-1 (final), or from 0..L-1 (episode)."
    )
    n_sampled_goal: int = Field(
        4, ge=0, le=1000, description="Relabelled transitions per real one: each drawn transition gets a new goal with probability k / (k + 1) (0: none)."
    )

    @model_validator(mode="after")
    def _one_step(self) -> HindsightSpec:
        if self.n_step != 1:
            raise ValueError(f"n_step {self.n_step}: hindsight relabels one-step transitions (an n-step return would need every step's "
                             "reward recomputed for the new goal); set n_step: 1")
        return self


class Hindsight(Replay):
    """Transitions of whole stored episodes drawn uniformly, each given, with probability k / (k + 1), the goal
    it achieved at a later step t' of its episode (``future``; ``final``: the last; ``episode``: any) in place
    of its desired goal, in s and s', with the reward the env's own compute_reward gives for the goal achieved
    in s' (Andrychowicz et al. 2017; the goal-selection strategies and k as in Stable-Baselines3's
    HerReplayBuffer). Until an episode has ended, every stored transition is drawn as it is."""

    name = "hindsight"
    Spec = HindsightSpec
    requires = frozenset({GOAL_OBSERVATIONS, RAW_OBSERVATIONS})

    def allocate(self, layout: ReplayLayout) -> None:
        if layout.goals is None:
            raise ValueError("replay 'hindsight' was allocated without the goal layout (ReplayLayout.goals); the trainer gives it to "
                             "replays that require goal_observations")
        self.buffer = ReplayBuffer(layout.capacity, layout.obs_shape, layout.obs_dtype, layout.action_shape, layout.device, layout.num_envs)
        self._goals: GoalLayout = layout.goals
        self.episodes = ReplayEpisodes(self.buffer.capacity, self.buffer.num_envs, layout.device)
        a0, a1 = layout.goals.achieved  # the goal achieved in each slot's s', kept beside the buffer (derived, not saved)
        self._next_achieved = torch.zeros((self.buffer.capacity, a1 - a0), dtype=torch.float32, device=layout.device)

    def add(
        self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, terminated: Tensor, truncated: Tensor, memory: Tensor | None = None
    ) -> None:
        slots = self.buffer.position + torch.arange(self.buffer.num_envs, device=self.buffer.rewards.device)
        self.buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
        self.episodes.add(slots, terminated | truncated)
        a0, a1 = self._goals.achieved
        self._next_achieved[slots] = next_obs[:, a0:a1].float()

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        a0, a1 = self._goals.achieved
        stored = torch.arange(len(self.buffer), device=self._next_achieved.device)
        self._next_achieved[stored] = self.buffer.next_observations(stored)[:, a0:a1].float()

    def sample(self, batch_size: int, generator: torch.Generator, progress: float) -> Batch:
        if not self.episodes.whole_slots:
            return self.buffer.sample(batch_size, generator)
        index = self._draw_whole(batch_size, generator)
        batch = self.buffer.rows(index)
        k = self.spec.n_sampled_goal
        if k:
            self._relabel(batch, index, (torch.rand(batch_size, generator=generator) < k / (k + 1)).to(index.device), generator)
        return batch

    def __len__(self) -> int:
        return len(self.buffer)

    def _draw_whole(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """``batch_size`` slots drawn uniformly among those of whole episodes: uniform stored slots, those outside
        one drawn again (a few rounds: nearly all stored slots are in whole episodes), then directly among the
        rest. Costs O(batch_size) per round, not O(stored slots), until that last step."""
        size = len(self.buffer)
        index = self.buffer.uniform_index(batch_size, generator)
        for _ in range(FALLBACK_AFTER):
            outside = (~self.episodes.whole(index)).nonzero().flatten()
            if not len(outside):
                return index
            index[outside] = self.buffer.uniform_index(len(outside), generator)
        outside = ~self.episodes.whole(index)
        candidates = self.episodes.whole_slot_list(size)
        index[outside] = candidates[torch.randint(len(candidates), (int(outside.sum()),), generator=generator).to(index.device)]
        return index

    def _relabel(self, batch: Batch, slots: Tensor, relabelled: Tensor, generator: torch.Generator) -> None:
        """New desired goals, and their rewards, for the rows ``relabelled`` [B] of ``batch`` (drawn from ``slots`` [B]):
        computed for every row at once, kept where relabelled."""
        step, length = self.episodes.step[slots], self.episodes.length[slots]
        uniform = torch.rand(len(slots), generator=generator).to(slots.device)
        strategy = self.spec.goal_selection
        if strategy == "future":
            source_step = step + (uniform * (length - step)).long()
        elif strategy == "final":
            source_step = length - 1
        else:
            source_step = (uniform * length).long()
        d0, d1 = self._goals.desired
        goals = torch.where(relabelled[:, None], self._next_achieved.index_select(0, self.episodes.slot_at(slots, source_step)), batch.obs[:, d0:d1])
        batch.obs[:, d0:d1] = goals
        batch.next_obs[:, d0:d1] = goals
        rewards = self._goals.compute_reward(self._next_achieved.index_select(0, slots).cpu().numpy(), goals.cpu().numpy())
        batch.rewards = torch.where(relabelled, torch.as_tensor(rewards, dtype=batch.rewards.dtype).to(batch.rewards.device), batch.rewards)


@hookimpl
def register_replays(register):
    register(Hindsight)
