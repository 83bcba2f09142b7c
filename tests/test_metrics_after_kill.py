"""kill -9 at every write of a resume's metrics cut (issue 27, item 5): metrics.csv ends consistent whatever the
moment, its rows strictly increasing in step and none lost up to the checkpoint, and a later resume goes on
from there. The kills are real SIGKILLs, sent by the process to itself just before the chosen write (a truncate,
or a write of rows) of the csv logger, or half-way through one (a torn write)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

RECIPE = Path(__file__).parent.parent / "recipes" / "cartpole-ppo.yaml"
SETTINGS = ["trainer.steps_per_env=8", "trainer.minibatch_size=64", "trainer.epochs=1", "checkpoint_every=128", "logger=[csv]"]
LAUNCHER = '''
import os, signal, sys
import pgkit.builtins.loggers.csv as logger
calls, kill_at, torn = [0], int(os.environ["KILL_AT"]), os.environ.get("TORN") == "1"
def due():
    calls[0] += 1
    return calls[0] == kill_at
truncate = os.truncate
def killing_truncate(path, length):
    if due():
        os.kill(os.getpid(), signal.SIGKILL)
    truncate(path, length)
os.truncate = killing_truncate
class KillingFile:
    def __init__(self, handle):
        self._handle = handle
    def write(self, text):
        if due():
            if torn:
                self._handle.write(text[: len(text) // 2]); self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return self._handle.write(text)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._handle.close()
    def __getattr__(self, name):
        return getattr(self._handle, name)
logger.open = lambda *args, **kwargs: KillingFile(open(*args, **kwargs))
from pgkit.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


def steps_of(folder: Path) -> list[int]:
    with open(folder / "metrics.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows and rows[0][0] == "step", rows[:1]
    return [int(row[0]) for row in rows[1:] if row and row[0].isdigit()]


def pgkit_killed_at(launcher: Path, argv: list[str], kill_at: int, torn: bool = False) -> int:
    env = {**os.environ, "KILL_AT": str(kill_at), "TORN": "1" if torn else "0"}
    return subprocess.run([sys.executable, str(launcher), *argv], env=env, capture_output=True, timeout=300).returncode


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> tuple[Path, Path, int]:
    """A run killed -9 before its 8th row: one row logged past its last checkpoint, which a resume must cut."""
    root = tmp_path_factory.mktemp("kill")
    launcher = root / "launcher.py"
    launcher.write_text(LAUNCHER)
    run = root / "run"
    code = pgkit_killed_at(launcher, ["train", str(RECIPE), "trainer.total_steps=1024", *SETTINGS, "--run-dir", str(run)], kill_at=9)
    assert code == -9
    checkpoint_step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert steps_of(run)[-1] > checkpoint_step  # rows past the checkpoint
    return launcher, run, checkpoint_step


@pytest.mark.parametrize("kill_at, torn", [(1, False), (2, False), (4, False), (2, True), (3, True)],
                         ids=["before-the-cut", "before-row-1", "before-row-3", "torn-row-1", "torn-row-2"])
def test_a_kill_during_a_resume_leaves_metrics_consistent(interrupted, tmp_path, kill_at, torn):
    launcher, original, checkpoint_step = interrupted
    run = tmp_path / "run"
    shutil.copytree(original, run)
    kept = [step for step in steps_of(original) if step <= checkpoint_step]
    code = pgkit_killed_at(launcher, ["train", "--resume", str(run)], kill_at, torn)
    assert code == -9
    for attempt in ("after the kill", "after a clean resume"):
        steps = steps_of(run)
        assert all(b > a for a, b in zip(steps, steps[1:])), (attempt, steps)
        assert steps[: len(kept)] == kept, (attempt, steps, kept)  # nothing lost up to the checkpoint
        if attempt == "after the kill":
            assert subprocess.run([sys.executable, "-m", "pgkit.cli", "train", "--resume", str(run)], capture_output=True, timeout=300).returncode == 0
    assert steps_of(run)[-1] == 1024
    assert (run / "metrics.csv").read_bytes().endswith(b"\n")
