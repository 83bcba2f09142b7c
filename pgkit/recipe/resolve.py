"""Validating a recipe document against the registry: every problem is collected, each with a path."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pgkit.errors import ComponentLookupError, Problem, RecipeError
from pgkit.kinds import KINDS, SLOTS
from pgkit.kinds.nested import nested_mark
from pgkit.recipe.recipe import Choice, Recipe, SlotValue
from pgkit.envs.settings import GROUP_SLOTS, EnvSettings, NormalizeSettings
from pgkit.recipe.settings import RunSettings
from pgkit.plugins.registry import Registry

SETTINGS_KEYS = tuple(RunSettings.model_fields)
LIST_KINDS = frozenset({"logger", "callback", "env_wrapper"})
LOOP_SLOTS = frozenset({"logger", "callback"})  # the training loop's, so every trainer accepts them
SLOT_DEFAULTS: dict[str, Any] = {
    "network": "mlp",
    "baseline": "none",
    "trainer": "on_policy",
    "replay": "uniform",
    "logger": ["console", "csv"],
}
PROVENANCE_KEYS = ("plugin", "version")  # written into resolved recipes; not component parameters


def resolve(document: dict[str, Any], registry: Registry, source: str = "recipe") -> Recipe:
    """A Recipe from a plain document, or a RecipeError listing every problem at once."""
    problems: list[Problem] = []
    for key in document:
        if key not in SETTINGS_KEYS and key not in SLOTS:
            known = [*SETTINGS_KEYS, *SLOTS]
            close = difflib.get_close_matches(str(key), known, n=1)
            fix = f"did you mean '{close[0]}'? " if close else ""
            problems.append(Problem(str(key), "unknown top-level key", f"{fix}keys are: {', '.join(known)}"))

    settings = _validate_settings(document, Path(source).stem, registry, problems)

    trainer = _slot_value("trainer", document.get("trainer") or SLOT_DEFAULTS["trainer"], registry, problems)
    if isinstance(trainer, Choice):
        trainer_cls = trainer.registration.cls
        used = trainer_cls.required_slots | trainer_cls.optional_slots | LOOP_SLOTS
        required = trainer_cls.required_slots
    else:
        used = required = frozenset()

    slots: dict[str, SlotValue] = {"trainer": trainer}
    for slot in SLOTS:
        if slot == "trainer":
            continue
        raw = document.get(slot)
        if trainer is not None and raw is not None and slot not in used:
            problems.append(Problem(slot, f"trainer '{trainer.registration.name}' does not use a {slot}", f"remove `{slot}` from the recipe"))
            continue
        if raw is None and slot in used:
            raw = SLOT_DEFAULTS.get(slot)
        if raw is None:
            if slot in required:
                names = ", ".join(r.name for r in registry.of_kind(slot))
                problems.append(Problem(slot, f"missing slot: trainer '{trainer.registration.name}' needs {'an' if slot[0] in 'aeiou' else 'a'} {slot}", f"add `{slot}: {{type: NAME}}` with one of: {names}"))
            slots[slot] = None
            continue
        slots[slot] = _slot_value(slot, raw, registry, problems)

    if problems or settings is None:
        raise RecipeError(source, _pointed_home(problems, document, slots, registry))
    return Recipe(source=source, settings=settings, slots=slots)


def _homes(slots: dict[str, SlotValue]) -> dict[str, list[str]]:
    """Field name -> the recipe paths where it is a field: the run settings, env's, and each chosen component's."""
    homes: dict[str, list[str]] = {}
    models: list[tuple[str, type[BaseModel]]] = [("", RunSettings), ("env", EnvSettings), ("env.normalize", NormalizeSettings)]
    models += [(slot, value.registration.cls.Spec) for slot, value in slots.items() if isinstance(value, Choice)]
    for prefix, model in models:
        for name in model.model_fields:
            homes.setdefault(name, []).append(f"{prefix}.{name}" if prefix else name)
    return homes


def _pointed_home(problems: list[Problem], document: dict[str, Any], slots: dict[str, SlotValue], registry: Registry) -> list[Problem]:
    """``problems`` with a key that is unknown where it stands pointed to where it belongs: a field of another
    slot (``epochs`` at the top: trainer.epochs), a component's ``type`` moved up out of its slot, or a slot
    under another name whose value names a component of some kind."""
    homes = _homes(slots)
    pointed = []
    for problem in problems:
        unknown = problem.message.startswith(("unknown top-level key", "unknown field for"))
        key = problem.path.rpartition(".")[2]
        fix = None
        if unknown and key == "type" and "." not in problem.path:
            fix = "a component's type goes inside its slot, e.g. `network: {type: mlp}`" + _kind_hint(document.get(key), registry)
        elif unknown:
            elsewhere = [path for path in homes.get(key, []) if path != problem.path]
            if elsewhere:
                fix = f"'{key}' belongs at {' or '.join(elsewhere)}: move it there" + (f" ({problem.fix})" if problem.fix.startswith("did you mean") else "")
            elif "." not in problem.path:
                hint = _kind_hint(document.get(key), registry)
                fix = hint[2:] + f"; {problem.fix}" if hint else None
        pointed.append(Problem(problem.path, problem.message, fix) if fix else problem)
    return pointed


def _kind_hint(value: Any, registry: Registry) -> str:
    """'; 'NAME' is a KIND: write it as KIND: {type: NAME}' where ``value`` names a registered component."""
    name = value.get("type") if isinstance(value, dict) else value
    if not isinstance(name, str):
        return ""
    kinds = [kind for kind in KINDS if kind in SLOTS and any(r.name == name for r in registry.of_kind(kind))]
    return f"; '{name}' is a {' and a '.join(kinds)}: write it as `{kinds[0]}: {{type: {name}, ...}}`" if kinds else ""


def _validate_settings(document: dict[str, Any], default_name: str, registry: Registry, problems: list[Problem]) -> RunSettings | None:
    values = {key: document[key] for key in SETTINGS_KEYS if key in document}
    if values.get("name") is None:
        values["name"] = default_name
    env = values.get("env")
    if isinstance(env, dict) and env.get("wrappers") is not None:
        wrappers = _slot_value("env_wrapper", env["wrappers"], registry, problems, path="env.wrappers")
        env = values["env"] = {**env, "wrappers": tuple(choice.instantiate() for choice in wrappers)}
    agents = env.get("agents") if isinstance(env, dict) else None
    if isinstance(agents, dict) and isinstance(agents.get("groups"), dict):
        groups = {name: _group_components(name, group, registry, problems) for name, group in agents["groups"].items()}
        values["env"] = {**env, "agents": {**agents, "groups": groups}}
    try:
        return RunSettings.model_validate(values)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, "", RunSettings, "the recipe"))
        return None


def _group_components(name: Any, group: Any, registry: Registry, problems: list[Problem]) -> Any:
    """A policy group's long form with its own components resolved at their paths (the short form as it is)."""
    if not isinstance(group, dict):
        return group
    resolved = dict(group)
    for slot in GROUP_SLOTS:
        if group.get(slot) is not None:
            choice = _choice(slot, f"env.agents.groups.{name}.{slot}", group[slot], registry, problems)
            resolved[slot] = choice.instantiate() if choice is not None else None
    return resolved


