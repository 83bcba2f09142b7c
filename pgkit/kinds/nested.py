"""Spec fields that hold components of another kind: a composite's parts, chosen in the recipe like a slot.

A field annotated ``Components("policy_head")`` is a mapping of names to components of that kind. A recipe
writes each as an entry (``NAME`` or ``{type: NAME, ...}``); the recipe's resolver validates every entry with
its own registry, each problem at its own path (``policy_head.heads.grip.init_gain``), and the spec holds the
components. From Python, components or entries may be given (entries are then resolved with the default
registry, which ``pgkit.plugins`` lends this module as the resolver of entries). Entries the field has by
default (``Components(kind, defaults)``) are kept where the given mapping does not name them. The spec
serializes them back to entries, so a stored recipe resolves to the same parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

EntryResolver = Callable[[str, Any], Any]  # (kind, entry) -> the component it names
_resolve_entry: EntryResolver | None = None
ENTRY_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]}]}


@dataclass(frozen=True)
class Nested:
    """Field metadata: the field maps names to components of ``kind``, over the entries ``defaults`` (what the
    resolver looks for)."""

    kind: str
    defaults: tuple[tuple[str, Any], ...] = ()

    def merged(self, given: dict[Any, Any]) -> dict[str, Any]:
        """``given`` (names made strings) over the default entries."""
        return {**dict(self.defaults), **{str(key): value for key, value in given.items()}}


def Components(kind: str, defaults: dict[str, Any] | None = None) -> Any:  # noqa: N802 (a type, named as one)
    """The annotation of a spec field mapping names to components of ``kind``, with ``defaults`` (name -> entry)
    kept where not named (see the module). Unset, the field holds the ``defaults``."""
    mark = Nested(kind, tuple((defaults or {}).items()))
    return Annotated[
        dict[str, Any],
        mark,
        BeforeValidator(lambda value: _resolved(mark, value)),
        AfterValidator(lambda value: _of_kind(kind, value)),
        PlainSerializer(lambda value: {key: component.entry() for key, component in value.items()}, return_type=dict),
        WithJsonSchema({"type": "object", "additionalProperties": ENTRY_SCHEMA}),
        Field(default_factory=dict, validate_default=True),
    ]


def nested_mark(field: Any) -> Nested | None:
    """What a pydantic field's ``Components`` annotation says, if it has one."""
    return next((mark for mark in field.metadata if isinstance(mark, Nested)), None)


def resolve_entries_with(resolver: EntryResolver) -> None:
    """Let ``resolver`` turn entries given from Python into components (``pgkit.plugins`` does, on import)."""
    global _resolve_entry
    _resolve_entry = resolver


def _resolved(mark: Nested, value: Any) -> Any:
    """Entries given from Python, resolved by the entry resolver; components kept as they are."""
    from pgkit.kinds.component import Component

    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of names to {mark.kind} entries ({{type: NAME, ...}} or NAME)")
    resolved = {}
    for key, item in mark.merged(value).items():
        if not isinstance(item, Component):
            if _resolve_entry is None:
                raise ValueError(f"'{key}': {item!r} is an entry, and no registry resolves entries here; give a component")
            item = _resolve_entry(mark.kind, item)
        resolved[key] = item
    return resolved


def _of_kind(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    for key, component in value.items():
        if getattr(component, "kind", None) != kind:
            raise ValueError(f"'{key}' must be a {kind}, got {type(component).__name__}")
    return value
