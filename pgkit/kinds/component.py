"""The base every component derives from: a name, a kind, a pydantic ``Spec`` of its parameters, the
capabilities it provides and requires, and its state."""

from __future__ import annotations

import re
from abc import ABC
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from pgkit.kinds.capabilities import Capability
from pgkit.kinds.combination import Combination
from pgkit.kinds.state import attribute_state, load_attribute_state


class Spec(BaseModel):
    """Parameters of a component. Unknown fields are rejected; give every field a description."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class PluginInfo:
    """Where components came from: ``name`` is what qualified component names use (``name:component``)."""

    name: str
    distribution: str
    version: str


class Component(ABC):
    """A registered part. Subclasses set ``name`` and usually a nested ``Spec``.

    - The docstring's first sentence is the summary shown by ``pgkit components``.
    - ``provides`` and ``requires`` are sets of Capability; override them with properties when they
      depend on the spec. ``incompatibility`` covers what capabilities cannot say; ``caution`` warns of
      a combination that runs but computes something else.
    - Constructing a component is cheap (no torch modules); modules are made by ``build`` methods.
    - ``state_dict`` saves every attribute but ``spec`` and ``plugin`` (see ``pgkit.kinds.state``),
      so a component that keeps state across batches is checkpointed and resumed without more code.
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    Spec: ClassVar[type[Spec]] = Spec
    provides: ClassVar[frozenset[Capability]] = frozenset()
    requires: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        if spec is not None and params:
            raise TypeError("pass either a spec or keyword parameters, not both")
        self.spec = spec if spec is not None else self.Spec(**params)
        self.plugin: PluginInfo | None = None  # set by the recipe that chose this component

    def incompatibility(self, combo: Combination) -> str | None:
        """What this component misses in ``combo`` beyond its ``requires``, or None if it fits."""
        return None

    def caution(self, combo: Combination) -> str | None:
        """Why this component, though it fits ``combo``, would not compute what its summary says, with the
        fix (``pgkit check`` and ``train`` warn), or None. Default: None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return attribute_state(self, exclude=frozenset({"spec", "plugin"}))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_attribute_state(self, state)

    def entry(self) -> dict[str, Any]:
        """This component as a recipe entry: ``{type, plugin, version, **spec}`` (what a recipe would write)."""
        plugin = self.plugin
        provenance = {"plugin": plugin.name, "version": plugin.version} if plugin is not None else {}
        return {"type": self.name, **provenance, **self.spec.model_dump(mode="json")}

    def describe(self) -> str:
        """e.g. ``advantage 'gae' (plugin pgkit 0.1.0)``, for messages about this component."""
        origin = f"plugin {self.plugin.name} {self.plugin.version}" if self.plugin else type(self).__module__
        return f"{self.kind} '{self.name}' ({origin})"

    @classmethod
    def summary(cls) -> str:
        """The docstring's first sentence, whole (it may wrap over lines): what ``pgkit components`` shows."""
        paragraph = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        sentence = re.match(r"(.+?(?<!\bal)(?<!e\.g)(?<!i\.e)[.!?])\s", paragraph)  # "et al." and "e.g." do not end it
        return sentence[1] if sentence else paragraph

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.spec.model_dump().items())
        return f"{type(self).__name__}({params})"
