"""The ``env`` section of a recipe: which gymnasium environment, how it is wrapped, how many, normalization."""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable, Literal, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_serializer, model_validator

from pgkit.code_names import NamesCode
from pgkit.envs.action_masks import checked_masks


@runtime_checkable
class PipelineStep(Protocol):
    """What ``env.wrappers`` holds: pgkit.kinds.EnvWrapper components, resolved from the recipe's entries."""

    def wrap(self, env: gym.Env) -> gym.Env: ...

    def entry(self) -> dict[str, Any]: ...


MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
ENTRY_POINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$")


def _module_name(value: str) -> str:
    if not MODULE_NAME.match(value):
        raise ValueError("must be an importable module name such as ale_py or my_package.envs (a name, not a path)")
    return value


def _entry_point(value: str) -> str:
    if not ENTRY_POINT.match(value):
        raise ValueError("must be 'package.module:Name', an env class or function in an installed module")
    return value


ModuleName = Annotated[str, AfterValidator(_module_name)]


NATIVE = ("native", "envpool")  # the env.vectorization choices made as one native batch (pgkit.envs.native)


def _module_of_id(env_id: str) -> list[str]:
    """The module of gymnasium's ``module:EnvId`` form (gymnasium imports it), or nothing."""
    return [env_id.rpartition(":")[0]] if ":" in env_id else []


class NormalizeSettings(BaseModel):
    """Running normalization of observations and rewards (SB3's VecNormalize)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    obs: bool = Field(False, description="Normalize observations by running mean and std; the statistics are saved with the agent and used at eval.")
    reward: bool = Field(False, description="Scale rewards by the running std of the discounted return (training only).")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount of the return whose std scales the rewards.")
    clip_obs: float = Field(10.0, gt=0, description="Normalized observations are clipped to [-clip_obs, clip_obs].")
    clip_reward: float = Field(10.0, gt=0, description="Scaled rewards are clipped to [-clip_reward, clip_reward].")


@runtime_checkable
class GroupComponent(Protocol):
    """What a policy group's ``network``, ``policy_head``, ``critic``, ``objective`` or ``optimizer`` holds: a component resolved from the recipe's entry."""

    def entry(self) -> dict[str, Any]: ...


GROUP_SLOTS = ("network", "policy_head", "critic", "objective", "optimizer")  # the slots a policy group may choose its own component for
ComponentEntry = Annotated[GroupComponent | None, WithJsonSchema({"type": ["object", "string", "null"]})]


class GroupSettings(BaseModel):
    """One group of ``env.agents.groups`` in its long form: its agents, and components of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    agents: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, description="The group's agents: names, or prefixes of names.")
    network: ComponentEntry = Field(None, description="The group's own network ({type: NAME, ...}, as the network slot); null: the recipe's.")
    policy_head: ComponentEntry = Field(None, description="The group's own policy head (as the policy_head slot); null: the recipe's.")
    critic: ComponentEntry = Field(
        None, description="The group's own critic (as the critic slot: its loss, value clipping, normalize_targets, built on the "
        "group's network) for the group's agents' values; null: the recipe's. The recipe needs a critic of its own for this."
    )
    objective: ComponentEntry = Field(
        None, description="The group's own objective (as the objective slot: e.g. its clip range or entropy coefficient) for its rows; "
        "null: the recipe's. On-policy trainers only; a trust region and a gradient objective do not mix."
    )
    optimizer: ComponentEntry = Field(
        None, description="The group's own optimizer for its policy's and critic's weights (as the optimizer slot: lr, its schedule, "
        "max_grad_norm over the group's gradients, the optimizer's own settings); null: the recipe's."
    )

    @field_serializer("network", "policy_head", "critic", "objective", "optimizer")
    def _entry(self, component: GroupComponent | None) -> dict[str, Any] | None:
        return component.entry() if component is not None else None


def group_members(group: list[str] | GroupSettings) -> list[str]:
    """The agent names or prefixes of a group in either form."""
    return group.agents if isinstance(group, GroupSettings) else group


