"""Fault injection: run folders under kills, full disks, planted files, concurrent runs and endless envs.

Each test names the item of issue 17 it covers. Item 3 (SIGTERM) is in test_resume.py
(test_signal_then_resume_from_the_command_line), item 4's loading in test_fuzz_recipes.py, item 7's
inputs in test_cli_inputs.py, item 8's plugins in test_registry.py and test_compatibility.py, item 9 in
test_advantage_components.py."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pgkit.cli.main import main
from pgkit.errors import TrainingError
from pgkit.recipe import load_recipe
from pgkit.runtime.checkpoint import load_checkpoint
from pgkit.runtime.training import train
from pgkit.testing.contracts.common import assert_same
from test_fuzz_recipes import billion_laughs
from test_run_safety import RECIPES, start_training, wait_for_checkpoint

PGKIT = [sys.executable, "-m", "pgkit.cli"]
SMALL = ["trainer.steps_per_env=8", "trainer.complete_episodes=false", "checkpoint_every=16", "logger=[csv]"]  # as start_training


def pgkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command line in a fresh process, which must end within ``timeout`` (a hang fails the test)."""
    return subprocess.run([*PGKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def small_run(folder: Path, total_steps: int = 64) -> Path:
    recipe = load_recipe(RECIPES / "cartpole-reward-to-go.yaml", [*SMALL, f"trainer.total_steps={total_steps}"])
    train(recipe, folder)
    return folder


def rewrite_checkpoint(folder: Path, change) -> None:
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, folder / "checkpoint.pt")


class Planted:
    """A pickle that creates a file when loaded: the code a planted env state would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


# --- item 1: nothing pgkit did not write is unpickled; stored paths stay in the run folder ----------------


@pytest.mark.parametrize("signature", [None, "0" * 64], ids=["unsigned", "forged"])
def test_a_planted_env_state_is_never_unpickled(tmp_path, signature):
    run = small_run(tmp_path / "run")
    marker = tmp_path / "pwned"

    def plant(state):
        state["context"]["envs"][0].update(pickled=pickle.dumps(Planted(marker)), signature=signature)

    rewrite_checkpoint(run, plant)
    result = pgkit("train", "--resume", run, "trainer.total_steps=128")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not signed with your key" in result.stderr and "--fresh-envs" in result.stderr
    assert not marker.exists()
    result = pgkit("train", "--resume", run, "trainer.total_steps=128", "--fresh-envs")
    assert result.returncode == 0, result.stderr
    assert "they restart from fresh resets" in result.stderr and not marker.exists()


def test_a_corrupt_env_state_is_refused_with_the_fix(tmp_path):
    run = small_run(tmp_path / "run")
    rewrite_checkpoint(run, lambda state: state["context"]["envs"][0].update(pickled=b"\x80\x05garbage"))
    result = pgkit("train", "--resume", run, "trainer.total_steps=128")
    assert result.returncode == 2 and "not signed with your key" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("logger", [{"type": "csv", "filename": "OUTSIDE"}, {"type": "tensorboard", "folder": "../outside"}])
def test_paths_in_a_stored_recipe_cannot_leave_the_run_folder(tmp_path, logger):
    run = small_run(tmp_path / "run")
    outside = tmp_path / "outside.csv"
    logger = {key: (str(outside) if value == "OUTSIDE" else value) for key, value in logger.items()}
    rewrite_checkpoint(run, lambda state: state["recipe"].update(logger=[logger]))
    result = pgkit("train", "--resume", run, "trainer.total_steps=128")
    assert result.returncode == 2 and "must be a relative path inside the run folder" in result.stderr
    assert not outside.exists() and not (tmp_path / "outside").exists()


# --- item 2: every save is one consistent set; a kill or a full disk loses only the work since it --------


def final_state(folder: Path) -> dict:
    state = load_checkpoint(folder / "checkpoint.pt")
    return {"agent": state["agent"], "components": state["components"], "step": state["step"]}


@pytest.mark.parametrize("delay", [0.0, 0.021, 0.047])
def test_kill_9_at_any_moment_then_resume_ends_as_if_never_killed(tmp_path, delay):
    """SIGKILL during a run that checkpoints every iteration (so often mid-save), resumed to a budget a little
    past its checkpoint, ends bit-identical to a run never killed; metrics.csv keeps its rows, appended to;
    the folder's lock did not outlive the killed process."""
    folder = tmp_path / "run"
    process = start_training(tmp_path, "logger=[csv]")
    wait_for_checkpoint(folder / "checkpoint.pt")
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved_step = load_checkpoint(folder / "checkpoint.pt")["step"]
    metrics = folder / "metrics.csv"
    before, inode = metrics.read_bytes(), metrics.stat().st_ino
    total = saved_step + 160
    result = pgkit("train", "--resume", folder, f"trainer.total_steps={total}")
    assert result.returncode == 0, result.stderr  # the killed run's lock (a flock) went with its process
    whole = tmp_path / "whole"
    train(load_recipe(RECIPES / "cartpole-reward-to-go.yaml", [*SMALL, f"trainer.total_steps={total}"]), whole)
    assert_same(final_state(folder), final_state(whole), "resumed after kill -9 against never killed")
    after = metrics.read_bytes()
    assert metrics.stat().st_ino == inode  # the same file, appended to: never rewritten
    kept = [line for line in before.splitlines(keepends=True)[1:] if int(line.split(b",")[0]) <= saved_step]
    assert after.startswith(before.splitlines(keepends=True)[0] + b"".join(kept))
    steps = [int(line.split(b",")[0]) for line in after.splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == total  # no row twice, none lost
    assert [line.split(b",")[1:3] for line in after.splitlines()[1:]] == [line.split(b",")[1:3] for line in (whole / "metrics.csv").read_bytes().splitlines()[1:]]


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/3: file write failed"),
], ids=["OSError", "torch-RuntimeError"])
def test_a_full_disk_during_a_save_keeps_the_last_checkpoint(tmp_path, monkeypatch, failure):
    """The third save fails half-written: training stops with the cause and the last good checkpoint, the
    folder holds that checkpoint and no temporary file, and resuming from it ends as a run never stopped."""
    import pgkit.runtime.checkpoint as checkpoint_module

    recipe = load_recipe(RECIPES / "cartpole-reward-to-go.yaml", [*SMALL, "trainer.total_steps=256"])
    real_save, saves = torch.save, []

    def failing_save(obj, handle):
        saves.append(obj["step"] if isinstance(obj, dict) else None)
        if len(saves) == 3:
            handle.write(b"half a checkpoint")
            raise failure
        real_save(obj, handle)

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    folder = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        train(recipe, folder)
    message = str(info.value)
    assert "could not write" in message and "MiB free on that disk" in message
    assert f"the last good checkpoint is {folder / 'checkpoint.pt'} (step {saves[1]:,})" in message
    assert load_checkpoint(folder / "checkpoint.pt")["step"] == saves[1]
    assert [path.name for path in folder.iterdir() if path.name.endswith(".tmp")] == []
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert main(["train", "--resume", str(folder)]) == 0
    whole = tmp_path / "whole"
    train(recipe, whole)
    assert_same(final_state(folder), final_state(whole), "resumed after a full disk against never stopped")


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    run = small_run(tmp_path / "run")
    before = (run / "checkpoint.pt").read_bytes()
    result = pgkit("train", "--resume", run)
    assert result.returncode == 2 and "is finished (64 of 64 steps)" in result.stderr and "trainer.total_steps=N" in result.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


