"""A validated recipe: run settings plus one chosen component (type and spec) per slot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from pgkit.code_names import NamedCode, code_named_by
from pgkit.kinds.component import Component, Spec
from pgkit.recipe.settings import RunSettings
from pgkit.plugins.registry import Registration


@dataclass(frozen=True)
class Choice:
    """A registered component and its validated parameters."""

    registration: Registration
    spec: Spec

    def instantiate(self) -> Component:
        """A new component with this spec, knowing the plugin it came from (for its messages)."""
        component = self.registration.cls(self.spec)
        component.plugin = self.registration.plugin
        return component

    def to_dict(self) -> dict[str, Any]:
        plugin = self.registration.plugin
        return {
            "type": self.registration.name,
            "plugin": plugin.name,
            "version": plugin.version,
            **self.spec.model_dump(mode="json"),
        }


SlotValue = Union[Choice, tuple[Choice, ...], None]


@dataclass(frozen=True)
class Recipe:
    source: str
    settings: RunSettings
    slots: dict[str, SlotValue]

    @property
    def name(self) -> str:
        return self.settings.name or "run"

    def instantiate(self) -> dict[str, Any]:
        """Fresh component objects: slot -> component, a list for multi-valued slots, None if empty."""
        return {slot: _instantiate(value) for slot, value in self.slots.items()}

    def named_code(self) -> list[NamedCode]:
        """The code this recipe makes pgkit import, call or join (its ``NamesCode`` fields: env.modules,
        env.entry_point, the module of a ``module:EnvId`` id, a Ray cluster's address, plugins' own)."""
        found = list(code_named_by(self.settings, ""))
        for slot, value in self.slots.items():
            found += code_named_by(value, slot)
        return found

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe: every default filled in, with each component's plugin and version."""
        data = self.settings.model_dump(mode="json")
        for slot, value in self.slots.items():
            if isinstance(value, tuple):
                data[slot] = [choice.to_dict() for choice in value]
            else:
                data[slot] = value.to_dict() if value is not None else None
        return data


def _instantiate(value: SlotValue) -> Any:
    if isinstance(value, tuple):
        return [choice.instantiate() for choice in value]
    return value.instantiate() if value is not None else None
