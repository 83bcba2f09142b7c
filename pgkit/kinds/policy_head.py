"""Kind ``policy_head``: features -> a new action distribution on every call."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from pgkit.kinds.component import Component
from pgkit.nn.noise import ActionNoise, NoNoise


class HeadModule(nn.Module):
    """``forward(features [B, F]) -> Distribution`` over ``[B]`` actions, new on every call (no state
    between calls: noise held across steps, ``exploration``, is the collector's). A head that provides action_masks also takes ``forward(features, action_mask)``, a bool
    ``[B, M]`` laid out as ``pgkit.envs.action_masks`` says, and gives invalid actions probability 0. What the distribution must support follows from the head's ``provides``:
    ``log_prob`` (``log_prob(actions) -> [B]``, summed over action dimensions), ``entropy``
    (``entropy() -> [B]``), ``kl`` (``torch.distributions.kl_divergence`` between two of them),
    ``rsample`` (``rsample()`` with gradient); every head gives ``sample()`` and ``mode``."""

    resample_every: int = 0  # with exploration(): steps between its draws within a batch (0: once a batch)

    def exploration(self, count: int) -> Tensor | None:
        """Exploration noise held across steps for ``count`` envs, drawn from torch's generator, or None (the
        default: the head explores by sampling afresh at each step). A head that returns noise gives distributions
        with ``sample_with(noise) -> actions``; a collector draws the noise at the start of each batch and every
        ``resample_every`` steps after it, and acts with it (gSDE's exploration matrices, Raffin et al. 2022)."""
        return None

    def env_action(self, action: Tensor) -> Any:
        """The action as the environment should receive it (e.g. clipped to the bounds): a tensor, or for a Dict or
        Tuple action space a dict or tuple of them (``pgkit.envs.actions``)."""
        return action


class PolicyHead(Component):
    """Builds a HeadModule for one action space. ``requires`` names the action spaces it reads;
    ``provides`` what its distributions give (log_prob, entropy, kl, rsample, deterministic_actions,
    squashed_actions, off_policy_actions)."""

    kind = "policy_head"

    @abstractmethod
    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        """A new head reading ``in_features`` features."""

    def random_actions(self, count: int, action_space: gym.Space, rng: np.random.Generator) -> np.ndarray:
        """``count`` actions of a uniformly random policy in this head's own units, drawn from ``rng`` (what an
        off-policy trainer acts with while it warms up). Default: uniform in [-1, 1]^d (a squashed head's units)."""
        return rng.uniform(-1.0, 1.0, (count, int(np.prod(action_space.shape)))).astype(np.float32)

    def explore(self, actions: Tensor, noise: np.ndarray) -> Tensor:
        """Sampled ``actions`` with one draw of ``exploration_noise`` added, as an off-policy trainer acts.
        Default: a + noise clipped to [-1, 1] (a squashed head's units)."""
        return (actions + torch.as_tensor(noise, device=actions.device)).clamp(-1.0, 1.0)

    def exploration_noise(self, num_envs: int, action_shape: tuple[int, ...], rng: np.random.Generator) -> ActionNoise:
        """Noise an off-policy trainer adds to sampled actions, one process per env, drawing from ``rng``.
        Default: none (a stochastic head explores by sampling)."""
        return NoNoise((num_envs, int(np.prod(action_shape))))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.spec == other.spec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.name))
