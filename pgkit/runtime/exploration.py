"""Acting for off-policy learning: N envs stepped with the policy plus its head's exploration noise, each
step's transitions returned for the replay buffer (in the trainer's process, or on Ray workers)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pgkit.envs.actions import as_numpy
from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.idle_columns import idle_columns
from pgkit.envs.making import with_final_observations
from pgkit.envs.native import NextStepColumns
from pgkit.errors import TrainingError
from pgkit.kinds.agent import Agent

TRANSITION_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")  # as Replay.add takes them


class Explorer:
    """Steps ``envs`` with the policy head's exploring actions (``explore``: a squashed head's
    clip(pi(.|s) + noise, -1, 1), a deterministic head's sample being mu(s); a categorical head's sample) and
    its uniformly random ones while warming up (``random_actions``), the noise from the head (Gaussian,
    Ornstein-Uhlenbeck) reset where an episode ends. Its generator draws the warm-up actions and the noise;
    with the current observation they are its state. A recurrent agent's memory is carried from step to step
    (zeroed where an episode starts, advanced by the policy during the warm-up too) and returned with each
    step's transitions as the memory it acted from, for a replay that stores sequences."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: Agent, seed: int):
        self.envs, self.agent = envs, agent
        self.num_envs = envs.num_envs
        self.device, self.obs_dtype = agent.device, agent.obs_dtype  # read once: Agent.device walks the policy's parameters
        self.rng = np.random.default_rng(seed)
        self.noise = agent.components["policy_head"].exploration_noise(self.num_envs, agent.action_space.shape, self.rng)
        self.obs = agent.prepare(envs.reset(seed=seed)[0], update_statistics=True)
        self.memory = agent.initial_memory(self.num_envs) if agent.memory_size else None  # [N, S] what the next step acts from
        self._agents = envs.unwrapped if isinstance(envs.unwrapped, AgentColumns) else None  # a multi-agent env
        if self._agents is not None and self._agents.turn_based:
            raise TrainingError("a turn-based game (env.agents.api aec) has one agent acting per step, whose transitions off-policy "
                                "trainers do not yet assemble from its turns: use an on-policy trainer")
        if isinstance(idle_columns(envs), NextStepColumns):
            raise TrainingError("env.vectorization native and envpool reset episodes on the next step, whose idle columns off-policy "
                                "trainers do not yet keep out of the replay: set env.vectorization: sync (or use an on-policy trainer)")

    def explore(self, steps: int, random: bool) -> list[tuple[Tensor, ...]]:
        """``steps`` vector steps; per step the transitions (obs, actions, rewards, next_obs, terminated, truncated,
        and for a recurrent agent the memory they acted from), each [N, ...] on the agent's device, next_obs the
        true final observation where an episode ended."""
        agent = self.agent
        transitions = []
        for _ in range(steps):
            if self._agents is not None and not self._agents.alive.all():
                raise TrainingError("an agent of this multi-agent env finished while others played on: off-policy trainers do not yet "
                                    "keep idle agents' steps out of the replay; use an on-policy trainer (its batches mask them)")
            acted_from = self.memory
            actions = self._act(random)
            raw, reward, terminated, truncated, info = self.envs.step(as_numpy(agent.policy.head.env_action(actions)))
            next_obs = agent.prepare(raw, update_statistics=True)
            step = self._tensors(actions, reward, with_final_observations(next_obs, info, agent.prepare), terminated, truncated)
            transitions.append(step if acted_from is None else (*step, acted_from))
            self.noise.reset(terminated | truncated)
            if self.memory is not None:  # a new episode's memory where one ended
                self.memory = self.memory * torch.as_tensor(~(terminated | truncated), device=self.device).unsqueeze(1)
            self.obs = next_obs
        return transitions

    def _act(self, random: bool) -> Tensor:
        """The step's actions; a recurrent agent's memory advanced past the current observation."""
        agent, head = self.agent, self.agent.components["policy_head"]
        if random and self.memory is None:
            return torch.as_tensor(head.random_actions(self.num_envs, agent.action_space, self.rng), device=self.device)
        obs = torch.as_tensor(self.obs, dtype=self.obs_dtype, device=self.device)
        if self.memory is None:
            with torch.no_grad():
                distribution = agent.policy(obs)
        else:
            with torch.no_grad(), agent.sequences(self.memory, torch.zeros(1, self.num_envs, dtype=torch.bool, device=self.device)) as stepped:
                distribution = agent.policy(obs)
            self.memory = stepped.final
        if random:
            return torch.as_tensor(head.random_actions(self.num_envs, agent.action_space, self.rng), device=self.device)
        return head.explore(distribution.sample(), self.noise.sample())

    def _tensors(self, actions: Tensor, reward: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> tuple[Tensor, ...]:
        device, dtype = self.device, self.obs_dtype
        return (
            torch.as_tensor(self.obs, dtype=dtype, device=device),
            actions.reshape(self.num_envs, -1).float(),  # the replay's rows: a Discrete choice is one column
            torch.as_tensor(reward, dtype=torch.float32, device=device),
            torch.as_tensor(next_obs, dtype=dtype, device=device),
            torch.as_tensor(terminated, device=device),
            torch.as_tensor(truncated, device=device),
        )

    def metrics(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        """Nothing to release: the envs are the loop's (``ctx.make_envs``)."""

    def state_dict(self) -> dict[str, Any]:
        memory = {"memory": self.memory.clone()} if self.memory is not None else {}
        return {"obs": torch.as_tensor(self.obs).clone(), "rng": self.rng.bit_generator.state, "noise": self.noise.state_dict(), **memory}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.obs = state["obs"].numpy().copy()
        if self.memory is not None:
            self.memory = state["memory"].to(self.memory.device)
        self.rng.bit_generator.state = state["rng"]
        self.noise.load_state_dict(state["noise"])
