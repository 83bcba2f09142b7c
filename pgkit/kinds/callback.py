"""Kind ``callback``: code the training loop calls after every iteration, with the iteration's metrics
and the agent; it may add metrics to the log and ask training to stop (evaluation during training,
early stopping, experiment trackers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from pgkit.envs.settings import EnvSettings
from pgkit.kinds.agent import Agent
from pgkit.kinds.component import Component, Spec


MAX_EPISODE_STEPS = 100_000  # by default an evaluation episode the env does not end is cut here, so evaluation ends


class EvaluationSpec(Spec):
    """Evaluation during training: ``trainer.eval`` of any trainer, or the ``evaluation`` callback."""

    every: int = Field(10_000, ge=1, description="Environment steps between evaluations (the first after `every` steps).")
    episodes: int = Field(10, ge=1, description="Episodes per evaluation, on a fresh env (the training envs are untouched).")
    seed: int = Field(10_000, ge=0, lt=2**32 - 100_000, description="Seed of the first evaluation episode's reset (episode i: seed + i).")
    deterministic: bool = Field(True, description="Act with the policy's mode (false: sample).")
    stop_at: float | None = Field(None, description="End training once the mean eval return reaches this (null: never).")
    keep_best: bool = Field(True, description="Save the agent with the best mean eval return so far as best.pt in the run folder.")
    max_episode_steps: int = Field(
        MAX_EPISODE_STEPS, ge=1, description="An evaluation episode still running after this many steps is cut there (the env's own time limit comes first)."
    )
    success_rate: bool = Field(
        False, description="Also log eval_success_rate: the fraction of episodes whose last step's info['is_success'] is true (goal envs report it)."
    )


@dataclass(frozen=True)
class Report:
    """What a callback tells the loop after an iteration."""

    metrics: dict[str, float] = field(default_factory=dict)  # logged (the latest value of each stays in later rows)
    stop: str | None = None  # why training should end now: it ends after this iteration, with a checkpoint


@dataclass(frozen=True)
class CallbackRun:
    """What a callback learns of the run when it starts."""

    run_dir: Path | None  # None when the run keeps no files
    recipe: dict[str, Any]  # the resolved recipe, as recipe.yaml holds it
    env: EnvSettings  # the recipe's env settings (to make envs of its own)
    total_steps: int
    start_step: int = 0  # > 0 when the run resumes


class Callback(Component):
    """``after_iteration`` runs after every iteration of every trainer (choose its own cadence by
    ``step``). Its state (attributes, as any component's) is checkpointed and resumed with the run."""

    kind = "callback"

    def metric_names(self) -> tuple[str, ...]:
        """The metrics it may report, so that logs have their columns from the first row (NaN until
        reported). Default: none."""
        return ()

    def start(self, run: CallbackRun) -> None:
        """Called once before the first iteration, after a resumed run's state (its own too) is restored."""

    def after_iteration(self, step: int, metrics: dict[str, float], agent: Agent) -> Report | None:
        """Called after each iteration with the environment steps so far, the iteration's metrics and the
        agent (do not change its parameters). Default: nothing to report."""
        return None

    def close(self) -> None:
        """Called once after training, also when it stopped early."""
