"""Checking that a recipe's components fit each other and the environment, before anything is built.

``Combination.incompatibility`` decides (capabilities, then each component's own check); this module
asks it for every chosen component and, for each failure, lists the registered components of that
slot that would fit and the registered components that provide what is missing. A combination that
fits but computes something else (``Component.caution``) is a RecipeWarning."""

from __future__ import annotations

import warnings

from pgkit.envs.making import probe_spaces
from pgkit.errors import CompatibilityError, Problem, RecipeWarning
from pgkit.kinds.capabilities import Capability
from pgkit.kinds.combination import Combination
from pgkit.kinds.component import Component
from pgkit.plugins.registry import Registry
from pgkit.recipe.recipe import Recipe


def combination(recipe: Recipe, components: dict) -> Combination:
    """``components`` (from ``recipe.instantiate()``) on the recipe's environment; raises
    CompatibilityError if the env cannot be made."""
    spaces = probe_spaces(recipe.settings.env)
    if isinstance(spaces, Problem):
        raise CompatibilityError(recipe.source, [spaces])
    single = {slot: value for slot, value in components.items() if not isinstance(value, list)}
    return Combination(recipe.settings.env.id, spaces[0], spaces[1], single)


def check_compatibility(recipe: Recipe, registry: Registry) -> Combination:
    """The recipe's Combination if every component fits; otherwise a CompatibilityError with all failures."""
    components = recipe.instantiate()
    combo = combination(recipe, components)
    problems = []
    for slot, value in components.items():
        for index, component in enumerate(value if isinstance(value, list) else [value]):
            if component is None:
                continue
            reason = combo.with_component(slot, component).incompatibility(slot)
            if reason is None:
                continue
            path = f"{slot}[{index}]" if isinstance(value, list) else slot
            plugin = component.plugin
            origin = f" (plugin {plugin.name} {plugin.version})" if plugin else ""
            problems.append(Problem(path, f"'{component.name}'{origin} {reason}", _fix(slot, component, combo, registry)))
    if problems:
        raise CompatibilityError(recipe.source, problems)
    for slot, component in combo.components.items():
        if component is not None and (reason := component.caution(combo)) is not None:
            warnings.warn(RecipeWarning(f"{recipe.source}: {slot}: '{component.name}' {reason}"), stacklevel=2)
    return combo


def _fix(slot: str, component: Component, combo: Combination, registry: Registry) -> str:
    fits = fitting_alternatives(slot, combo, registry)
    fix = f"registered {slot}s that fit: {', '.join(fits)}" if fits else f"no registered {slot} fits this combination"
    for capability in sorted(combo.with_component(slot, component).missing(slot), key=lambda c: c.name):
        providers = providers_of(capability, registry)
        if providers:
            fix += f"; {capability.name} is provided by {', '.join(providers)}"
    return fix


def fitting_alternatives(slot: str, combo: Combination, registry: Registry) -> list[str]:
    """Registered components of ``slot``'s kind that, with default parameters, fit ``combo`` in that slot
    without breaking a component that fitted before."""
    fits = []
    for registration in registry.of_kind(slot):
        candidate = _with_defaults(registration.cls)
        if candidate is None:
            continue
        trial = combo.with_component(slot, candidate)
        if trial.incompatibility(slot) is None and not _newly_broken(combo, trial, slot):
            fits.append(registration.name)
    return fits


def providers_of(capability: Capability, registry: Registry) -> list[str]:
    """``kind 'name'`` of every registered component that provides ``capability`` with default parameters."""
    found = []
    for kind in registry.kinds():
        for registration in registry.of_kind(kind):
            candidate = _with_defaults(registration.cls)
            if candidate is not None and capability in candidate.provides:
                found.append(f"{kind} '{registration.name}'")
    return found


def _newly_broken(before: Combination, after: Combination, changed: str) -> bool:
    """Does swapping ``changed`` break another component that fitted before?"""
    return any(
        before.incompatibility(slot) is None and after.incompatibility(slot) is not None
        for slot, component in after.components.items()
        if slot != changed and component is not None
    )


def _with_defaults(cls: type[Component]) -> Component | None:
    try:
        return cls()
    except Exception:  # a component whose spec has required fields has no default form
        return None
