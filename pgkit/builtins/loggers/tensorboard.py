"""Logger ``tensorboard``: scalars for TensorBoard (needs the tensorboard extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import Logger, RunFolderPath


class TensorBoardSpec(Spec):
    folder: RunFolderPath = Field("tensorboard", description="Event-file folder inside the run folder (tensorboard --logdir RUN_DIR).")


class TensorBoard(Logger):
    """Writes every metric as a TensorBoard scalar against environment steps."""

    name = "tensorboard"
    Spec = TensorBoardSpec

    def incompatibility(self, combo) -> str | None:
        if importlib.util.find_spec("tensorboard") is None:
            return "needs the tensorboard package: pip install 'pgkit[tensorboard]'"
        return None

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.writer = None
        if run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / self.spec.folder), purge_step=start_step or None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@hookimpl
def register_loggers(register):
    register(TensorBoard)