def _slot_value(kind: str, raw: Any, registry: Registry, problems: list[Problem], path: str | None = None) -> SlotValue:
    """The choice (or, for a kind chosen as a list, the choices) in ``raw``, found at ``path`` (default: the slot)."""
    path = path or kind
    if kind in LIST_KINDS and isinstance(raw, list):
        choices = [_choice(kind, f"{path}[{i}]", item, registry, problems) for i, item in enumerate(raw)]
        return tuple(c for c in choices if c is not None)
    choice = _choice(kind, path, raw, registry, problems)
    if kind in LIST_KINDS:
        return (choice,) if choice is not None else ()
    return choice


def _choice(kind: str, path: str, raw: Any, registry: Registry, problems: list[Problem]) -> Choice | None:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"must be a component name or a mapping with `type`, got {_short(raw)}", f"e.g. `{path}: {{type: NAME, ...}}`"))
        return None
    params = dict(raw)
    name = params.pop("type", None)
    plugin, version = (params.pop(key, None) for key in PROVENANCE_KEYS)
    names = ", ".join(r.name for r in registry.of_kind(kind))
    if not isinstance(name, str) or not name:
        problems.append(Problem(f"{path}.type", "missing: which component goes in this slot?", f"one of: {names}"))
        return None
    qualified = f"{plugin}:{name}" if isinstance(plugin, str) and ":" not in name else name
    try:
        registration = registry.lookup(kind, qualified)
    except ComponentLookupError as exc:
        if isinstance(plugin, str) and plugin not in {p.name for p in registry.plugins}:
            needed = f"plugin '{plugin}'" + (f" version {version}" if version else "")
            problems.append(Problem(f"{path}.type", f"{kind} '{name}' needs {needed}, which is not installed", f"install the distribution that provides the '{plugin}' plugin"))
        else:
            problems.append(Problem(f"{path}.type", str(exc)))
        return None
    if not _resolve_nested(registration.cls.Spec, params, path, registry, problems):
        return None
    try:
        spec = registration.cls.Spec.model_validate(params)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, path, registration.cls.Spec, f"{kind} '{registration.name}'"))
        return None
    return Choice(registration, spec)