class AgentsSettings(BaseModel):
    """The ``env.agents`` section: a PettingZoo environment whose agents are the columns of one vector env
    (``pgkit.envs.agent_columns``), every agent acting with the recipe's one policy (parameter sharing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Literal["parallel", "aec"] = Field(
        "parallel", description="PettingZoo's API of the env: parallel (all agents act at every step: its parallel_env()), or aec (its env(), "
        "turned parallel by PettingZoo's aec_to_parallel where its agents all act once per cycle (metadata is_parallelizable), else "
        "played turn by turn: one agent of each game acts per step, each agent's transitions run from its turn to its next; "
        "pgkit.envs.turn_columns).",
    )
    agent_id: bool = Field(False, description="Add each agent's index to its observation (entry 'agent', read one-hot), so one shared "
                           "policy can act differently per agent.")
    groups: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
                 Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | GroupSettings] | None = Field(
        None, description="Agents mapped to policies of their own (RLlib's policy mapping): {group: [agent names, or prefixes of them "
        "such as adversary]}, or {group: {agents: [...], network: ..., policy_head: ..., critic: ..., objective: ..., optimizer: ...}} with components of the group's "
        "own; every agent in exactly one group. Each group's policy and critic have their own weights (the recipe's network, policy_head "
        "and critic, or the group's, built once per group), trained on the group's own steps by the group's objective or the recipe's "
        "and stepped by the group's optimizer or the recipe's; "
        "agents of a group share its policy. null: one policy for all agents.",
    )
    critic_input: Literal["local", "state", "joint"] = Field(
        "local", description="What the critic reads: local, each agent's own observation V(o_i) (IPPO); state, the env's global state() "
        "V(s) (MAPPO, Yu et al. 2022); joint, all agents' observations side by side. The policy reads only its agent's observation.",
    )


class SelfPlaySettings(BaseModel):
    """The ``env.self_play`` section: the env's opponent is the policy's past selves, from a pool refreshed on a schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(10_000, ge=1, description="Environment steps between snapshots of the policy added to the pool (the first at the start).")
    pool_size: int = Field(10, ge=1, le=1000, description="Snapshots kept: the oldest leaves when a new one comes.")
    latest: float = Field(0.5, ge=0, le=1, description="Probability that a game is played against the newest snapshot; else one of the pool drawn uniformly.")
    own_opponent: float = Field(
        0.0, ge=0, le=1, description="Probability that a game is played against the env's own opponent (pgkit/BoardGame-v0's random player) "
        "instead of the pool: a fixed opponent kept in the mix, so the policy keeps beating it while it learns from its past selves.",
    )


