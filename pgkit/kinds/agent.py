"""An Agent: the recipe's components plus the torch modules they built for one environment."""

from __future__ import annotations

import copy
import dataclasses
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit.envs.actions import as_numpy, row
from pgkit.data.batch import Batch
from pgkit.data.normalization import ObservationNormalizer
from pgkit.data.structured import entry_columns, flatten_batch, index_columns, is_structured, stored_shape
from pgkit.envs.making import batch_of_one
from pgkit.envs.action_masks import carries_mask
from pgkit.envs.settings import EnvSettings
from pgkit.errors import PgkitError
from pgkit.kinds.component import Component
from pgkit.kinds.group_critics import GroupCritics
from pgkit.kinds.group_objectives import GroupObjectives
from pgkit.kinds.group_optimizers import GroupOptimizers
from pgkit.kinds.policy_head import HeadModule
from pgkit.nn.recurrent import RecurrentTorso, Sequences, recurrent_torsos, run_as_sequences
from pgkit.nn.reuse import outputs_reused
from pgkit.nn.groups import GroupedDistribution, GroupedModule, routed
from pgkit.nn.views import ColumnView

Slots = dict[str, Union[Component, list[Component], None]]  # slot -> component (a list for logger, None if empty)


class Policy(nn.Module):
    """pi(.|s) = head(torso(s)): returns a new distribution on every call. With ``mask_columns`` (start, stop)
    the observation carries its action mask there (``pgkit.envs.action_masks``) and the head is given it:
    whatever calls the policy on stored observations (any objective, trainer or export) gets a masked pi."""

    def __init__(self, torso: nn.Module, head: HeadModule, mask_columns: tuple[int, int] | None = None):
        super().__init__()
        self.torso = torso
        self.head = head
        self.mask_columns = mask_columns

    def forward(self, obs: Tensor) -> Distribution:
        if self.mask_columns is None:
            return self.head(self.torso(obs))
        start, stop = self.mask_columns
        return self.head(self.torso(obs), action_mask=obs[..., start:stop] > 0.5)

    def exploration(self, count: int) -> Tensor | None:
        """The head's noise held across steps for ``count`` envs (``HeadModule.exploration``), or None."""
        return self.head.exploration(count)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Any:
        """Environment-ready actions: the mode if ``deterministic``, else a sample (for a Dict or Tuple action space
        a dict or tuple of tensors)."""
        distribution = self(obs)
        action = distribution.mode if deterministic else distribution.sample()
        return self.head.env_action(action)


class GroupedPolicy(Policy):
    """The policies of a multi-agent env's groups (``env.agents.groups``): each row of the observation acts by its own
    group's policy (the ``group`` entry says which), the rows' distributions together one ``GroupedDistribution``.
    ``head`` is the first group's (they act in one action space, so each turns actions into the env's alike)."""

    torso = None  # no one torso: each group has its own (and no critic shares a torso with the whole policy)

    def __init__(self, policies: list[Policy], column: int):
        nn.Module.__init__(self)
        self.groups = nn.ModuleList(policies)
        self.column = column
        self.mask_columns = policies[0].mask_columns

    @property
    def head(self) -> HeadModule:  # type: ignore[override]
        return self.groups[0].head

    def forward(self, obs: Tensor) -> Distribution:
        return GroupedDistribution(*routed(self.groups, self.column, obs))

    def exploration(self, count: int) -> None:
        """None: rows of several groups are not routed to held noise, so every group samples afresh at each step."""
        return None


def _with_group_components(
    components: Slots, groups: list[Any], policies: list[Policy], critics: list[nn.Module], critic_components: list[Component], column: int,
) -> Slots:
    """``components`` with the composites that give policy groups' own optimizers, critics and objectives their
    groups' parameters and rows (``pgkit.kinds.group_optimizers``, ``group_critics``, ``group_objectives``)."""
    own = [(group.optimizer, [policies[i], *critics[i : i + 1]]) for i, group in enumerate(groups) if getattr(group, "optimizer", None)]
    if own and components.get("optimizer") is not None:
        components = {**components, "optimizer": GroupOptimizers(components["optimizer"], own)}
    if critics and any(getattr(group, "critic", None) for group in groups):
        components = {**components, "critic": GroupCritics(critic_components, column)}
    if any(getattr(group, "objective", None) for group in groups):
        components = {**components, "objective": GroupObjectives([getattr(g, "objective", None) or components["objective"] for g in groups], column)}
    return components


