"""Exact policy gradients of small tabular MDPs, to test estimators for bias.

J(theta) = mu^T (I - gamma P_pi)^{-1} r_pi for a softmax policy pi(a|s) = softmax(theta[s])_a, with
P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'] (transitions into the absorbing terminal state left out) and
r_pi[s] = sum_a pi(a|s) R[s, a]; autograd gives grad J exactly. ``sample_gradient`` estimates the
same gradient from sampled episodes with an advantage estimator and a baseline, as training does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pgkit.data.batch import Batch
from pgkit.builtins.objectives.reinforce import Reinforce
from pgkit.kinds import Advantage, Baseline, LossContext


@dataclass(frozen=True)
class TabularMDP:
    """``transitions[s, a, s']`` over S + 1 next states, the last being the absorbing terminal state."""

    transitions: torch.Tensor  # [S, A, S + 1]
    rewards: torch.Tensor  # [S, A], deterministic
    initial: torch.Tensor  # [S]
    gamma: float = 1.0

    @property
    def num_states(self) -> int:
        return self.rewards.shape[0]

    @classmethod
    def random(cls, num_states: int = 3, num_actions: int = 2, seed: int = 0, end_probability: float = 0.3) -> TabularMDP:
        """A random MDP whose every step ends the episode with probability ``end_probability``."""
        g = torch.Generator().manual_seed(seed)
        moves = torch.rand(num_states, num_actions, num_states, generator=g, dtype=torch.float64)
        moves = (1 - end_probability) * moves / moves.sum(-1, keepdim=True)
        ends = torch.full((num_states, num_actions, 1), end_probability, dtype=torch.float64)
        rewards = torch.randn(num_states, num_actions, generator=g, dtype=torch.float64)
        initial = torch.softmax(torch.randn(num_states, generator=g, dtype=torch.float64), 0)
        return cls(torch.cat([moves, ends], -1), rewards, initial)


class TabularPolicy(nn.Module):
    """pi(a|s) = softmax(theta[s])_a over Discrete states."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone().double())

    def forward(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.logits[obs.long()])


def exact_gradient(mdp: TabularMDP, logits: torch.Tensor) -> torch.Tensor:
    """grad_theta J(theta), [S, A], in closed form."""
    theta = logits.clone().double().requires_grad_(True)
    pi = torch.softmax(theta, -1)
    p_pi = torch.einsum("sa,sat->st", pi, mdp.transitions[:, :, :-1])
    r_pi = (pi * mdp.rewards).sum(-1)
    values = torch.linalg.solve(torch.eye(mdp.num_states, dtype=torch.float64) - mdp.gamma * p_pi, r_pi)
    (grad,) = torch.autograd.grad(mdp.initial @ values, theta)
    return grad


def _episodes(mdp: TabularMDP, pi: np.ndarray, count: int, rng: np.random.Generator) -> Batch:
    """``count`` complete episodes back to back in one env column, each ending in a termination
    (simulated side by side, then laid out episode after episode)."""
    num_states = mdp.num_states
    transitions = mdp.transitions.numpy().cumsum(-1)
    policy = pi.cumsum(-1)
    state = np.searchsorted(mdp.initial.numpy().cumsum(), rng.random(count), side="right").clip(max=num_states - 1)
    alive = np.arange(count)
    records = []  # (episode, step, state, action, reward, terminated, next_state)
    step = 0
    while len(alive):
        s = state[alive]
        a = (rng.random(len(alive))[:, None] > policy[s]).sum(-1).clip(max=pi.shape[1] - 1)
        following = (rng.random(len(alive))[:, None] > transitions[s, a]).sum(-1).clip(max=num_states)
        ended = following == num_states
        records.append(np.stack([alive, np.full(len(alive), step), s, a, mdp.rewards.numpy()[s, a], ended, np.minimum(following, num_states - 1)], 1))
        state[alive] = np.minimum(following, num_states - 1)
        alive, step = alive[~ended], step + 1
    table = np.concatenate(records)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    column = lambda values, dtype: torch.tensor(values, dtype=dtype).unsqueeze(1)  # noqa: E731
    rewards = column(table[:, 4], torch.float64)
    return Batch(
        obs=column(table[:, 2], torch.long), actions=column(table[:, 3], torch.long), log_probs=torch.zeros_like(rewards),
        rewards=rewards, terminated=column(table[:, 5], torch.bool), truncated=torch.zeros_like(rewards, dtype=torch.bool),
        next_obs=column(table[:, 6], torch.long), prior_rewards=torch.zeros(1, dtype=torch.float64),
        values=torch.zeros_like(rewards), next_values=torch.zeros_like(rewards),
    )


def sample_gradient(
    mdp: TabularMDP,
    logits: torch.Tensor,
    advantage: Advantage,
    baseline: Baseline,
    chunks: int = 40,
    episodes_per_chunk: int = 200,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, standard error) over ``chunks`` of the REINFORCE estimate sum_t grad log pi(a_t|s_t) Phi_t
    per episode, Phi from ``advantage`` minus ``baseline`` (refit between chunks, as between batches)."""
    rng = np.random.default_rng(seed)
    policy = TabularPolicy(logits)
    pi = torch.softmax(policy.logits.detach(), -1).numpy()
    estimates = []
    for _ in range(chunks):
        batch = _episodes(mdp, pi, episodes_per_chunk, rng)
        advantage(batch, baseline(batch))
        baseline.update(batch)
        loss, _ = Reinforce().loss(batch.flatten(), LossContext(policy))
        (grad,) = torch.autograd.grad(loss, policy.logits)
        estimates.append(-grad * batch.num_steps / episodes_per_chunk)  # the loss is minus a mean over steps
    stacked = torch.stack(estimates)
    return stacked.mean(0), stacked.std(0) / math.sqrt(chunks)