# --- item 4: an alias bomb cannot hang the command line -------------------------------------------------


@pytest.mark.parametrize("command", ["check", "train"])
def test_an_alias_bomb_is_refused_at_once_by_the_command_line(tmp_path, command):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    extra = ["--run-dir", tmp_path / "run"] if command == "train" else []
    result = pgkit(command, bomb, *extra, timeout=30)
    assert result.returncode == 2 and "aliases expand this document" in result.stderr and "Traceback" not in result.stderr


# --- item 5: evaluation of an env that never ends an episode -----------------------------------------------


def test_eval_of_an_env_without_a_time_limit_returns(tmp_path):
    endless = ["env.id=pgkit/RandomMDP-v0", "env.kwargs={end_probability: 0.0}", "trainer.total_steps=64", "logger=[]"]
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), *endless, "--run-dir", str(tmp_path / "run")]) == 0
    result = pgkit("eval", tmp_path / "run", "--episodes", "2", "--max-episode-steps", "500", timeout=60)
    assert result.returncode == 0 and "2 of 2 episodes did not end within 500 steps and were cut there" in result.stderr
    result = pgkit("eval", tmp_path / "run", "--episodes", "1", timeout=120)  # the default cap, 100,000 steps
    assert result.returncode == 0 and "did not end within 100,000 steps" in result.stderr


# --- item 6: one writer per run folder; runs are never replaced by accident ----------------------------------


def test_two_runs_on_one_folder(tmp_path, capsys):
    folder = tmp_path / "run"
    process = start_training(tmp_path)
    try:
        wait_for_checkpoint(folder / "checkpoint.pt")
        for argv in (["train", str(RECIPES / "cartpole-ppo.yaml"), "--run-dir", str(folder), "--force"], ["train", "--resume", str(folder)]):
            assert main(argv) == 2
            assert f"{folder} is in use by another pgkit run (pid {process.pid})" in capsys.readouterr().err
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 130
    load_checkpoint(folder / "checkpoint.pt")


def test_an_existing_run_is_replaced_only_with_force(tmp_path, capsys):
    run = small_run(tmp_path / "run")
    argv = ["train", str(RECIPES / "cartpole-reward-to-go.yaml"), *SMALL, "trainer.total_steps=32", "--run-dir", str(run)]
    assert main(argv) == 2
    assert "holds a run already; resume it with `pgkit train --resume" in capsys.readouterr().err
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 64
    assert main([*argv, "--force"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 32
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"\xff\xd8")
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "--run-dir", str(other), "--force"]) == 2
    assert "holds other files and is not a pgkit run" in capsys.readouterr().err and (other / "holiday.jpg").exists()


def test_an_empty_metrics_file_gets_its_header_on_resume(tmp_path):
    run = small_run(tmp_path / "run")
    (run / "metrics.csv").write_text("")
    assert main(["train", "--resume", str(run), "trainer.total_steps=128"]) == 0
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    assert header.startswith("step,") and rows and all(row.split(",")[1] for row in rows)


def test_a_seed_given_twice_is_refused(capsys):
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "--seeds", "0,0"]) == 2
    assert "distinct seeds" in capsys.readouterr().err

