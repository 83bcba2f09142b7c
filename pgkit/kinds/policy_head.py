"""Kind ``policy_head``: features -> a new action distribution on every call."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import gymnasium as gym
from torch import Tensor, nn

from pgkit.kinds.component import Component

if TYPE_CHECKING:
    from pgkit.kinds.combination import Combination


class HeadModule(nn.Module):
    """``forward(features) -> Distribution`` whose ``log_prob`` is ``[B]`` (summed over action dims),
    with ``sample``, ``entropy`` and ``mode``. Holds no state between calls."""

    def env_action(self, action: Tensor) -> Tensor:
        """The action as the environment should receive it (e.g. clipped to the bounds)."""
        return action


class PolicyHead(Component):
    """Builds a HeadModule for one action space."""

    kind = "policy_head"
    action_space_type: ClassVar[type[gym.Space]]
    has_log_prob: ClassVar[bool] = True  # False for deterministic heads
    deterministic: ClassVar[bool] = False  # the action is a differentiable function of the state (DPG)

    def incompatibility(self, combo: Combination) -> str | None:
        if not isinstance(combo.action_space, self.action_space_type):
            return (
                f"needs a {self.action_space_type.__name__} action space, "
                f"but {combo.env_id} has {combo.action_space}"
            )
        return None

    @abstractmethod
    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        """A new head reading ``in_features`` features."""
