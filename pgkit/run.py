"""A training run: the resolved recipe, its folder, its loggers, and where checkpoints go."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from pgkit.agent import Agent
from pgkit.checkpoint import save_checkpoint
from pgkit.errors import TrainingInterrupted
from pgkit.kinds import Logger
from pgkit.recipe import Recipe

RECIPE_FILE = "recipe.yaml"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.csv"


def new_run_dir(recipe: Recipe, root: Path = Path("runs")) -> Path:
    """runs/<name>-<YYYYmmdd-HHMMSS>, with a suffix if that exists already."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{recipe.name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Run:
    """What a trainer needs besides the agent: settings, loggers, and where to save."""

    recipe: Recipe
    run_dir: Path | None
    loggers: list[Logger] = field(default_factory=list)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_checkpoint: tuple[Path, int] | None = None  # (path, step) of the newest checkpoint written

    @property
    def seed(self) -> int:
        return self.recipe.settings.seed

    @property
    def device(self) -> str:
        return resolve_device(self.recipe.settings.device)

    def start(self, total_steps: int) -> None:
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / RECIPE_FILE).write_text(yaml.safe_dump(self.recipe.to_dict(), sort_keys=False))
        for logger in self.loggers:
            logger.start(self.run_dir, total_steps)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.last_metrics = {"steps": float(step), **metrics}
        for logger in self.loggers:
            logger.log(step, metrics)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()

    def save(self, agent: Agent, step: int, extra: dict[str, Any] | None = None) -> Path | None:
        """Write checkpoint.pt (atomically) with the resolved recipe and the agent's weights."""
        if self.run_dir is None:
            return None
        path = self.run_dir / CHECKPOINT_FILE
        state = {"recipe": self.recipe.to_dict(), "step": step, "modules": agent.state_dict(), **(extra or {})}
        save_checkpoint(path, state)
        self.last_checkpoint = (path, step)
        return path

    def save_if_due(self, agent: Agent, step: int, extra: dict[str, Any]) -> None:
        """Checkpoint when ``checkpoint_every`` more steps have passed since the last one."""
        every = self.recipe.settings.checkpoint_every
        last = self.last_checkpoint[1] if self.last_checkpoint else 0
        if every is not None and step - last >= every:
            self.save(agent, step, extra)

    def interrupted(self, agent: Agent, step: int, extra: dict[str, Any]) -> TrainingInterrupted:
        """Save what training reached (after Ctrl-C) and say where it is."""
        path = self.save(agent, step, extra)
        where = f"; checkpoint saved to {path} (evaluate it: pgkit eval {path.parent})" if path else ""
        return TrainingInterrupted(f"interrupted at step {step:,}{where}")

    def describe_last_checkpoint(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written before this"
        path, step = self.last_checkpoint
        return f"the last good checkpoint is {path} (step {step:,})"
