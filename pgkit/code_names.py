"""Spec fields that name code: a module imported, an entry point called, a cluster joined.

A recipe stored in a run folder is data, but some of its fields make pgkit import or run something
(``env.modules``, ``env.entry_point``, the module of ``env.id``'s ``module:EnvId`` form, a Ray cluster's
address). Such a field is annotated ``Annotated[str, NamesCode("...")]``; ``code_named_by`` finds every one
a validated spec holds, so that pgkit can refuse what a recipe it did not see this user write would run
(``pgkit.runtime.stored_run``). A plugin whose spec names code marks its field the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from pydantic import BaseModel


def _as_given(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [str(item) for item in value]
    return [str(value)]


@dataclass(frozen=True)
class NamesCode:
    """Field metadata: this field's value names code that pgkit imports, calls or joins. ``what`` says what
    happens to it ("imported", "called", "joined"); ``names`` picks the code out of a value (by default the
    value, or each item of a tuple; None or empty: nothing)."""

    what: str
    names: Callable[[Any], list[str]] = _as_given


@dataclass(frozen=True)
class NamedCode:
    """One piece of code a spec names: where (a dotted recipe path), what, and what pgkit would do with it."""

    path: str
    code: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.code!r} ({self.what})"


def code_named_by(model: Any, prefix: str) -> Iterator[NamedCode]:
    """Every piece of code that the validated ``model`` (a pydantic model, or a component with a ``spec``, or a
    tuple or a mapping of these) names, found through ``NamesCode`` marks, nested models and components included."""
    if isinstance(model, (tuple, list)):
        for index, item in enumerate(model):
            yield from code_named_by(item, f"{prefix}[{index}]")
        return
    if isinstance(model, dict):
        for key, item in model.items():
            yield from code_named_by(item, f"{prefix}.{key}")
        return
    spec = getattr(model, "spec", None)
    if not isinstance(model, BaseModel) and isinstance(spec, BaseModel):
        model = spec
    if not isinstance(model, BaseModel):
        return
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}.{name}" if prefix else name
        for mark in field.metadata:
            if isinstance(mark, NamesCode):
                yield from (NamedCode(path, code, mark.what) for code in mark.names(value) if code)
        yield from code_named_by(value, path)
