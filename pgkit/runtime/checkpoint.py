"""Checkpoint files: plain dicts of tensors and primitives, loadable with ``torch.load(weights_only=True)``.

One file holds everything a resume needs (weights, every component's and the trainer's state, RNG
states, the environments), written atomically, so a checkpoint is always one consistent set. Its recipe
is signed with this user's key (``pgkit.runtime.signing``); ``pgkit.runtime.stored_run`` reads and
validates checkpoints for every command."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from pgkit.data import index_columns, is_structured
from pgkit.errors import PgkitError
from pgkit.runtime.signing import sign_document

FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)  # format 1 (pgkit 0.1) holds the agent's weights under "modules"
INDEX_ROWS_FORMAT = 3  # from format 3, Dict and Tuple observations are stored with class indices, not one-hot


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (its recipe signed) atomically: a temporary file in the same folder, flushed and fsynced, then renamed over
    ``path``, so that a kill or a full disk at any moment leaves the previous checkpoint whole. A write
    that fails (a full disk, a read-only folder) is a PgkitError naming the file and the cause."""
    if "recipe" in state:
        state = {**state, "recipe_signature": sign_document(state["recipe"])}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FORMAT_VERSION, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as a RuntimeError of its zip writer
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise PgkitError(f"could not write {path}: {write_failure(exc, path.parent)}") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_failure(exc: BaseException, folder: Path) -> str:
    """Why writing into ``folder`` failed, in words: the OS's reason, and the free space left there."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())[:200]
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return reason
    return f"{reason} ({free / 2**20:,.1f} MiB free on that disk)"


def save_agent(path: Path, agent_state: dict[str, Any], recipe: dict[str, Any], step: int) -> None:
    """A checkpoint of the agent alone (no training state), which ``pgkit eval`` and ``pgkit.load`` read
    (e.g. best.pt); it cannot be resumed."""
    save_checkpoint(path, {"recipe": recipe, "step": step, "agent": agent_state})


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PgkitError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PgkitError(f"{path} is not a readable pgkit checkpoint: {type(exc).__name__}: {exc}") from None
    version = state.get("format") if isinstance(state, dict) else None
    if type(version) is not int or version not in READABLE_FORMATS or "recipe" not in state:
        raise PgkitError(f"{path} is not a pgkit checkpoint (format {', '.join(map(str, READABLE_FORMATS))})")
    return state


def agent_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The agent's state (modules and normalizer) in a checkpoint of any readable format."""
    return state["agent"] if state["format"] >= 2 else state["modules"]


def layout_problem(state: dict[str, Any], observation_space: Any) -> str | None:
    """Why this pgkit would misread the observations a checkpoint's state was built on, or None: before format 3,
    Dict and Tuple observations held their Discrete parts one-hot (normalizer statistics, replay rows)."""
    if state["format"] >= INDEX_ROWS_FORMAT or not is_structured(observation_space) or not index_columns(observation_space):
        return None
    return (f"it was written by a pgkit that stored the Discrete parts of {observation_space} one-hot (checkpoint format "
            f"{state['format']}), and this one stores their class indices; train the run again, or read it with the pgkit that wrote it")