def _resolve_nested(spec: type[BaseModel], params: dict[str, Any], path: str, registry: Registry, problems: list[Problem]) -> bool:
    """Replace the entries of ``spec``'s ``Components`` fields in ``params`` (the field's default where it is not
    given) by components resolved with ``registry``, each checked at its own path; False if any is wrong."""
    resolved = True
    for name, field in spec.model_fields.items():
        mark = nested_mark(field)
        if mark is None:
            continue
        kind, raw = mark.kind, params.get(name, {})
        if not isinstance(raw, dict):
            problems.append(Problem(f"{path}.{name}", f"must be a mapping of names to {kind} entries, got {_short(raw)}", f"e.g. `{name}: {{NAME: {{type: ...}}}}`"))
            resolved = False
            continue
        choices = {key: _choice(kind, f"{path}.{name}.{key}", entry, registry, problems) for key, entry in mark.merged(raw).items()}
        resolved &= all(choice is not None for choice in choices.values())
        params[name] = {key: choice.instantiate() for key, choice in choices.items() if choice is not None}
    return resolved


def pydantic_problems(exc: ValidationError, prefix: str, model: type[BaseModel], owner: str) -> list[Problem]:
    """One Problem per pydantic error, with the recipe path and a fix drawn from the field's description."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        path = ".".join(filter(None, [prefix, *loc]))
        field = model.model_fields.get(loc[0]) if loc else None
        described = f"{loc[0]}: {field.description}" if field is not None and field.description else ""
        if error["type"] == "extra_forbidden":
            inner, inner_owner = _nested(model, loc[:-1], owner, prefix)
            fields = list(inner.model_fields)
            close = difflib.get_close_matches(loc[-1], fields, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(Problem(path, f"unknown field for {inner_owner}", f"{hint}its fields are: {', '.join(fields) or '(none)'}"))
        elif error["type"] == "missing":
            problems.append(Problem(path, "required field is missing", described))
        else:
            problems.append(Problem(path, f"{error['msg']} (got {_short(error.get('input'))})", described))
    return problems


def _nested(model: type[BaseModel], loc: list[str], owner: str, prefix: str) -> tuple[type[BaseModel], str]:
    """The model that ``loc`` (field names from ``model`` down; a ``dict[str, Model]`` field's key after it) leads
    to, and how messages name it."""
    depth = 0
    while depth < len(loc):
        field = model.model_fields.get(loc[depth])
        annotation = field.annotation if field is not None else None
        if typing.get_origin(annotation) is dict and depth + 1 < len(loc):  # a mapping of models: its key names the entry
            annotation, depth = typing.get_args(annotation)[1], depth + 1
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model, owner = annotation, ".".join(filter(None, [prefix, *loc[: depth + 1]]))
        depth += 1
    return model, owner


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