View = tuple[gym.Space, Union[list[int], None]]  # the space a module reads, and its columns of the stored row (None: all)


def _views(observation_space: gym.Space, env: EnvSettings | None) -> tuple[View, View]:
    """What the policy's torso and the critic read: all of the observation, or for a centralized critic
    (``env.agents.critic_input`` state or joint) the critic the ``state`` entry (and the ``agent`` index, if
    there is one) and the policy everything else."""
    if env is None or env.agents is None or env.agents.critic_input == "local":
        return (observation_space, None), (observation_space, None)
    keys = list(observation_space.spaces)
    critic_keys = [key for key in keys if key in ("agent", "state")]
    return _view(observation_space, [key for key in keys if key != "state"]), _view(observation_space, critic_keys)


def _view(space: gym.spaces.Dict, keys: list[str]) -> View:
    columns = [column for key in keys for column in range(*entry_columns(space, key))]
    return (space[keys[0]] if len(keys) == 1 else gym.spaces.Dict({key: space[key] for key in keys})), columns


def _viewing(view: View, module: nn.Module) -> nn.Module:
    return module if view[1] is None else ColumnView(view[1], module)


@dataclass
class Agent:
    """The recipe's components and the modules they built for one environment: the policy
    pi = head(torso), an optional critic, the objective's own parameters if it has any (SAC's
    temperature), and an optional observation normalizer (its statistics are saved with the weights
    and used at evaluation)."""

    components: Slots
    policy: Policy
    critic: nn.Module | None
    observation_space: gym.Space
    action_space: gym.Space
    obs_normalizer: ObservationNormalizer | None = None  # applied to raw observations before any module
    objective_module: nn.Module | None = None  # built by the objective, trained with the policy
    action_mask_key: str | None = None  # the observation entry that holds the action mask, if the policy reads one

    @classmethod
    def build(
        cls,
        components: Slots,
        observation_space: gym.Space,
        action_space: gym.Space,
        device: str = "cpu",
        env: EnvSettings | None = None,
    ) -> Agent:
        policy_reads, critic_reads = _views(observation_space, env)
        mask_key = env.action_mask if env is not None else "action_mask"
        mask_key = mask_key if carries_mask(observation_space, mask_key) else None
        mask_columns = entry_columns(observation_space, mask_key) if mask_key is not None else None
        groups = env.agents.groups if env is not None and env.agents is not None else None
        policies, critics, critic_components = [], [], []
        for group in (groups or {None: None}).values():  # one policy (and critic) per group of agents, or one for all
            network = getattr(group, "network", None) or components["network"]  # a group's own components, or the recipe's
            head = getattr(group, "policy_head", None) or components["policy_head"]
            torso = _viewing(policy_reads, network.build(policy_reads[0]))
            policies.append(Policy(torso, head.build(torso.out_features, action_space), mask_columns))
            critic_component = getattr(group, "critic", None) or components.get("critic")
            if critic_component is not None:
                critic_components.append(critic_component)
                critics.append(_viewing(critic_reads, critic_component.build(network, critic_reads[0], action_space, torso)))
                if critic_reads[1] is not None and any(module is torso for module in critics[-1].modules()):
                    raise PgkitError("critic: a centralized critic (env.agents.critic_input) reads the global state, so it cannot share the "
                                     "policy's torso\n    fix: set critic.shared_torso: false, or env.agents.critic_input: local")
        critic = None
        if groups is None:
            policy = policies[0].to(device)
            critic = critics[0].to(device) if critics else None
        else:
            column = entry_columns(observation_space, "group")[0]
            policy = GroupedPolicy(policies, column).to(device)
            critic = GroupedModule(critics, column).to(device) if critics else None
            components = _with_group_components(components, list(groups.values()), policies, critics, critic_components, column)
        objective = components.get("objective")
        objective_module = objective.build(observation_space, action_space) if objective is not None else None
        if objective_module is not None:
            objective_module = objective_module.to(device)
        normalizer = None
        if env is not None and env.normalize.obs:
            kept = [*index_columns(observation_space), *(range(*mask_columns) if mask_columns is not None else ())]
            normalizer = ObservationNormalizer(stored_shape(observation_space), env.normalize.clip_obs, kept=kept)
        return cls(components, policy, critic, observation_space, action_space, normalizer, objective_module, mask_key)

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device

    @property
    def obs_dtype(self) -> torch.dtype:
        """How observations are stored (batches, the replay buffer) and fed to the modules, which convert
        them: integer and boolean Box observations (uint8 frames) keep their dtype unless normalized, other Box
        observations are float32, Discrete ones long, Dict and Tuple ones flat float32 rows (class indices as floats)."""
        space = self.observation_space
        if is_structured(space):
            return torch.float32
        if not isinstance(space, gym.spaces.Box):
            return torch.long
        if self.obs_normalizer is None and (np.issubdtype(space.dtype, np.integer) or space.dtype == np.bool_):
            return torch.from_numpy(np.zeros(0, dtype=space.dtype)).dtype
        return torch.float32

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """The shape of one observation as batches and replay buffers store it (Dict and Tuple: flattened)."""
        return stored_shape(self.observation_space)

    def prepare(self, obs: Any, update_statistics: bool = False) -> np.ndarray:
        """Raw env observations -> what the networks read: Dict and Tuple observations flattened
        (``pgkit.data.structured``), then normalized if the recipe asks for it (class indices and the action
        mask are read as they are)."""
        if is_structured(self.observation_space):
            obs = flatten_batch(self.observation_space, obs)
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs, update_statistics)

    def act(self, obs: np.ndarray, deterministic: bool = True, memory: Tensor | None = None, starts: Any = None) -> tuple[Any, Tensor | None]:
        """``(actions, memory)``: env-ready actions for a batch of raw observations (the mode when
        ``deterministic``) and, for a recurrent agent, its memory after them, from ``memory`` (None: a new
        episode's) with the state zeroed where ``starts`` (bool per observation) is true."""
        tensor = torch.as_tensor(self.prepare(obs), dtype=self.obs_dtype, device=self.device)
        if not self.memory_size:
            return as_numpy(self.policy.act(tensor, deterministic)), None
        columns = tensor.shape[0]
        memory = self.initial_memory(columns) if memory is None else memory
        starts = torch.zeros(columns, dtype=torch.bool) if starts is None else torch.as_tensor(starts, dtype=torch.bool).reshape(columns)
        with self.sequences(memory, starts.view(1, columns).to(self.device)) as stepped:
            actions = as_numpy(self.policy.act(tensor, deterministic))
        return actions, stepped.final

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True,
                action_mask: Any = None) -> tuple[Any, Any]:
        """``(actions, state)`` for one raw observation or a batch of them, as Stable-Baselines3's predict:
        the policy's mode when ``deterministic`` (else a sample), observation normalization applied; for a Dict
        or Tuple action space a dict or tuple of arrays, as the env takes them.
        ``state`` is a recurrent agent's memory (None: a new episode's; pass back what it returned) and
        ``episode_start`` says where an episode began (the state is zeroed there); stateless agents return None.
        ``action_mask`` (1: valid) is put into the observation for a masked policy (as sb3-contrib's
        ``predict(obs, action_masks=...)``); an observation that already carries its mask needs none."""
        if action_mask is not None:
            obs = self.with_action_mask(obs, action_mask)
        space = self.observation_space
        batch = obs if is_structured(space) else np.asarray(obs)
        single = space.contains(obs) if is_structured(space) else batch.shape == tuple(space.shape or ())
        starts = None if episode_start is None else np.asarray(episode_start, dtype=bool).reshape(-1)
        actions, state = self.act(batch_of_one(obs) if single else batch, deterministic, state, starts)
        return (row(actions, 0) if single else actions), state

    def with_action_mask(self, obs: Any, action_mask: Any) -> dict[str, Any]:
        """The observation (one or a batch) with ``action_mask`` under the mask's key: added to a Dict
        observation, or beside the env's own observation under "observation" (the action_mask wrapper's form)."""
        if self.action_mask_key is None:
            raise PgkitError("this agent's policy reads no action mask (its env's observations carry none under env.action_mask); "
                             "call predict without action_mask")
        key, mask = self.action_mask_key, np.asarray(action_mask, dtype=np.int8)
        others = set(self.observation_space.spaces) - {key}
        if isinstance(obs, dict) and others <= set(obs):
            return {**obs, key: mask}
        if others == {"observation"}:
            return {"observation": obs, key: mask}
        raise PgkitError(f"this agent's observations are Dicts with entries {sorted(others)} beside '{key}'; pass obs as such a dict")

    @cached_property
    def recurrent_torsos(self) -> tuple[RecurrentTorso, ...]:
        """The torsos with memory in the policy and the critic, each once (a shared torso is one)."""
        return recurrent_torsos(self.policy, *([self.critic] if self.critic is not None else []))

    @cached_property
    def values_with_actions(self) -> bool:
        """Whether collection computes V(s_t) beside each action: when the critic shares the policy's torso
        (that pass is then free) or has memory (its state must advance step by step). Else one pass over the
        batch afterwards is cheaper (for a small MLP critic, per-step calls cost A2C 18% of its speed)."""
        return self.critic is not None and (self.memory_size > 0 or self.shares_torso)

    @property
    def memory_size(self) -> int:
        """S: the width of one env's memory, its recurrent torsos' states side by side (0: no memory)."""
        return sum(torso.state_size for torso in self.recurrent_torsos)

    def initial_memory(self, columns: int) -> Tensor:
        """A new episode's memory for ``columns`` envs: ``[columns, S]`` zeros."""
        return torch.zeros(columns, self.memory_size, device=self.device)

    def sequences(self, memory: Tensor, starts: Tensor) -> AbstractContextManager[Sequences]:
        """A block in which the recurrent torsos read their calls' rows as ``starts.shape`` = [T, M] time-major
        steps of M sequences, from ``memory [M, S]``, zeroed where ``starts``; the yielded ``Sequences`` holds the
        memory after the last step in ``final`` once the block ends (``pgkit.nn.run_as_sequences``; for an agent
        without memory: a no-op)."""
        return run_as_sequences(self.recurrent_torsos, memory, starts)

    def sequences_of(self, batch: Batch) -> AbstractContextManager[Any]:
        """``sequences`` for a flat batch of whole env columns (time-major rows, ``batch.columns`` of them),
        from the memory stored at their first step; a no-op for an agent without memory."""
        if not self.memory_size:
            return nullcontext()
        if batch.columns is None or batch.memory is None:
            raise RuntimeError("a recurrent agent reads batches of whole env columns with their memory (Batch.flatten, "
                               "Batch.minibatches of a batch collected with memory), not shuffled rows")
        steps = batch.rewards.shape[0] // batch.columns
        return self.sequences(batch.memory.view(steps, batch.columns, -1)[0], batch.starts.view(steps, batch.columns))

    def torso_once(self) -> AbstractContextManager[None]:
        """A block in which the policy's torso runs once per input tensor (``pgkit.nn.outputs_reused``): a
        critic sharing it reads the features the policy loss computed, forward and backward (a no-op where
        no critic shares it)."""
        return outputs_reused(self.policy.torso) if self.shares_torso else nullcontext()

    @cached_property
    def shares_torso(self) -> bool:
        """Whether the critic reads the policy's torso (one network, two heads)."""
        return self.critic is not None and any(module is self.policy.torso for module in self.critic.modules())

    def acting_copy(self) -> Agent:
        """An agent with the same components and copies of the modules (a shared torso stays shared) and of the
        observation normalizer: it acts, with weights ``load_state_dict`` gives it, while this one trains."""
        policy, critic, objective_module, normalizer = copy.deepcopy((self.policy, self.critic, self.objective_module, self.obs_normalizer))
        return dataclasses.replace(self, policy=policy, critic=critic, objective_module=objective_module, obs_normalizer=normalizer)

    def modules(self) -> dict[str, nn.Module]:
        optional = {"critic": self.critic, "objective": self.objective_module}
        return {"policy": self.policy, **{name: module for name, module in optional.items() if module is not None}}

    def parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter once (a shared torso is not counted twice)."""
        unique: dict[int, nn.Parameter] = {}
        for module in self.modules().values():
            for p in module.parameters():
                unique.setdefault(id(p), p)
        return list(unique.values())

    def state_dict(self) -> dict[str, Any]:
        state = {name: module.state_dict() for name, module in self.modules().items()}
        if self.obs_normalizer is not None:
            state["obs_normalizer"] = self.obs_normalizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(state[name])
        if self.obs_normalizer is not None:
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
