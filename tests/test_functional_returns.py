"""The return formulas against plain per-env loops and hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from pgkit.functional import discounted_reward_to_go, episode_total_return


def loop_reward_to_go(rewards, terminated, truncated, next_values, gamma):
    """Sum forward from each step until its episode ends or the batch does: no recursion."""
    steps, envs = rewards.shape
    out = torch.zeros(steps, envs, dtype=torch.float64)
    for n in range(envs):
        for t in range(steps):
            total, discount, k = 0.0, 1.0, t
            while True:
                total += discount * float(rewards[k, n])
                if terminated[k, n]:
                    break
                if truncated[k, n] or k == steps - 1:
                    total += discount * gamma * float(next_values[k, n])
                    break
                discount *= gamma
                k += 1
            out[t, n] = total
    return out


def loop_total_return(rewards, terminated, truncated, next_values, prior):
    steps, envs = rewards.shape
    out = torch.zeros(steps, envs, dtype=torch.float64)
    done = terminated | truncated
    for n in range(envs):
        start = 0
        while start < steps:
            end = start
            while not done[end, n] and end < steps - 1:
                end += 1
            total = float(rewards[start : end + 1, n].sum())
            if start == 0:
                total += float(prior[n])
            if not terminated[end, n]:
                total += float(next_values[end, n])
            out[start : end + 1, n] = total
            start = end + 1
    return out


def random_batch(seed: int, steps: int = 17, envs: int = 5):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(steps, envs, generator=g, dtype=torch.float64)
    terminated = torch.rand(steps, envs, generator=g) < 0.15
    truncated = torch.rand(steps, envs, generator=g) < 0.1  # sometimes both flags at once
    next_values = torch.randn(steps, envs, generator=g, dtype=torch.float64)
    prior = torch.randn(envs, generator=g, dtype=torch.float64)
    return rewards, terminated, truncated, next_values, prior


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_reward_to_go_matches_loop(seed, gamma):
    rewards, terminated, truncated, next_values, _ = random_batch(seed)
    expected = loop_reward_to_go(rewards, terminated, truncated, next_values, gamma)
    got = discounted_reward_to_go(rewards, terminated, truncated, next_values, gamma)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("seed", range(8))
def test_total_return_matches_loop(seed):
    rewards, terminated, truncated, next_values, prior = random_batch(seed)
    expected = loop_total_return(rewards, terminated, truncated, next_values, prior)
    got = episode_total_return(rewards, terminated, truncated, next_values, prior)
    torch.testing.assert_close(got, expected)


def column(*values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype).unsqueeze(1)


def test_reward_to_go_by_hand_termination_stops_bootstrap():
    rewards, values = column(1.0, 2.0, 3.0), column(10.0, 20.0, 30.0)
    terminated, truncated = column(False, True, False, dtype=torch.bool), column(False, False, False, dtype=torch.bool)
    got = discounted_reward_to_go(rewards, terminated, truncated, values, gamma=0.5)
    # t=2 is cut by the batch end: 3 + 0.5*30; t=1 terminates: 2; t=0: 1 + 0.5*2
    torch.testing.assert_close(got, column(2.0, 2.0, 18.0))


def test_reward_to_go_by_hand_truncation_bootstraps():
    rewards, values = column(1.0, 2.0, 3.0), column(10.0, 20.0, 30.0)
    terminated, truncated = column(False, False, False, dtype=torch.bool), column(False, True, False, dtype=torch.bool)
    got = discounted_reward_to_go(rewards, terminated, truncated, values, gamma=0.5)
    # t=1 truncated: 2 + 0.5*V(final obs)=20 -> 12; t=0: 1 + 0.5*12 = 7
    torch.testing.assert_close(got, column(7.0, 12.0, 18.0))


def test_termination_wins_over_truncation():
    rewards, values = column(1.0), column(100.0)
    both = column(True, dtype=torch.bool)
    got = discounted_reward_to_go(rewards, both, both, values, gamma=0.9)
    torch.testing.assert_close(got, column(1.0))


def test_total_return_by_hand_counts_prior_rewards_and_every_step():
    # env 0: episode running since before the batch (5 earlier reward), ends at t=1; a new one runs to the end.
    rewards = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    terminated = torch.tensor([[False], [True], [False]])
    truncated = torch.zeros_like(terminated)
    next_values = torch.tensor([[0.0], [0.0], [8.0]], dtype=torch.float64)
    got = episode_total_return(rewards, terminated, truncated, next_values, torch.tensor([5.0], dtype=torch.float64))
    torch.testing.assert_close(got, column(8.0, 8.0, 12.0))


def test_inputs_are_not_modified():
    rewards, terminated, truncated, next_values, prior = random_batch(0)
    copies = [x.clone() for x in (rewards, terminated, truncated, next_values, prior)]
    discounted_reward_to_go(rewards, terminated, truncated, next_values, 0.9)
    episode_total_return(rewards, terminated, truncated, next_values, prior)
    for original, copy in zip((rewards, terminated, truncated, next_values, prior), copies):
        assert torch.equal(original, copy)


def test_episode_steps_by_hand():
    from pgkit.functional import episode_steps

    terminated = torch.tensor([[False, False], [True, False], [False, False], [False, True]])
    truncated = torch.tensor([[False, True], [False, False], [False, False], [False, False]])
    got = episode_steps(terminated, truncated, torch.tensor([7, 0]))
    assert got.tolist() == [[7, 0], [8, 0], [0, 1], [1, 2]]
