"""A PettingZoo parallel env's agents as the columns of one gymnasium vector env.

``num_games`` copies of the env, each with the A agents of ``possible_agents``, make ``num_games * A``
columns: column ``g * A + a`` is agent ``a`` of game ``g``. Every trainer, estimator and objective then works
on agents as on envs, and one policy acts for all of them (parameter sharing, as IPPO and MAPPO share it).
Each column's observation is its agent's, as a Dict of the agent's ``observation`` (or the entries of its own
Dict, PettingZoo's ``action_mask`` among them), its index ``agent`` (with ``agent_id``) and, for a
centralized critic, ``state``: the env's global ``state()``, or with ``joint`` all agents' observations side
by side (the policy never reads it; ``pgkit.kinds.Agent`` shows it to the critic only).

A game is reset when all its agents are done (gymnasium's SAME_STEP autoreset: the final observations are in
``info["final_obs"]``). An agent that finishes while others play on, or that has not joined yet, leaves its
column idle: ``info["alive"]`` says which columns hold an acting agent at the returned observation, and the
steps of idle columns (reward 0, zeros as the observation, every action valid in its action mask) stay out of the
loss, the advantages' statistics and the episode statistics. One step of this env is one step of each game: the run's budget counts games'
steps (``num_games`` per call), not agents' steps.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from pgkit.envs.actions import row
from pgkit.envs.settings import AgentsSettings, GroupSettings, group_members




class AgentColumns(gym.vector.VectorEnv):
    """``num_games`` PettingZoo parallel envs stepped together, one column per agent of each (see the module)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
    turn_based = False  # every agent acts at every step it is in the game (pgkit.envs.turn_columns: one agent per game and step)

    def __init__(self, make_game: Callable[[], Any], num_games: int, settings: AgentsSettings, mask_key: str | None = "action_mask"):
        self.games = [make_game() for _ in range(num_games)]
        first = self.games[0]
        self.agents: tuple[str, ...] = tuple(first.possible_agents)
        self.num_games, self.settings = num_games, settings
        self.num_envs = num_games * len(self.agents)
        agent_space, action_space = _common_observation_space(first, self.agents), first.action_space(self.agents[0])
        unlike = [a for a in self.agents[1:] if first.action_space(a) != action_space]
        if unlike:
            raise ValueError(f"the agents {', '.join(unlike)} act in other spaces than {self.agents[0]} ({first.action_space(unlike[0])} and "
                             f"{action_space}): the columns of one vector env take one action space (pad the agents' actions to one in "
                             "the env's function)")
        self._width = int(np.prod(agent_space.shape)) if isinstance(agent_space, gym.spaces.Box) else None  # padded observations
        self._own_entries = isinstance(agent_space, gym.spaces.Dict)
        entries = dict(agent_space.spaces) if self._own_entries else {"observation": agent_space}
        if settings.agent_id:
            entries["agent"] = gym.spaces.Discrete(len(self.agents))
        self.group_of: list[int] | None = None  # each agent's group (the index into settings.groups), with groups
        if settings.groups is not None:
            self.group_of = _groups_of(self.agents, settings.groups)
            entries["group"] = gym.spaces.Discrete(len(settings.groups))
        if settings.critic_input == "state":
            if not hasattr(first, "state_space"):
                raise ValueError("env.agents.critic_input state: this env has no state_space and state(); use joint (all agents' observations)")
            entries["state"] = first.state_space
        elif settings.critic_input == "joint":
            local = entries.get("observation", agent_space)
            width = len(self.agents) * gym.spaces.flatdim(local)
            entries["state"] = gym.spaces.Box(-np.inf, np.inf, (width,), np.float32)
        self.single_observation_space = gym.spaces.Dict(entries) if len(entries) > 1 or self._own_entries else agent_space
        self.single_action_space = action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(action_space, self.num_envs)
        self._zero = {key: np.zeros(space.shape, dtype=space.dtype) for key, space in entries.items()}
        if mask_key in self._zero:  # an idle column's policy still has an action to sample (and drop): every one is valid
            self._zero[mask_key] = np.ones_like(self._zero[mask_key])
        self._alive = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        columns = []
        for g in range(self.num_games):
            columns += self._observed(g, self._reset_game(g, None if seed is None else seed + g, options))
        self._alive = self._alive_now()
        return self._stacked(columns), {"alive": self._alive.copy()}

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        step = ColumnsStep(self.num_envs)
        columns: list[dict[str, np.ndarray]] = []
        for g in range(self.num_games):
            columns += self._observed(g, self._step_game(g, actions, step))
        self._alive = self._alive_now()
        info: dict[str, Any] = {"alive": self._alive.copy()}
        if step.final:
            info["final_obs"] = np.empty(self.num_envs, dtype=object)
            info["_final_obs"] = np.zeros(self.num_envs, dtype=bool)
            for column, obs in step.final.items():
                info["final_obs"][column] = self._single(obs)
                info["_final_obs"][column] = True
        return self._stacked(columns), step.rewards, step.terminated, step.truncated, info

    def _reset_game(self, g: int, seed: int | None, options: dict | None) -> dict[str, Any]:
        """Game ``g`` started again: its agents' first observations."""
        return self.games[g].reset(seed=seed, options=options)[0]

    def _step_game(self, g: int, actions: Any, step: ColumnsStep) -> dict[str, Any]:
        """Game ``g`` stepped with its acting columns' ``actions``, its columns' rewards, ends and final observations
        written into ``step``: the agents' observations after it (a new game's where it ended)."""
        game, width = self.games[g], len(self.agents)
        acting = {agent: row(actions, g * width + a) for a, agent in enumerate(self.agents) if self._alive[g * width + a]}
        obs, reward, terms, truncs, _ = game.step(acting)
        for a, agent in enumerate(self.agents):
            if agent in acting:
                column = g * width + a
                step.rewards[column] = reward.get(agent, 0.0)
                step.terminated[column] = bool(terms.get(agent, False))
                # an agent the env dropped without saying why is cut (bootstrapped), not ended
                step.truncated[column] = not step.terminated[column] and (bool(truncs.get(agent, False)) or agent not in game.agents)
        if game.agents:
            return obs
        observed = self._observed(g, obs)  # every agent is done: the game starts again (SAME_STEP autoreset)
        for a, agent in enumerate(self.agents):
            if agent in acting:
                step.final[g * width + a] = observed[a]
        return game.reset()[0]

    @property
    def column_groups(self) -> list[str] | None:
        """Each column's policy group (``settings.groups``'s names), or None without groups."""
        if self.group_of is None:
            return None
        names = list(self.settings.groups)
        return [names[self.group_of[column % len(self.agents)]] for column in range(self.num_envs)]

    @property
    def alive(self) -> np.ndarray:
        """[num_envs] bool: the columns whose agent acts at the current observation."""
        return self._alive.copy()

    def pickled(self) -> bytes | None:
        """The games' whole state, pickled so that they continue exactly where they are (None if they cannot be).
        PettingZoo's envs are ``EzPickle``: a plain pickle would make new envs from their constructors' arguments."""
        buffer = io.BytesIO()
        try:
            _WholeStatePickler(buffer).dump(self.games)
        except Exception:
            return None
        return buffer.getvalue()

    def restore(self, games: list[Any]) -> None:
        """Continue from games unpickled from ``pickled()`` (as many as this env has)."""
        if len(games) != self.num_games:
            raise ValueError(f"the checkpoint saved {len(games)} games, but this run has {self.num_games}")
        self.games = games
        self._alive = self._alive_now()

    def close_extras(self, **kwargs: Any) -> None:
        for game in self.games:
            game.close()

    def _alive_now(self) -> np.ndarray:
        return np.array([agent in game.agents for game in self.games for agent in self.agents], dtype=bool)

    def _observed(self, g: int, obs: dict[str, Any]) -> list[dict[str, np.ndarray]]:
        """Game ``g``'s A columns from its agents' observations (zeros for an agent without one)."""
        game = self.games[g]
        locals_ = [self._entries(obs.get(agent)) for agent in self.agents]
        shared: dict[str, np.ndarray] = {}
        if self.settings.critic_input == "state":
            shared["state"] = np.asarray(game.state(), dtype=np.float32)
        elif self.settings.critic_input == "joint":
            shared["state"] = np.concatenate([np.asarray(entries["observation"], dtype=np.float32).reshape(-1) for entries in locals_])
        columns = []
        for a, entries in enumerate(locals_):
            if self.settings.agent_id:
                entries["agent"] = np.int64(a)
            if self.group_of is not None:
                entries["group"] = np.int64(self.group_of[a])
            columns.append({**entries, **shared})
        return columns

    def _entries(self, obs: Any) -> dict[str, np.ndarray]:
        if obs is None:
            return {key: value for key, value in self._zero.items() if key not in ("agent", "group", "state")}
        if self._own_entries:
            return dict(obs)
        flat = np.asarray(obs, dtype=np.float32).reshape(-1)
        if self._width is not None and flat.size < self._width:  # an agent that observes less: zeros after its observation
            flat = np.concatenate([flat, np.zeros(self._width - flat.size, dtype=np.float32)])
        return {"observation": flat.reshape(self._zero["observation"].shape)}

    def _single(self, column: dict[str, np.ndarray]) -> Any:
        """One column's observation as the single observation space holds it."""
        return column if isinstance(self.single_observation_space, gym.spaces.Dict) else column["observation"]

    def _stacked(self, columns: list[dict[str, np.ndarray]]) -> Any:
        if isinstance(self.single_observation_space, gym.spaces.Dict):
            return {key: np.stack([column[key] for column in columns]) for key in self.single_observation_space.spaces}
        return np.stack([column["observation"] for column in columns])


