"""Every registered advantage estimator: shapes, untouched inputs, safe normalization; and each
built-in wraps the functional formula it names."""

from __future__ import annotations

import pytest
import torch

from pgkit.data.batch import Batch
from pgkit.functional import discounted_reward_to_go, generalized_advantage, n_step_return
from pgkit.plugins.registry import build_registry
from test_functional_bootstrapped import consistent_batch

ADVANTAGES = build_registry(entry_points=False).of_kind("advantage")


def make_batch(seed: int = 0, steps: int = 17, envs: int = 5) -> Batch:
    rewards, terminated, truncated, values, next_values = consistent_batch(seed)
    rewards, terminated, truncated = rewards[:steps, :envs], terminated[:steps, :envs], truncated[:steps, :envs]
    return Batch(
        obs=torch.zeros(steps, envs, 1), actions=torch.zeros(steps, envs), log_probs=torch.zeros(steps, envs),
        rewards=rewards, terminated=terminated, truncated=truncated, next_obs=torch.zeros(steps, envs, 1),
        prior_rewards=torch.zeros(envs, dtype=rewards.dtype), values=values[:steps, :envs], next_values=next_values[:steps, :envs],
        learner_log_probs=0.2 * torch.randn(steps, envs, generator=torch.Generator().manual_seed(seed)),  # a learner one update on (vtrace reads it)
    )


@pytest.mark.parametrize("registration", ADVANTAGES, ids=lambda r: r.name)
@pytest.mark.parametrize("normalize", [False, True])
def test_fills_advantages_and_returns_without_touching_inputs(registration, normalize):
    batch = make_batch()
    inputs = {name: getattr(batch, name).clone() for name in ("rewards", "terminated", "truncated", "values", "next_values")}
    registration.cls(normalize=normalize)(batch, baseline=torch.zeros_like(batch.rewards))
    assert batch.advantages.shape == batch.returns.shape == batch.rewards.shape
    assert torch.isfinite(batch.advantages).all() and torch.isfinite(batch.returns).all()
    for name, before in inputs.items():
        assert torch.equal(getattr(batch, name), before), name
    if normalize:
        assert abs(batch.advantages.mean().item()) < 1e-9 and batch.advantages.std().item() == pytest.approx(1.0)


@pytest.mark.parametrize("registration", ADVANTAGES, ids=lambda r: r.name)
def test_normalizing_a_batch_of_one_is_safe(registration):
    batch = make_batch(steps=1, envs=1)
    registration.cls(normalize=True)(batch, baseline=torch.zeros_like(batch.rewards))
    assert batch.advantages.tolist() == [[0.0]]


def test_normalizing_advantages_equal_up_to_rounding_gives_zeros(registry):
    """One Pendulum episode's R(tau) (about -1,200) repeated at every step, plus float32 rounding (spread
    1.8e-4): scaling that spread to std 1 made a gradient of norm 0.22 out of nothing."""
    batch = Batch(
        obs=torch.zeros(200, 1, 1), actions=torch.zeros(200, 1), log_probs=torch.zeros(200, 1), rewards=torch.zeros(200, 1),
        terminated=torch.zeros(200, 1, dtype=torch.bool), truncated=torch.zeros(200, 1, dtype=torch.bool),
        next_obs=torch.zeros(200, 1, 1), prior_rewards=torch.zeros(1),
    )
    advantage = registry.lookup("advantage", "total_return").cls(normalize=True)
    noisy = torch.full((200, 1), -1234.5678) + torch.linspace(-9e-5, 9e-5, 200)[:, None]  # float32 rounding's spread
    advantage.compute = lambda batch, baseline: (noisy, noisy)
    advantage(batch, baseline=torch.zeros(200, 1))
    assert torch.equal(batch.advantages, torch.zeros(200, 1))
    real = noisy + torch.linspace(-1, 1, 200)[:, None]  # a spread that is signal is still scaled to std 1
    advantage.compute = lambda batch, baseline: (real, real)
    advantage(batch, baseline=torch.zeros(200, 1))
    assert batch.advantages.std().item() == pytest.approx(1.0)


def test_builtins_wrap_their_formulas(registry):
    batch = make_batch()
    args = (batch.rewards, batch.terminated, batch.truncated)
    baseline = torch.full_like(batch.rewards, 0.25)
    expected = {
        "reward_to_go": discounted_reward_to_go(*args, batch.next_values, 1.0) - baseline,
        "discounted_reward_to_go": discounted_reward_to_go(*args, batch.next_values, 0.99) - baseline,
        "gae": generalized_advantage(*args, batch.values, batch.next_values, 0.99, 0.95),
        "n_step": n_step_return(*args, batch.next_values, 0.99, 5) - batch.values,
        "td": generalized_advantage(*args, batch.values, batch.next_values, 0.99, 0.0),
    }
    for name, advantages in expected.items():
        registry.lookup("advantage", name).cls()(batch, baseline)
        torch.testing.assert_close(batch.advantages, advantages, msg=name)
