"""Putting it together: recipe -> compatibility check -> agent -> the training loop."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from pgkit.data import check_memory
from pgkit.envs.factories import register_env_factory
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.kinds.logger import Logger
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import Recipe, resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.allocations import allocations_of
from pgkit.runtime.loop import run_training
from pgkit.runtime.run import CHECKPOINT_FILE, Run, resolve_device
from pgkit.runtime.stored_run import read_checkpoint


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
    device = resolve_device(settings.device)
    with allocations_of("the agent's networks", "make network.hidden_sizes (and the critic's) smaller"):
        if torch.device(device).type == "cpu":
            check_memory(TRAINING_COPIES * _parameter_bytes(recipe, combo), "the agent's parameters, gradients and optimizer moments")
        seed_everything(settings.seed)
        return Agent.build(recipe.instantiate(), combo.observation_space, combo.action_space, device, settings.env)


TRAINING_COPIES = 4  # parameters, gradients and Adam's two moments


def _parameter_bytes(recipe: Recipe, combo) -> int:
    """Bytes of the agent's parameters, from a build on torch's meta device (shapes only, no memory)."""
    try:
        with torch.device("meta"):
            agent = Agent.build(recipe.instantiate(), combo.observation_space, combo.action_space, "meta", recipe.settings.env)
    except Exception:  # a component that cannot be built without data: no estimate, no check
        return 0
    return sum(p.numel() * p.element_size() for p in agent.parameters())


def train(
    recipe: Recipe,
    run_dir: Path | None = None,
    registry: Registry | None = None,
    resume: dict | None = None,
    loggers: Sequence[Logger] = (),
    replace: bool = False,
) -> tuple[Agent, Run]:
    """Train ``recipe``; with ``run_dir`` the resolved recipe, metrics and checkpoints are written there
    (a folder that holds a run already is refused unless ``replace``). ``resume`` is a checkpoint of this
    run (see ``load_for_resume``) to continue from; ``loggers`` get every row besides the recipe's own."""
    agent = build_agent(recipe, registry)
    run = Run(recipe, run_dir, loggers=[*(agent.components.get("logger") or []), *loggers], resume=resume, replace=replace)
    run_training(agent.components["trainer"], agent, run)
    return agent, run


def load_for_resume(
    run_dir: Path, overrides: list[str] | None = None, registry: Registry | None = None, fresh_envs: bool = False,
    recipe_file: Path | None = None,
) -> tuple[Recipe, dict]:
    """The recipe and checkpoint of ``run_dir``, ready for ``train(recipe, run_dir, resume=checkpoint)``;
    a finished run is refused. Overrides may change the recipe (e.g. ``trainer.total_steps`` to train longer).
    ``fresh_envs`` drops the environments' saved state, so they restart from new resets: for a checkpoint that
    another user or machine wrote, whose env state pgkit will not unpickle (see ``pgkit.runtime.signing``).
    ``recipe_file`` gives the run's recipe again from a file the user trusts, for a stored recipe that names
    code and is not signed by this user (see ``pgkit.runtime.stored_run``)."""
    if not (run_dir / CHECKPOINT_FILE).is_file():
        raise PgkitError(f"cannot resume {run_dir}: it has no {CHECKPOINT_FILE}")
    stored = read_checkpoint(run_dir / CHECKPOINT_FILE)
    stored.check_resumable()
    recipe = stored.recipe(registry, overrides, recipe_file)
    checkpoint = stored.state
    saved_envs = checkpoint["context"].get("envs")
    if fresh_envs and isinstance(saved_envs, list):
        for envs in saved_envs:
            if isinstance(envs, dict):
                envs["pickled"] = None
    total = recipe.slots["trainer"].spec.total_steps
    if checkpoint["step"] >= total:
        raise PgkitError(f"the run in {run_dir} is finished ({checkpoint['step']:,} of {total:,} steps); "
                         f"to train longer: pgkit train --resume {run_dir} trainer.total_steps=N")
    return recipe, checkpoint
