"""Around a run: TensorBoard events, learning-curve plots, videos, multi-seed training."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pgkit.cli import main
from pgkit.recipe import resolve
from pgkit.runtime.stored_run import read_checkpoint
from pgkit.runtime.training import train

RECIPES = Path(__file__).parent.parent / "recipes"
SMALL = ["trainer.total_steps=256", "trainer.steps_per_env=32", "env.num_envs=2"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        assert main(["train", str(RECIPES / "cartpole-reward-to-go.yaml"), *SMALL, f"seed={seed}", "logger=[csv]", "--run-dir", str(root / f"s{seed}")]) == 0
    return [root / "s0", root / "s1"]


def test_tensorboard_logger_writes_events(registry, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = resolve(
        {"env": {"id": "CartPole-v1", "num_envs": 2}, "policy_head": "categorical", "advantage": "reward_to_go",
         "objective": "reinforce", "optimizer": "adam", "trainer": {"type": "on_policy", "total_steps": 128, "steps_per_env": 32},
         "logger": ["tensorboard"]},
        registry,
    )
    train(recipe, tmp_path, registry=registry)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"policy_loss", "steps_per_second", "return_mean"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("policy_loss")] == [64, 128]


def test_plot_groups_runs_by_recipe(trained_runs, tmp_path, capsys):
    out = tmp_path / "curves.png"
    code, stdout, err = run_cli(capsys, "plot", *trained_runs, "--out", out)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "cartpole-reward-to-go on CartPole-v1 (2 runs)" in stdout


def test_plot_groups_by_env_too_and_draws_each_run_to_its_end(tmp_path, capsys):
    """Runs of one recipe on two envs are two groups; a longer run keeps its own end."""
    from pgkit.cli.plotting import mean_with_band

    runs = []
    for seed, overrides in enumerate([["trainer.total_steps=256"], ["trainer.total_steps=512"], ["env.id=Acrobot-v1", "trainer.total_steps=1280"]]):
        run = tmp_path / f"r{seed}"
        assert main(["train", str(RECIPES / "cartpole-reward-to-go.yaml"), "trainer.steps_per_env=32", "env.num_envs=2", f"seed={seed}", "logger=[csv]",
                     "trainer.complete_episodes=false", *overrides, "--run-dir", str(run)]) == 0
        runs.append(run)
    capsys.readouterr()
    code, stdout, err = run_cli(capsys, "plot", *runs, "--out", tmp_path / "curves.png")
    assert code == 0, err
    assert "cartpole-reward-to-go on CartPole-v1 (2 runs)" in stdout and "cartpole-reward-to-go on Acrobot-v1 (1 run)" in stdout
    steps = np.array([0.0, 10.0])
    grid, mean, low, high = mean_with_band([(steps, np.array([0.0, 10.0])), (steps, np.array([2.0, 12.0])), (np.array([0.0, 20.0]), np.array([4.0, 24.0]))])
    assert grid[-1] == 10.0 and mean[0] == pytest.approx(2.0) and low[0] >= 0.0 and high[0] <= 4.0 and low[0] < 2.0 < high[0]


def test_plot_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = run_cli(capsys, "plot", tmp_path)
    assert code == 2 and "is not a run folder" in err


def test_eval_records_videos(trained_runs, tmp_path, capsys):
    code, out, err = run_cli(capsys, "eval", trained_runs[0], "--episodes", 2, "--video", tmp_path / "videos")
    assert code == 0, err
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == ["CartPole-v1-episode-0.mp4", "CartPole-v1-episode-1.mp4"]
    assert all(v.stat().st_size > 1000 for v in videos)


def test_train_several_seeds(tmp_path, capfd):
    """capfd: the workers are other processes, writing their progress lines to the inherited stderr."""
    code, out, err = run_cli(capfd, "train", RECIPES / "cartpole-reward-to-go.yaml", *SMALL, "--seeds", "0,1", "--run-dir", tmp_path)
    assert code == 0, err
    assert "seed 0: eval mean return" in out and "seed 1: eval mean return" in out and "across 2 seeds: eval mean" in out
    assert "seed 0: 100% (" in err and "seed 1: 100% (" in err  # progress while the seeds train
    assert (tmp_path / "seed-0" / "checkpoint.pt").is_file() and (tmp_path / "seed-1" / "checkpoint.pt").is_file()


def test_sigterm_stops_several_seeds_at_checkpoints_that_resume(tmp_path):
    command = [sys.executable, "-m", "pgkit.cli", "train", str(RECIPES / "cartpole-reward-to-go.yaml"), "trainer.total_steps=200000",
               "trainer.steps_per_env=32", "checkpoint_every=256", "--seeds", "0,1", "--run-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = [tmp_path / f"seed-{seed}" / "checkpoint.pt" for seed in (0, 1)]
    deadline = time.monotonic() + 120
    while not all(path.is_file() for path in checkpoints) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "2 running job(s) stopped" in err and f"pgkit train --resume {tmp_path}/seed-N" in err and "Traceback" not in err
    stopped_at = read_checkpoint(tmp_path / "seed-0" / "checkpoint.pt").step
    resumed = subprocess.run([sys.executable, "-m", "pgkit.cli", "train", "--resume", str(tmp_path / "seed-0"), f"trainer.total_steps={stopped_at + 64}"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr


def test_bad_seeds(capsys):
    code, _, err = run_cli(capsys, "train", RECIPES / "cartpole-reward-to-go.yaml", "--seeds", "0,x")
    assert code == 2 and "comma-separated integers" in err


def test_mlflow_logger_writes_params_and_metrics_to_sqlite_and_a_resume_continues_its_run(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", RECIPES / "cartpole-ppo.yaml", "trainer.total_steps=2048", "logger=[mlflow]", "--run-dir", run)
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "--resume", run, "trainer.total_steps=4096")
    assert code == 0, err
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [found] = client.search_runs([client.get_experiment_by_name("pgkit").experiment_id])
    assert found.data.params["trainer.total_steps"] == "2048"  # the recipe as the run began
    assert found.data.params["env.id"] == "CartPole-v1" and found.info.run_name == "run"
    steps = [m.step for m in client.get_metric_history(found.info.run_id, "return_mean")]
    assert steps[0] == 256 and steps[-1] == 4096 and len(steps) == len(set(steps))
