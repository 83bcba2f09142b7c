"""Checking that a recipe's components fit each other and the environment, before anything is built.

Each component declares what it needs in ``incompatibility(combo)``; this module asks every chosen
component, and for each failure lists the registered components of that kind that would fit."""

from __future__ import annotations

from pgkit.kinds.combination import Combination
from pgkit.kinds.component import Component
from pgkit.envs.making import probe_spaces
from pgkit.errors import CompatibilityError, Problem
from pgkit.recipe import Recipe
from pgkit.plugins.registry import Registry


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
    for slot, value in recipe.slots.items():
        choices = value if isinstance(value, tuple) else (value,) if value is not None else ()
        instances = components[slot] if isinstance(value, tuple) else [components[slot]]
        for index, (choice, component) in enumerate(zip(choices, instances)):
            reason = component.incompatibility(combo)
            if reason is None:
                continue
            path = f"{slot}[{index}]" if isinstance(value, tuple) else slot
            registration = choice.registration
            fits = fitting_alternatives(slot, combo, registry)
            fix = f"registered {slot}s that fit: {', '.join(fits)}" if fits else f"no registered {slot} fits this combination"
            problems.append(
                Problem(path, f"'{registration.name}' (plugin {registration.plugin.name} {registration.plugin.version}) {reason}", fix)
            )
    if problems:
        raise CompatibilityError(recipe.source, problems)
    return combo


def fitting_alternatives(slot: str, combo: Combination, registry: Registry) -> list[str]:
    """Registered components of ``slot``'s kind that, with default parameters, fit ``combo`` in that slot."""
    fits = []
    for registration in registry.of_kind(slot):
        candidate = _with_defaults(registration.cls)
        if candidate is None:
            continue
        trial = combo.with_component(slot, candidate)
        if candidate.incompatibility(trial) is None and not _newly_broken(combo, trial, slot):
            fits.append(registration.name)
    return fits


def _newly_broken(before: Combination, after: Combination, changed: str) -> bool:
    """Does swapping ``changed`` break another component that fitted before?"""
    return any(
        c is not None and c.incompatibility(before) is None and c.incompatibility(after) is not None
        for slot, c in after.components.items()
        if slot != changed
    )


def _with_defaults(cls: type[Component]) -> Component | None:
    try:
        return cls()
    except Exception:  # a component whose spec has required fields has no default form
        return None
