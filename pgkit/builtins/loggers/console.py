"""Logger ``console``: a rich progress bar with steps/s and the recent mean return."""

from __future__ import annotations

import math
import time
from pathlib import Path

from pydantic import Field
from rich.console import Console as RichConsole
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pgkit import Spec, hookimpl
from pgkit.kinds import Logger


class ConsoleSpec(Spec):
    line_every_seconds: float = Field(
        10.0, gt=0, description="When the output is not a terminal (CI, a pipe), print a progress line this often."
    )


class Console(Logger):
    """Progress bar on a terminal (steps, steps/s, recent return, time left); plain lines elsewhere."""

    name = "console"
    Spec = ConsoleSpec

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.console = RichConsole(stderr=True)
        self.total_steps = total_steps
        self.last_line = -math.inf
        self.progress = None
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step, status="")
            self.progress.start()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        status = f"{metrics.get('steps_per_second', math.nan):,.0f} steps/s  return {metrics.get('return_mean', math.nan):.1f}"
        if self.progress is not None:
            self.progress.update(self.task, completed=min(step, self.total_steps), status=status)
        elif time.monotonic() - self.last_line >= self.spec.line_every_seconds or step >= self.total_steps:
            self.last_line = time.monotonic()
            self.console.print(f"step {step:,}/{self.total_steps:,}  {status}", highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@hookimpl
def register_loggers(register):
    register(Console)
