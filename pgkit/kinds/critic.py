"""Kind ``critic``: a learned value function with its own regression loss."""

from __future__ import annotations

from abc import abstractmethod

import gymnasium as gym
from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.kinds.component import Component
from pgkit.kinds.network import Network


class Critic(Component):
    """Builds a value module and says how to regress it on a batch's ``returns``. Provides
    ``state_value`` (V(s)) or ``action_value`` (Q(s, a))."""

    kind = "critic"

    @abstractmethod
    def build(
        self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module
    ) -> nn.Module:
        """A new value module. A state-value critic maps ``obs [B, ...] -> [B]``; an action-value
        critic maps ``(obs [B, ...], action [B, d], networks=None) -> [K, B]`` for its K >= 1
        networks (only the first ``networks`` if given). It may reuse ``policy_torso`` (a shared
        torso) or build its own from ``network``."""

    @abstractmethod
    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        """Scalar regression loss of ``module`` against ``batch.returns`` on a flattened batch (an
        action-value critic weights each transition by ``batch.weights`` when it is not None)."""

    def td_errors(self, module: nn.Module, batch: Batch) -> Tensor:
        """Each transition's |returns - prediction|, ``[B]``, for critics that provide ``td_errors``."""
        raise NotImplementedError(f"{self.describe()} gives no TD errors")
