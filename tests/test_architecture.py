"""The layout is the architecture: layers import only downwards, no import cycles (TYPE_CHECKING and
function-level imports included), plugins and built-ins use only the public API, no private torch
functions, and every public name is documented in docs/api.md."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "pgkit"

# bottom to top; a module may import from its own package and from lower layers
LAYERS = [
    {"pgkit.errors", "pgkit.code_names"},
    {"pgkit.functional", "pgkit.data", "pgkit.envs", "pgkit.nn"},
    {"pgkit.kinds"},
    {"pgkit.plugins"},
    {"pgkit"},  # the package's own façade: Batch, Component, Spec, Capability, hookimpl
    {"pgkit.recipe"},
    {"pgkit.runtime"},
    {"pgkit.builtins"},
    {"pgkit.testing", "pgkit.cli", "pgkit.api"},  # pgkit.api: pgkit.train and pgkit.load, which the façade loads on first use
]
PUBLIC = {
    "pgkit",
    "pgkit.errors",
    "pgkit.kinds",
    "pgkit.kinds.capabilities",
    "pgkit.functional",
    "pgkit.data",
    "pgkit.envs",
    "pgkit.nn",
    "pgkit.runtime",
    "pgkit.testing",
}
API_DOC = (ROOT / "docs" / "api.md").read_text()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Every pgkit module a file imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from pgkit import hookspecs` names a module
    return {m for m in found if m == "pgkit" or m.startswith("pgkit.")}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        targets = imported_modules(ast.parse(path.read_text()), name, path.name == "__init__.py")
        edges[name] = {t for t in targets if t in MODULES and t != name}
    return edges


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the layer's package) of a module: the longest package prefix that a layer names."""
    best = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and (best is None or len(package) > len(best[1])):
                best = (index, package)
    assert best is not None, f"{module} is in no layer"
    return best


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [module, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_layers_import_only_downwards():
    wrong = []
    for module, targets in graph().items():
        source_layer, source_package = layer_of(module)
        for target in targets:
            target_layer, target_package = layer_of(target)
            if target_package != source_package and target_layer >= source_layer:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def plugin_code() -> list[tuple[str, str]]:
    """(where, source) of code that must use only the public API: built-ins, first-party plugins, the docs."""
    sources = [(str(p.relative_to(ROOT)), p.read_text()) for p in (PACKAGE / "builtins").rglob("*.py")]
    for pattern in ("plugins/*/pgkit_*/**/*.py", "tests/fixtures/**/*.py"):
        sources += [(str(p.relative_to(ROOT)), p.read_text()) for p in ROOT.glob(pattern) if "build" not in p.relative_to(ROOT).parts]
    for doc in (ROOT / "docs").glob("*.md"):
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)):
            sources.append((f"{doc.relative_to(ROOT)} block {i + 1}", block))
    return sources


@pytest.mark.parametrize("where, source", plugin_code(), ids=[w for w, _ in plugin_code()])
def test_plugins_and_builtins_import_only_the_public_api(where, source):
    private = sorted(m for m in imported_modules(ast.parse(source), "plugin", False) if m not in PUBLIC and not _names_public_member(m))
    assert not private, f"{where} imports private modules {private}; the public ones are {sorted(PUBLIC)}"


def _names_public_member(module: str) -> bool:
    """`from pgkit.kinds import Trainer` also records pgkit.kinds.Trainer: a name, not a module."""
    parent, _, member = module.rpartition(".")
    return parent in PUBLIC and f"{parent}.{member}" not in MODULES


def test_no_private_torch_functions():
    private = re.compile(r"\btorch\._[a-z]\w*")
    uses = [f"{path.relative_to(ROOT)}: {match}" for path in PACKAGE.rglob("*.py") for match in private.findall(path.read_text())]
    assert not uses, uses


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_modules_declare_and_document_their_names(module):
    imported = importlib.import_module(module)
    names = getattr(imported, "__all__", None)
    assert names, f"{module} must declare __all__"
    section = re.search(rf"^## `{re.escape(module)}`\n(.*?)(?=^## |\Z)", API_DOC, re.S | re.M)
    assert section, f"docs/api.md has no section for {module}"
    for name in names:
        assert hasattr(imported, name), f"{module}.__all__ names {name}, which it lacks"
        assert f"`{name}`" in section[1], f"docs/api.md does not document {module}.{name}"
