"""Self-play: the training envs' opponent is a pool of frozen snapshots of the policy (``env.self_play``).

Every ``every`` steps (the first at the start) a copy of the policy joins the pool (the oldest leaves past
``pool_size``), and every env that takes opponents (``set_opponents``, as pgkit/BoardGame-v0) gets the pool; it
draws a game's opponent at each reset, from its own generator. The pool's weights are checkpointed, so a resumed
run plays against the same past selves.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgkit.envs.making import batch_of_one
from pgkit.envs.settings import SelfPlaySettings
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent, Policy


class PolicySnapshot:
    """A frozen copy of an agent's policy (and observation normalizer) on the CPU that moves as it samples: called
    with one raw observation and a numpy generator, it returns an action drawn from pi(.|s) with that generator."""

    def __init__(self, agent: Agent):
        frozen = copy.deepcopy(agent.policy).cpu().requires_grad_(False).eval()
        # the agent's own prepare and obs_dtype, without the components, critic and objective it does not act with
        self.agent = dataclasses.replace(agent, components={}, policy=frozen, critic=None, objective_module=None,
                                         obs_normalizer=copy.deepcopy(agent.obs_normalizer))

    @property
    def policy(self) -> Policy:
        return self.agent.policy

    def __call__(self, obs: Any, rng: np.random.Generator) -> int:
        agent = self.agent
        with torch.no_grad():
            distribution = agent.policy(torch.as_tensor(agent.prepare(batch_of_one(obs)), dtype=agent.obs_dtype))
        probs = getattr(distribution, "probs", None)
        if probs is None:
            raise PgkitError("self-play opponents sample discrete moves: the policy head must be categorical")
        weights = probs[0].double().numpy()
        return int(rng.choice(len(weights), p=weights / weights.sum()))


class SelfPlay:
    """The pool of past selves and when it is refreshed (see the module)."""

    def __init__(self, settings: SelfPlaySettings, agent: Agent):
        self.settings, self.agent = settings, agent
        self.pool: list[PolicySnapshot] = []
        self.next_refresh = 0

    def refresh(self, step: int, envs: list[gym.vector.VectorEnv]) -> None:
        """A new snapshot in the pool if one is due at ``step``, and the pool given to ``envs``."""
        if step < self.next_refresh:
            return
        self.pool = [*self.pool, PolicySnapshot(self.agent)][-self.settings.pool_size :]
        self.next_refresh = (step // self.settings.every + 1) * self.settings.every
        for vector_env in envs:
            self.give(vector_env)

    def give(self, envs: gym.vector.VectorEnv) -> None:
        """Hand the pool to every env of ``envs`` (which must take opponents)."""
        self.opposed(envs, self.pool, self.settings.latest, self.settings.own_opponent)

    @staticmethod
    def opposed(env: gym.Env | gym.vector.VectorEnv, pool: list[PolicySnapshot], latest: float = 0.5, own_opponent: float = 0.0) -> None:
        """``env`` (or every env of a vector env) playing against ``pool`` from its next reset on."""
        try:
            if isinstance(env, gym.vector.VectorEnv):
                env.unwrapped.call("set_opponents", pool, latest, own_opponent)  # vector wrappers do not pass call on
            else:
                env.get_wrapper_attr("set_opponents")(pool, latest, own_opponent)
        except AttributeError as exc:
            raise PgkitError(f"this env takes no opponents (it has no set_opponents(pool, latest, own_opponent): {exc}); self-play and "
                             "evaluation against other agents need an env that plays against a given policy, such as pgkit/BoardGame-v0") from None

    def state_dict(self) -> dict[str, Any]:
        return {"next_refresh": self.next_refresh, "pool": [snapshot.policy.state_dict() for snapshot in self.pool]}

    def load_state_dict(self, state: dict[str, Any], envs: list[gym.vector.VectorEnv]) -> None:
        """The saved pool rebuilt (the agent's current weights with each snapshot's loaded in) and given to ``envs``."""
        self.next_refresh = int(state["next_refresh"])
        self.pool = []
        for weights in state["pool"]:
            snapshot = PolicySnapshot(self.agent)
            snapshot.policy.load_state_dict(weights)
            self.pool.append(snapshot)
        for vector_env in envs:
            self.give(vector_env)
