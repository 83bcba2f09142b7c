"""The component kinds: one slot per kind in a recipe, one hook per kind for registration, one base
class per kind with the contract its components implement (public: plugins subclass these)."""

from __future__ import annotations

from dataclasses import dataclass

from pgkit.code_names import NamesCode
from pgkit.kinds import capabilities
from pgkit.kinds.advantage import Advantage, AdvantageSpec, DiscountedSpec, MonteCarloAdvantage
from pgkit.kinds.agent import Agent, GroupedPolicy, Policy
from pgkit.kinds.baseline import Baseline
from pgkit.kinds.capabilities import Capability
from pgkit.kinds.combination import Combination
from pgkit.kinds.component import Component, PluginInfo, Spec
from pgkit.kinds.critic import Critic
from pgkit.kinds.env_wrapper import EnvWrapper
from pgkit.kinds.callback import Callback, CallbackRun, EvaluationSpec, Report
from pgkit.kinds.logger import Logger, RunFolderPath
from pgkit.kinds.nested import Components
from pgkit.kinds.network import Network
from pgkit.kinds.objective import LossContext, Metrics, Objective, entropy_bonus, metric_floats
from pgkit.kinds.optimizer import Optimizer, OptimizerSpec
from pgkit.kinds.group_critics import GroupCritics
from pgkit.kinds.group_objectives import GroupObjectives
from pgkit.kinds.group_optimizers import GroupOptimizers
from pgkit.kinds.outputs import check_shape
from pgkit.kinds.policy_head import HeadModule, PolicyHead
from pgkit.kinds.replay import Replay, ReplayLayout, ReplaySpec
from pgkit.kinds.state import Stateful
from pgkit.kinds.trainer import Trainer, TrainerSpec, TrainingContext


@dataclass(frozen=True)
class Kind:
    name: str  # e.g. "policy_head"
    hook: str  # e.g. "register_policy_heads"
    base: type[Component]
    path: str = ""  # where a recipe chooses it when that is not the top-level slot ``name``

    @property
    def is_slot(self) -> bool:
        """Whether the recipe chooses this kind in a top-level slot of its name."""
        return not self.path


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
        Kind("replay", "register_replays", Replay),
        Kind("trainer", "register_trainers", Trainer),
        Kind("logger", "register_loggers", Logger),
        Kind("callback", "register_callbacks", Callback),
        Kind("env_wrapper", "register_env_wrappers", EnvWrapper, path="env.wrappers"),
    ]
}
SLOTS: tuple[str, ...] = tuple(kind.name for kind in KINDS.values() if kind.is_slot)
"""The recipe's top-level component slots."""

__all__ = [
    "KINDS",
    "SLOTS",
    "Advantage",
    "AdvantageSpec",
    "DiscountedSpec",
    "MonteCarloAdvantage",
    "Agent",
    "GroupedPolicy",
    "Baseline",
    "Capability",
    "Combination",
    "Component",
    "Components",
    "Critic",
    "EnvWrapper",
    "HeadModule",
    "Kind",
    "Logger",
    "NamesCode",
    "RunFolderPath",
    "Callback",
    "CallbackRun",
    "EvaluationSpec",
    "Report",
    "LossContext",
    "Metrics",
    "Network",
    "Objective",
    "Optimizer",
    "OptimizerSpec",
    "GroupCritics",
    "GroupObjectives",
    "GroupOptimizers",
    "PluginInfo",
    "Policy",
    "PolicyHead",
    "Replay",
    "ReplayLayout",
    "ReplaySpec",
    "Spec",
    "Stateful",
    "Trainer",
    "TrainerSpec",
    "TrainingContext",
    "capabilities",
    "check_shape",
    "entropy_bonus",
    "metric_floats",
]
