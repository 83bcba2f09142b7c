"""The component kinds: one slot per kind in a recipe, one hook per kind for registration."""

from __future__ import annotations

from dataclasses import dataclass

from pgkit.kinds.component import Component
from pgkit.kinds.advantage import Advantage, AdvantageSpec
from pgkit.kinds.baseline import Baseline
from pgkit.kinds.critic import Critic
from pgkit.kinds.logger import Logger
from pgkit.kinds.network import Network
from pgkit.kinds.objective import Objective, entropy_bonus
from pgkit.kinds.optimizer import Optimizer, OptimizerSpec
from pgkit.kinds.policy_head import HeadModule, PolicyHead
from pgkit.kinds.trainer import Trainer


@dataclass(frozen=True)
class Kind:
    name: str  # the recipe slot, e.g. "policy_head"
    hook: str  # e.g. "register_policy_heads"
    base: type[Component]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("network", "register_networks", Network),
        Kind("policy_head", "register_policy_heads", PolicyHead),
        Kind("critic", "register_critics", Critic),
        Kind("baseline", "register_baselines", Baseline),
        Kind("advantage", "register_advantages", Advantage),
        Kind("objective", "register_objectives", Objective),
        Kind("optimizer", "register_optimizers", Optimizer),
        Kind("trainer", "register_trainers", Trainer),
        Kind("logger", "register_loggers", Logger),
    ]
}

__all__ = [
    "KINDS",
    "Kind",
    "Advantage",
    "AdvantageSpec",
    "Baseline",
    "Critic",
    "HeadModule",
    "Logger",
    "Network",
    "Objective",
    "Optimizer",
    "OptimizerSpec",
    "PolicyHead",
    "Trainer",
    "entropy_bonus",
]
