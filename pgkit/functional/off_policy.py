"""V-trace (Espeholt et al. 2018, IMPALA): value targets and advantages for a batch that a behaviour policy mu
collected while the learner's policy pi moved on, over time-major ``[T, N]`` batches.

Same conventions as ``bootstrapped.py``: ``next_values[t]`` = V(s_{t+1}) with the true final observation
where an episode ended; termination stops bootstrapping, truncation and the batch's end bootstrap.
"""

from __future__ import annotations

import torch
from torch import Tensor


def vtrace(
    rewards: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    values: Tensor,
    next_values: Tensor,
    log_ratios: Tensor,
    gamma: float,
    lam: float = 1.0,
    rho_bar: float | None = 1.0,
    c_bar: float | None = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(targets, advantages, rho)`` from ``log_ratios`` = log pi(a_t|s_t) - log mu(a_t|s_t):

        rho_t = min(rho_bar, pi/mu),  c_t = lam * min(c_bar, pi/mu)  (None: not clipped)
        delta_t = rho_t * (r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t))
        v_t - V(s_t) = delta_t + gamma * c_t * (1 - done_t) * (v_{t+1} - V(s_{t+1}))   (0 after the batch's end)
        advantages_t = r_t + gamma * (1 - terminated_t) * v'_{t+1} - V(s_t)

    where v'_{t+1} is v_{t+1} while the episode goes on in the batch and V(s_{t+1}) where it ended or the batch
    does (the final observation's value). ``targets`` v_t are the critic's regression targets; IMPALA's policy
    gradient weights ``rho * advantages``. With pi = mu and c_bar >= 1, v_t is the TD(lambda) return and
    ``advantages`` at lam = 1 the discounted reward-to-go minus V(s_t); with rho_bar = c_bar = None and
    lam = 1, v_t is the per-decision importance-sampled return, an unbiased estimate of V^pi(s_t) whatever V is."""
    ratios = log_ratios.exp()
    rho = ratios if rho_bar is None else ratios.clamp(max=rho_bar)
    c = lam * (ratios if c_bar is None else ratios.clamp(max=c_bar))
    going_on = (~terminated).to(rewards.dtype)
    deltas = rho * (rewards + gamma * going_on * next_values - values)
    decay = gamma * c * (~(terminated | truncated)).to(rewards.dtype)
    num_steps = rewards.shape[0]
    corrections = rewards.new_zeros((num_steps + 1, *rewards.shape[1:]))  # row t: v_t - V(s_t); row T: 0
    for t in reversed(range(num_steps)):
        torch.addcmul(deltas[t], decay[t], corrections[t + 1], out=corrections[t])
    targets = values + corrections[:num_steps]
    continues = ~(terminated | truncated)
    continues[-1] = False
    next_targets = torch.where(continues, targets.roll(-1, dims=0), next_values)
    advantages = rewards + gamma * going_on * next_targets - values
    return targets, advantages, rho
