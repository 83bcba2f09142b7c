"""Synthetic batches for a given observation and action space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from pgkit.data.batch import Batch


def synthetic_batch(
    observation_space: gym.Space | None = None,
    action_space: gym.Space | None = None,
    num_steps: int = 12,
    num_envs: int = 3,
    seed: int = 0,
    values: bool = True,
) -> Batch:
    """A time-major batch of random transitions with terminations and truncations at different steps
    in different envs (never both in one env at one step), and, with ``values``, critic values that
    agree with ``next_values`` wherever an episode goes on (as in a real rollout)."""
    observation_space = observation_space or gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = action_space or gym.spaces.Discrete(2)
    observation_space.seed(seed)
    action_space.seed(seed + 1)
    g = torch.Generator().manual_seed(seed)
    shape = (num_steps, num_envs)

    def observations() -> torch.Tensor:
        samples = np.stack([observation_space.sample() for _ in range(num_steps * num_envs)])
        dtype = torch.float32 if isinstance(observation_space, gym.spaces.Box) else torch.long
        return torch.as_tensor(samples, dtype=dtype).reshape(*shape, *samples.shape[1:])

    actions = np.stack([action_space.sample() for _ in range(num_steps * num_envs)])
    actions = torch.as_tensor(actions).reshape(*shape, *actions.shape[1:])
    if isinstance(action_space, gym.spaces.Box):
        actions = actions.float().reshape(*shape, -1)
    ends = torch.rand(shape, generator=g)
    terminated = ends < 0.12
    truncated = (ends >= 0.12) & (ends < 0.2)
    batch = Batch(
        obs=observations(),
        actions=actions,
        log_probs=-torch.rand(shape, generator=g),
        rewards=torch.randn(shape, generator=g),
        terminated=terminated,
        truncated=truncated,
        next_obs=observations(),
        prior_rewards=torch.randn(num_envs, generator=g),
        prior_steps=torch.randint(0, 50, (num_envs,), generator=g),
    )
    if values:
        batch.values = torch.randn(shape, generator=g)
        next_values = torch.randn(shape, generator=g)
        goes_on = ~(terminated | truncated)[:-1]
        next_values[:-1] = torch.where(goes_on, batch.values[1:], next_values[:-1])
        batch.next_values = next_values
    batch.learner_log_probs = batch.log_probs + 0.3 * torch.randn(shape, generator=g)  # a learner that moved on since
    return batch
