"""Every hook is documented with its exact signature in docs/hooks.md, and every hook is exercised:
a component registered through it by a plugin is discovered."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import pytest

from pgkit import hookimpl
from pgkit.plugins import hookspecs
from pgkit.kinds import KINDS
from pgkit.testing import isolated_registry

DOC = (Path(__file__).parent.parent / "docs" / "hooks.md").read_text()
HOOKS = sorted(name for name, value in vars(hookspecs).items() if name.startswith("register_") and callable(value))


def test_every_hook_belongs_to_a_kind():
    assert HOOKS == sorted(kind.hook for kind in KINDS.values())


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    signature = f"def {hook}{inspect.signature(getattr(hookspecs, hook))}".replace("'", "")
    assert f"## `{hook}`" in DOC, f"docs/hooks.md has no section for {hook}"
    assert signature in DOC, f"docs/hooks.md does not show the signature {signature}"


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda k: k.hook)
def test_hook_registers_a_third_party_component(kind, registry):
    builtin = registry.of_kind(kind.name)[0].cls
    component = type(f"ThirdParty{builtin.__name__}", (builtin,), {"name": f"third_party_{builtin.name}", "__doc__": builtin.__doc__})
    plugin = types.ModuleType("third_party")
    setattr(plugin, kind.hook, hookimpl(lambda register: register(component)))
    found = isolated_registry(plugin, name="third-party").lookup(kind.name, component.name)
    assert found.cls is component and found.plugin.name == "third-party"
