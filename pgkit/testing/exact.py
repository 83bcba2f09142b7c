"""Exact policy gradients of small tabular MDPs, to test estimators for bias.

J(theta) = mu^T (I - gamma P_pi)^{-1} r_pi with P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'] (transitions
into the absorbing terminal state left out) and r_pi[s] = sum_a pi(a|s) R[s, a]; autograd gives grad J
exactly, for a softmax table (``exact_gradient``) or any policy module (``TabularMDP.policy_gradient``,
e.g. a recipe's agent on ``pgkit/RandomMDP-v0``). ``sample_gradient`` estimates the table's gradient from
sampled episodes with an advantage estimator, a baseline and any critic values, as training does.
"""

from __future__ import annotations

import math
import numpy as np
import torch
from torch import nn

from pgkit.builtins.objectives.reinforce import Reinforce
from pgkit.data.batch import Batch
from pgkit.envs.tabular import TabularMDP
from pgkit.kinds import Advantage, Baseline, LossContext


class TabularPolicy(nn.Module):
    """pi(a|s) = softmax(theta[s])_a over Discrete states."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone().double())

    def forward(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.logits[obs.long()])


def exact_gradient(
    mdp: TabularMDP, logits: torch.Tensor, horizon: int | None = None, bootstrapped: bool = False, behaviour_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """grad_theta J(theta), [S, A], in closed form, for pi(a|s) = softmax(theta[s])_a; with a time limit of
    ``horizon`` steps, the gradient of the time-limited return J_H, or with ``bootstrapped`` the
    partial-episode-bootstrapping gradient (see ``TabularMDP.bootstrapped_direction``); with ``behaviour_logits``
    (mu = softmax of them acts), the off-policy gradient at mu's visits (``TabularMDP.off_policy_direction``)."""
    theta = logits.clone().double().requires_grad_(True)
    pi = torch.softmax(theta, -1)
    if behaviour_logits is not None:
        target = mdp.off_policy_direction(pi, torch.softmax(behaviour_logits.double(), -1))
    elif horizon is None:
        target = mdp.objective(pi)
    else:
        target = mdp.bootstrapped_direction(pi, horizon) if bootstrapped else mdp.time_limited_objective(pi, horizon)
    (grad,) = torch.autograd.grad(target, theta)
    return grad


def _episodes(mdp: TabularMDP, pi: np.ndarray, count: int, rng: np.random.Generator, horizon: int | None = None) -> Batch:
    """``count`` complete episodes back to back in one env column, each ending in a termination or, after
    ``horizon`` steps, a truncation (simulated side by side, then laid out episode after episode)."""
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
        cut = ~ended & (horizon is not None and step + 1 >= horizon)
        records.append(np.stack([alive, np.full(len(alive), step), s, a, mdp.rewards.numpy()[s, a], ended, np.minimum(following, num_states - 1), cut], 1))
        state[alive] = np.minimum(following, num_states - 1)
        alive, step = alive[~(ended | cut)], step + 1
    table = np.concatenate(records)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    column = lambda values, dtype: torch.tensor(values, dtype=dtype).unsqueeze(1)  # noqa: E731
    rewards = column(table[:, 4], torch.float64)
    return Batch(
        obs=column(table[:, 2], torch.long), actions=column(table[:, 3], torch.long), log_probs=torch.zeros_like(rewards),
        rewards=rewards, terminated=column(table[:, 5], torch.bool), truncated=column(table[:, 7], torch.bool),
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
    values: torch.Tensor | None = None,
    horizon: int | None = None,
    behaviour_logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, standard error) over ``chunks`` of the REINFORCE estimate sum_t grad log pi(a_t|s_t) Phi_t
    per episode, Phi from ``advantage`` minus ``baseline`` (refit between chunks, as between batches).
    ``values`` [S] are the critic's V(s) that batches carry (zeros if not given): estimators and baselines
    that read a critic (td, gae, the critic baseline) see them. ``horizon``: a time limit that truncates
    episodes after that many steps. ``behaviour_logits``: the episodes are a behaviour policy mu's (softmax of
    them; ``log_probs`` are mu's, ``learner_log_probs`` pi's), as asynchronous collection gives an estimator."""
    rng = np.random.default_rng(seed)
    policy = TabularPolicy(logits)
    log_pi = torch.log_softmax(policy.logits.detach(), -1)
    log_mu = log_pi if behaviour_logits is None else torch.log_softmax(behaviour_logits.double(), -1)
    acting = log_mu.exp().numpy()
    table = torch.zeros(mdp.num_states, dtype=torch.float64) if values is None else values.double()
    estimates = []
    for _ in range(chunks):
        batch = _episodes(mdp, acting, episodes_per_chunk, rng, horizon)
        batch.values, batch.next_values = table[batch.obs], table[batch.next_obs]
        batch.log_probs, batch.learner_log_probs = log_mu[batch.obs, batch.actions], log_pi[batch.obs, batch.actions]
        advantage(batch, baseline(batch))
        baseline.update(batch)
        loss, _ = Reinforce().loss(batch.flatten(), LossContext(policy))
        (grad,) = torch.autograd.grad(loss, policy.logits)
        estimates.append(-grad * batch.num_steps / episodes_per_chunk)  # the loss is minus a mean over steps
    stacked = torch.stack(estimates)
    return stacked.mean(0), stacked.std(0) / math.sqrt(chunks)
