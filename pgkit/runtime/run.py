"""A training run: the resolved recipe, its folder, its loggers, and where checkpoints go."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import yaml

from pgkit.errors import PgkitError, TrainingError
from pgkit.kinds.logger import Logger
from pgkit.recipe import Recipe
from pgkit.runtime.checkpoint import save_checkpoint, write_failure
from pgkit.runtime.run_folder import RunFolderLock, claim_run_folder

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


@dataclass
class Run:
    """Where a training run goes: its folder (None keeps no files), its loggers, its checkpoints, and
    the checkpoint it resumes from. The folder is locked from ``start`` to ``close``; ``replace`` lets a
    new run delete a run the folder holds (``--force``)."""

    recipe: Recipe
    run_dir: Path | None
    loggers: list[Logger] = field(default_factory=list)
    resume: dict[str, Any] | None = None  # the checkpoint to continue from, if resuming
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_checkpoint: tuple[Path, int] | None = None  # (path, step) of the newest checkpoint written
    started: bool = False  # the loggers have been started (and so must be closed)
    replace: bool = False
    lock: RunFolderLock | None = None

    @property
    def seed(self) -> int:
        return self.recipe.settings.seed

    @property
    def start_step(self) -> int:
        return int(self.resume["step"]) if self.resume else 0

    def start(self, total_steps: int) -> None:
        if self.run_dir is not None:
            self.lock = claim_run_folder(self.run_dir, resuming=self.resume is not None, replace=self.replace)
            try:
                (self.run_dir / RECIPE_FILE).write_text(yaml.safe_dump(self.recipe.to_dict(), sort_keys=False))
            except OSError as exc:
                raise PgkitError(f"could not write {self.run_dir / RECIPE_FILE}: {write_failure(exc, self.run_dir)}") from None
        for logger in self.loggers:
            logger.start(self.run_dir, total_steps, self.start_step)
        self.started = True

    def note(self, text: str) -> None:
        """Tell the user something about the run (on stderr)."""
        print(text, file=sys.stderr)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.last_metrics = {"steps": float(step), **metrics}
        try:
            for logger in self.loggers:
                logger.log(step, metrics)
        except OSError as exc:  # a full disk, a folder removed under the run
            folder = self.run_dir if self.run_dir is not None else Path.cwd()
            raise TrainingError(f"could not write the run's log: {write_failure(exc, folder)}; {self.describe_last_checkpoint()}") from None

    def close(self) -> None:
        """Close the loggers, once, if they were started; unlock the folder."""
        if self.started:
            self.started = False
            for logger in self.loggers:
                logger.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def save(self, step: int, state: dict[str, Any]) -> Path | None:
        """Write checkpoint.pt (atomically) with the resolved recipe, the step and ``state``."""
        if self.run_dir is None:
            return None
        path = self.run_dir / CHECKPOINT_FILE
        try:
            save_checkpoint(path, {"recipe": self.recipe.to_dict(), "step": step, **state})
        except PgkitError as exc:
            raise TrainingError(f"{exc}; training stopped at step {step:,}, {self.describe_last_checkpoint()}") from None
        self.last_checkpoint = (path, step)
        return path

    def describe_last_checkpoint(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written before this"
        path, step = self.last_checkpoint
        return f"the last good checkpoint is {path} (step {step:,})"
