"""The one batch type that flows through the on-policy loop.

Fields are time-major tensors ``[T, N, ...]`` (T steps from N environments) until ``flatten``
turns them into ``[T * N, ...]`` rows for minibatches. ``terminated`` and ``truncated`` are kept
apart: after a termination the return is zero; after a truncation (a time limit, or the end of
this batch) it is bootstrapped from the value of ``next_obs``, which at an episode's end holds the
true final observation, not the first observation of the next episode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor

from pgkit.errors import TrainingError


PER_ENV_FIELDS = ("prior_rewards", "prior_steps")


@dataclass
class Batch:
    obs: Tensor  # [T, N, *obs_shape] observation the action was chosen from
    actions: Tensor  # [T, N, *action_shape] sampled (unclipped) actions
    log_probs: Tensor  # [T, N] log mu(a_t | s_t) under the policy that took the action (the behaviour policy)
    rewards: Tensor  # [T, N]
    terminated: Tensor  # [T, N] bool: the episode ended in a terminal state (no bootstrap)
    truncated: Tensor  # [T, N] bool: the episode was cut by a time limit (bootstrap from next_obs)
    next_obs: Tensor  # [T, N, *obs_shape] s_{t+1}; the true final observation where an episode ended
    prior_rewards: Tensor | None = None  # [N] reward each env's episode had gathered before this batch
    prior_steps: Tensor | None = None  # [N] steps each env's episode had taken before this batch
    values: Tensor | None = None  # [T, N] V(s_t) from the critic, if there is one
    next_values: Tensor | None = None  # [T, N] V(s_{t+1}) (of the final observation where one ended)
    advantages: Tensor | None = None  # [T, N] Phi_t, the weight of grad log pi(a_t|s_t)
    returns: Tensor | None = None  # [T, N] regression targets for the critic
    starts: Tensor | None = None  # [T, N] bool: s_t begins an episode (recurrent agents: their state is zeroed there)
    memory: Tensor | None = None  # [T, N, S] a recurrent agent's memory before step t (before the zeroing at a start)
    next_memory: Tensor | None = None  # [T, N, S] its memory after step t: the state that reads next_obs
    discounts: Tensor | None = None  # [B] replayed transitions: gamma^k, the discount of their bootstrap from next_obs (n-step: k steps on)
    weights: Tensor | None = None  # [B] replayed transitions: importance weights of a prioritized draw (None: all 1)
    learner_log_probs: Tensor | None = None  # [T, N] log pi(a_t | s_t) under the learner's policy when the batch reaches it (differs from log_probs when collection lags)
    alive: Tensor | None = None  # [T, N] bool: the column holds an acting agent at step t (multi-agent envs; a turn-based game's: row t holds a turn, pgkit.runtime.turns; None: every step is an agent's)
    extras: dict[str, Tensor] = field(default_factory=dict)  # fields added by plugins, same leading dims
    columns: int | None = None  # a flat batch of whole env columns, time-major: how many (None: rows in any order)

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        return self.rewards.shape[1]

    def _map_rows(self, fn) -> Batch:
        """Apply ``fn`` to every per-row tensor; drops the per-env fields, which have no time axis."""
        changes = {
            f.name: fn(value)
            for f in dataclasses.fields(self)
            if isinstance(value := getattr(self, f.name), Tensor) and f.name not in PER_ENV_FIELDS
        }
        return dataclasses.replace(
            self, **changes, **dict.fromkeys(PER_ENV_FIELDS), extras={k: fn(v) for k, v in self.extras.items()}
        )

    def flatten(self) -> Batch:
        """``[T, N, ...]`` -> ``[T * N, ...]``: one row per transition, time-major (``columns`` = N). Steps of idle
        columns (``alive`` false: an agent that finished early or has not joined, a native batch's reset step) are dropped, rows then in time-major
        order but no longer whole columns; a recurrent agent's batch, which needs whole columns, refuses them."""
        flat = dataclasses.replace(self._map_rows(lambda t: t.reshape(-1, *t.shape[2:])), columns=self.num_envs)
        if self.alive is None or bool(self.alive.all()):
            return flat
        if self.memory is not None:
            raise TrainingError("a recurrent agent learns from whole env columns, but some of this batch's columns were idle "
                                "(agents of a multi-agent env that finished early or joined late, or the reset steps of "
                                "env.vectorization native or envpool): use a non-recurrent network, or env.vectorization: sync")
        return flat.rows(flat.alive.nonzero().squeeze(1))

    def rows(self, index: Tensor) -> Batch:
        """Select rows of a flattened batch (in any order: ``columns`` is dropped)."""
        return dataclasses.replace(self._map_rows(lambda t: t[index]), columns=None)

    @classmethod
    def join(cls, batches: list[Batch], along_time: bool = False, device: torch.device | str | None = None) -> Batch:
        """One batch of several collected side by side (by workers): ``[T, N_i]`` windows joined along the
        env axis into ``[T, sum N_i]``, or with ``along_time`` whole-episode batches (one column ``[L_i, 1]``
        each) joined back to back into ``[sum L_i, 1]``. On ``device`` if given."""
        axis = 0 if along_time else 1

        def joined(name: str, values: list) -> Tensor | None:
            if values[0] is None:
                return None
            if name in PER_ENV_FIELDS:
                tensor = values[0] if along_time else torch.cat(values)  # episodes back to back began in this batch
            else:
                tensor = torch.cat(values, dim=axis)
            return tensor if device is None else tensor.to(device)

        first = batches[0]
        fields = {f.name: joined(f.name, [getattr(b, f.name) for b in batches])
                  for f in dataclasses.fields(first) if f.name not in ("extras", "columns")}
        extras = {key: joined(key, [b.extras[key] for b in batches]) for key in first.extras}
        return cls(**fields, extras=extras, columns=None)

    def minibatches(self, size: int | None, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Shuffled minibatches of a flattened batch; ``size=None`` yields the whole batch once. A batch with
        a recurrent agent's memory is cut into whole env columns instead (sequences are never shuffled
        inside): ``max(1, size // T)`` columns per minibatch, in shuffled order."""
        total = self.rewards.shape[0]
        if size is None or size >= total:
            yield self
            return
        if self.memory is not None:
            yield from self._column_minibatches(size, generator)
            return
        shuffled = self.rows(torch.randperm(total, generator=generator))  # one gather per field, then views
        for start in range(0, total, size):
            yield shuffled._map_rows(lambda t: t[start : start + size])

    def _column_minibatches(self, size: int, generator: torch.Generator | None) -> Iterator[Batch]:
        columns = self.columns
        if columns is None:
            raise ValueError("minibatches of whole env columns need a batch flattened by Batch.flatten (its rows are shuffled)")
        steps = self.rewards.shape[0] // columns
        per_minibatch = max(1, size // steps)
        order = torch.randperm(columns, generator=generator)
        time = torch.arange(steps).unsqueeze(1) * columns
        for start in range(0, columns, per_minibatch):
            chosen = order[start : start + per_minibatch]
            yield dataclasses.replace(self.rows((time + chosen).reshape(-1)), columns=len(chosen))
