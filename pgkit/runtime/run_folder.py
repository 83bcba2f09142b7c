"""Claiming a run folder: one writer at a time, and never an existing run replaced by accident.

A run holds an exclusive ``flock`` on RUN_DIR/.lock while it writes the folder; the kernel releases it
when the process ends however it ends (kill -9 included), so a lock is never stale. A new run refuses a
folder that holds a run unless told to replace it, and refuses to empty a folder that is not a run."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from pgkit.errors import PgkitError

LOCK_FILE = ".lock"
RUN_FILES = ("recipe.yaml", "checkpoint.pt", "metrics.csv")  # any one marks a folder as a pgkit run


class RunFolderLock:
    """The exclusive lock of one run folder; ``release`` (or process exit) gives it up."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise PgkitError(f"{self.folder} is in use by another pgkit run (pid {holder}); wait for it to end, or choose another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def holds_a_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def claim_run_folder(folder: Path, resuming: bool, replace: bool = False) -> RunFolderLock:
    """Lock ``folder`` (made if missing) for a run. A new run (not ``resuming``) needs it empty or new, or
    ``replace`` to delete the run it holds; a folder with other files is never emptied."""
    if folder.exists() and not folder.is_dir():
        raise PgkitError(f"{folder} is a file, not a run folder; choose a folder for the run")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = RunFolderLock(folder)
        lock.acquire()
    except OSError as exc:
        raise PgkitError(f"cannot use {folder} as a run folder: {exc.strerror or exc}") from None
    others = [entry for entry in folder.iterdir() if entry.name != LOCK_FILE]
    if resuming or not others:
        return lock
    if not holds_a_run(folder):
        lock.release()
        raise PgkitError(f"{folder} holds other files and is not a pgkit run; choose a new or empty folder for the run")
    if not replace:
        lock.release()
        raise PgkitError(
            f"{folder} holds a run already; resume it with `pgkit train --resume {folder}`, choose another folder, "
            "or replace it with --force"
        )
    for entry in others:
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return lock
