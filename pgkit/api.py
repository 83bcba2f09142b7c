"""The Python API: train an agent from a recipe, load a trained one, act with it.

    import pgkit

    agent = pgkit.train("recipes/cartpole-ppo.yaml", overrides=["trainer.total_steps=50000"], run_dir="runs/ppo")
    agent = pgkit.load("runs/ppo")                      # a run folder or a checkpoint file (best.pt too)
    action, _ = agent.predict(obs)                      # one observation or a batch; the policy's mode
    pgkit.export("runs/ppo", "runs/ppo/policy.onnx")    # ONNX, or TorchScript for any other suffix
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import apply_overrides, load_recipe, resolve
from pgkit.runtime.export import export_policy
from pgkit.runtime.loading import load_agent
from pgkit.runtime.training import on_env_factory, train as train_recipe


def train(
    recipe: str | Path | dict[str, Any],
    overrides: list[str] | None = None,
    env: Callable[[], gym.Env] | None = None,
    run_dir: str | Path | None = None,
    registry: Registry | None = None,
    replace: bool = False,
) -> Agent:
    """Train from a recipe file or a recipe document (a dict, as the YAML would read), with ``key=value``
    overrides as on the command line; ``env`` is an optional factory of the environment to train on
    (in place of the recipe's ``env.id``). With ``run_dir`` the run's files go there (recipe.yaml,
    metrics.csv, checkpoint.pt), as ``pgkit train --run-dir`` writes them; a folder that holds a run is
    refused unless ``replace`` (``--force``). Returns the trained agent."""
    registry = registry or default_registry()
    if isinstance(recipe, dict):
        resolved = resolve(apply_overrides(recipe, overrides or [], source="recipe"), registry)
    elif isinstance(recipe, (str, Path)):
        resolved = load_recipe(recipe, overrides, registry)
    else:
        raise PgkitError(f"recipe must be a path or a dict, got {type(recipe).__name__}")
    if env is not None:
        resolved = on_env_factory(resolved, env, registry)
    agent, _ = train_recipe(resolved, Path(run_dir) if run_dir is not None else None, registry, replace=replace)
    return agent


def export(
    path: str | Path, out: str | Path, env: Callable[[], gym.Env] | None = None, registry: Registry | None = None,
    recipe: str | Path | None = None,
) -> Path:
    """Export the agent of a run folder or checkpoint file for deployment: raw observations in, the
    policy's mode out (observation normalization included); ONNX when ``out`` ends in .onnx, TorchScript
    otherwise. ``recipe`` as for ``load``. Returns ``out``."""
    out = Path(out)
    export_policy(load(path, env, registry, recipe), out, "onnx" if out.suffix == ".onnx" else "torchscript")
    return out


def load(
    path: str | Path, env: Callable[[], gym.Env] | None = None, registry: Registry | None = None, recipe: str | Path | None = None
) -> Agent:
    """The agent saved in a run folder or a checkpoint file, ready to ``predict``. ``env`` is the factory
    the run was trained on, if it was trained from one (its spaces rebuild the networks). ``recipe``: the
    run's recipe file, given again in place of the stored one, for a run folder you did not write whose
    stored recipe names code (pgkit refuses to import or call what such a recipe names)."""
    agent, _ = load_agent(Path(path), registry, env, Path(recipe) if recipe is not None else None)
    return agent


__all__ = ["export", "load", "train"]
