"""Loading a trained agent from a run folder or a checkpoint file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import gymnasium as gym

from pgkit.envs.settings import EnvSettings
from pgkit.kinds.agent import Agent
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import resolve
from pgkit.runtime.checkpoint import agent_weights, load_checkpoint
from pgkit.runtime.run import CHECKPOINT_FILE
from pgkit.runtime.training import build_agent, on_env_factory


def load_agent(path: Path, registry: Registry | None = None, env: Callable[[], gym.Env] | None = None) -> tuple[Agent, EnvSettings]:
    """Rebuild the agent saved in a run folder or checkpoint file from the recipe stored inside it (on the
    envs of ``env``, a factory, when the run was trained on one)."""
    checkpoint_path = path / CHECKPOINT_FILE if path.is_dir() else path
    state = load_checkpoint(checkpoint_path)
    recipe = resolve(state["recipe"], registry or default_registry(), source=str(checkpoint_path))
    if env is not None:
        recipe = on_env_factory(recipe, env, registry)
    agent = build_agent(recipe, registry)
    agent.load_state_dict(agent_weights(state))
    return agent, recipe.settings.env
