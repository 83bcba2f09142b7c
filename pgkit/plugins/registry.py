"""The table of registered components, built by calling every plugin's ``register_*`` hooks."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pluggy

from pgkit.errors import ComponentLookupError, PluginWarning
from pgkit.kinds import KINDS, Kind
from pgkit.kinds.component import Component, PluginInfo
from pgkit.kinds.nested import resolve_entries_with
from pgkit.plugins.discovery import load_plugins, new_plugin_manager

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Registration:
    kind: str
    name: str
    cls: type[Component]
    plugin: PluginInfo

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin.name}:{self.name}"


class Registry:
    """Registered components by kind; a bare name must be unique, ``plugin:name`` always works."""

    def __init__(self, registrations: list[Registration], plugins: list[PluginInfo]):
        self.plugins = plugins
        self._by_kind: dict[str, list[Registration]] = {kind: [] for kind in KINDS}
        for registration in registrations:
            self._by_kind[registration.kind].append(registration)

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> Registry:
        registrations: list[Registration] = []
        for kind in KINDS.values():
            for impl in getattr(pm.hook, kind.hook).get_hookimpls():
                info = infos.get(impl.plugin_name, PluginInfo(impl.plugin_name, impl.plugin_name, "?"))
                registrations.extend(_call_hook(kind, impl, info))
        return cls(registrations, list(dict.fromkeys(infos.values())))

    def kinds(self) -> list[str]:
        return list(self._by_kind)

    def of_kind(self, kind: str) -> list[Registration]:
        return list(self._by_kind[kind])

    def lookup(self, kind: str, name: str) -> Registration:
        """Find ``name`` (or ``plugin:name``) among components of ``kind``."""
        candidates = self._by_kind[kind]
        plugin, _, bare = name.rpartition(":")
        found = [r for r in candidates if r.name == bare and (not plugin or r.plugin.name == plugin)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            both = " and ".join(f"'{r.plugin.name}' ({r.plugin.distribution})" for r in found)
            options = ", ".join(r.qualified_name for r in found)
            raise ComponentLookupError(
                f"{kind} '{name}' is registered by plugins {both}; write one of: {options}"
            )
        names = sorted({r.name for r in candidates} | {r.qualified_name for r in candidates})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ComponentLookupError(
            f"unknown {kind} '{name}'; {hint}registered: {', '.join(sorted({r.name for r in candidates}))}"
        )


def _call_hook(kind: Kind, impl: pluggy.HookImpl, info: PluginInfo) -> list[Registration]:
    """Run one plugin's hook for one kind; a broken registration is a warning, not a crash."""
    found: list[Registration] = []

    def register(cls: type) -> None:
        problem = _registration_problem(kind, cls)
        if problem:
            warnings.warn(PluginWarning(f"plugin '{info.name}' ({info.distribution}): {problem}; skipped"))
        else:
            found.append(Registration(kind.name, cls.name, cls, info))

    try:
        impl.function(**{arg: register for arg in impl.argnames})
    except Exception as exc:
        warnings.warn(
            PluginWarning(f"plugin '{info.name}' ({info.distribution}) failed in {kind.hook}: {type(exc).__name__}: {exc}")
        )
    return found


def _registration_problem(kind: Kind, cls: object) -> str | None:
    if not (inspect.isclass(cls) and issubclass(cls, kind.base)):
        return f"{kind.hook} got {cls!r}, which is not a subclass of pgkit.kinds.{kind.base.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return f"{cls.__qualname__}.name must be a lower-case identifier, got {name!r}"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        return f"{cls.__qualname__} does not implement {missing}"
    base_spec = kind.base.Spec
    if not (inspect.isclass(cls.Spec) and issubclass(cls.Spec, base_spec)):
        return f"{cls.__qualname__}.Spec must subclass {base_spec.__module__.rsplit('.', 1)[0]}.{base_spec.__name__} (the settings every {kind.name} has)"
    return None


def build_registry(entry_points: bool = True) -> Registry:
    """A fresh registry: built-ins plus (optionally) installed entry-point plugins."""
    pm = new_plugin_manager()
    infos = load_plugins(pm, entry_points=entry_points)
    return Registry.from_plugin_manager(pm, infos)


_active: Registry | None = None  # set by using_registry()


@functools.cache
def _installed_registry() -> Registry:
    return build_registry()


def component_from_entry(kind: str, entry: object, registry: Registry | None = None) -> Component:
    """The component of ``kind`` that a recipe entry (``NAME`` or ``{type: NAME, ...}``) names, from ``registry``
    (default: the installed plugins'); a ValueError saying what is wrong. Recipes are resolved by
    ``pgkit.recipe``, which names the path of every problem; this serves specs built from Python."""
    params = {"type": entry} if isinstance(entry, str) else dict(entry) if isinstance(entry, dict) else None
    if params is None or not isinstance(params.get("type"), str):
        raise ValueError(f"{entry!r} is not a {kind} entry: give NAME or {{type: NAME, ...}}")
    name = params.pop("type")
    plugin = params.pop("plugin", None)
    params.pop("version", None)
    try:
        registration = (registry or default_registry()).lookup(kind, f"{plugin}:{name}" if plugin and ":" not in name else name)
    except ComponentLookupError as exc:
        raise ValueError(str(exc)) from None
    component = registration.cls(registration.cls.Spec.model_validate(params))
    component.plugin = registration.plugin
    return component


resolve_entries_with(component_from_entry)


def default_registry() -> Registry:
    """The process-wide registry: everything installed (built once, on first use), unless a
    ``using_registry`` block has put another in its place."""
    return _active if _active is not None else _installed_registry()


@contextmanager
def using_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the default one (for recipes, training and the CLI) inside the block."""
    global _active
    previous, _active = _active, registry
    try:
        yield registry
    finally:
        _active = previous
