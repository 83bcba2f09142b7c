"""Recipes: YAML files that choose one component per slot, validated against the registry."""

from __future__ import annotations

from pathlib import Path

from pgkit.recipe.document import apply_overrides, read_document
from pgkit.recipe.recipe import Choice, Recipe
from pgkit.recipe.resolve import resolve
from pgkit.recipe.settings import RunSettings
from pgkit.plugins.registry import Registry, default_registry


def load_recipe(path: str | Path, overrides: list[str] | None = None, registry: Registry | None = None) -> Recipe:
    """Read, merge ``extends``, apply overrides and validate; raises RecipeError listing every problem."""
    document = apply_overrides(read_document(path), overrides or [], source=str(path))
    return resolve(document, registry or default_registry(), source=str(path))


__all__ = ["Choice", "Recipe", "RunSettings", "apply_overrides", "load_recipe", "read_document", "resolve"]
