"""pgkit's lean distributions give what torch.distributions gives, and sample what they claim."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical as TorchCategorical
from torch.distributions import Independent, Normal, kl_divergence

from pgkit.nn import Categorical, DiagonalGaussian


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_categorical_matches_torch():
    logits = torch.randn(6, 4) * 3
    logits[0, 2] = -math.inf  # an impossible action
    ours, reference = Categorical(logits), TorchCategorical(logits=logits)
    actions = torch.tensor([0, 1, 3, 3, 2, 1])
    torch.testing.assert_close(ours.log_prob(actions), reference.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), reference.entropy())
    torch.testing.assert_close(ours.probs, reference.probs)
    assert torch.equal(ours.mode, reference.mode)
    draws = torch.randint(0, 4, (5, 6))
    torch.testing.assert_close(ours.log_prob(draws), reference.log_prob(draws))


def test_categorical_samples_follow_the_probabilities():
    """Frequencies of 200,000 draws per row against p: Pearson's chi-square with 3 degrees of freedom
    stays below 16.27 (its 0.999 quantile) for every row if the sampler is right."""
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    draws = Categorical(probs.log()).sample((200_000,))
    assert draws.shape == (200_000, 3)
    counts = torch.stack([torch.bincount(draws[:, row], minlength=4) for row in range(3)]).double()
    expected = 200_000 * probs.double()
    chi_square = ((counts - expected) ** 2 / expected).sum(-1)
    assert (chi_square < 16.27).all(), chi_square


def test_categorical_samples_like_torch_from_the_same_seed():
    """The exponential race is how torch.multinomial draws one sample: a seed gives the actions torch's
    Categorical gives (so recipes' runs draw the same actions as before pgkit had its own)."""
    logits = torch.randn(500, 3)
    torch.manual_seed(5)
    reference = TorchCategorical(logits=logits).sample()
    torch.manual_seed(5)
    assert torch.equal(Categorical(logits).sample(), reference)


def test_categorical_never_samples_an_impossible_action():
    logits = torch.tensor([[0.0, -math.inf, 0.0]])
    assert (Categorical(logits).sample((10_000,)) != 1).all()


def test_categorical_gradients_match_torch():
    logits = torch.randn(5, 3, requires_grad=True)
    actions, weights = torch.randint(0, 3, (5,)), torch.randn(5)
    ours = torch.autograd.grad((Categorical(logits).log_prob(actions) * weights).sum() + Categorical(logits).entropy().sum(), logits)
    reference = torch.autograd.grad(
        (TorchCategorical(logits=logits).log_prob(actions) * weights).sum() + TorchCategorical(logits=logits).entropy().sum(), logits
    )
    torch.testing.assert_close(ours, reference)


@pytest.mark.parametrize("log_std_shape", [(3,), (5, 3)], ids=["state-independent", "per-state"])
def test_diagonal_gaussian_matches_independent_normal(log_std_shape):
    mean, log_std = torch.randn(5, 3), torch.randn(log_std_shape) * 0.5
    ours = DiagonalGaussian(mean, log_std)
    reference = Independent(Normal(mean, log_std.exp().expand_as(mean)), 1)
    value = torch.randn(5, 3)
    torch.testing.assert_close(ours.log_prob(value), reference.log_prob(value))
    torch.testing.assert_close(ours.entropy(), reference.entropy())
    draws = torch.randn(7, 5, 3)
    torch.testing.assert_close(ours.log_prob(draws), reference.log_prob(draws))
    assert ours.sample((7,)).shape == ours.rsample((7,)).shape == (7, 5, 3)
    torch.testing.assert_close(ours.stddev, reference.stddev)
    assert torch.equal(ours.mode, mean)


def test_diagonal_gaussian_samples_like_torch_from_the_same_seed():
    """sample() draws exactly what torch's Normal draws (so switching to it did not change a run's RNG use)."""
    mean, log_std = torch.randn(4, 2), torch.randn(2)
    torch.manual_seed(1)
    ours = DiagonalGaussian(mean, log_std).sample()
    torch.manual_seed(1)
    reference = Normal(mean, log_std.exp().expand_as(mean)).sample()
    assert torch.equal(ours, reference)


def test_diagonal_gaussian_rsample_is_reparameterized():
    """d/d mean of E[a] is 1 and d/d log_std of E[(a - mean)^2] = 2 sigma^2, estimated from 100,000 draws
    (standard errors ~0.003 and ~0.01: tolerances are over 5 of them)."""
    mean, log_std = torch.zeros(1, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    draws = DiagonalGaussian(mean, log_std).rsample((100_000,))
    grad_mean, = torch.autograd.grad(draws.mean(), mean)
    grad_log_std, = torch.autograd.grad((draws - mean.detach()).pow(2).mean(), log_std)
    assert grad_mean.item() == pytest.approx(1.0, abs=1e-6)
    assert grad_log_std.item() == pytest.approx(2.0, abs=0.06)


def test_categorical_kl_equals_torch_including_impossible_actions():
    torch.manual_seed(0)
    p_logits, q_logits = torch.randn(6, 4), torch.randn(6, 4)
    p_logits[0, 1] = -math.inf  # p gives action 1 no mass: its term is 0
    q_logits[1, 2] = -math.inf  # q gives no mass where p does: infinite
    ours = kl_divergence(Categorical(p_logits), Categorical(q_logits))
    theirs = kl_divergence(TorchCategorical(logits=p_logits), TorchCategorical(logits=q_logits))
    assert ours[1] == math.inf and theirs[1] == math.inf
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("state_dependent_std", [False, True])
def test_diagonal_gaussian_kl_equals_torch(state_dependent_std):
    torch.manual_seed(0)
    p_mean, q_mean = torch.randn(6, 3), torch.randn(6, 3)
    shape = (6, 3) if state_dependent_std else (3,)
    p_log_std, q_log_std = 0.5 * torch.randn(shape), 0.5 * torch.randn(shape)
    ours = kl_divergence(DiagonalGaussian(p_mean, p_log_std), DiagonalGaussian(q_mean, q_log_std))
    theirs = kl_divergence(Independent(Normal(p_mean, p_log_std.exp().expand(6, 3)), 1), Independent(Normal(q_mean, q_log_std.exp().expand(6, 3)), 1))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert torch.allclose(kl_divergence(DiagonalGaussian(p_mean, p_log_std), DiagonalGaussian(p_mean, p_log_std)), torch.zeros(6))
