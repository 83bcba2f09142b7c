"""Reading what a run folder holds, validated before any command uses it.

A run folder may have been copied from someone else, edited or damaged. Every command and API call that
reads one (eval, export, plot, variance, resume, ``pgkit.load``, ``pgkit.export``) reads it here, so each
input fails one way: a PgkitError naming the file and what is wrong, never a traceback.

- ``read_checkpoint``: checkpoint.pt or best.pt, with its fields' types checked (recipe, step, weights,
  and for a resume elapsed time, random generators and every part's state).
- ``StoredCheckpoint.recipe``: the recipe to rebuild the run from. A stored recipe is trusted only with
  this user's signature (``pgkit.runtime.signing``); an unsigned or foreign one that names code (its
  ``NamesCode`` fields: env.modules, env.entry_point, a ``module:EnvId`` id, a Ray address) is refused
  before anything is imported, unless the user gives the recipe again from a file (``--recipe FILE``).
- ``read_recipe_file`` and ``read_metrics``: recipe.yaml and metrics.csv, for plots.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pgkit.errors import PgkitError, Problem, RecipeError
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import Recipe, apply_overrides, load_recipe, resolve
from pgkit.recipe.document import read_mapping
from pgkit.recipe.resolve import PROVENANCE_KEYS, SETTINGS_KEYS
from pgkit.runtime.checkpoint import agent_weights, layout_problem, load_checkpoint
from pgkit.runtime.run import CHECKPOINT_FILE, RECIPE_FILE
from pgkit.runtime.signing import document_signed_by_this_user, key_path

MAX_RECIPE_FILE_BYTES = 1 << 20  # a resolved recipe is a few KiB
MAX_METRICS_FIELD = 1 << 20  # a metrics.csv cell is a number
RESUME_FIELDS = {"elapsed": (int, float), "components": dict, "callbacks": list, "trainer": dict, "context": dict, "rng": dict}
BUILT_FROM = ("name", "seed", "env", "network", "policy_head", "critic", "baseline")  # what the saved state was built for


class ForeignCodeError(PgkitError):
    """A stored recipe not signed by this user names code; nothing it names was imported or called."""


def checkpoint_file(path: Path) -> Path:
    """The checkpoint of a run folder, or ``path`` itself when it is a file."""
    return path / CHECKPOINT_FILE if path.is_dir() else path


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint file whose fields have the types pgkit writes; ``signed``: its recipe carries this
    user's signature (pgkit wrote it for this user, and nobody changed it since)."""

    path: Path
    state: dict[str, Any]
    signed: bool

    @property
    def step(self) -> int:
        return self.state["step"]

    @property
    def weights(self) -> dict[str, Any]:
        return agent_weights(self.state)

    def recipe(self, registry: Registry | None = None, overrides: list[str] | None = None, recipe_file: Path | None = None) -> Recipe:
        """The recipe to rebuild this run from: the stored one with ``overrides``, or, given ``recipe_file``,
        that file's (which the user vouches for). A resume may change only what the saved state was not built
        for. The stored recipe is used only if it names no code, or if this user signed it."""
        registry = registry or default_registry()
        stored = self.state["recipe"]
        if recipe_file is not None:
            recipe = load_recipe(recipe_file, overrides, registry)
            _refuse_unchangeable(stored, recipe.to_dict(), str(recipe_file), same_name=False)
            return recipe
        document = apply_overrides(stored, overrides or [], source=str(self.path))
        _refuse_unchangeable(stored, document, str(self.path))  # what the overrides changed (a newer default is no change)
        recipe = resolve(document, registry, source=str(self.path))
        named = recipe.named_code()
        if named and not self.signed:
            listed = "\n".join(f"  {code}" for code in named)
            raise ForeignCodeError(
                f"{self.path}: its stored recipe is not signed with your key ({key_path()}): it was written by another user or "
                "machine or by an older pgkit, or altered since. It names code that pgkit would import or run:\n"
                f"{listed}\npgkit imports and calls nothing that a recipe it did not see you write names; nothing was run.\n"
                "    fix: if you trust this run, give its recipe again from a file you trust with --recipe FILE "
                "(pgkit.load(path, recipe=FILE) in Python); `pgkit check FILE` first shows what that file names"
            )
        return recipe

    def check_resumable(self) -> None:
        """Refuse a checkpoint without the training state a resume restores, or with fields of other types."""
        if self.state["format"] < 2:
            raise PgkitError(f"{self.path} was written by pgkit 0.1, whose checkpoints hold no trainer or component state; "
                             "it can be evaluated but not resumed")
        for name, kind in RESUME_FIELDS.items():
            value = self.state.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise PgkitError(f"{self.path}: field '{name}' is {_kind(value)}, not what pgkit writes there; the checkpoint "
                                 "cannot be resumed (it is damaged, or not a training checkpoint: best.pt holds the agent only)")
        if not (math.isfinite(self.state["elapsed"]) and self.state["elapsed"] >= 0):
            raise PgkitError(f"{self.path}: field 'elapsed' is {self.state['elapsed']!r}, not a time in seconds; the checkpoint cannot be resumed")
        problem = _rng_problem(self.state["rng"])
        if problem is not None:
            raise PgkitError(f"{self.path}: field 'rng' does not hold the random generators' state ({problem}); the checkpoint cannot be resumed")


