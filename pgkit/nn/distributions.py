"""Lean action distributions for the built-in heads: torch.distributions' interface, fewer tensor ops.

A policy distribution is built on every acting step and every gradient step, where with small
networks the count of tensor operations, not arithmetic, sets the speed. torch's ``Categorical``
normalizes its logits with logsumexp, recomputes softmax for sampling and entropy, and broadcasts on
every ``log_prob``; ``Independent(Normal)`` adds a wrapper and one op per term. These compute the
same quantities (tests compare them with torch's) in about half the operations, and
``torch.distributions.kl_divergence`` gives their exact KL divergence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, register_kl
from torch.nn import functional as F

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Categorical(Distribution):
    """pi(a) = softmax(logits)_a over the last dimension.

    ``logits`` is stored normalized (log-probabilities, one ``log_softmax``). Sampling is the
    exponential race: with E_a ~ Exp(1) independent, argmax_a p_a / E_a = a with probability p_a
    (equivalently the Gumbel-max trick). It is what ``torch.multinomial`` does for one draw, so with
    torch 2.13 a seed gives the same actions as torch's Categorical, without its other ops."""

    arg_constraints: dict = {}

    def __init__(self, logits: Tensor):
        self.logits = torch.log_softmax(logits, dim=-1)
        super().__init__(batch_shape=logits.shape[:-1], validate_args=False)

    @property
    def probs(self) -> Tensor:
        return self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return self.logits.argmax(-1)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        logits = self.logits.detach()
        shape = (*self._extended_shape(sample_shape), logits.shape[-1])
        race = torch.empty(shape, dtype=logits.dtype, device=logits.device).exponential_()
        return (logits.exp().expand(shape) / race).argmax(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        index = value.long().unsqueeze(-1)
        logits = self.logits if index.dim() == self.logits.dim() else self.logits.expand(*index.shape[:-1], -1)
        return logits.gather(-1, index).squeeze(-1)

    def entropy(self) -> Tensor:
        """H = -sum_a p_a log p_a (impossible actions, log p = -inf, contribute 0)."""
        finite = self.logits.clamp(min=torch.finfo(self.logits.dtype).min)
        return -(self.probs * finite).sum(-1)


class DiagonalGaussian(Distribution):
    """N(mean, diag(exp(log_std)^2)) over the last dimension; ``log_prob`` and ``entropy`` are summed over
    it (what ``Independent(Normal(mean, std), 1)`` gives). ``log_std`` broadcasts against ``mean``."""

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, mean: Tensor, log_std: Tensor):
        self.loc, self.log_std = mean, log_std
        super().__init__(batch_shape=mean.shape[:-1], event_shape=mean.shape[-1:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.log_std.exp().expand_as(self.loc)

    @property
    def variance(self) -> Tensor:
        return self.stddev.pow(2)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            return torch.normal(self.loc.expand(shape), self.stddev.expand(shape))

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self.rsample_with_noise(sample_shape)[0]

    def rsample_with_noise(self, sample_shape: torch.Size = torch.Size()) -> tuple[Tensor, Tensor]:
        """(x, eps): x = mu + sigma eps, eps ~ N(0, I), reparameterized."""
        noise = torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + noise * self.log_std.exp(), noise

    def log_prob(self, value: Tensor) -> Tensor:
        """log N(x) = -1/2 sum_i ((x_i - mu_i) / sigma_i)^2 - sum_i log sigma_i - d/2 log(2 pi)."""
        z = (value - self.loc) * torch.exp(-self.log_std)
        return -0.5 * z.pow(2).sum(-1) - self._log_normalizer()

    def entropy(self) -> Tensor:
        """H = sum_i log sigma_i + d/2 (1 + log(2 pi))."""
        return (self._log_normalizer() + 0.5 * self.loc.shape[-1]).expand(self.batch_shape)

    def _log_normalizer(self) -> Tensor:
        """sum_i log sigma_i + d/2 log(2 pi): a scalar for a state-independent log_std, else [batch]."""
        return self.log_std.sum(-1) + self.loc.shape[-1] * _HALF_LOG_2PI


class StateDependentGaussian(DiagonalGaussian):
    """gSDE's policy (Raffin et al. 2022): N(mu(s), diag(sigma(s)^2)) with sigma_j(s)^2 = sum_i phi_i(s)^2 exp(2 L_ij)
    + eps, phi(s) the policy's features (held without gradient) and L a learned [F, A] log std. One draw of the
    exploration matrix E, E_ij ~ N(0, exp(2 L_ij)), acts a = mu(s) + phi(s) E, which has exactly this law; holding E
    over steps makes the exploration smooth in time and a function of the state."""

    def __init__(self, mean: Tensor, log_std: Tensor, features: Tensor):
        super().__init__(mean, log_std)
        self.features = features

    def sample_with(self, exploration: Tensor) -> Tensor:
        """a = mu(s) + phi(s) E per row, ``exploration`` [B, F, A] one matrix per row (per env)."""
        with torch.no_grad():
            return self.loc + torch.bmm(self.features.unsqueeze(1).to(exploration.dtype), exploration).squeeze(1).to(self.loc.dtype)


class MultiCategorical(Categorical):
    """Independent categoricals, one per action dimension (a MultiDiscrete space):
    log pi(a) = sum_i log softmax(logits_i)_{a_i}, H = sum_i H_i.

    ``logits`` is ``[..., d, n]``: dimension i has n_i <= n classes, the rest masked to -inf by the head.
    Sampling, probabilities and the mode are ``Categorical``'s, per dimension."""

    def __init__(self, logits: Tensor):
        self.logits = torch.log_softmax(logits, dim=-1)
        Distribution.__init__(self, batch_shape=logits.shape[:-2], event_shape=logits.shape[-2:-1], validate_args=False)

    def log_prob(self, value: Tensor) -> Tensor:
        return super().log_prob(value).sum(-1)

    def entropy(self) -> Tensor:
        return super().entropy().sum(-1)


class Bernoulli(Distribution):
    """Independent Bernoulli actions, one per dimension (a MultiBinary space), p_i = sigmoid(logits_i):
    log pi(a) = sum_i [a_i log sigmoid(l_i) + (1 - a_i) log sigmoid(-l_i)]."""

    arg_constraints: dict = {}

    def __init__(self, logits: Tensor):
        self.logits = logits
        super().__init__(batch_shape=logits.shape[:-1], event_shape=logits.shape[-1:], validate_args=False)

    @property
    def probs(self) -> Tensor:
        return torch.sigmoid(self.logits)

    @property
    def mode(self) -> Tensor:
        return (self.logits > 0).to(self.logits.dtype)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            probs = self.probs.expand(self._extended_shape(sample_shape))
            return torch.bernoulli(probs)

    def log_prob(self, value: Tensor) -> Tensor:
        logits = self.logits.expand_as(value) if value.dim() > self.logits.dim() else self.logits
        return -F.binary_cross_entropy_with_logits(logits, value.to(logits.dtype), reduction="none").sum(-1)

    def entropy(self) -> Tensor:
        """H = sum_i -[p_i log p_i + (1 - p_i) log(1 - p_i)]."""
        p = self.probs
        return -(p * F.logsigmoid(self.logits) + (1 - p) * F.logsigmoid(-self.logits)).sum(-1)


@register_kl(Categorical, Categorical)
def _kl_categorical(p: Categorical, q: Categorical) -> Tensor:
    """KL(p || q) = sum_a p_a (log p_a - log q_a): 0 terms where p_a = 0, infinite where q_a = 0 < p_a."""
    terms = p.probs * (p.logits - q.logits)
    terms = terms.masked_fill(p.logits == -math.inf, 0.0)
    return terms.masked_fill((q.logits == -math.inf) & (p.logits > -math.inf), math.inf).sum(-1)


@register_kl(MultiCategorical, MultiCategorical)
def _kl_multi_categorical(p: MultiCategorical, q: MultiCategorical) -> Tensor:
    """KL(p || q) = sum_i sum_a p_ia (log p_ia - log q_ia), the KLs of the dimensions added."""
    return _kl_categorical(p, q).sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    """KL(p || q) = sum_i [p_i (log p_i - log q_i) + (1 - p_i) (log(1 - p_i) - log(1 - q_i))]."""
    on = p.probs * (F.logsigmoid(p.logits) - F.logsigmoid(q.logits))
    off = (1 - p.probs) * (F.logsigmoid(-p.logits) - F.logsigmoid(-q.logits))
    return (on + off).sum(-1)


@register_kl(DiagonalGaussian, DiagonalGaussian)
def _kl_diagonal_gaussian(p: DiagonalGaussian, q: DiagonalGaussian) -> Tensor:
    """KL(p || q) = sum_i [log(sigma_q,i / sigma_p,i) + (sigma_p,i^2 + (mu_p,i - mu_q,i)^2) / (2 sigma_q,i^2) - 1/2]."""
    variance_ratio = torch.exp(2 * (p.log_std - q.log_std))
    mean_term = ((p.loc - q.loc) * torch.exp(-q.log_std)).pow(2)
    return 0.5 * (variance_ratio + mean_term - 1).sum(-1) - (p.log_std - q.log_std).expand_as(p.loc).sum(-1)


class SquashedDiagonalGaussian(Distribution):
    """a = tanh(u), u ~ N(mean, diag(exp(log_std)^2)): SAC's bounded policy (Haarnoja et al. 2018).

    - ``log_prob(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)`` (the change of variables), with
      ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`` for stability. The pre-squash value and the
      standard normal noise eps of the last draw are kept, so the log-probability of that very action needs no
      ``atanh`` (which saturates near +-1), and its Gaussian term is -eps^2 / 2 - sum_i log sigma_i - d/2 log(2 pi):
      (u - mean) / sigma is eps, whose gradient through u = mean + sigma eps is exactly zero.
    - No closed-form entropy: ``entropy()`` is the one-sample estimate -log pi(a), a = rsample(), unbiased
      and with gradient.
    - KL(p || q) is the KL of the underlying Gaussians: a bijection applied to both leaves it unchanged.
    """

    arg_constraints: dict = {}
    has_rsample = True
    BOUND = 1.0 - 1e-6  # actions given from elsewhere are clamped inside (-1, 1) before atanh

    def __init__(self, mean: Tensor, log_std: Tensor):
        self.base = DiagonalGaussian(mean, log_std)
        self._last: tuple[Tensor, Tensor, Tensor] | None = None  # (action, pre-squash value, noise eps) of the last draw
        super().__init__(batch_shape=mean.shape[:-1], event_shape=mean.shape[-1:], validate_args=False)

    @property
    def mode(self) -> Tensor:
        return torch.tanh(self.base.loc)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        pre, noise = self.base.rsample_with_noise(sample_shape)
        action = torch.tanh(pre)
        self._last = (action, pre, noise)
        return action

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._last is not None and value is self._last[0]:
            _, pre, noise = self._last
            gaussian = -0.5 * noise.pow(2).sum(-1) - self.base._log_normalizer()
        else:
            pre = torch.atanh(value.clamp(-self.BOUND, self.BOUND))
            gaussian = self.base.log_prob(pre)
        correction = 2.0 * (math.log(2.0) - pre - torch.nn.functional.softplus(-2.0 * pre))
        return gaussian - correction.sum(-1)

    def entropy(self) -> Tensor:
        """A one-sample estimate of H = -E[log pi(a)] (no closed form under tanh)."""
        return -self.log_prob(self.rsample())


@register_kl(SquashedDiagonalGaussian, SquashedDiagonalGaussian)
def _kl_squashed(p: SquashedDiagonalGaussian, q: SquashedDiagonalGaussian) -> Tensor:
    return _kl_diagonal_gaussian(p.base, q.base)
