"""The policy-head contract: every head acts inside its action space and keeps no state between calls;
what it provides (log_prob, entropy, kl, rsample, deterministic_actions) and noise it holds across steps
(``HeadModule.exploration``) are checked to work."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Distribution, kl_divergence

from pgkit.kinds import HeadModule, PolicyHead
from pgkit.envs import action_width, as_numpy, mask_dimensions, mask_size, row
from pgkit.kinds.capabilities import ACTION_MASKS, DETERMINISTIC_ACTIONS, ENTROPY, KL, LOG_PROB, RSAMPLE
from pgkit.testing.contracts.common import (
    BOX, DICT_ACTIONS, DISCRETE, HYBRID_ACTIONS, MULTI_BINARY, MULTI_DISCRETE, OBSERVATIONS, check_spec, check_state, fits_spaces, instance,
)


def check_policy_head(head: PolicyHead | type[PolicyHead], action_space: gym.Space | None = None, samples: int = 4000) -> None:
    """Samples and modes land inside the action space; no hidden state between calls; gradients reach
    every parameter; and each capability it provides works: log_prob is [batch] (summed over action
    dims), entropy is -E[log_prob] (exactly, or on average where it is estimated by sampling), kl is
    KL(p || q) = E_p[log p - log q] and 0 from a distribution to itself, rsample carries gradient,
    deterministic_actions come with exploration noise, a head that provides action_masks never samples,
    chooses or scores an action its mask forbids, normalizes over the valid ones, and keeps exact entropy and KL,
    and a head that holds exploration noise acts inside the space with it and, over fresh draws of it, by its
    distribution's law (mean and variance).
    Without ``action_space``, it is checked in every space it fits of Discrete, Box, MultiDiscrete, MultiBinary, a
    Dict of all four and a hybrid Tuple (a choice with a parameter per choice)."""
    head = instance(head)
    check_spec(head)
    check_state(head)
    provides = head.provides
    assert LOG_PROB in provides or DETERMINISTIC_ACTIONS in provides, f"{head.name}: a head provides log_prob (a stochastic policy) or deterministic_actions"
    known = (DISCRETE, BOX, MULTI_DISCRETE, MULTI_BINARY, DICT_ACTIONS, HYBRID_ACTIONS)
    spaces = [action_space] if action_space is not None else [s for s in known if fits_spaces(head, "policy_head", OBSERVATIONS, s)]
    assert spaces, f"{head.name} accepts none of {', '.join(map(str, known))}; pass the action_space it acts in"
    for space in spaces:
        _check_head_in(head, space, samples)


def _check_head_in(head: PolicyHead, space: gym.Space, samples: int) -> None:
    torch.manual_seed(0)
    module = head.build(8, space)
    assert isinstance(module, HeadModule), f"{head.name}: build must return a pgkit.kinds.HeadModule"
    features = torch.randn(5, 8)
    distribution = module(features)
    assert distribution is not module(features), "a head must return a new distribution on every call"
    action = distribution.sample()
    for candidate in (action, distribution.mode):
        env_actions = as_numpy(module.env_action(candidate.detach()))
        for index in range(len(features)):
            single = _as_space_dtype(space, row(env_actions, index))
            assert space.contains(single), f"{head.name}: env action {single} outside {space}"
    losses = []
    if LOG_PROB in head.provides:
        log_prob = distribution.log_prob(action)
        assert log_prob.shape == (5,), f"{head.name}: log_prob must have shape [batch] = (5,), got {tuple(log_prob.shape)}"
        repeat = module(features).log_prob(action)
        module(torch.randn(7, 8))
        assert torch.allclose(repeat, module(features).log_prob(action)), f"{head.name} keeps state between calls"
        losses.append(-(distribution.log_prob(action.detach()) * torch.randn(5)).sum())
    if ENTROPY in head.provides:
        entropy = distribution.entropy()
        assert entropy.shape == (5,), f"{head.name}: entropy must have shape [batch], got {tuple(entropy.shape)}"
        if LOG_PROB in head.provides:
            _check_entropy_estimate(head, distribution, samples, "entropy")
        losses.append(-entropy.sum())
    if KL in head.provides:
        _check_kl(head, space, module(features), features, samples)
    if ACTION_MASKS in head.provides and mask_size(space) is not None:
        losses.append(_check_masked(head, space, module, features, samples))
    if RSAMPLE in head.provides:
        losses.append(module(features).rsample().square().sum())
    if module.exploration(5) is not None:
        _check_held_exploration(head, space, module, features, samples)
    if DETERMINISTIC_ACTIONS in head.provides:
        assert torch.equal(distribution.sample(), distribution.mode), f"{head.name}: a deterministic head's sample must be its mode"
        noise = head.exploration_noise(3, space.shape, np.random.default_rng(0))
        assert noise.sample().shape == (3, math.prod(space.shape)), f"{head.name}: exploration noise must be [num_envs, action dims]"
    sum(losses).backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"{head.name}: no finite gradient reaches {name}"


def _check_held_exploration(head: PolicyHead, space: gym.Space, module: HeadModule, features: torch.Tensor, samples: int) -> None:
    """Noise for 5 envs acts 5 rows inside the space (``sample_with``); ``samples`` fresh draws for one row give
    actions whose mean and variance are the distribution's, each within 5 standard errors."""
    distribution, noise = module(features), module.exploration(5)
    actions = distribution.sample_with(noise)
    assert actions.shape == distribution.sample().shape, f"{head.name}: sample_with(exploration(5)) must act one row per env"
    env_actions = as_numpy(module.env_action(actions))
    for index in range(len(features)):
        assert space.contains(_as_space_dtype(space, row(env_actions, index))), f"{head.name}: an action of its held noise is outside {space}"
    with torch.no_grad():
        one = module(features[:1].expand(samples, -1))
        drawn = one.sample_with(module.exploration(samples)).reshape(samples, -1).double()
        mean, variance = one.mean[0].reshape(-1).double(), one.variance[0].reshape(-1).double()
    assert torch.all((drawn.mean(0) - mean).abs() <= 5 * (variance / samples).sqrt()), \
        f"{head.name}: actions of fresh held noise have mean {drawn.mean(0)}, not the distribution's {mean}"
    assert torch.all((drawn.var(0) - variance).abs() <= 5 * variance * math.sqrt(2 / (samples - 1))), \
        f"{head.name}: actions of fresh held noise have variance {drawn.var(0)}, not the distribution's {variance}"


