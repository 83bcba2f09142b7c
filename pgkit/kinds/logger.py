"""Kind ``logger``: where metrics go."""

from __future__ import annotations

from pathlib import Path

from pgkit.kinds.component import Component


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
