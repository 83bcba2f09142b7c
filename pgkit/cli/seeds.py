"""Training one seed of a multi-seed sweep in a worker process."""

from __future__ import annotations

from pathlib import Path

from pgkit.runtime.evaluation import evaluate
from pgkit.recipe import load_recipe
from pgkit.runtime.training import train

EVAL_EPISODES = 10


def train_one_seed(recipe_path: str, overrides: list[str], seed: int, run_dir: str) -> tuple[float, float]:
    """Train ``recipe_path`` with ``seed`` into ``run_dir`` (no progress bar), then evaluate the mode of the
    policy; returns (mean, std) of the eval returns."""
    recipe = load_recipe(recipe_path, [*overrides, f"seed={seed}"])
    loggers = tuple(choice for choice in recipe.slots.get("logger") or () if choice.registration.name != "console")
    recipe = type(recipe)(recipe.source, recipe.settings, {**recipe.slots, "logger": loggers})
    agent, _ = train(recipe, Path(run_dir))
    result = evaluate(agent, recipe.settings.env, EVAL_EPISODES, seed=10_000 + seed)
    return result.mean, result.std
