"""A registry holding the built-ins plus chosen plugins, independent of what is installed."""

from __future__ import annotations

from pgkit.kinds.component import PluginInfo
from pgkit.plugins.discovery import load_plugins, new_plugin_manager, register_plugin
from pgkit.plugins.registry import Registry


def isolated_registry(*plugins: object, name: str = "test-plugin", version: str = "0") -> Registry:
    """Built-in components plus ``plugins`` (modules or objects with ``@hookimpl`` functions); installed
    entry-point plugins are not loaded, so tests see exactly this."""
    pm = new_plugin_manager()
    infos = load_plugins(pm, entry_points=False)
    for index, plugin in enumerate(plugins):
        plugin_name = name if len(plugins) == 1 else f"{name}-{index}"
        infos.update(register_plugin(pm, plugin, PluginInfo(plugin_name, plugin_name, version)))
    return Registry.from_plugin_manager(pm, infos)
