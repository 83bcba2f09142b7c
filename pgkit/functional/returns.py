"""Monte-Carlo returns over time-major ``[T, N]`` batches of episode fragments.

Conventions shared by every function here: ``next_values[t]`` is V(s_{t+1}) where s_{t+1} is the
true next observation (the final one where an episode ended), or zeros if there is no critic.
A termination stops the return; a truncation, and the end of the batch, bootstrap from
``next_values``. When both flags are set, termination wins.
"""

from __future__ import annotations

import torch
from torch import Tensor


def discounted_reward_to_go(
    rewards: Tensor, terminated: Tensor, truncated: Tensor, next_values: Tensor, gamma: float
) -> Tensor:
    """G_t = r_t + gamma * (1 - terminated_t) * B_t, where B_t = V(s_{t+1}) if the fragment is cut
    at t (truncated, or t = T-1) and G_{t+1} otherwise. gamma = 1 gives the undiscounted reward-to-go
    sum_{t' >= t} r_t' of Spinning Up's "reward-to-go policy gradient"."""
    num_steps = rewards.shape[0]
    returns = torch.empty_like(rewards)
    continues = (~terminated).to(rewards.dtype)
    following = next_values[-1]
    for t in reversed(range(num_steps)):
        bootstrap = next_values[t] if t == num_steps - 1 else torch.where(truncated[t], next_values[t], following)
        following = rewards[t] + gamma * continues[t] * bootstrap
        returns[t] = following
    return returns


def episode_steps(terminated: Tensor, truncated: Tensor, prior_steps: Tensor) -> Tensor:
    """t, the index of each step within its episode (0 at an episode's first step); episodes running
    when the batch began continue from ``prior_steps`` ([N])."""
    steps = torch.empty(terminated.shape, dtype=torch.long, device=terminated.device)
    current = prior_steps.to(torch.long)
    done = terminated | truncated
    for t in range(terminated.shape[0]):
        steps[t] = current
        current = torch.where(done[t], torch.zeros_like(current), current + 1)
    return steps


def state_discount(terminated: Tensor, truncated: Tensor, prior_steps: Tensor, gamma: float) -> Tensor:
    """gamma^t for every step, t its index within its episode (``episode_steps``): the weight of state s_t
    in the gradient of the discounted objective, grad J = E[sum_t gamma^t grad log pi(a_t|s_t) Q(s_t, a_t)]."""
    steps = episode_steps(terminated, truncated, prior_steps)
    return torch.full(steps.shape, gamma, dtype=torch.float64, device=steps.device).pow(steps)


def episode_total_return(
    rewards: Tensor, terminated: Tensor, truncated: Tensor, next_values: Tensor, prior_rewards: Tensor
) -> Tensor:
    """R(tau) = sum of all rewards of the episode step t belongs to, for every t (Williams' REINFORCE).

    The rewards an episode gathered before this batch (``prior_rewards``, ``[N]``) count too; an
    episode still running at the end of the batch, or truncated, is completed by V(s_{t+1})."""
    to_go = discounted_reward_to_go(rewards, terminated, truncated, next_values, gamma=1.0)
    done = terminated | truncated
    totals = torch.empty_like(rewards)
    past = prior_rewards.to(rewards.dtype)
    for t in range(rewards.shape[0]):
        totals[t] = past + to_go[t]
        past = torch.where(done[t], torch.zeros_like(past), past + rewards[t])
    return totals
