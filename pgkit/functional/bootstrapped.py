"""Bootstrapped advantages over time-major ``[T, N]`` batches: TD(0), n-step and GAE.

Same conventions as ``returns.py``: ``next_values[t]`` = V(s_{t+1}) with the true final observation
where an episode ended; termination stops bootstrapping, truncation and the batch's end bootstrap.
"""

from __future__ import annotations

import torch
from torch import Tensor


def td_residuals(rewards: Tensor, terminated: Tensor, values: Tensor, next_values: Tensor, gamma: float) -> Tensor:
    """delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t): one-step actor-critic's advantage."""
    return rewards + gamma * (~terminated).to(rewards.dtype) * next_values - values


def generalized_advantage(
    rewards: Tensor, terminated: Tensor, truncated: Tensor, values: Tensor, next_values: Tensor, gamma: float, lam: float
) -> Tensor:
    """GAE (Schulman et al. 2015): A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}, with
    done = terminated or truncated and A_T = 0. lam = 0 gives delta_t; lam = 1 gives the discounted
    reward-to-go minus V(s_t)."""
    deltas = td_residuals(rewards, terminated, values, next_values, gamma)
    decay = (~(terminated | truncated)).to(rewards.dtype) * (gamma * lam)
    num_steps = deltas.shape[0]
    advantages = deltas.new_zeros((num_steps + 1, *deltas.shape[1:]))  # row T is A_T = 0
    for t in reversed(range(num_steps)):  # one fused multiply-add per step, written in place
        torch.addcmul(deltas[t], decay[t], advantages[t + 1], out=advantages[t])
    return advantages[:num_steps]


def n_step_return(
    rewards: Tensor, terminated: Tensor, truncated: Tensor, next_values: Tensor, gamma: float, n: int
) -> Tensor:
    """G_t = sum_{k<m} gamma^k r_{t+k} + gamma^m V(s_{t+m}), m = min(n, steps to the fragment's end);
    no bootstrap term where the fragment ended in a termination. n = 1 is the TD target."""
    num_steps = rewards.shape[0]
    time = torch.arange(num_steps, device=rewards.device)
    returns = torch.zeros_like(rewards)
    running = torch.ones_like(rewards, dtype=torch.bool)  # [t, env]: has step t's window not ended yet?
    discount = 1.0
    for k in range(n):
        index = (time + k).clamp(max=num_steps - 1)
        returns = returns + running.to(rewards.dtype) * discount * rewards[index]
        ends = terminated[index] | truncated[index] | (time + k >= num_steps - 1).unsqueeze(1) | (k == n - 1)
        bootstrap = running & ends & ~terminated[index]
        returns = returns + bootstrap.to(rewards.dtype) * (discount * gamma) * next_values[index]
        running = running & ~ends
        discount *= gamma
    return returns
