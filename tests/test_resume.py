"""Resuming: an interrupted and resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys

import pytest
import torch

from pgkit.errors import TrainingInterrupted
from pgkit.recipe import resolve
from pgkit.runtime.run import Run
from pgkit.runtime.training import load_for_resume, train
from test_run_safety import start_training, wait_for_checkpoint


def on_policy_recipe(registry, **env):
    return resolve(
        {
            "env": {"id": "CartPole-v1", "num_envs": 2, **env},
            "policy_head": "categorical",
            "critic": "value",
            "baseline": "none",
            "advantage": {"type": "gae", "normalize": True},
            "objective": "ppo_clip",
            "optimizer": {"type": "adam", "lr": 0.003, "lr_schedule": "linear"},
            "trainer": {"type": "on_policy", "total_steps": 1024, "steps_per_env": 32, "epochs": 2, "minibatch_size": 32},
            "logger": ["csv"],
        },
        registry,
    )


def parameters(agent) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in agent.parameters()])


def interrupt_at(monkeypatch, step: int) -> None:
    """Ask the run to stop once it has logged ``step`` (as the first Ctrl-C does)."""
    original = Run.log

    def log(self, at, metrics):
        original(self, at, metrics)
        if at >= step:
            self.stop_requested = True

    monkeypatch.setattr(Run, "log", log)


@pytest.mark.parametrize("env", [{}, {"normalize": {"obs": True, "reward": True}}], ids=["plain", "normalized"])
def test_interrupted_and_resumed_equals_uninterrupted(registry, tmp_path, monkeypatch, env):
    whole, _ = train(on_policy_recipe(registry, **env), tmp_path / "whole", registry=registry)
    with monkeypatch.context() as patch:
        interrupt_at(patch, 512)
        with pytest.raises(TrainingInterrupted, match="(?s)interrupted at step 512.*resume with: pgkit train --resume"):
            train(on_policy_recipe(registry, **env), tmp_path / "split", registry=registry)
    recipe, checkpoint = load_for_resume(tmp_path / "split", registry=registry)
    assert checkpoint["step"] == 512
    resumed, _ = train(recipe, tmp_path / "split", registry=registry, resume=checkpoint)
    assert torch.equal(parameters(resumed), parameters(whole))
    whole_rows = list(csv.DictReader(open(tmp_path / "whole" / "metrics.csv")))
    split_rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [r["step"] for r in split_rows] == [r["step"] for r in whole_rows]  # appended, no duplicates
    assert [r["return_mean"] for r in split_rows] == [r["return_mean"] for r in whole_rows]


def test_resume_can_extend_training(registry, tmp_path):
    train(on_policy_recipe(registry), tmp_path, registry=registry)
    recipe, checkpoint = load_for_resume(tmp_path, ["trainer.total_steps=1536"], registry=registry)
    _, run = train(recipe, tmp_path, registry=registry, resume=checkpoint)
    assert run.last_metrics["steps"] == 1536


def test_off_policy_resume_says_the_buffer_is_not_saved(registry, tmp_path, monkeypatch, capsys):
    document = {
        "env": {"id": "Pendulum-v1"},
        "policy_head": "deterministic",
        "critic": "twin_q",
        "objective": "dpg",
        "optimizer": "adam",
        "trainer": {"type": "off_policy", "total_steps": 200, "learning_starts": 32, "batch_size": 32, "buffer_size": 1000, "log_every": 50},
        "logger": [],
    }
    with monkeypatch.context() as patch:
        interrupt_at(patch, 100)
        with pytest.raises(TrainingInterrupted):
            train(resolve(document, registry), tmp_path, registry=registry)
    recipe, checkpoint = load_for_resume(tmp_path, registry=registry)
    agent, run = train(recipe, tmp_path, registry=registry, resume=checkpoint)
    assert run.last_metrics["steps"] == 200 and run.last_metrics["buffer_size"] == 100
    assert "the replay buffer is not saved" in capsys.readouterr().err
    assert math.isfinite(run.last_metrics["value_loss"])


def test_ctrl_c_then_resume_from_the_command_line(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    process = start_training(tmp_path, "trainer.total_steps=2048")
    wait_for_checkpoint(checkpoint)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and f"resume with: pgkit train --resume {checkpoint.parent}" in err
    result = subprocess.run([sys.executable, "-m", "pgkit.cli", "train", "--resume", str(checkpoint.parent)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr and "done: 2,048 steps" in result.stdout


def test_resume_of_a_folder_without_checkpoint(tmp_path, capsys):
    from pgkit.cli import main

    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
