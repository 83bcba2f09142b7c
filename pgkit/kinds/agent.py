"""An Agent: the recipe's components plus the torch modules they built for one environment."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Union

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit.data.normalization import ObservationNormalizer
from pgkit.data.structured import flatten_batch, is_structured, stored_shape
from pgkit.envs.making import batch_of_one
from pgkit.envs.settings import EnvSettings
from pgkit.kinds.component import Component
from pgkit.kinds.policy_head import HeadModule
from pgkit.nn.reuse import outputs_reused

Slots = dict[str, Union[Component, list[Component], None]]  # slot -> component (a list for logger, None if empty)


class Policy(nn.Module):
    """pi(.|s) = head(torso(s)): returns a new distribution on every call."""

    def __init__(self, torso: nn.Module, head: HeadModule):
        super().__init__()
        self.torso = torso
        self.head = head

    def forward(self, obs: Tensor) -> Distribution:
        return self.head(self.torso(obs))

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Environment-ready actions: the mode if ``deterministic``, else a sample."""
        distribution = self(obs)
        action = distribution.mode if deterministic else distribution.sample()
        return self.head.env_action(action)


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

    @classmethod
    def build(
        cls,
        components: Slots,
        observation_space: gym.Space,
        action_space: gym.Space,
        device: str = "cpu",
        env: EnvSettings | None = None,
    ) -> Agent:
        network = components["network"]
        torso = network.build(observation_space)
        head = components["policy_head"].build(torso.out_features, action_space)
        policy = Policy(torso, head).to(device)
        critic_component = components.get("critic")
        critic = critic_component.build(network, observation_space, action_space, torso).to(device) if critic_component else None
        objective = components.get("objective")
        objective_module = objective.build(observation_space, action_space) if objective is not None else None
        if objective_module is not None:
            objective_module = objective_module.to(device)
        normalizer = None
        if env is not None and env.normalize.obs:
            normalizer = ObservationNormalizer(stored_shape(observation_space), env.normalize.clip_obs)
        return cls(components, policy, critic, observation_space, action_space, normalizer, objective_module)

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device

    @property
    def obs_dtype(self) -> torch.dtype:
        """How observations are stored (batches, the replay buffer) and fed to the modules, which convert
        them: integer and boolean Box observations (uint8 frames) keep their dtype unless normalized, other Box
        observations are float32, Discrete ones long, Dict and Tuple ones flat float32 vectors."""
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
        (``pgkit.data.structured``), then normalized if the recipe asks for it."""
        if is_structured(self.observation_space):
            obs = flatten_batch(self.observation_space, obs)
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs, update_statistics)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Env-ready actions for a batch of raw observations (the mode when ``deterministic``)."""
        tensor = torch.as_tensor(self.prepare(obs), dtype=self.obs_dtype, device=self.device)
        return self.policy.act(tensor, deterministic).cpu().numpy()

    def predict(self, obs: Any, state: Any = None, deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """``(actions, state)`` for one raw observation or a batch of them, as Stable-Baselines3's predict:
        the policy's mode when ``deterministic`` (else a sample), observation normalization applied.
        ``state`` is the recurrent state, passed through (None: these policies have none)."""
        space = self.observation_space
        batch = obs if is_structured(space) else np.asarray(obs)
        single = space.contains(obs) if is_structured(space) else batch.shape == tuple(space.shape or ())
        actions = self.act(batch_of_one(obs) if single else batch, deterministic)
        return (actions[0] if single else actions), state

    def torso_once(self) -> AbstractContextManager[None]:
        """A block in which the policy's torso runs once per input tensor (``pgkit.nn.outputs_reused``): a
        critic sharing it reads the features the policy loss computed, forward and backward."""
        return outputs_reused(self.policy.torso)

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
