"""Replayed sequences for a recurrent off-policy learner (R2D2's stored state and burn-in, Kapturowski et
al. 2019): windows of B + T consecutive steps of one env each, their recurrences re-run from the memory the
window's first step acted with, the first B steps only to warm that memory up, the losses on the last T."""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.kinds.replay import Replay
from pgkit.nn.recurrent import RecurrentTorso, recurrent_torsos, run_as_sequences


@dataclass
class ReplayedSequences:
    """A minibatch of M windows, ready for the losses. ``batch`` is their last T steps as flat time-major rows
    (``[T * M]``); the online modules read ``batch.obs`` inside ``online()``. The TD target's next values are
    those of the rows ``next_rows`` of ``next_obs``, read inside ``target()``: the window's steps after the
    burn-in and the last step's next observation (T + 1 steps of M columns), plus one column per step that a
    time limit ended inside the window, whose next step is the episode's final observation (E more columns),
    so every bootstrap reads the state of its own episode."""

    batch: Batch
    online_torsos: tuple[RecurrentTorso, ...]
    online_memory: Tensor  # [M, S]: after the burn-in
    target_torsos: tuple[RecurrentTorso, ...]
    target_memory: Tensor  # [M + E, S]
    next_obs: Tensor  # [(T + 1) * (M + E), ...]
    next_starts: Tensor  # [T + 1, M + E]
    next_rows: Tensor  # [T * M]: the row of next_obs each transition bootstraps from

    def online(self) -> AbstractContextManager:
        """The block in which the online policy and critic read ``batch.obs`` as the windows' T steps."""
        return run_as_sequences(self.online_torsos, self.online_memory, self.batch.starts.view(-1, self.batch.columns))

    def target(self) -> AbstractContextManager:
        """The block in which the TD target's modules read ``next_obs`` as T + 1 steps of M + E columns."""
        return run_as_sequences(self.target_torsos, self.target_memory, self.next_starts)


@torch.no_grad()
def _burn_in(torsos: tuple[RecurrentTorso, ...], modules: tuple[nn.Module, nn.Module], memory: Tensor, obs: Tensor,
             actions: Tensor, starts: Tensor) -> Tensor:
    """The memory of ``modules`` (a policy and a critic) after reading ``obs [B, M, ...]`` from ``memory``."""
    if not len(obs):
        return memory
    policy, critic = modules
    with run_as_sequences(torsos, memory, starts) as sequences:
        policy(obs.flatten(0, 1))
        critic(obs.flatten(0, 1), actions.flatten(0, 1))
    return sequences.final


def replay_sequences(
    replay: Replay, online: tuple[nn.Module, nn.Module], target: tuple[nn.Module, nn.Module], count: int, burn_in: int, length: int,
    generator: torch.Generator, progress: float,
) -> ReplayedSequences:
    """Draw ``count`` windows of ``burn_in + length`` steps from ``replay`` and burn the memories of the
    ``online`` and ``target`` (policy, critic) pairs in over their first ``burn_in`` steps. The memory stored
    with each window's first step is the acting policy's; a torso the actor did not run (the critic's) starts
    it from zeros, which the burn-in warms up."""
    steps = burn_in + length
    drawn = replay.sample_sequences(count, steps, generator, progress)
    view = lambda t: t.view(steps, count, *t.shape[1:])  # noqa: E731
    obs, actions, next_obs, starts = view(drawn.obs), view(drawn.actions), view(drawn.next_obs), view(drawn.starts)
    first_memory = view(drawn.memory)[0]
    online_torsos, target_torsos = recurrent_torsos(*online), recurrent_torsos(*target)
    burnt = slice(0, burn_in)
    online_memory = _burn_in(online_torsos, online, first_memory, obs[burnt], actions[burnt], starts[burnt])
    target_memory = _burn_in(target_torsos, target, first_memory, obs[burnt], actions[burnt], starts[burnt])
    batch = dataclasses.replace(drawn.rows(torch.arange(burn_in * count, steps * count, device=drawn.rewards.device)), columns=count)

    # next observations: the trained steps, then the last one's s'; a step a time limit ended inside the window
    # bootstraps from its final observation, which another column holds in the place of the next episode's start
    sequence = torch.cat([obs[burn_in:], next_obs[-1:]])  # [T + 1, M, ...]
    sequence_starts = torch.cat([starts[burn_in:], torch.zeros_like(starts[:1])])
    cut = view(drawn.truncated)[burn_in:-1].nonzero()  # (t, m) of ended-by-time-limit steps before the last
    t, m = cut[:, 0], cut[:, 1]
    extra = sequence[:, m].clone()
    extra[t + 1, torch.arange(len(m))] = next_obs[burn_in + t, m]
    extra_starts = sequence_starts[:, m].clone()
    extra_starts[t + 1, torch.arange(len(m))] = False
    columns = count + len(m)
    rows = (torch.arange(length, device=t.device)[:, None] + 1) * columns + torch.arange(count, device=t.device)
    rows[t, m] = (t + 1) * columns + count + torch.arange(len(m), device=t.device)
    return ReplayedSequences(
        batch, online_torsos, online_memory, target_torsos, torch.cat([target_memory, target_memory[m]]),
        torch.cat([sequence, extra], dim=1).flatten(0, 1), torch.cat([sequence_starts, extra_starts], dim=1), rows.reshape(-1),
    )
