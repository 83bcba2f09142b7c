"""Batches of turn-based games (``pgkit.envs.turn_columns``): each column's own turns, back to back.

In a column of a turn-based game the agent acts at some steps and waits at the others. Its transition from the
turn at step t runs to its next turn u (or to the end of its episode at d, whichever comes first): the reward is
the sum of the column's rewards over [t, u) (or [t, d]), the next observation its observation at u (or its final
one at d). Packing each column's turns into its first rows, in order, makes a ``[T, N]`` batch whose rows follow
one another as an ordinary env's steps do, so every estimator (GAE, n-step, V-trace, reward-to-go) works
unchanged: the last turn of a column is cut there (truncated: bootstrapped from V of its next turn's
observation), and the rows after it are idle (``Batch.alive`` false), out of every loss.

A turn that is still waiting when the batch's T steps are taken is completed by stepping on (the collector's
``turns_waiting``); the moves made in those extra steps are taken but not learned from, as a whole-episode
batch drops the steps after its episodes end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PackedTurns:
    """Where each packed row ``[j, n]`` (the j-th turn of column n) comes from, and its transition."""

    source: np.ndarray  # [T, N] int: the step the turn was taken at (0 in idle rows)
    kept: np.ndarray  # [T, N] bool: the row holds a turn
    rewards: np.ndarray  # [T, N] the rewards from the turn to the next (0 in idle rows)
    terminated: np.ndarray  # [T, N] bool: the agent's episode ended in a terminal state before its next turn (idle rows: true)
    truncated: np.ndarray  # [T, N] bool: its episode was cut before its next turn, or its last turn of the batch
    next_step: np.ndarray  # [T, N] int: the step of the observation that follows: the next turn's (u), or with ``ended`` the episode's last (d)
    ended: np.ndarray  # [T, N] bool: the next observation is the final one of step d (``next_obs[d]``), not the observation at u

    def gather(self, steps: np.ndarray) -> np.ndarray:
        """``steps`` ([S, N, ...], per step and column) at the rows' turns: [T, N, ...]."""
        return steps[self.source, np.arange(self.source.shape[1])]

    def next_observations(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The rows' next observations from ``obs`` ([S + 1, N, ...], the observation at each step, the current one
        last) and ``next_obs`` ([S, N, ...], each step's, the final one where an episode ended)."""
        columns = np.broadcast_to(np.arange(self.source.shape[1]), self.source.shape)
        following = obs[self.next_step, columns]
        following[self.ended] = next_obs[self.next_step[self.ended], columns[self.ended]]
        return following


def turns_waiting(alive: np.ndarray, done: np.ndarray) -> np.ndarray:
    """[N] bool: the columns whose last turn of K steps has reached neither the column's next turn nor its episode's
    end, from ``alive`` ([K + 1, N]: whose turn it is at each step's observation, the current one last) and ``done``
    ([K, N]: the steps that ended a column's episode)."""
    waiting = np.zeros(alive.shape[1], dtype=bool)
    for taken, ended in zip(alive[:-1], done):
        waiting = (waiting | taken) & ~ended
    return waiting & ~alive[-1]


def packed_turns(alive: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, num_steps: int) -> PackedTurns:
    """Each column's turns among the first ``num_steps`` steps, packed (see the module). ``alive`` is [S + 1, N]
    (whose turn it is at each step's observation, the current one last), ``rewards``, ``terminated`` and
    ``truncated`` [S, N], S >= ``num_steps``, with no turn of the first ``num_steps`` steps pending at step S."""
    total, num_envs = rewards.shape
    done = terminated | truncated
    next_turn = np.empty((total + 1, num_envs), dtype=np.int64)  # the first step u > t that is the column's turn
    next_end = np.empty((total + 1, num_envs), dtype=np.int64)  # the first step d >= t that ends the column's episode
    next_turn[total], next_end[total] = total + 1, total + 1  # none
    for t in reversed(range(total)):
        next_turn[t] = np.where(alive[t + 1], t + 1, next_turn[t + 1])
        next_end[t] = np.where(done[t], t, next_end[t + 1])
    ended = next_end < next_turn
    stop = np.where(ended, next_end + 1, next_turn)  # the turn's steps are [t, stop)
    turn_taken = alive[:num_steps]
    if np.any(turn_taken & (stop[:num_steps] > total)):
        raise ValueError("packed_turns: a turn of the batch is still pending at its last step")
    summed = np.concatenate([np.zeros((1, num_envs)), np.cumsum(rewards, axis=0, dtype=np.float64)])
    columns = np.arange(num_envs)
    steps, owners = np.nonzero(turn_taken)  # time-major: each column's turns in order
    rank = np.cumsum(turn_taken, axis=0)[steps, owners] - 1
    source = np.zeros((num_steps, num_envs), dtype=np.int64)
    source[rank, owners] = steps
    kept = np.arange(num_steps)[:, None] < turn_taken.sum(0)
    turn_stop = stop[source, columns]
    packed_ended = ended[source, columns] & kept
    end_step = np.minimum(next_end[source, columns], total - 1)
    terminated_rows = np.where(kept, packed_ended & terminated[end_step, columns], True)
    truncated_rows = packed_ended & truncated[end_step, columns]
    last = kept & ~np.vstack([kept[1:], np.zeros((1, num_envs), dtype=bool)])  # each column's last turn: cut there
    truncated_rows |= last & ~terminated_rows
    return PackedTurns(
        source=source,
        kept=kept,
        rewards=np.where(kept, summed[turn_stop.clip(max=total), columns] - summed[source, columns], 0.0).astype(np.float32),
        terminated=terminated_rows,
        truncated=truncated_rows & kept,
        next_step=np.where(packed_ended, end_step, np.minimum(turn_stop, total)),
        ended=packed_ended,
    )
