"""Putting it together: recipe -> compatibility check -> agent -> trainer."""

from __future__ import annotations

from pathlib import Path

import torch

from pgkit.agent import Agent
from pgkit.compatibility import check_compatibility
from pgkit.errors import TrainingError
from pgkit.recipe import Recipe
from pgkit.registry import Registry, default_registry
from pgkit.run import Run, resolve_device, seed_everything


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


def train(recipe: Recipe, run_dir: Path | None = None, registry: Registry | None = None) -> tuple[Agent, Run]:
    """Train ``recipe``; with ``run_dir`` the resolved recipe, metrics and checkpoint are written there."""
    agent = build_agent(recipe, registry)
    run = Run(recipe, run_dir, loggers=agent.components.get("logger") or [])
    try:
        agent.components["trainer"].train(agent, run)
    except TrainingError as exc:
        raise TrainingError(f"{exc}\nTraining stopped; {run.describe_last_checkpoint()}.") from None
    return agent, run
