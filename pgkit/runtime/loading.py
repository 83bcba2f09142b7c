"""Loading a trained agent from a run folder or a checkpoint file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import gymnasium as gym

from pgkit.envs.settings import EnvSettings
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.plugins.registry import Registry
from pgkit.runtime.stored_run import load_weights, read_checkpoint
from pgkit.runtime.training import build_agent, on_env_factory


def load_agent(
    path: Path, registry: Registry | None = None, env: Callable[[], gym.Env] | None = None, recipe_file: Path | None = None
) -> tuple[Agent, EnvSettings]:
    """Rebuild the agent saved in a run folder or checkpoint file from the recipe stored inside it, or from
    ``recipe_file`` (the run's recipe given again, see ``pgkit.runtime.stored_run``), on the envs of ``env``,
    a factory, when the run was trained on one."""
    stored = read_checkpoint(path)
    recipe = stored.recipe(registry, recipe_file=recipe_file)
    if env is not None:
        recipe = on_env_factory(recipe, env, registry)
    agent = build_agent(recipe, registry)
    load_weights(agent, stored)
    return agent, recipe.settings.env


def load_self_play_pool(path: Path, agent: Agent) -> list[Agent]:
    """The pool of past selves a self-play run (``env.self_play``) had at its checkpoint, as agents: copies of
    ``agent`` (that run's, from ``load_agent``) with each snapshot's policy weights, oldest first."""
    stored = read_checkpoint(path)
    pool = stored.state.get("context", {}).get("self_play", {}).get("pool")
    if not pool:
        raise PgkitError(f"{stored.path}: this run keeps no self-play pool (its recipe has no env.self_play, or it saved none yet)")
    selves = []
    for weights in pool:
        past = agent.acting_copy()
        past.policy.load_state_dict(weights)
        selves.append(past)
    return selves
