"""The base every component derives from: a name, a kind, and a pydantic ``Spec`` of its parameters."""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from pgkit.kinds.combination import Combination


class Spec(BaseModel):
    """Parameters of a component. Unknown fields are rejected; give every field a description."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Component(ABC):
    """A registered part. Subclasses set ``name`` and usually a nested ``Spec``.

    The docstring's first line is the one-line summary shown by ``pgkit components``.
    Constructing a component is cheap (no torch modules); modules are made by ``build`` methods.
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    Spec: ClassVar[type[Spec]] = Spec

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        if spec is not None and params:
            raise TypeError("pass either a spec or keyword parameters, not both")
        self.spec = spec if spec is not None else self.Spec(**params)

    def incompatibility(self, combo: Combination) -> str | None:
        """What this component misses in ``combo`` (other slots, the env's spaces), or None if it fits."""
        return None

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.spec.model_dump().items())
        return f"{type(self).__name__}({params})"
