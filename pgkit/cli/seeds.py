"""Training one seed of a multi-seed sweep in a worker process."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from pgkit.kinds.logger import Logger
from pgkit.recipe import Recipe, load_recipe
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.training import train

EVAL_EPISODES = 10
PROGRESS_LINES = 10  # per seed: one line each tenth of the budget


class SeedProgress(Logger):
    """One line per tenth of the budget on stderr, e.g. ``seed 2: 30% (90,000 steps), return 187.2``:
    what a multi-seed sweep shows while its workers train."""

    name = "seed_progress"

    def __init__(self, seed: int, label: str | None = None) -> None:
        super().__init__()
        self.seed, self.label = seed, label or f"seed {seed}"
        self.total, self.next_line = 1, 0

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.total = total_steps
        self.next_line = (start_step * PROGRESS_LINES // total_steps + 1) * total_steps / PROGRESS_LINES

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if step < self.next_line:
            return
        self.next_line = (step * PROGRESS_LINES // self.total + 1) * self.total / PROGRESS_LINES
        ret = metrics.get("return_mean", math.nan)
        print(f"{self.label}: {min(step / self.total, 1):.0%} ({step:,} steps), return {ret:.1f}", file=sys.stderr, flush=True)


def without_console(recipe: Recipe) -> Recipe:
    """``recipe`` without its console logger (a progress bar), for runs that report their own way."""
    loggers = tuple(choice for choice in recipe.slots.get("logger") or () if choice.registration.name != "console")
    return type(recipe)(recipe.source, recipe.settings, {**recipe.slots, "logger": loggers})


@dataclass(frozen=True)
class SeedJob:
    """One seed of a sweep: ``recipe_path`` with ``overrides`` and ``seed``, trained into ``run_dir``."""

    recipe_path: str
    overrides: tuple[str, ...]
    seed: int
    run_dir: str
    replace: bool = False


def train_one_seed(job: SeedJob) -> tuple[float, float]:
    """Train ``job``'s recipe with its seed into its run folder (progress lines instead of a progress bar),
    then evaluate the mode of the policy; returns (mean, std) of the eval returns."""
    recipe = without_console(load_recipe(job.recipe_path, [*job.overrides, f"seed={job.seed}"]))
    agent, _ = train(recipe, Path(job.run_dir), loggers=[SeedProgress(job.seed)], replace=job.replace)
    result = evaluate(agent, recipe.settings.env, EVAL_EPISODES, seed=10_000 + job.seed)
    return result.mean, result.std
