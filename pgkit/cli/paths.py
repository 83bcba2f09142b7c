"""Paths the user names on the command line: read as arguments, checked before work that writes to them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pgkit.errors import PgkitError


def path_argument(text: str) -> Path:
    """A path from the command line; the OS cannot take one holding a NUL byte."""
    if "\x00" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL byte")
    return Path(text)


def writable_folder(folder: Path, option: str) -> None:
    """Make ``folder`` (an output folder the user named) or say why it cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise PgkitError(f"{option} {folder} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PgkitError(f"{option} {folder}: cannot make this folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PgkitError(f"{option} {folder}: this folder is not writable")


def writable_file(path: Path, option: str) -> None:
    """Say why the output file ``path`` the user named cannot be written, if it cannot."""
    if path.is_dir():
        raise PgkitError(f"{option} {path} is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise PgkitError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PgkitError(f"{option} {path}: not writable")
