"""Reading recipe documents: YAML (safely), ``extends:`` chains, and ``key.sub=value`` overrides."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from pgkit.errors import Problem, RecipeError

MAX_EXTENDS_DEPTH = 16
MAX_NESTING = 100  # levels of mappings and lists; recipes use fewer than 10
MAX_EXPANDED_NODES = 100_000  # values once aliases are expanded; recipes have a few hundred


class RefusedDocument(yaml.composer.ComposerError):
    """YAML that is valid but that pgkit will not build: too deep, self-referring, or too large once expanded."""

    fix = "write the recipe out plainly: recipes need no deep nesting and no large or recursive aliases"

    def __init__(self, problem: str, node_or_event):
        super().__init__(None, None, problem, node_or_event.start_mark)


class RecipeLoader(yaml.SafeLoader):
    """yaml's safe loader (no object-constructing tags), reading ``1e-3`` as a float as YAML 1.2 does.
    Documents nested deeper than MAX_NESTING (aliases expanded), aliases that contain themselves, and
    aliases that expand to more than MAX_EXPANDED_NODES values (a "billion laughs") are refused before
    anything is built."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise RefusedDocument(f"nested more than {MAX_NESTING} levels deep", self.peek_event())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        """A mapping, refusing a key written twice in it (YAML would keep the last one silently)."""
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise DuplicateKey(key_node)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key written twice in one mapping of a recipe."""

    fix = "keep one of them: YAML would silently use only the last"

    def __init__(self, key_node: yaml.ScalarNode):
        super().__init__(None, None, f"key '{key_node.value}' appears twice in this mapping", key_node.start_mark)


def _check_expansion(root: yaml.Node) -> None:
    """Raise RefusedDocument if ``root`` refers to itself through an alias, or once its aliases are
    expanded holds more than MAX_EXPANDED_NODES values or nests deeper than MAX_NESTING."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) of its expansion
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, level: int) -> tuple[int, int]:
        if id(node) in open_nodes:
            raise RefusedDocument("an alias refers to a value that contains it", node)
        if id(node) not in measured:
            if level > MAX_NESTING:
                raise RefusedDocument(f"aliases nest this document more than {MAX_NESTING} levels deep", node)
            open_nodes.add(id(node))
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = node.value if isinstance(node, yaml.SequenceNode) else []
            parts = [measure(child, level + 1) for child in children]
            open_nodes.discard(id(node))
            measured[id(node)] = (1 + sum(values for values, _ in parts), 1 + max((depth for _, depth in parts), default=0))
        values, depth = measured[id(node)]
        if values > MAX_EXPANDED_NODES:
            raise RefusedDocument(f"aliases expand this document to more than {MAX_EXPANDED_NODES:,} values", node)
        if level + depth - 1 > MAX_NESTING:
            raise RefusedDocument(f"aliases nest this document more than {MAX_NESTING} levels deep", node)
        return values, depth

    measure(root, 1)


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str):
    return yaml.load(text, Loader=RecipeLoader)


def read_document(path: str | Path) -> dict[str, Any]:
    """The recipe at ``path`` as a plain dict, with ``extends`` merged in (the child wins)."""
    return _read(Path(path), chain=())


def read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping in the file at ``path``, read safely and within bounds (``extends`` not followed),
    or a RecipeError saying why it cannot be read."""
    source = _short_path(path)
    try:
        if not path.is_file():
            raise RecipeError(source, [Problem("", f"no recipe file at {path}", "check the path; recipes/ has examples")])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(source, [Problem("", f"not a UTF-8 text file: {exc}")]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise RecipeError(source, [Problem("", f"cannot read {_short_path(path)}: {getattr(exc, 'strerror', None) or exc}", "check the path")]) from None
    try:
        document = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        fix = getattr(exc, "fix", "fix the YAML syntax")
        raise RecipeError(source, [Problem("", f"invalid YAML: {where}{problem}", fix)]) from None
    except Exception as exc:  # a tag whose value does not convert: !!int 1.5, !!float abc, !!timestamp x
        raise RecipeError(source, [Problem("", f"invalid YAML: a tagged value does not convert ({exc})",
                                           "remove the tag (!!int, !!float, ...) or give a value of its type")]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise RecipeError(source, [Problem("", f"a recipe is a mapping of slots, got {type(document).__name__}", "see recipes/ for the format")])
    return document


def _short_path(path: Path, limit: int = 120) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _read(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    source = _short_path(path)
    document = read_mapping(path)
    parent = document.pop("extends", None)
    if parent is None:
        return document
    if not isinstance(parent, str) or not parent or "\x00" in parent:
        raise RecipeError(source, [Problem("extends", "must be a path to another recipe file", "e.g. extends: cartpole-ppo.yaml (relative to this file)")])
    try:
        parent_path = (path.parent / parent).resolve()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        raise RecipeError(source, [Problem("extends", f"cannot use {_short_path(Path(parent))}: {getattr(exc, 'strerror', None) or exc}", "give the path of another recipe file")]) from None
    if parent_path in chain or parent_path == path.resolve() or len(chain) >= MAX_EXTENDS_DEPTH:
        raise RecipeError(source, [Problem("extends", f"recipes extend each other in a loop through {parent_path}")])
    return merge(_read(parent_path, chain + (path.resolve(),)), document)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``. A slot whose ``type`` changes is replaced,
    not merged: the parent's parameters belong to another component."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and old.get("type", value.get("type")) == value.get("type", old.get("type")):
            merged[key] = merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(document: dict[str, Any], overrides: list[str], source: str = "overrides") -> dict[str, Any]:
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``0.9``, ``true``, ``[64, 64]``)."""
    result = copy.deepcopy(document)
    problems: list[Problem] = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            problems.append(Problem(item, "an override is written key.sub=value", "e.g. advantage.gamma=0.99"))
            continue
        try:
            value = parse_yaml(raw)
        except yaml.YAMLError:
            value = raw
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.get(part)
            if isinstance(child, str) and depth == 0:  # `slot: name` shorthand
                child = target[part] = {"type": child}
            elif child is None:
                child = target[part] = {}
            elif not isinstance(child, dict):
                problems.append(Problem(".".join(parts[: depth + 1]), f"is {child!r}, not a mapping, so override '{item}' cannot set a field in it"))
                break
            target = child
        else:
            if parts[-1] == "type" and isinstance(target, dict) and target.get("type") not in (None, value):
                target.clear()  # a new component: the old one's parameters do not apply
            target[parts[-1]] = value
    if problems:
        raise RecipeError(source, problems)
    return result
