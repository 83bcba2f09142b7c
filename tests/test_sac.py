"""Soft actor-critic's parts: the squashed Gaussian's log-probability (change of variables, and a density
that integrates to what sampling gives), the soft TD target and the temperature loss by hand, and the
choice of precision."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from pgkit import Batch
from pgkit.builtins.objectives.sac import SAC
from pgkit.builtins.trainers.off_policy import OffPolicy
from pgkit.kinds import LossContext
from pgkit.nn import DiagonalGaussian, SquashedDiagonalGaussian
from pgkit.nn import precision as precision_module
from pgkit.nn.precision import resolve_precision


def test_log_prob_is_the_change_of_variables():
    """log pi(a) = log N(atanh(a); mu, sigma) - sum_i log(1 - a_i^2), computed in float64 by hand."""
    torch.manual_seed(0)
    mean, log_std = torch.randn(5, 3, dtype=torch.float64), 0.3 * torch.randn(5, 3, dtype=torch.float64)
    actions = torch.rand(5, 3, dtype=torch.float64) * 1.8 - 0.9
    by_hand = Independent(Normal(mean, log_std.exp()), 1).log_prob(torch.atanh(actions)) - torch.log(1 - actions.square()).sum(-1)
    torch.testing.assert_close(SquashedDiagonalGaussian(mean, log_std).log_prob(actions), by_hand)


def test_own_samples_use_the_kept_pre_squash_value():
    """The log-probability of the distribution's own sample equals the atanh route, also near +-1 where
    atanh of the rounded action would be far off."""
    torch.manual_seed(1)
    distribution = SquashedDiagonalGaussian(torch.full((4, 1), 3.0), torch.full((4, 1), -1.0))
    action = distribution.rsample()
    cached = distribution.log_prob(action)
    reference = SquashedDiagonalGaussian(distribution.base.loc, distribution.base.log_std).log_prob(action.clone())
    assert torch.isfinite(cached).all()
    moderate = action.abs() < 0.999
    torch.testing.assert_close(cached[moderate.squeeze(-1)], reference[moderate.squeeze(-1)], rtol=1e-3, atol=1e-3)


def test_own_sample_log_prob_and_its_gradient_equal_the_plain_formula():
    """log pi of the distribution's own reparameterized draw, read from its noise, equals log N(u; mu, sigma) -
    sum log(1 - tanh(u)^2) at u = mu + sigma eps computed from u itself, and so do its gradients in mu and
    log sigma (SAC's policy loss differentiates through both)."""
    torch.manual_seed(3)
    mean = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    log_std = (torch.randn(5, 3, dtype=torch.float64) * 0.5).requires_grad_()
    distribution = SquashedDiagonalGaussian(mean, log_std)
    action = distribution.rsample()
    pre = distribution._last[1]
    by_hand = (torch.distributions.Normal(mean, log_std.exp()).log_prob(pre) - torch.log1p(-torch.tanh(pre) ** 2)).sum(-1)
    kept = distribution.log_prob(action)
    torch.testing.assert_close(kept, by_hand)
    weights = torch.randn(5, dtype=torch.float64)
    kept_gradients = torch.autograd.grad((kept * weights).sum(), (mean, log_std), retain_graph=True)
    hand_gradients = torch.autograd.grad((by_hand * weights).sum(), (mean, log_std))
    for kept_gradient, hand_gradient in zip(kept_gradients, hand_gradients):
        torch.testing.assert_close(kept_gradient, hand_gradient)


def test_density_integrates_to_one_and_matches_sampling():
    """On one action dimension: the density exp(log pi) integrates to 1 on (-1, 1), and its mean equals
    the mean of 200k samples (tolerance 5 standard errors)."""
    distribution = SquashedDiagonalGaussian(torch.tensor([[0.4]], dtype=torch.float64), torch.tensor([[-0.2]], dtype=torch.float64))
    grid = torch.linspace(-1, 1, 200_001, dtype=torch.float64)[1:-1]
    density = distribution.log_prob(grid.unsqueeze(-1).unsqueeze(-1)).squeeze(-1).exp()
    step = grid[1] - grid[0]
    assert float((density * step).sum()) == pytest.approx(1.0, abs=1e-4)
    torch.manual_seed(2)
    samples = distribution.sample((200_000,)).flatten()
    mean_by_density = float((grid * density * step).sum())
    assert abs(samples.mean().item() - mean_by_density) <= 5 * samples.std().item() / math.sqrt(len(samples))


def test_kl_is_the_kl_of_the_gaussians():
    torch.manual_seed(3)
    p = SquashedDiagonalGaussian(torch.randn(4, 2), torch.randn(4, 2) * 0.3)
    q = SquashedDiagonalGaussian(torch.randn(4, 2), torch.randn(4, 2) * 0.3)
    torch.testing.assert_close(kl_divergence(p, q), kl_divergence(DiagonalGaussian(p.base.loc, p.base.log_std), DiagonalGaussian(q.base.loc, q.base.log_std)))


class FixedSquashed(torch.nn.Module):
    """pi(.|s) = tanh(N(0.2, exp(-1)^2)) for every state, over one action dimension."""

    def forward(self, obs):
        return SquashedDiagonalGaussian(torch.full((obs.shape[0], 1), 0.2), torch.full((obs.shape[0], 1), -1.0))


class TwoConstants(torch.nn.Module):
    """Q_1 = 3 + a, Q_2 = 1 + a."""

    def forward(self, obs, action, networks=None):
        return torch.stack([3.0 + action[:, 0], 1.0 + action[:, 0]])


def test_soft_td_target_by_hand():
    """y = r + gamma (1 - terminated) [min_k Q'_k(s', a') - alpha log pi(a'|s')], a' ~ pi(.|s')."""
    batch = Batch(obs=torch.zeros(3, 1), actions=torch.zeros(3, 1), log_probs=torch.zeros(3), rewards=torch.tensor([1.0, 2.0, 3.0]),
                  terminated=torch.tensor([False, True, False]), truncated=torch.zeros(3, dtype=torch.bool), next_obs=torch.zeros(3, 1))
    objective = SAC(temperature=0.5)
    torch.manual_seed(4)
    y = OffPolicy(gamma=0.9, target_policy=False).td_target(FixedSquashed(), TwoConstants(), objective, batch)
    torch.manual_seed(4)
    pre = 0.2 + math.exp(-1.0) * torch.randn(3, 1)
    action = torch.tanh(pre)[:, 0]
    log_pi = Normal(0.2, math.exp(-1.0)).log_prob(pre[:, 0]) - torch.log(1 - action.square())
    by_hand = batch.rewards + 0.9 * torch.tensor([1.0, 0.0, 1.0]) * (1.0 + action - 0.5 * log_pi)
    torch.testing.assert_close(y, by_hand, rtol=1e-5, atol=1e-5)


def test_temperature_loss_by_hand_moves_alpha_toward_the_target_entropy():
    """With a learned temperature the loss adds -log(alpha) (log pi + H_target): its gradient in log(alpha)
    is -(mean log pi + H_target), so alpha grows when the entropy -mean log pi is below the target."""
    import gymnasium as gym
    import numpy as np

    objective = SAC(temperature="auto", initial_temperature=0.5, target_entropy=1.0)
    temperature = objective.build(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,), np.float32))
    batch = Batch(obs=torch.zeros(64, 3), actions=torch.zeros(64, 1), log_probs=torch.zeros(64), rewards=torch.zeros(64),
                  terminated=torch.zeros(64, dtype=torch.bool), truncated=torch.zeros(64, dtype=torch.bool), next_obs=torch.zeros(64, 3))
    torch.manual_seed(5)
    loss, metrics = objective.loss(batch, LossContext(FixedSquashed(), critic=TwoConstants()))
    loss.backward()
    entropy = float(metrics["entropy"])  # -mean log pi of the actions the loss drew
    assert temperature.log_alpha.grad.item() == pytest.approx(entropy - 1.0, abs=1e-5)
    assert float(metrics["alpha"]) == pytest.approx(0.5)
    assert temperature.log_alpha.grad.item() < 0  # this policy's entropy is below 1: a descent step raises alpha


def test_the_target_entropy_defaults_to_minus_the_action_dimension():
    import gymnasium as gym

    objective = SAC()
    objective.build(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (6,)))
    assert objective._target_entropy == -6.0


@pytest.mark.parametrize("flags, expected", [({"avx512f", "avx512_bf16"}, "bfloat16"), ({"amx_bf16"}, "bfloat16"), ({"avx512f", "avx2"}, "float32"), (set(), "float32")])
def test_auto_precision_is_bfloat16_only_with_native_support(monkeypatch, flags, expected):
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset(flags))
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("auto", torch.device("cpu"), [torch.nn.Linear(256, 256)]) == expected
    assert resolve_precision("auto", torch.device("cpu"), [torch.nn.Linear(64, 64), torch.nn.Linear(2, 64)]) == "float32"  # too small to gain
    assert resolve_precision("float32", torch.device("cpu")) == "float32"
    assert resolve_precision("bfloat16", torch.device("cpu"), [torch.nn.Linear(2, 2)]) == "bfloat16"
