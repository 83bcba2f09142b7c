"""A JSON schema for recipe files, from the specs of every installed component (for editors)."""

from __future__ import annotations

from typing import Any

from pgkit.kinds import KINDS
from pgkit.recipe.resolve import LIST_KINDS
from pgkit.recipe.settings import RunSettings
from pgkit.plugins.registry import Registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def recipe_schema(registry: Registry) -> dict[str, Any]:
    """Settings as in RunSettings; each slot a component name or ``{type: NAME, ...its spec}`` (``type``
    may be left out in a recipe that ``extends`` another, whose slot supplies it)."""
    settings = RunSettings.model_json_schema(ref_template="#/$defs/{model}")
    definitions: dict[str, Any] = dict(settings.pop("$defs", {}))
    properties: dict[str, Any] = dict(settings["properties"])
    properties["extends"] = {"type": "string", "description": "Another recipe file this one starts from (its path relative to this file)."}
    for kind in KINDS:
        choices, names = [], []
        for registration in registry.of_kind(kind):
            spec = registration.cls.Spec.model_json_schema(ref_template="#/$defs/{model}")
            definitions.update(spec.pop("$defs", {}))
            accepted = [registration.name, registration.qualified_name]
            names += accepted
            choices.append({
                "type": "object",
                "title": registration.qualified_name,
                "description": registration.cls.summary(),
                "properties": {
                    "type": {"enum": accepted, "description": registration.cls.summary()},
                    "plugin": {"type": "string", "description": "The plugin that registered it (written into resolved recipes)."},
                    "version": {"type": "string", "description": "The plugin's version (written into resolved recipes)."},
                    **spec.get("properties", {}),
                },
                "required": spec.get("required", []),  # no "type": a recipe that extends another may leave it to the parent
                "additionalProperties": False,
            })
        component = {"anyOf": [{"enum": names, "description": f"a registered {kind}, with default parameters"}, *choices]}
        if not KINDS[kind].is_slot:  # env.wrappers: a list inside the env settings
            definitions["EnvSettings"]["properties"]["wrappers"]["items"] = component
        elif kind in LIST_KINDS:
            properties[kind] = {"anyOf": [component, {"type": "array", "items": component}], "description": f"one or more {kind}s"}
        else:
            properties[kind] = {"anyOf": [component, {"type": "null"}], "description": KINDS[kind].base.__doc__.strip().splitlines()[0]}
    return {
        "$schema": DIALECT,
        "title": "pgkit recipe",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": definitions,
    }
