"""What a compatibility check sees, and the one check that decides it.

A Combination is one component per slot on one environment. A component fits when every capability
it requires is provided by the environment or by a component in another slot, and its own
``incompatibility`` finds nothing else missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import gymnasium as gym

from pgkit.kinds.capabilities import (
    ACTION_SPACE_CAPABILITIES,
    OBSERVATION_SPACE_CAPABILITIES,
    RAW_OBSERVATIONS,
    Capability,
    environment_capabilities,
)


class Part(Protocol):
    """What the check reads of a component (``pgkit.kinds.Component`` has it all)."""

    kind: str
    name: str
    provides: frozenset[Capability]
    requires: frozenset[Capability]

    def incompatibility(self, combo: Combination) -> str | None: ...

    def caution(self, combo: Combination) -> str | None: ...


@dataclass(frozen=True)
class Combination:
    """One component per slot (None for an empty optional slot) on one environment, whose observations
    the agent normalizes or not (env.normalize.obs)."""

    env_id: str
    observation_space: gym.Space
    action_space: gym.Space
    components: dict[str, Part | None] = field(default_factory=dict)
    normalized_observations: bool = False

    def get(self, slot: str) -> Part | None:
        return self.components.get(slot)

    def with_component(self, slot: str, component: Part | None) -> Combination:
        return Combination(
            self.env_id, self.observation_space, self.action_space, {**self.components, slot: component}, self.normalized_observations
        )

    def provided(self, besides: str | None = None) -> frozenset[Capability]:
        """What the environment and every component (but the one in slot ``besides``) provide."""
        provided = set(environment_capabilities(self.observation_space, self.action_space))
        if not self.normalized_observations:
            provided.add(RAW_OBSERVATIONS)
        for slot, component in self.components.items():
            if component is not None and slot != besides:
                provided |= component.provides
        return frozenset(provided)

    def missing(self, slot: str) -> frozenset[Capability]:
        """The capabilities the component in ``slot`` requires and nothing else provides."""
        component = self.components[slot]
        return frozenset() if component is None else component.requires - self.provided(besides=slot)

    def incompatibility(self, slot: str) -> str | None:
        """Why the component in ``slot`` does not fit, or None if it does."""
        component = self.components.get(slot)
        if component is None:
            return None
        missing = sorted(self.missing(slot), key=lambda c: c.name)
        if missing:
            return "; ".join(self._needs(capability) for capability in missing)
        return component.incompatibility(self)

    def _needs(self, capability: Capability) -> str:
        if capability in ACTION_SPACE_CAPABILITIES:
            return f"needs {capability.description}, but {self.env_id} has {self.action_space}"
        if capability == RAW_OBSERVATIONS:
            return "needs the observations as the env gives them, but env.normalize.obs normalizes them; set env.normalize.obs: false"
        if capability in OBSERVATION_SPACE_CAPABILITIES:
            return f"needs {capability.description}, but {self.env_id} has {self.observation_space}"
        return f"needs {capability.description} ({capability.name}), which no other component here provides"
