"""What a compatibility check sees: the environment's spaces and the component chosen for each slot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gymnasium as gym

if TYPE_CHECKING:
    from pgkit.kinds.component import Component


@dataclass(frozen=True)
class Combination:
    """One component per slot (None for an empty optional slot) on one environment."""

    env_id: str
    observation_space: gym.Space
    action_space: gym.Space
    components: dict[str, Component | None] = field(default_factory=dict)

    def get(self, slot: str) -> Component | None:
        return self.components.get(slot)

    def with_component(self, slot: str, component: Component | None) -> Combination:
        return Combination(
            self.env_id, self.observation_space, self.action_space, {**self.components, slot: component}
        )
