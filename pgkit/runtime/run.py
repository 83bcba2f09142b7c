"""A training run: the resolved recipe, its folder, its loggers, and where checkpoints go."""

from __future__ import annotations

import os
import pickle
import random
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from pgkit.kinds.agent import Agent
from pgkit.runtime.checkpoint import save_checkpoint
from pgkit.errors import TrainingInterrupted
from pgkit.kinds import Logger
from pgkit.recipe import Recipe

RECIPE_FILE = "recipe.yaml"
CHECKPOINT_FILE = "checkpoint.pt"
ENV_STATE_FILE = "envs.pkl"  # pickled sub-environments, read only by --resume
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
    resume: dict[str, Any] | None = None  # the checkpoint to continue from, if resuming
    stop_requested: bool = False  # set by the first Ctrl-C; trainers stop at the next safe point

    @property
    def seed(self) -> int:
        return self.recipe.settings.seed

    @property
    def device(self) -> str:
        return resolve_device(self.recipe.settings.device)

    @property
    def start_step(self) -> int:
        return int(self.resume["step"]) if self.resume else 0

    def start(self, total_steps: int) -> None:
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / RECIPE_FILE).write_text(yaml.safe_dump(self.recipe.to_dict(), sort_keys=False))
        for logger in self.loggers:
            logger.start(self.run_dir, total_steps, self.start_step)

    def note(self, text: str) -> None:
        """Tell the user something about the run (on stderr)."""
        print(text, file=sys.stderr)

    @contextmanager
    def interrupts_deferred(self):
        """While training: the first Ctrl-C asks the trainer to stop at its next safe point (it then
        saves a checkpoint); a second one interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            self.note("stopping after this iteration to save a checkpoint (Ctrl-C again to quit at once)")

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.last_metrics = {"steps": float(step), **metrics}
        for logger in self.loggers:
            logger.log(step, metrics)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()

    def save(self, agent: Agent, step: int, extra: dict[str, Any] | None = None, envs: object = None) -> Path | None:
        """Write checkpoint.pt (atomically) with the resolved recipe, the agent's weights and ``extra``
        trainer state; with ``envs``, also their pickled sub-environments (for --resume)."""
        if self.run_dir is None:
            return None
        path = self.run_dir / CHECKPOINT_FILE
        if envs is not None:
            self._save_env_state(envs)
        state = {"recipe": self.recipe.to_dict(), "step": step, "modules": agent.state_dict(), **(extra or {})}
        save_checkpoint(path, state)
        self.last_checkpoint = (path, step)
        return path

    def _save_env_state(self, envs) -> None:
        try:
            data = pickle.dumps(envs.envs)
        except Exception:  # async or unpicklable envs: resume restarts them from fresh resets
            (self.run_dir / ENV_STATE_FILE).unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(dir=self.run_dir, prefix=f".{ENV_STATE_FILE}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.run_dir / ENV_STATE_FILE)

    def restore_env_state(self, envs) -> bool:
        """Put the saved sub-environments back into ``envs``; False if none were saved."""
        path = self.run_dir / ENV_STATE_FILE if self.run_dir else None
        if path is None or not path.is_file() or not hasattr(envs, "envs"):
            return False
        saved = pickle.loads(path.read_bytes())  # our own run folder: the user asked to resume it
        if len(saved) != len(envs.envs):
            return False
        envs.envs = saved
        return True

    def save_if_due(self, agent: Agent, step: int, extra: Callable[[], dict[str, Any]], envs: object = None) -> None:
        """Checkpoint when ``checkpoint_every`` more steps have passed since the last one; ``extra()``
        gives the trainer's state and is called only then."""
        every = self.recipe.settings.checkpoint_every
        last = self.last_checkpoint[1] if self.last_checkpoint else self.start_step
        if every is not None and step - last >= every:
            self.save(agent, step, extra(), envs)

    def interrupted(self, agent: Agent, step: int, extra: dict[str, Any], envs: object = None) -> TrainingInterrupted:
        """Save what training reached (after Ctrl-C) and say how to go on."""
        path = self.save(agent, step, extra, envs)
        where = ""
        if path is not None:
            where = f"; checkpoint saved to {path}\nresume with: pgkit train --resume {path.parent}"
        return TrainingInterrupted(f"interrupted at step {step:,}{where}")

    def describe_last_checkpoint(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written before this"
        path, step = self.last_checkpoint
        return f"the last good checkpoint is {path} (step {step:,})"
