"""Logger ``csv``: one row of metrics per iteration in the run folder's metrics.csv."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO

from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.errors import PgkitError
from pgkit.kinds import Logger, RunFolderPath


class CSVSpec(Spec):
    filename: RunFolderPath = Field("metrics.csv", description="File inside the run folder (subfolders are made).")


class CSV(Logger):
    """Writes every logged metric to a CSV file in the run folder (columns fixed by the first row). The file
    is only ever appended to: a resumed run cuts off the rows logged after its checkpoint (work that is
    being redone) and appends, so a kill at any moment loses no row before the checkpoint."""

    name = "csv"
    Spec = CSVSpec

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.file: IO[str] | None = None
        self.writer: csv.DictWriter | None = None
        if run_dir is None:
            return
        path = run_dir / self.spec.filename
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fields = _cut_after(path, start_step) if start_step and path.is_file() else None
            self.file = open(path, "a" if fields else "w", newline="")
        except OSError as exc:  # e.g. a folder where the file should be
            raise PgkitError(f"logger csv: cannot write {path}: {exc.strerror or exc}; choose another filename") from None
        if fields:
            self.writer = csv.DictWriter(self.file, fieldnames=fields, extrasaction="ignore")

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


def _cut_after(path: Path, step: int) -> list[str] | None:
    """Truncate ``path`` after its last row at or before ``step``; its columns, or None if it has no header
    (an empty file is then written afresh)."""
    with open(path, "rb") as handle:
        header = handle.readline()
        fields = next(csv.reader([header.decode("utf-8", "replace")]), [])
        if not fields or fields[0] != "step":
            return None
        keep = handle.tell()
        for line in iter(handle.readline, b""):
            first = line.split(b",", 1)[0]
            if not first.strip().isdigit() or int(first) > step or not line.endswith(b"\n"):
                break
            keep = handle.tell()
    os.truncate(path, keep)
    return fields


@hookimpl
def register_loggers(register):
    register(CSV)
