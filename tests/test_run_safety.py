"""Runs users can trust: atomic periodic checkpoints survive kill -9, NaN stops keep the last good
checkpoint, Ctrl-C saves and exits cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pgkit.runtime.checkpoint import load_checkpoint
from pgkit.errors import TrainingError
from pgkit.recipe import resolve
from pgkit.runtime.training import train

RECIPES = Path(__file__).parent.parent / "recipes"


def cartpole(registry, **changes):
    document = {
        "env": {"id": "CartPole-v1", "num_envs": 2},
        "policy_head": "categorical",
        "critic": "value",
        "baseline": "critic",
        "advantage": "discounted_reward_to_go",
        "objective": "reinforce",
        "optimizer": {"type": "adam", "lr": 0.01},
        "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
        "logger": [],
        **changes,
    }
    return resolve(document, registry)


def test_periodic_checkpoints(registry, tmp_path, monkeypatch):
    saved_steps = []
    from pgkit.runtime import run as run_module

    original = run_module.save_checkpoint
    monkeypatch.setattr(run_module, "save_checkpoint", lambda path, state: (saved_steps.append(state["step"]), original(path, state)))
    train(cartpole(registry, checkpoint_every=128), run_dir=tmp_path, registry=registry)
    assert saved_steps == [128, 256, 384, 512, 512]  # every 128 steps, then the final one
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 512
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_nan_stops_and_keeps_the_last_good_checkpoint(registry, tmp_path):
    recipe = cartpole(
        registry,
        checkpoint_every=64,
        optimizer={"type": "sgd", "lr": 1e30, "max_grad_norm": None},
        trainer={"type": "on_policy", "total_steps": 4096, "steps_per_env": 32},
    )
    with pytest.raises(TrainingError) as info:
        train(recipe, run_dir=tmp_path, registry=registry)
    message = str(info.value)
    assert "became nan" in message or "became inf" in message
    assert "at step" in message and "learning rate too high" in message
    assert f"the last good checkpoint is {tmp_path / 'checkpoint.pt'}" in message
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert all(torch.isfinite(t).all() for module in state["agent"].values() for t in module.values())


def test_nan_guard_in_off_policy_training(registry):
    recipe = resolve(
        {
            "env": {"id": "Pendulum-v1"},
            "policy_head": "deterministic",
            "critic": "q",
            "objective": "dpg",
            "optimizer": {"type": "sgd", "lr": 1e30, "max_grad_norm": None},
            "trainer": {"type": "off_policy", "total_steps": 400, "learning_starts": 16, "batch_size": 16, "buffer_size": 512},
            "logger": [],
        },
        registry,
    )
    with pytest.raises(TrainingError, match="(?s)became (nan|inf) at step .*no checkpoint was written before this"):
        train(recipe, registry=registry)


def start_training(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pgkit.cli", "train", str(RECIPES / "cartpole-reward-to-go.yaml"), "--run-dir", str(tmp_path / "run"),
               "trainer.steps_per_env=8", "trainer.complete_episodes=false", "trainer.total_steps=10000000", "checkpoint_every=16", "logger=[]",
               *overrides]  # fixed windows: step counts the tests can predict
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def test_kill_9_never_leaves_a_corrupt_checkpoint(tmp_path):
    """Checkpoints are rewritten every iteration; SIGKILL at several moments must always leave one that loads."""
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    for delay in (0.0, 0.013, 0.031, 0.057, 0.1):
        process = start_training(tmp_path)
        wait_for_checkpoint(checkpoint)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = load_checkpoint(checkpoint)
        assert state["step"] >= 16 and state["step"] % 16 == 0
        for leftover in checkpoint.parent.glob(".checkpoint.pt.*.tmp"):
            leftover.unlink()  # a killed writer may leave its temporary file; the checkpoint itself is intact


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    process = start_training(tmp_path)
    wait_for_checkpoint(checkpoint)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted at step" in err and f"checkpoint saved to {checkpoint}" in err and "Traceback" not in err
    state = load_checkpoint(checkpoint)
    assert f"{state['step']:,}" in err
