"""TD, n-step and GAE against plain loops, hand-computed cases and the lambda identities."""

from __future__ import annotations

import pytest
import torch

from pgkit.functional import discounted_reward_to_go, generalized_advantage, n_step_return, td_residuals
from test_functional_returns import column, random_batch


def random_values(seed: int, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(like.shape, generator=torch.Generator().manual_seed(1000 + seed), dtype=like.dtype)


def consistent_batch(seed: int):
    """A random batch whose values agree with next_values as in a real rollout:
    V(s_{t+1}) is values[t+1] wherever the episode goes on."""
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    values = random_values(seed, rewards)
    goes_on = ~(terminated | truncated)[:-1]
    next_values[:-1] = torch.where(goes_on, values[1:], next_values[:-1])
    return rewards, terminated, truncated, values, next_values


def loop_gae(rewards, terminated, truncated, values, next_values, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k} over the rest of the fragment, summed forward."""
    steps, envs = rewards.shape
    out = torch.zeros(steps, envs, dtype=torch.float64)
    for n in range(envs):
        for t in range(steps):
            total, weight, k = 0.0, 1.0, t
            while True:
                bootstrap = 0.0 if terminated[k, n] else gamma * float(next_values[k, n])
                total += weight * (float(rewards[k, n]) + bootstrap - float(values[k, n]))
                if terminated[k, n] or truncated[k, n] or k == steps - 1:
                    break
                weight *= gamma * lam
                k += 1
            out[t, n] = total
    return out


def loop_n_step(rewards, terminated, truncated, next_values, gamma, n_steps):
    steps, envs = rewards.shape
    out = torch.zeros(steps, envs, dtype=torch.float64)
    for n in range(envs):
        for t in range(steps):
            total = 0.0
            for k in range(n_steps):
                i = t + k
                total += gamma**k * float(rewards[i, n])
                if terminated[i, n]:
                    break
                if truncated[i, n] or i == steps - 1 or k == n_steps - 1:
                    total += gamma ** (k + 1) * float(next_values[i, n])
                    break
            out[t, n] = total
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 0.0), (1.0, 1.0), (0.5, 0.7)])
def test_gae_matches_loop(seed, gamma, lam):
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    values = random_values(seed, rewards)
    expected = loop_gae(rewards, terminated, truncated, values, next_values, gamma, lam)
    got = generalized_advantage(rewards, terminated, truncated, values, next_values, gamma, lam)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_n_step_matches_loop(seed, n):
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    expected = loop_n_step(rewards, terminated, truncated, next_values, 0.9, n)
    got = n_step_return(rewards, terminated, truncated, next_values, 0.9, n)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("seed", range(6))
def test_gae_lambda_one_is_reward_to_go_minus_values(seed):
    rewards, terminated, truncated, values, next_values = consistent_batch(seed)
    gae = generalized_advantage(rewards, terminated, truncated, values, next_values, 0.97, 1.0)
    torch.testing.assert_close(gae, discounted_reward_to_go(rewards, terminated, truncated, next_values, 0.97) - values)


@pytest.mark.parametrize("seed", range(6))
def test_gae_lambda_zero_is_td(seed):
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    values = random_values(seed, rewards)
    gae = generalized_advantage(rewards, terminated, truncated, values, next_values, 0.97, 0.0)
    torch.testing.assert_close(gae, td_residuals(rewards, terminated, values, next_values, 0.97))


@pytest.mark.parametrize("seed", range(6))
def test_n_step_limits(seed):
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    one = n_step_return(rewards, terminated, truncated, next_values, 0.9, 1)
    torch.testing.assert_close(one, rewards + 0.9 * (~terminated).double() * next_values)
    everything = n_step_return(rewards, terminated, truncated, next_values, 0.9, rewards.shape[0])
    torch.testing.assert_close(everything, discounted_reward_to_go(rewards, terminated, truncated, next_values, 0.9))


def test_gae_by_hand():
    # two steps, then truncation at t=1 (bootstrap from V(final)=4); gamma=0.5, lam=0.5
    rewards, values, next_values = column(1.0, 1.0), column(2.0, 3.0), column(3.0, 4.0)
    terminated = column(False, False, dtype=torch.bool)
    truncated = column(False, True, dtype=torch.bool)
    got = generalized_advantage(rewards, terminated, truncated, values, next_values, 0.5, 0.5)
    # delta_1 = 1 + 0.5*4 - 3 = 0; delta_0 = 1 + 0.5*3 - 2 = 0.5; A_0 = 0.5 + 0.25*0 = 0.5
    torch.testing.assert_close(got, column(0.5, 0.0))
    terminated = column(False, True, dtype=torch.bool)
    got = generalized_advantage(rewards, terminated, truncated, values, next_values, 0.5, 0.5)
    # termination: delta_1 = 1 - 3 = -2; A_0 = 0.5 + 0.25 * -2 = 0
    torch.testing.assert_close(got, column(0.0, -2.0))


def test_n_step_by_hand():
    rewards = column(1.0, 2.0, 4.0, 8.0)
    next_values = column(10.0, 20.0, 30.0, 40.0)
    flags = column(False, False, False, False, dtype=torch.bool)
    got = n_step_return(rewards, flags, flags, next_values, 0.5, 2)
    # t=0: 1 + 0.5*2 + 0.25*V(s_2)=20 -> 7 ; t=2: 4 + 0.5*8 + 0.25*40 = 18; t=3: 8 + 0.5*40 = 28
    torch.testing.assert_close(got, column(7.0, 2 + 2 + 7.5, 18.0, 28.0))