def read_checkpoint(path: Path) -> StoredCheckpoint:
    """The checkpoint at ``path`` (a file, or a run folder's checkpoint.pt), its fields' types checked."""
    path = checkpoint_file(path)
    state = load_checkpoint(path)
    recipe = state["recipe"]
    if not isinstance(recipe, dict) or not all(isinstance(key, str) for key in recipe):
        raise PgkitError(f"{path}: its stored recipe is {_kind(recipe)}, not a recipe; the checkpoint is damaged")
    where = _not_plain_data(recipe, "recipe")
    if where is not None:
        raise PgkitError(f"{path}: its stored recipe holds {where}, not a value a recipe has; the checkpoint is damaged")
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise PgkitError(f"{path}: field 'step' is {step!r}, not a step count; the checkpoint is damaged")
    weights = state.get("agent" if state["format"] >= 2 else "modules")
    if not isinstance(weights, dict):
        raise PgkitError(f"{path}: it holds no agent weights (found {_kind(weights)}); the checkpoint is damaged")
    return StoredCheckpoint(path, state, document_signed_by_this_user(recipe, state.get("recipe_signature")))


def load_weights(agent: Any, stored: StoredCheckpoint) -> None:
    """Put the checkpoint's weights into ``agent`` (built from its recipe), or say why they do not fit."""
    problem = layout_problem(stored.state, agent.observation_space)
    if problem is not None:
        raise PgkitError(f"{stored.path}: {problem}")
    try:
        agent.load_state_dict(stored.weights)
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:600]
        raise PgkitError(f"{stored.path}: its agent's weights do not fit the agent its recipe builds ({type(exc).__name__}: {reason}); "
                         "the checkpoint was altered, or its recipe was") from None


def _refuse_unchangeable(stored: dict[str, Any], document: dict[str, Any], source: str, same_name: bool = True) -> None:
    """What a resumed or reloaded run cannot take from ``document`` over the ``stored`` recipe: what the saved
    state was built for, and any component's type (the loggers aside, which hold no state). A recipe given
    again from a file may have another name (a file's name is its default)."""
    problems = []
    for key in sorted(set(stored) | set(document), key=str):
        if key == "name" and not same_name:
            continue
        before, after = _plain(stored.get(key)), _plain(document.get(key))
        if before == after:
            continue
        types = [value.get("type") if isinstance(value, dict) else value for value in (before, after)]
        if key in BUILT_FROM or (key not in SETTINGS_KEYS and key != "logger" and types[0] != types[1]):
            problems.append(Problem(
                key, "cannot change when resuming or reloading a run: the checkpoint's state was built for the run as it was",
                "start a new run to change it (pgkit train RECIPE ...); a resume may change the budget, the optimizer's, "
                "objective's and advantage's parameters, trainer.eval, the loggers and checkpoint_every",
            ))
    if problems:
        raise RecipeError(source, problems)


