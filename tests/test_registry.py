"""The registry: built-ins through the plugin manager, name clashes, broken plugins as warnings."""

from __future__ import annotations

import types

import pytest

from pgkit import hookimpl
from pgkit.errors import ComponentLookupError, PluginWarning
from pgkit.kinds import KINDS, Advantage
from pgkit.plugins.discovery import PluginInfo, load_plugins, new_plugin_manager, register_plugin
from pgkit.plugins.registry import Registry
from pgkit.builtins.advantages.reward_to_go import RewardToGo


def registry_with(*plugins: tuple[str, object]) -> Registry:
    pm = new_plugin_manager()
    infos = load_plugins(pm, entry_points=False)
    for name, plugin in plugins:
        infos.update(register_plugin(pm, plugin, PluginInfo(name, f"{name}-dist", "1.2.3")))
    return Registry.from_plugin_manager(pm, infos)


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


class Doubled(RewardToGo):
    """Twice the reward-to-go (a test component)."""

    name = "doubled"


class Clash(RewardToGo):
    """Registers a name the built-ins already use."""

    name = "reward_to_go"


def test_every_kind_has_builtins(registry):
    for kind in KINDS:
        assert registry.of_kind(kind), f"no built-in {kind}"
    assert all(r.plugin.name == "pgkit" for kind in KINDS for r in registry.of_kind(kind))


def test_third_party_component_is_registered_with_its_plugin():
    registry = registry_with(("extra", plugin_module("extra", register_advantages=lambda register: register(Doubled))))
    found = registry.lookup("advantage", "doubled")
    assert found.cls is Doubled and found.plugin.distribution == "extra-dist" and found.plugin.version == "1.2.3"
    assert registry.lookup("advantage", "extra:doubled") == found


def test_same_name_from_two_plugins_is_ambiguous_but_qualified_names_work():
    registry = registry_with(("clasher", plugin_module("clasher", register_advantages=lambda register: register(Clash))))
    with pytest.raises(ComponentLookupError, match=r"'pgkit' \(pgkit\) and 'clasher' \(clasher-dist\).*pgkit:reward_to_go, clasher:reward_to_go"):
        registry.lookup("advantage", "reward_to_go")
    assert registry.lookup("advantage", "pgkit:reward_to_go").cls is RewardToGo
    assert registry.lookup("advantage", "clasher:reward_to_go").cls is Clash


def test_unknown_name_suggests_the_closest(registry):
    with pytest.raises(ComponentLookupError, match="did you mean 'reward_to_go'.*registered: .*total_return"):
        registry.lookup("advantage", "reward_too_go")


def test_misspelled_hook_is_reported_with_a_suggestion():
    broken = plugin_module("typo", register_advantage=lambda register: register(Doubled))
    with pytest.warns(PluginWarning, match="unknown hook 'register_advantage'; did you mean 'register_advantages'"):
        registry = registry_with(("typo", broken))
    with pytest.raises(ComponentLookupError):
        registry.lookup("advantage", "doubled")


def test_hook_that_raises_is_a_warning_and_the_rest_still_works():
    def explode(register):
        raise RuntimeError("boom")

    with pytest.warns(PluginWarning, match=r"'bad' \(bad-dist\) failed in register_advantages: RuntimeError: boom"):
        registry = registry_with(("bad", plugin_module("bad", register_advantages=explode)))
    assert registry.lookup("advantage", "reward_to_go").cls is RewardToGo


class NoName(RewardToGo):
    name = "Not A Name"


class Abstract(Advantage):
    """Forgets to implement compute."""

    name = "abstract"


@pytest.mark.parametrize(
    "bad, message",
    [
        (int, "not a subclass of pgkit.kinds.Advantage"),
        (NoName, "must be a lower-case identifier"),
        (Abstract, "does not implement compute"),
    ],
)
def test_invalid_registrations_are_skipped_with_a_warning(bad, message):
    with pytest.warns(PluginWarning, match=message):
        registry = registry_with(("odd", plugin_module("odd", register_advantages=lambda register: register(bad))))
    assert all(r.plugin.name == "pgkit" for r in registry.of_kind("advantage"))


def entry_point(name: str, dist: str, load) -> object:
    return types.SimpleNamespace(name=name, group="pgkit", dist=types.SimpleNamespace(name=dist, version="0.0.1"), load=load)


def raises(exc: BaseException):
    def load():
        raise exc
    return load


@pytest.mark.parametrize("exc, shown", [
    (ImportError("No module named 'missing_dependency'"), "ImportError: No module named 'missing_dependency'"),
    (SystemExit(3), "SystemExit: 3"),  # a plugin that exits on import once made every command exit 3 silently
])
def test_plugin_that_fails_to_import_is_a_warning(monkeypatch, exc, shown):
    monkeypatch.setattr("pgkit.plugins.discovery.metadata.entry_points", lambda group: [entry_point("broken", "pgkit-broken", raises(exc))])
    pm = new_plugin_manager()
    with pytest.warns(PluginWarning, match=f"'broken' from pgkit-broken 0.0.1 failed to import and is skipped: {shown}"):
        infos = load_plugins(pm, entry_points=True)
    registry = Registry.from_plugin_manager(pm, infos)
    assert registry.lookup("advantage", "reward_to_go").cls is RewardToGo


def test_a_plugin_named_like_the_builtins_is_skipped(monkeypatch):
    """Qualified names (pgkit:gae) must keep meaning the built-ins."""
    rival = plugin_module("rival", register_advantages=lambda register: register(type("gae", (RewardToGo,), {"name": "gae"})))
    monkeypatch.setattr("pgkit.plugins.discovery.metadata.entry_points", lambda group: [entry_point("pgkit", "pgkit-rival", lambda: rival)])
    pm = new_plugin_manager()
    with pytest.warns(PluginWarning, match="from pgkit-rival 0.0.1 is named 'pgkit', the built-ins' name, and is skipped"):
        infos = load_plugins(pm, entry_points=True)
    registry = Registry.from_plugin_manager(pm, infos)
    assert registry.lookup("advantage", "pgkit:gae").plugin.distribution == "pgkit"


def test_summaries_are_whole_sentences(registry):
    """`pgkit components` shows each component's first sentence, never a line cut mid-sentence."""
    from pgkit.kinds import KINDS

    for kind in KINDS:
        for registration in registry.of_kind(kind):
            summary = registration.cls.summary()
            assert summary.endswith((".", "!", "?")), f"{kind} '{registration.name}': {summary!r}"
            assert "\n" not in summary and "  " not in summary