RENDER_OBJECTS = {("pygame.surface", "Surface"), ("pygame.freetype", "Font")}


def _common_observation_space(game: Any, agents: tuple[str, ...]) -> gym.Space:
    """The space every column observes in: the agents' own where they agree; Box spaces of different sizes flattened and
    padded with zeros to the widest (as SuperSuit's pad_observations), their bounds widened to (-inf, inf)."""
    spaces = [game.observation_space(agent) for agent in agents]
    if all(space == spaces[0] for space in spaces):
        return spaces[0]
    if not all(isinstance(space, gym.spaces.Box) for space in spaces):
        unlike = [agent for agent, space in zip(agents, spaces) if space != spaces[0]]
        raise ValueError(f"the agents {', '.join(unlike)} observe in other spaces than {agents[0]}, and not all are Box spaces that "
                         "could be padded to one: pad their observations to one space in the env's function")
    return gym.spaces.Box(-np.inf, np.inf, (max(int(np.prod(space.shape)) for space in spaces),), np.float32)


def _groups_of(agents: tuple[str, ...], groups: dict[str, list[str] | GroupSettings]) -> list[int]:
    """Each agent's group index: the group naming it, or a prefix of its name; an agent in no group or in two is refused."""
    found = []
    for agent in agents:
        matching = [g for g, group in enumerate(groups.values()) if any(agent == m or agent.startswith(m) for m in group_members(group))]
        if len(matching) != 1:
            where = "no group" if not matching else f"the groups {', '.join(list(groups)[g] for g in matching)}"
            raise ValueError(f"env.agents.groups: agent {agent} is in {where}; the env's agents are {', '.join(agents)}: name each "
                             "in exactly one group (a name or a prefix of names)")
        found.append(matching[0])
    empty = [name for g, name in enumerate(groups) if g not in found]
    if empty:
        raise ValueError(f"env.agents.groups: the groups {', '.join(empty)} hold none of the env's agents ({', '.join(agents)})")
    return found


class ColumnsStep:
    """What one step of the games gives each column: reward, termination, truncation, and final observations by column."""

    def __init__(self, num_columns: int):
        self.rewards = np.zeros(num_columns, dtype=np.float64)
        self.terminated = np.zeros(num_columns, dtype=bool)
        self.truncated = np.zeros(num_columns, dtype=bool)
        self.final: dict[int, dict[str, np.ndarray]] = {}


class _WholeStatePickler(cloudpickle.Pickler):
    """cloudpickle, but an ``EzPickle`` object is pickled as its attributes, not as its constructor's arguments,
    and pygame's render objects (which do not pickle; MPE's envs make them at start), which are no state of the
    game, as None: a resumed training env does not render (pgkit's eval and video make envs of their own)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, gym.utils.EzPickle):
            return _rebuilt, (type(obj), obj.__dict__)
        if (type(obj).__module__, type(obj).__name__) in RENDER_OBJECTS:
            return type(None), ()
        return super().reducer_override(obj)


def _rebuilt(cls: type, attributes: dict[str, Any]) -> Any:
    """An object of ``cls`` with ``attributes``, its constructor not called (how ``_WholeStatePickler`` restores)."""
    obj = cls.__new__(cls)
    obj.__dict__.update(attributes)
    return obj
