"""A benchmark suite file: which recipes to train on which seeds, and how to score each task.

    seeds: 5                      # seeds 0-4, or a list: [0, 1, 2]
    eval_episodes: 20             # the final policy's mode, evaluated on seeds 10,000 + seed onwards
    checkpoint_every: 50000       # each run's checkpoints: what a kill can cost
    tasks:
      cartpole-ppo:
        recipe: ../recipes/cartpole-ppo.yaml   # relative to the suite file
        overrides: [trainer.total_steps=100000]
        random: 22.0              # a random policy's score: normalised 0
        reference: 500.0          # normalised 1 (the task's best score, or a published one)
        published: {score: 500, source: "rl-baselines3-zoo benchmark.md, 1e5 steps"}

The file is read as YAML data only (nothing in it is run); a wrong field is named with its path and fix."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pgkit.errors import Problem, RecipeError
from pgkit.recipe.document import read_mapping
from pgkit.recipe.resolve import pydantic_problems
from pgkit.recipe.settings import MAX_SEED

MAX_SEEDS = 1000


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    score: float = Field(description="The published score of the same algorithm at the same budget.")
    source: str = Field(min_length=1, description="Where it is published (table or curve, and the step count read).")


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    recipe: Path = Field(description="The recipe file, relative to the suite file (or absolute).")
    overrides: tuple[str, ...] = Field((), description="Recipe overrides as key=value, as `pgkit train` takes them.")
    random: float | None = Field(None, description="The score of a uniformly random policy: normalised score 0 (with reference).")
    reference: float | None = Field(None, description="The score normalised to 1 (with random): the task's best, or a published score.")
    published: Published | None = Field(None, description="The published figure to compare with: {score, source}.")

    @model_validator(mode="after")
    def _normalisation(self) -> Task:
        if (self.random is None) != (self.reference is None):
            raise ValueError("give random and reference together (they fix the normalised scores 0 and 1), or neither")
        if self.random is not None and self.random == self.reference:
            raise ValueError(f"random and reference are both {self.random}: the normalised score would divide by zero")
        return self

    def normalised(self, score: float) -> float | None:
        """(score - random) / (reference - random), or None without a normalisation."""
        if self.random is None or self.reference is None:
            return None
        return (score - self.random) / (self.reference - self.random)


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seeds: int | tuple[int, ...] = Field(5, description=f"How many seeds (0..N-1, N <= {MAX_SEEDS}), or a list of distinct seeds.")
    eval_episodes: int = Field(20, ge=1, le=100_000, description="Episodes of the final evaluation (the policy's mode).")
    checkpoint_every: int | None = Field(
        50_000, ge=1, description="Environment steps between each run's checkpoints, so a killed suite loses at most this much of a run "
        "(set on every task's recipe); null: each recipe's own."
    )
    tasks: dict[str, Task] = Field(min_length=1, description="The tasks by name: each a recipe with its overrides and scoring.")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: int | tuple[int, ...]) -> int | tuple[int, ...]:
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEEDS:
                raise ValueError(f"a seed count from 1 to {MAX_SEEDS}")
        elif not seeds or len(set(seeds)) != len(seeds) or not all(0 <= s <= MAX_SEED for s in seeds):
            raise ValueError(f"distinct seeds from 0 to {MAX_SEED}, at least one")
        return seeds

    @field_validator("tasks")
    @classmethod
    def _names(cls, tasks: dict[str, Task]) -> dict[str, Task]:
        for name in tasks:
            if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
                raise ValueError(f"task name {name!r}: use letters, digits, '-', '_' and '.' (it names the task's run folders)")
        return tasks

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.seeds)) if isinstance(self.seeds, int) else self.seeds


def load_suite(path: Path) -> Suite:
    """The suite in the YAML file at ``path``, its recipe paths made absolute (relative ones are read from the
    suite file's folder), or a RecipeError naming every problem."""
    document = read_mapping(path)
    try:
        suite = Suite.model_validate(document)
    except ValidationError as exc:
        raise RecipeError(str(path), pydantic_problems(exc, "", Suite, "the suite")) from None
    tasks = {name: task.model_copy(update={"recipe": (path.parent / task.recipe).resolve()}) for name, task in suite.tasks.items()}
    missing = [Problem(f"tasks.{name}.recipe", f"no recipe file at {task.recipe}", "paths are relative to the suite file")
               for name, task in tasks.items() if not task.recipe.is_file()]
    if missing:
        raise RecipeError(str(path), missing)
    return suite.model_copy(update={"tasks": tasks})
