"""Plugin discovery: built-in modules and ``pgkit`` entry points through one pluggy manager.

A plugin that fails to import, or implements a hook that does not exist, becomes a
``PluginWarning`` naming its distribution; pgkit goes on without it (or without that hook).
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from importlib import metadata

import pluggy

import pgkit.plugins.hookspecs as hookspecs
from pgkit.errors import PluginWarning
from pgkit.kinds.component import PluginInfo

ENTRY_POINT_GROUP = "pgkit"
BUILTIN_PLUGIN = "pgkit"
BUILTIN_MODULES = (
    "pgkit.builtins.networks.mlp",
    "pgkit.builtins.networks.cnn",
    "pgkit.builtins.networks.multi_input",
    "pgkit.builtins.networks.recurrent",
    "pgkit.builtins.policy_heads.categorical",
    "pgkit.builtins.policy_heads.gaussian",
    "pgkit.builtins.policy_heads.deterministic",
    "pgkit.builtins.policy_heads.squashed_gaussian",
    "pgkit.builtins.policy_heads.multi_categorical",
    "pgkit.builtins.policy_heads.bernoulli",
    "pgkit.builtins.policy_heads.composite",
    "pgkit.builtins.critics.value",
    "pgkit.builtins.critics.q",
    "pgkit.builtins.baselines.none",
    "pgkit.builtins.baselines.mean_return",
    "pgkit.builtins.baselines.critic",
    "pgkit.builtins.advantages.total_return",
    "pgkit.builtins.advantages.reward_to_go",
    "pgkit.builtins.advantages.bootstrapped",
    "pgkit.builtins.advantages.vtrace",
    "pgkit.builtins.objectives.reinforce",
    "pgkit.builtins.objectives.ppo_clip",
    "pgkit.builtins.objectives.ppo_kl",
    "pgkit.builtins.objectives.rwr",
    "pgkit.builtins.objectives.dpg",
    "pgkit.builtins.objectives.sac",
    "pgkit.builtins.objectives.trust_region",
    "pgkit.builtins.optimizers.torch_optimizers",
    "pgkit.builtins.replays.replay",
    "pgkit.builtins.replays.hindsight",
    "pgkit.builtins.trainers.on_policy",
    "pgkit.builtins.trainers.off_policy",
    "pgkit.builtins.env_wrappers.atari",
    "pgkit.builtins.env_wrappers.observations",
    "pgkit.builtins.env_wrappers.text",
    "pgkit.builtins.env_wrappers.rewards",
    "pgkit.builtins.env_wrappers.episodes",
    "pgkit.builtins.env_wrappers.actions",
    "pgkit.builtins.env_wrappers.action_masks",
    "pgkit.builtins.loggers.console",
    "pgkit.builtins.loggers.csv",
    "pgkit.builtins.loggers.tensorboard",
    "pgkit.builtins.loggers.mlflow",
    "pgkit.builtins.callbacks.evaluation",
)


def _pgkit_version() -> str:
    try:
        return metadata.version("pgkit")
    except metadata.PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("pgkit")
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    pm: pluggy.PluginManager, entry_points: bool = True
) -> dict[str, PluginInfo]:
    """Register the built-ins and (optionally) every installed ``pgkit`` entry point.

    Returns the PluginInfo of each registered pluggy plugin, keyed by its pluggy name."""
    infos: dict[str, PluginInfo] = {}
    builtin = PluginInfo(BUILTIN_PLUGIN, "pgkit", _pgkit_version())
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
        infos[module_name] = builtin
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "unknown distribution"
            version = ep.dist.version if ep.dist else "?"
            if ep.name == BUILTIN_PLUGIN:
                warnings.warn(
                    PluginWarning(f"a plugin from {dist} {version} is named '{ep.name}', the built-ins' name, and is skipped: "
                                  "its components' qualified names would be ambiguous; its authors should rename the entry point"),
                    stacklevel=2,
                )
                continue
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not break pgkit, nor exit it
                warnings.warn(
                    PluginWarning(
                        f"plugin '{ep.name}' from {dist} {version} failed to import and is skipped: "
                        f"{type(exc).__name__}: {exc}"
                    ),
                    stacklevel=2,
                )
                continue
            infos.update(register_plugin(pm, plugin, PluginInfo(ep.name, dist, version)))
    return infos


def register_plugin(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> dict[str, PluginInfo]:
    """Register one plugin object (a module or an instance); warn about hooks that do not exist."""
    pm_name = f"{info.name}:{getattr(plugin, '__name__', type(plugin).__name__)}"
    if pm.has_plugin(pm_name) or pm.is_registered(plugin):
        warnings.warn(PluginWarning(f"plugin '{info.name}' ({info.distribution}) is registered twice; keeping the first"))
        return {}
    try:
        pm.register(plugin, name=pm_name)
    except Exception as exc:
        warnings.warn(PluginWarning(f"plugin '{info.name}' ({info.distribution}) could not be registered: {exc}"))
        return {}
    _warn_unknown_hooks(pm, plugin, info)
    return {pm_name: info}


def _warn_unknown_hooks(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    """pluggy's check_pending, per plugin and as a warning with a did-you-mean."""
    known = [name for name in dir(hookspecs) if name.startswith("register_")]
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; hooks are: {', '.join(known)}"
        warnings.warn(
            PluginWarning(f"plugin '{info.name}' ({info.distribution}) implements unknown hook '{caller.name}'{hint}")
        )