def _plain(value: Any) -> Any:
    """A recipe value without the plugin and version each component records (a newer plugin is the same
    component), and with tuples as lists (as JSON and YAML keep them)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key not in PROVENANCE_KEYS}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _rng_problem(state: dict[str, Any]) -> str | None:
    """Why ``state`` is not what ``pgkit.runtime.loop.rng_state`` saves, found by loading it into throwaway
    generators (the global ones stay as they are); None if it loads."""
    try:
        random.Random().setstate(state["python"])
        name, keys, position, has_gauss, cached = state["numpy"]
        if not isinstance(keys, torch.Tensor):
            return "numpy's keys are not a tensor"
        np.random.RandomState().set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        torch.Generator().set_state(state["torch"])
        cuda = state["cuda"]
        if cuda is not None and not (isinstance(cuda, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in cuda)):
            return "CUDA's states are not tensors"
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return None


def _not_plain_data(value: Any, where: str) -> str | None:
    """Where in ``value`` something other than a recipe's plain data (mappings with string keys, lists,
    strings, numbers, booleans, None) sits, with what it is; None if it is all plain data."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_plain_data(item, f"{where}.{key}") if isinstance(key, str) else f"a {type(key).__name__} key at {where}"
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        return next((found for index, item in enumerate(value) if (found := _not_plain_data(item, f"{where}[{index}]"))), None)
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    return f"a {type(value).__name__} at {where}"


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def read_recipe_file(run_dir: Path) -> dict[str, Any]:
    """A run folder's recipe.yaml as a mapping, read as recipes are (safely, bounded), or a PgkitError."""
    path = run_dir / RECIPE_FILE
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PgkitError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size > MAX_RECIPE_FILE_BYTES:
        raise PgkitError(f"{path}: {size:,} bytes, too large for a recipe pgkit wrote (at most {MAX_RECIPE_FILE_BYTES:,})")
    try:
        return read_mapping(path)  # as written: an `extends` in it is not followed
    except RecipeError as exc:
        raise PgkitError(f"{path} is not a recipe pgkit can read: {exc.problems[0].message}") from None


def recipe_label(document: dict[str, Any], run_dir: Path) -> tuple[str, str]:
    """(name, env id) of a recipe document, for grouping runs; the folder's name and "?" where a field is
    missing or not a string."""
    name = document.get("name")
    env = document.get("env")
    env_id = env.get("id") if isinstance(env, dict) else None
    return (name if isinstance(name, str) and name else run_dir.name), (env_id if isinstance(env_id, str) and env_id else "?")


def read_metrics(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The ``columns`` of a metrics.csv (the first must be there: step) as float arrays, rows in file order;
    an unreadable file (not UTF-8, NUL bytes, an over-long field, no such column, a value that is not a
    number) is a PgkitError naming the file and line."""
    if not path.is_file():
        raise PgkitError(f"{path}: no such file")
    values: dict[str, list[float]] = {column: [] for column in columns}
    field_limit = csv.field_size_limit()
    try:
        csv.field_size_limit(MAX_METRICS_FIELD)
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in columns[:1] if column not in header]
            if missing:
                raise PgkitError(f"{path}: no '{missing[0]}' column (its columns: {', '.join(map(repr, header[:12])) or 'none'}); not a metrics.csv pgkit wrote")
            for row in reader:
                for column in columns:
                    cell = row.get(column)
                    values[column].append(_number(cell, path, reader.line_num, column))
    except UnicodeDecodeError as exc:
        raise PgkitError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start:,}); not a metrics.csv pgkit wrote") from None
    except csv.Error as exc:
        raise PgkitError(f"{path}: not a readable CSV file ({exc}); not a metrics.csv pgkit wrote") from None
    except OSError as exc:
        raise PgkitError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    finally:
        csv.field_size_limit(field_limit)
    return {column: np.array(cells, dtype=float) for column, cells in values.items()}


def _number(cell: str | None, path: Path, line: int, column: str) -> float:
    """A cell as a float; an empty or missing cell (a metric not logged in that row) is NaN."""
    if cell is None or cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise PgkitError(f"{path}, line {line}: column '{column}' holds {cell[:40]!r}, not a number") from None


__all__ = ["ForeignCodeError", "StoredCheckpoint", "checkpoint_file", "load_weights", "read_checkpoint", "read_metrics",
           "read_recipe_file", "recipe_label"]
