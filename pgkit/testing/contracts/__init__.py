"""Contracts: what every component of a kind must do, checked by plain functions that raise
AssertionError with a message. Call ``check_component(cls)`` for any component class, or the check of
its kind. Each check builds the component with its default parameters unless given an instance, and
checks what the component declares it provides."""

from __future__ import annotations

from typing import Any

from pgkit.kinds import Component
from pgkit.testing.contracts.common import check_spec, check_state
from pgkit.testing.contracts.critics import check_critic
from pgkit.testing.contracts.env_wrappers import check_env_wrapper
from pgkit.testing.contracts.estimators import check_advantage, check_baseline
from pgkit.testing.contracts.heads import check_policy_head
from pgkit.testing.contracts.kinds import check_callback, check_logger, check_network, check_trainer
from pgkit.testing.contracts.objectives import check_objective
from pgkit.testing.contracts.optimizers import check_optimizer
from pgkit.testing.contracts.replays import check_replay

CHECKS = {
    "network": check_network,
    "policy_head": check_policy_head,
    "critic": check_critic,
    "baseline": check_baseline,
    "advantage": check_advantage,
    "objective": check_objective,
    "optimizer": check_optimizer,
    "replay": check_replay,
    "trainer": check_trainer,
    "logger": check_logger,
    "callback": check_callback,
    "env_wrapper": check_env_wrapper,
}


def check_component(component: Component | type[Component], **options: Any) -> None:
    """Run the contract of the component's kind."""
    CHECKS[component.kind](component, **options)


__all__ = [
    "CHECKS",
    "check_advantage",
    "check_baseline",
    "check_callback",
    "check_component",
    "check_critic",
    "check_env_wrapper",
    "check_logger",
    "check_network",
    "check_objective",
    "check_optimizer",
    "check_policy_head",
    "check_replay",
    "check_spec",
    "check_state",
    "check_trainer",
]
