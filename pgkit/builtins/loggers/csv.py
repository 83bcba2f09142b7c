"""Logger ``csv``: one row of metrics per iteration in the run folder's metrics.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import Logger


class CSVSpec(Spec):
    filename: str = Field("metrics.csv", min_length=1, description="File name inside the run folder.")


class CSV(Logger):
    """Writes every logged metric to a CSV file in the run folder (columns fixed by the first row)."""

    name = "csv"
    Spec = CSVSpec

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.file: IO[str] | None = None
        self.writer: csv.DictWriter | None = None
        if run_dir is None:
            return
        path = run_dir / self.spec.filename
        if start_step and path.is_file():  # resuming: keep the rows up to the checkpoint, append the rest
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                kept = [row for row in reader if int(row["step"]) <= start_step]
                fields = reader.fieldnames or []
            self.file = open(path, "w", newline="")
            self.writer = csv.DictWriter(self.file, fieldnames=fields, extrasaction="ignore")
            self.writer.writeheader()
            self.writer.writerows(kept)
        else:
            self.file = open(path, "w", newline="")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.file is None:
            return
        row = {"step": step, **metrics}
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, fieldnames=list(row), extrasaction="ignore")
            self.writer.writeheader()
        self.writer.writerow(row)
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


@hookimpl
def register_loggers(register):
    register(CSV)
