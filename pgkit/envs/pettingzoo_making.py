"""Making a PettingZoo env from a recipe's ``env`` settings (``env.agents``): by its module's ``parallel_env`` or
``env`` (``env.id: package:env_module``) or ``env.entry_point``'s function, as the columns of one vector env:
``AgentColumns`` where its agents act together, ``TurnColumns`` where they take turns."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.settings import AgentsSettings, EnvSettings
from pgkit.envs.turn_columns import TurnColumns


class EnvModuleError(ValueError):
    """``env.id`` names no PettingZoo env that env.agents can make: ``message`` and ``fix`` (a recipe problem's)."""

    def __init__(self, message: str, fix: str):
        super().__init__(f"{message}; {fix}")
        self.message, self.fix = message, fix


def env_module_maker(settings: EnvSettings) -> Callable[..., Any]:
    """The function of the module ``package.env_module`` that ``env.id`` names as ``package:env_module`` making one
    env: its ``parallel_env``, or with ``api: aec`` its ``env``. Raises ImportError, or EnvModuleError."""
    package, _, name = settings.id.rpartition(":")
    if not package:
        raise EnvModuleError(f"'{settings.id}' names no PettingZoo env module",
                             "with env.agents give env.id as 'package:env_module', e.g. mpe2:simple_spread_v3, or name a function in env.entry_point")
    env_module = importlib.import_module(f"{package}.{name}")
    maker = "env" if settings.agents is not None and settings.agents.api == "aec" else "parallel_env"
    if not callable(getattr(env_module, maker, None)):
        raise EnvModuleError(f"'{package}.{name}' has no {maker}()", "env.agents.api parallel needs a PettingZoo parallel_env(), aec an env()")
    return getattr(env_module, maker)


def _made_by(settings: EnvSettings) -> Callable[[], Any]:
    kwargs = dict(settings.kwargs)
    for module in settings.modules:
        importlib.import_module(module)
    if settings.entry_point is not None:
        module, _, name = settings.entry_point.partition(":")
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        return lambda: target(**kwargs)
    maker = env_module_maker(settings)
    return lambda: maker(**kwargs)


def make_agent_columns(settings: EnvSettings, num_games: int | None = None) -> AgentColumns:
    """``num_games`` (else ``env.num_envs``) PettingZoo envs as columns: ``env.entry_point``'s callable, or the
    ``parallel_env`` of the module ``package.env_module`` that ``env.id`` names as ``package:env_module``. With
    ``api: aec`` the module's ``env()``: made parallel by PettingZoo's ``aec_to_parallel`` where its agents all act
    once per cycle (metadata ``is_parallelizable``), else its agents take turns (``pgkit.envs.turn_columns``)."""
    agents = settings.agents if settings.agents is not None else AgentsSettings()
    make, num_games = _made_by(settings), num_games or settings.num_envs
    if agents.api == "aec" and _takes_turns(make):
        return TurnColumns(make, num_games, agents, settings.action_mask)
    return AgentColumns(_parallel(make, agents.api), num_games, agents, settings.action_mask)


def game_maker(settings: EnvSettings) -> Callable[[], Any]:
    """A function making one PettingZoo parallel env from ``settings`` (``api: aec``: its ``env()`` made parallel by
    PettingZoo's ``aec_to_parallel``; a turn-based game, which has no parallel form, is refused)."""
    make, api = _made_by(settings), settings.agents.api if settings.agents is not None else "parallel"
    if api == "aec" and _takes_turns(make):
        raise ValueError(f"{settings.id} takes turns (its metadata has no is_parallelizable: true): it has no parallel env")
    return _parallel(make, api)


def _parallel(make: Callable[[], Any], api: str) -> Callable[[], Any]:
    """``make`` as a maker of parallel envs: itself with ``api: parallel``, its AEC env through ``aec_to_parallel`` with ``aec``."""
    if api == "parallel":
        return make
    from pettingzoo.utils.conversions import aec_to_parallel

    return lambda: aec_to_parallel(make())


def takes_turns(settings: EnvSettings) -> bool:
    """Whether ``settings`` make a PettingZoo AEC game whose agents take turns (``TurnColumns``): ``api: aec`` and the
    env not ``is_parallelizable`` (one env is made to ask)."""
    return settings.agents is not None and settings.agents.api == "aec" and _takes_turns(_made_by(settings))


def _takes_turns(make: Callable[[], Any]) -> bool:
    """Whether the AEC env that ``make`` makes has agents that take turns (not ``is_parallelizable``)."""
    probe = make()
    try:
        return not probe.metadata.get("is_parallelizable", False)
    finally:
        probe.close()
