"""The resume check: for any recipe (so for any component or trainer in it), a run stopped by a real
SIGINT or SIGTERM and resumed from its checkpoint ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import collections
import csv
import pickle
import signal
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pgkit.errors import TrainingInterrupted
from pgkit.kinds import Logger
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import apply_overrides, read_document, resolve
from pgkit.runtime.checkpoint import load_checkpoint
from pgkit.runtime.run import CHECKPOINT_FILE, METRICS_FILE
from pgkit.runtime.training import load_for_resume, train
from pgkit.testing.contracts.common import assert_same

WALL_CLOCK = ("elapsed", "time", "steps_per_second")  # the only things allowed to differ


class RaiseSignal(Logger):
    """Raises ``signum`` in this process once a row at or after ``step`` is logged (as the OS would deliver it)."""

    name = "raise_signal"

    def __init__(self, signum: int, step: int):
        super().__init__()
        self.signum, self.step, self.raised = signum, step, False

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if step >= self.step and not self.raised:
            self.raised = True
            signal.raise_signal(self.signum)


def check_resume(
    recipe: dict[str, Any] | str | Path,
    registry: Registry | None = None,
    overrides: list[str] | None = None,
    stop_at: int | None = None,
    signum: int = signal.SIGINT,
    workdir: Path | None = None,
) -> None:
    """Train ``recipe`` (a document or a recipe file, with ``key=value`` overrides) uninterrupted; train
    it again, raising ``signum`` at the first logged row at or after ``stop_at`` steps (default: half
    the budget); resume that run from its checkpoint; and assert that both end with identical
    checkpoints (the agent, every component's and the trainer's state, the RNGs, the environments) and
    identical metrics rows, wall clock aside. Runs in the main thread (signal handlers live there)."""
    registry = registry or default_registry()
    document = read_document(recipe) if isinstance(recipe, (str, Path)) else recipe
    document = apply_overrides(document, [*(overrides or []), "logger=[csv]"])
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        whole, split = Path(folder) / "whole", Path(folder) / "split"
        first = resolve(document, registry, source="check_resume")
        total = first.slots["trainer"].spec.total_steps
        stop_at = total // 2 if stop_at is None else stop_at
        train(first, whole, registry)
        try:
            train(resolve(document, registry, source="check_resume"), split, registry, loggers=[RaiseSignal(signum, stop_at)])
        except TrainingInterrupted as exc:
            assert exc.exit_code == 128 + signum, f"stopped by signal {signum}, the run's exit code should be {128 + signum}, got {exc.exit_code}"
        else:
            raise AssertionError(f"the run was not interrupted: no row was logged from step {stop_at:,} before the end ({total:,}); lower stop_at or log_every")
        resumed, checkpoint = load_for_resume(split, registry=registry)
        assert checkpoint["step"] < total, f"the interrupted run's checkpoint is at step {checkpoint['step']:,}, not before the end"
        train(resumed, split, registry, resume=checkpoint)
        resumed_state, whole_state = load_checkpoint(split / CHECKPOINT_FILE), load_checkpoint(whole / CHECKPOINT_FILE)
        for resumed_envs, whole_envs in zip(_pop_pickled_envs(resumed_state), _pop_pickled_envs(whole_state), strict=True):
            assert _same_objects(resumed_envs, whole_envs, set()), "the resumed run's environments end in another state"
        assert_same(_without_clock(resumed_state), _without_clock(whole_state), "resumed checkpoint")
        assert_same(_rows(split / METRICS_FILE), _rows(whole / METRICS_FILE), "resumed metrics.csv")


def _without_clock(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key not in WALL_CLOCK}


def _pop_pickled_envs(state: dict[str, Any]) -> list[Any]:
    """The checkpoint's environments, unpickled (the same states pickle to different bytes, and so sign
    differently), taken out of it with their signatures."""
    envs = state["context"]["envs"]
    for saved in envs:
        saved.pop("signature", None)
    return [None if saved["pickled"] is None else pickle.loads(saved.pop("pickled")) for saved in envs]


def _same_objects(a: Any, b: Any, seen: set[int]) -> bool:
    """Do two object graphs hold the same values (arrays, RNG states, attributes), whatever their sharing?"""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (list, tuple, collections.deque)):  # a deque: FrameStackObservation's frames
        return len(a) == len(b) and all(_same_objects(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_objects(a[k], b[k], seen) for k in a)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        if id(a) in seen:
            return True
        seen.add(id(a))
        unseeded = ("_np_random",) if isinstance(a, gym.Space) else ()  # seeded from OS entropy on first use, in any run
        return _same_objects({k: v for k, v in vars(a).items() if k not in unseeded}, {k: v for k, v in vars(b).items() if k not in unseeded}, seen)
    return a == b


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in csv.DictReader(handle)]