class EnvSettings(BaseModel):
    """The ``env`` section of a recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, arbitrary_types_allowed=True)

    id: Annotated[str, NamesCode("imported by gymnasium before the env is made", _module_of_id)] = Field(
        description="A gymnasium id, e.g. CartPole-v1, or 'module:EnvId' (gymnasium's form: the module is imported "
        "first, e.g. ale_py:ALE/Pong-v5); with entry_point, the name given to that env. With env.agents, a PettingZoo env "
        "as 'package:env_module', e.g. mpe2:simple_spread_v3 (its parallel_env(**env.kwargs) makes each env)."
    )
    modules: Annotated[tuple[ModuleName, ...], NamesCode("imported")] = Field(
        (), description="Installed modules imported before the env is made, for packages that register their envs on import."
    )
    entry_point: Annotated[Annotated[str, AfterValidator(_entry_point)] | None, NamesCode("imported and called to make the env")] = Field(
        None,
        description="'package.module:Name' of an env class or function that no package registers (gymnasium.register's "
        "entry_point), made with env.kwargs; env.id then names it.",
    )
    wrappers: Annotated[
        tuple[PipelineStep, ...],
        WithJsonSchema({"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]}}),
    ] = Field((), description="Wrappers applied to every env in order, the first innermost: a list of {type: NAME, ...} (pgkit components --kind env_wrapper).")
    num_envs: int = Field(1, ge=1, le=4096, description="Environments stepped together (N).")
    vectorization: Literal["sync", "async", "native", "envpool"] = Field(
        "sync", description="How the num_envs envs step together. sync: one after another in this process; async: one subprocess per env "
        "(for slow envs); native: the env's own batched implementation, gymnasium's vector_entry_point (CartPole-v1's numpy batch: "
        "about twice SyncVectorEnv's steps/s); envpool: EnvPool's C++ batch (pip install 'pgkit[envpool]'; its ids, e.g. Pong-v5, "
        "Ant-v4, CartPole-v1, with its options in env.kwargs). native and envpool reset an ended episode on the next step, "
        "which batches leave out (Batch.alive); they take no env.wrappers, and their envs resume exactly only where they pickle "
        "(gymnasium's do, EnvPool's do not: they restart from fresh resets, as the resume says).",
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")
    normalize: NormalizeSettings = Field(default_factory=NormalizeSettings, description="Observation and reward normalization.")
    rescale_actions: bool = Field(False, description="Present a Box action space as [-1, 1] (gymnasium's RescaleAction).")
    action_mask: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        "action_mask", description="The Dict observation key that holds the action mask (1: valid), where the env's observations have it "
        "(PettingZoo's and gymnasium's convention; the action_mask wrapper puts info's or action_masks()'s there): the policy then "
        "never chooses an invalid action. null: no masking (a mask in the observation is then read as features only)."
    )
    agents: AgentsSettings | None = Field(
        None, description="A multi-agent PettingZoo env: its agents become the columns of the vector env (num_envs copies of the env, "
        "each with all its agents), so every trainer and estimator works on them unchanged; steps count env steps, not agent steps. "
        "null: a gymnasium env.",
    )
    self_play: SelfPlaySettings | None = Field(
        None, description="Play against the policy's past selves: envs that take opponents (pgkit/BoardGame-v0's set_opponents) get a "
        "pool of frozen snapshots of the policy, refreshed every self_play.every steps and checkpointed with the run; evaluation "
        "still plays the env's own opponent (random). null: the env's own opponent in training too.",
    )

    @model_validator(mode="after")
    def _agents_take_no_gymnasium_wrappers(self) -> "EnvSettings":
        if self.agents is None:
            return self
        refused = [(name, why) for name, set_, why in [
            ("wrappers", bool(self.wrappers), "they wrap one gymnasium env, and a PettingZoo env is several agents (wrap it in the "
             "function env.entry_point names, with PettingZoo's or SuperSuit's wrappers)"),
            ("vectorization", self.vectorization != "sync", "the agents' envs step in this process (sync) for now"),
            ("rescale_actions", self.rescale_actions, "rescale the agents' actions in the env's own function"),
        ] if set_]
        if refused:
            name, why = refused[0]
            raise ValueError(f"env.{name} is not available with env.agents: {why}")
        return self

    @model_validator(mode="after")
    def _native_batches_are_made_from_an_id(self) -> "EnvSettings":
        if self.vectorization not in NATIVE:
            return self
        if self.wrappers:
            raise ValueError(f"env.wrappers are not available with env.vectorization: {self.vectorization}: they wrap one gymnasium env "
                             "each, and a native batch steps all its envs at once (set env.vectorization: sync, or give the batch's "
                             "own options in env.kwargs, such as EnvPool's episodic_life or stack_num)")
        if self.entry_point is not None or self.modules:
            name = "entry_point" if self.entry_point is not None else "modules"
            raise ValueError(f"env.{name} is not available with env.vectorization: {self.vectorization}: a native batch is made "
                             "from a registered id alone (set env.vectorization: sync)")
        return self

    @field_serializer("wrappers")
    def _entries(self, wrappers: tuple[PipelineStep, ...]) -> list[dict[str, Any]]:
        return [step.entry() for step in wrappers]

    def pipeline(self) -> list[Callable[[gym.Env], gym.Env]]:
        """Every wrapping step, innermost first: env.wrappers, the check of action masks, then rescale_actions."""
        checks = [checked_masks(self.action_mask)] if self.action_mask is not None else []
        return [step.wrap for step in self.wrappers] + checks + ([_rescale_to_unit_box] if self.rescale_actions else [])


def rescale_box_actions(env: gym.Env, low: float, high: float) -> gym.Env:
    """``env`` whose Box action space is presented as [low, high] in every dimension (gymnasium's RescaleAction)."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"rescaling actions needs a Box action space, not {space}")
    return gym.wrappers.RescaleAction(env, np.full(space.shape, low, dtype=space.dtype), np.full(space.shape, high, dtype=space.dtype))


def _rescale_to_unit_box(env: gym.Env) -> gym.Env:
    return rescale_box_actions(env, -1.0, 1.0) if isinstance(env.action_space, gym.spaces.Box) else env