def _check_masked(head: PolicyHead, space: gym.Space, module: HeadModule, features: torch.Tensor, samples: int) -> torch.Tensor:
    """Under random masks (some action valid in every dimension): no sample or mode is invalid, log-probs sum to
    1 over the valid actions and are -inf elsewhere, the entropy is -sum_valid p log p, and the KL between two
    masked policies is E_p[log p - log q]. Where the space has Box parts (a Dict or Tuple), the sums run over the
    masked dimensions with the other columns as sampled. Returns a loss whose gradient must reach the parameters."""
    columns, counts = map(list, zip(*mask_dimensions(space)))
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(5, sum(counts), generator=generator) < 0.5
    offsets = torch.tensor([0, *counts[:-1]]).cumsum(0)
    mask[torch.arange(5)[:, None], offsets + (torch.rand(5, len(counts), generator=generator) * torch.tensor(counts)).long()] = True
    distribution = module(features, action_mask=mask)
    scalar = isinstance(space, gym.spaces.Discrete)

    def classes(actions: torch.Tensor) -> torch.Tensor:  # the head's actions [..., 5(, W)] -> [..., 5, d] masked classes
        return actions.unsqueeze(-1) if scalar else actions[..., columns]

    def valid(chosen: torch.Tensor) -> torch.Tensor:  # [..., 5, d] class indices -> [..., 5]: allowed by the mask
        index = offsets + chosen.long()
        return torch.gather(mask.expand(*index.shape[:-1], mask.shape[-1]), -1, index).all(-1)

    assert valid(classes(distribution.sample((samples,)))).all(), f"{head.name}: sampled an action its mask forbids"
    assert valid(classes(distribution.mode)).all(), f"{head.name}: its mode is an action its mask forbids"
    every = torch.cartesian_prod(*[torch.arange(n) for n in counts]).reshape(-1, len(counts))  # [K, d]
    shaped = every[:, None, :].expand(-1, 5, -1)
    allowed = valid(shaped)
    if scalar:
        as_head = shaped[..., 0]
    else:  # every masked choice, any other (Box) columns as one sample has them
        as_head = distribution.sample().expand(len(every), -1, -1).clone()
        as_head[..., columns] = shaped.to(as_head.dtype)
    log_probs = distribution.log_prob(as_head)  # [K, 5]
    assert torch.all(log_probs[~allowed] == -math.inf), f"{head.name}: an action its mask forbids has probability > 0"
    if len(columns) == action_width(space):  # only masked dimensions: sums over every action are exact
        assert torch.allclose(log_probs.exp().sum(0), torch.ones(5), atol=1e-5), f"{head.name}: masked probabilities do not sum to 1 over the valid actions"
        if ENTROPY in head.provides:
            exact = -(log_probs.exp() * log_probs.masked_fill(~allowed, 0.0)).sum(0)
            assert torch.allclose(distribution.entropy(), exact, atol=1e-5), f"{head.name}: masked entropy {distribution.entropy()} is not -sum_valid p log p = {exact}"
    elif ENTROPY in head.provides:  # with densities: against -E[log p] under the mask
        _check_entropy_estimate(head, distribution, samples, "masked entropy")
    if KL in head.provides:
        other = head.build(8, space)
        with torch.no_grad():
            for parameter in other.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
            q = other(features + 0.5 * torch.randn_like(features), action_mask=mask)
        kl = kl_divergence(distribution, q)
        estimate, error = _monte_carlo(lambda x: distribution.log_prob(x) - q.log_prob(x), distribution, samples)
        assert torch.all(torch.isfinite(kl)) and torch.all((estimate - kl).abs() <= 5 * error + 1e-3), f"{head.name}: masked kl_divergence {kl} is not E_p[log p - log q] ~ {estimate}"
    return -(distribution.log_prob(distribution.sample()) * torch.randn(5)).sum()


