"""Kind ``logger``: where metrics go."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from pgkit.kinds.component import Component


def _inside_run_folder(value: str) -> str:
    parts = PurePosixPath(value).parts
    if not value or value.startswith(("/", "~")) or ".." in parts or re.search(r"[\x00-\x1f\x7f\\]", value):
        raise ValueError("must be a relative path inside the run folder: no leading '/' or '~', no '..', no '\\' or control characters")
    if not parts:
        raise ValueError("must name a file or folder inside the run folder, not the run folder itself (e.g. metrics.csv)")
    return value


RunFolderPath = Annotated[str, StringConstraints(min_length=1), AfterValidator(_inside_run_folder)]
"""A spec field for a file or folder a logger writes: relative, and never outside the run folder (a resumed
run takes it from the checkpoint's recipe, which must not write elsewhere)."""


class Logger(Component):
    """Receives one dict of scalar metrics per training iteration."""

    kind = "logger"

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        """Called once before training; ``run_dir`` is None when the run keeps no files;
        ``start_step`` > 0 when a run resumes (append, do not start over)."""

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` at environment step ``step``."""

    def close(self) -> None:
        """Called once after training, also when it stopped early."""
