"""The hooks through which every component, built-in or third-party, reaches pgkit.

One hook per component kind. Each receives a ``register`` callback; call it once per component
class. Hooks are for discovery only: nothing in the training loop calls a hook.

    from pgkit import hookimpl

    @hookimpl
    def register_advantages(register):
        register(MyAdvantage)
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("pgkit")
hookimpl = pluggy.HookimplMarker("pgkit")

Register = Callable[[type], None]


@hookspec
def register_networks(register: Register) -> None:
    """Register network torsos (observation -> features), subclasses of pgkit.kinds.Network."""


@hookspec
def register_policy_heads(register: Register) -> None:
    """Register policy heads (features -> action distribution), subclasses of pgkit.kinds.PolicyHead."""


@hookspec
def register_critics(register: Register) -> None:
    """Register learned value functions, subclasses of pgkit.kinds.Critic."""


@hookspec
def register_baselines(register: Register) -> None:
    """Register baselines b(s) subtracted from Monte-Carlo returns, subclasses of pgkit.kinds.Baseline."""


@hookspec
def register_advantages(register: Register) -> None:
    """Register advantage estimators (batch -> advantages and returns), subclasses of pgkit.kinds.Advantage."""


@hookspec
def register_objectives(register: Register) -> None:
    """Register policy losses, subclasses of pgkit.kinds.Objective."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizer factories (parameters -> torch optimizer), subclasses of pgkit.kinds.Optimizer."""


@hookspec
def register_replays(register: Register) -> None:
    """Register replays (an off-policy trainer's stored transitions and how minibatches are drawn), subclasses of pgkit.kinds.Replay."""


@hookspec
def register_trainers(register: Register) -> None:
    """Register training loops, subclasses of pgkit.kinds.Trainer."""


@hookspec
def register_loggers(register: Register) -> None:
    """Register metric sinks, subclasses of pgkit.kinds.Logger."""


@hookspec
def register_callbacks(register: Register) -> None:
    """Register code run after every training iteration (evaluation, early stopping, trackers), subclasses of pgkit.kinds.Callback."""


@hookspec
def register_env_wrappers(register: Register) -> None:
    """Register steps of the environment pipeline (a recipe's ``env.wrappers``), subclasses of pgkit.kinds.EnvWrapper."""
