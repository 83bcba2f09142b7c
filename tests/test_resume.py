"""Resuming: a run stopped by SIGINT or SIGTERM and resumed ends bit-identical to an uninterrupted one,
for on-policy (with and without normalization) and off-policy runs; a checkpoint that does not fit the
recipe is refused with the reason."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch

from pgkit.errors import PgkitError, RecipeError
from pgkit.recipe import resolve
from pgkit.runtime.checkpoint import load_checkpoint, save_checkpoint
from pgkit.runtime.training import load_for_resume, train
from pgkit.testing import check_resume
from test_run_safety import start_training, wait_for_checkpoint

ON_POLICY = {
    "env": {"id": "CartPole-v1", "num_envs": 2},
    "policy_head": "categorical",
    "critic": "value",
    "baseline": "none",
    "advantage": {"type": "gae", "normalize": True},
    "objective": "ppo_clip",
    "optimizer": {"type": "adam", "lr": 0.003, "lr_schedule": "linear"},
    "trainer": {"type": "on_policy", "total_steps": 1024, "steps_per_env": 32, "epochs": 2, "minibatch_size": 32},
    "logger": [],
}
NORMALIZED = {**ON_POLICY, "env": {"id": "CartPole-v1", "num_envs": 2, "normalize": {"obs": True, "reward": True}}}
OFF_POLICY = {
    "env": {"id": "Pendulum-v1"},
    "policy_head": {"type": "deterministic", "noise": "ornstein_uhlenbeck"},
    "critic": "twin_q",
    "objective": "dpg",
    "optimizer": "adam",
    "trainer": {"type": "off_policy", "total_steps": 300, "learning_starts": 32, "batch_size": 32, "buffer_size": 1000, "policy_delay": 2,
                "target_policy_noise": 0.2, "log_every": 50},
}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("document", [ON_POLICY, NORMALIZED, OFF_POLICY], ids=["on-policy", "normalized", "off-policy"])
def test_interrupted_and_resumed_equals_uninterrupted(registry, tmp_path, document, signum):
    check_resume(document, registry, signum=signum, workdir=tmp_path)


def test_resume_can_extend_training(registry, tmp_path):
    train(resolve(ON_POLICY, registry), tmp_path, registry=registry)
    recipe, checkpoint = load_for_resume(tmp_path, ["trainer.total_steps=1536"], registry=registry)
    _, run = train(recipe, tmp_path, registry=registry, resume=checkpoint)
    assert run.last_metrics["steps"] == 1536


@pytest.mark.parametrize("override, path", [
    ("network.hidden_sizes=[32]", "network"), ("env.normalize.obs=true", "env"), ("env.num_envs=4", "env"),
    ("policy_head=gaussian", "policy_head"), ("seed=1", "seed"), ("advantage=reward_to_go", "advantage"),
])
def test_a_resume_that_changes_what_the_state_was_built_for_is_refused(registry, tmp_path, override, path):
    train(resolve(ON_POLICY, registry), tmp_path, registry=registry)
    with pytest.raises(RecipeError) as info:
        load_for_resume(tmp_path, [override, "trainer.total_steps=2048"], registry=registry)
    assert [p.path for p in info.value.problems] == [path] and "cannot change when resuming" in str(info.value)


def test_a_checkpoint_that_does_not_fit_the_recipe_is_refused(registry, tmp_path):
    """Through the Python API a checkpoint can meet any recipe: its state is checked as it loads."""
    train(resolve(ON_POLICY, registry), tmp_path, registry=registry)
    _, checkpoint = load_for_resume(tmp_path, ["trainer.total_steps=2048"], registry=registry)
    other = resolve({**ON_POLICY, "network": {"type": "mlp", "hidden_sizes": [32]}}, registry)
    with pytest.raises(PgkitError, match="cannot resume: the checkpoint does not fit this recipe .*size mismatch"):
        train(other, tmp_path, registry=registry, resume=checkpoint)


def test_a_checkpoint_of_pgkit_0_1_is_refused_for_resume_but_evaluates(registry, tmp_path):
    from pgkit.runtime.loading import load_agent

    train(resolve(ON_POLICY, registry), tmp_path, registry=registry)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    old = {"recipe": state["recipe"], "step": state["step"], "modules": state["agent"]}  # format 1's layout
    save_checkpoint(tmp_path / "checkpoint.pt", old)
    torch.save({**torch.load(tmp_path / "checkpoint.pt", weights_only=True), "format": 1}, tmp_path / "checkpoint.pt")
    with pytest.raises(PgkitError, match="written by pgkit 0.1.*can be evaluated but not resumed"):
        load_for_resume(tmp_path, ["trainer.total_steps=2048"], registry=registry)
    agent, _ = load_agent(tmp_path, registry)
    assert torch.equal(agent.policy.head.logits.weight, state["agent"]["policy"]["head.logits.weight"])


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_then_resume_from_the_command_line(tmp_path, signum, code):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    process = start_training(tmp_path, "trainer.total_steps=2048")
    wait_for_checkpoint(checkpoint)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code and f"resume with: pgkit train --resume {checkpoint.parent}" in err and "Traceback" not in err
    result = subprocess.run([sys.executable, "-m", "pgkit.cli", "train", "--resume", str(checkpoint.parent)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr and "done: 2,048 steps" in result.stdout


def test_resume_of_a_folder_without_checkpoint(tmp_path, capsys):
    from pgkit.cli import main

    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
