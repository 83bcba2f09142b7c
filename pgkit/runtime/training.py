"""Putting it together: recipe -> compatibility check -> agent -> the training loop."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from pgkit.envs.factories import register_env_factory
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.kinds.logger import Logger
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import Recipe, apply_overrides, resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.checkpoint import load_checkpoint
from pgkit.runtime.loop import run_training
from pgkit.runtime.run import CHECKPOINT_FILE, Run, resolve_device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def on_env_factory(recipe: Recipe, factory: Callable[[], gym.Env], registry: Registry | None = None) -> Recipe:
    """``recipe`` on the envs ``factory()`` makes (registered under a fresh id; the recipe's env.kwargs
    belonged to its own env and are dropped)."""
    document = recipe.to_dict()
    document["env"] = {**document.get("env", {}), "id": register_env_factory(factory), "kwargs": {}}
    return resolve(document, registry or default_registry(), source=recipe.source)


def build_agent(recipe: Recipe, registry: Registry | None = None) -> Agent:
    """Check compatibility, then seed and build the agent's modules (no training)."""
    combo = check_compatibility(recipe, registry or default_registry())
    settings = recipe.settings
    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    seed_everything(settings.seed)
    return Agent.build(
        recipe.instantiate(), combo.observation_space, combo.action_space, resolve_device(settings.device), settings.env
    )


def train(
    recipe: Recipe,
    run_dir: Path | None = None,
    registry: Registry | None = None,
    resume: dict | None = None,
    loggers: Sequence[Logger] = (),
) -> tuple[Agent, Run]:
    """Train ``recipe``; with ``run_dir`` the resolved recipe, metrics and checkpoints are written there.
    ``resume`` is a checkpoint of this run (see ``load_for_resume``) to continue from; ``loggers`` get
    every row besides the recipe's own."""
    agent = build_agent(recipe, registry)
    run = Run(recipe, run_dir, loggers=[*(agent.components.get("logger") or []), *loggers], resume=resume)
    run_training(agent.components["trainer"], agent, run)
    return agent, run


def load_for_resume(run_dir: Path, overrides: list[str] | None = None, registry: Registry | None = None) -> tuple[Recipe, dict]:
    """The recipe and checkpoint of ``run_dir``, ready for ``train(recipe, run_dir, resume=checkpoint)``.
    Overrides may change the recipe (e.g. ``trainer.total_steps`` to train longer)."""
    checkpoint_path = run_dir / CHECKPOINT_FILE
    if not checkpoint_path.is_file():
        raise PgkitError(f"cannot resume {run_dir}: it has no {CHECKPOINT_FILE}")
    checkpoint = load_checkpoint(checkpoint_path)
    document = apply_overrides(checkpoint["recipe"], overrides or [], source=str(checkpoint_path))
    recipe = resolve(document, registry or default_registry(), source=str(checkpoint_path))
    return recipe, checkpoint