def _check_entropy_estimate(head: PolicyHead, distribution: Distribution, samples: int, what: str) -> None:
    """entropy() against -E[log_prob]; a head without a closed form may estimate the entropy by sampling, so the
    mean of many calls is compared."""
    with torch.no_grad():
        calls = torch.stack([distribution.entropy() for _ in range(200)])
    reported, reported_error = calls.mean(0), calls.std(0) / math.sqrt(len(calls))
    estimate, error = _monte_carlo(lambda x: -distribution.log_prob(x), distribution, samples)
    tolerance = 5 * (error.square() + reported_error.square()).sqrt() + 1e-3
    assert torch.all((estimate - reported).abs() <= tolerance), f"{head.name}: {what} {reported} is not -E[log_prob] ~ {estimate}"


def _as_space_dtype(space: gym.Space, action):
    """One env action with each leaf in its space's dtype (what ``space.contains`` compares)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _as_space_dtype(sub, action[key]) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_as_space_dtype(sub, part) for sub, part in zip(space.spaces, action))
    return np.asarray(action, dtype=space.dtype)


def _monte_carlo(statistic, distribution: Distribution, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error of ``statistic(x)`` over ``samples`` draws x ~ distribution, per batch row."""
    with torch.no_grad():
        values = statistic(distribution.sample((samples,)))
    return values.mean(0), values.std(0) / math.sqrt(samples)


def _check_kl(head: PolicyHead, space: gym.Space, p: Distribution, features: torch.Tensor, samples: int) -> None:
    other = head.build(8, space)  # a second, differently initialized policy
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        q = other(features + 0.5 * torch.randn_like(features))
    kl = kl_divergence(p, q)
    assert kl.shape == (5,), f"{head.name}: kl_divergence must have shape [batch] = (5,), got {tuple(kl.shape)}"
    assert torch.allclose(kl_divergence(p, p), torch.zeros(5), atol=1e-5), f"{head.name}: KL from a distribution to itself must be 0"
    estimate, error = _monte_carlo(lambda x: p.log_prob(x) - q.log_prob(x), p, samples)
    assert torch.all((estimate - kl).abs() <= 5 * error + 1e-3), f"{head.name}: kl_divergence {kl} is not E_p[log p - log q] ~ {estimate}"
