"""``pgkit tune``: search ranges parsed with clear errors, and real Optuna studies in a SQLite file that
two processes share, that a killed process leaves resumable, and whose trials run as Ray tasks."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml

from pgkit.cli import main
from pgkit.cli.tune import SCORES, Dimension, Study, TrialReporter, is_dimension, load_space
from pgkit.errors import PgkitError
from small_recipes import SMALL_PPO

RECIPE = SMALL_PPO
SPACE = ["advantage.lam=float:0.8:1.0", "optimizer.lr=log:1e-4:1e-2", "trainer.epochs=int:1:4", "network.activation=choice:tanh,relu"]


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    path = tmp_path / "small-ppo.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


def tune_command(recipe: Path, out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "pgkit.cli", "tune", str(recipe), *SPACE, "--out", str(out), "--eval-episodes", "2", *options]


def study_trials(out: Path, name: str = "small-ppo") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}").get_trials()


def states(trials) -> dict[str, int]:
    counted: dict[str, int] = {}
    for trial in trials:
        counted[trial.state.name] = counted.get(trial.state.name, 0) + 1
    return counted


def test_ranges_parse_and_bad_ones_say_how_to_write_them(tmp_path):
    assert Dimension.parse("advantage.lam", "float:0.8:1.0") == Dimension("advantage.lam", "float", 0.8, 1.0)
    assert Dimension.parse("trainer.epochs", "int:1:20") == Dimension("trainer.epochs", "int", 1, 20)
    with pytest.raises(PgkitError, match="'\\[64' is not a value .*use a --space file"):  # commas split the choices
        Dimension.parse("network.hidden_sizes", "choice:[64],[64, 64]")
    assert is_dimension("optimizer.lr=log:1e-5:1e-2") and not is_dimension("trainer.total_steps=5000")
    for text, message in [("uniform:0:1", "not a range"), ("float:1:0", "LOW < HIGH"), ("log:0:1", "LOW > 0"),
                          ("int:a:b", "int numbers"), ("choice:tanh", "at least two")]:
        with pytest.raises(PgkitError, match=message):
            Dimension.parse("x", text)
    space = tmp_path / "space.yaml"
    space.write_text("network.hidden_sizes: {choice: [[64], [64, 64]]}\nadvantage.lam: float:0.9:1.0\n")
    sizes, lam = load_space([], space)
    assert sizes.choices == ("[64]", "[64, 64]") and sizes.value("[64, 64]") == [64, 64] and lam.high == 1.0
    with pytest.raises(PgkitError, match="given twice"):
        load_space(["network.hidden_sizes=choice:a,b"], space)
    with pytest.raises(PgkitError, match="needs a search space"):
        load_space([], None)


def test_a_range_over_a_field_the_recipe_lacks_is_refused_before_any_trial(recipe_file, tmp_path, capsys):
    assert main(["tune", str(recipe_file), "advantage.lamda=float:0.8:1.0", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "advantage.lamda" in err and "lam" in err
    assert not (tmp_path / "out" / "study.db").exists()


def test_a_study_runs_its_trials_and_writes_the_best_recipe(recipe_file, tmp_path):
    out = tmp_path / "study"
    result = subprocess.run(tune_command(recipe_file, out, "--trials", "3"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    trials = study_trials(out)
    assert states(trials) == {"COMPLETE": 3}  # the pruner waits for 5 trials
    best = max(trials, key=lambda t: t.value)
    written = yaml.safe_load((out / "best.yaml").read_text())
    assert written["advantage"]["lam"] == pytest.approx(best.params["advantage.lam"])
    assert written["network"]["activation"] == best.params["network.activation"]
    assert written["trainer"]["total_steps"] == 512 and f"#{best.number}" in result.stdout
    again = subprocess.run(tune_command(recipe_file, out, "--trials", "4"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "1 trials run now" in again.stdout  # a re-run continues the study
    assert len(study_trials(out)) == 4


def test_the_reporter_keeps_the_peak_and_the_return_at_each_tenth():
    trial = optuna.create_study().ask()  # a real trial of a study in memory
    reporter = TrialReporter(trial)
    reporter.start(None, 1000)
    for step, ret in [(50, math.nan), (150, math.nan), (250, 20.0), (260, 40.0), (420, 30.0), (700, 90.0), (1000, 80.0)]:
        reporter.log(step, {"return_mean": ret})
    assert reporter.peak == 90.0
    # the first return (step 250) stands for the tenths before it; a tenth without a row takes the next row's
    assert reporter.tenths == [20.0, 20.0, 30.0, 30.0, 90.0, 90.0, 90.0, 80.0, 80.0, 80.0]
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {2: 20.0, 4: 30.0, 7: 90.0, 10: 80.0}


def test_a_study_keeps_the_score_it_started_with(recipe_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["tune", str(recipe_file), *SPACE, "--score", "best"])
    err = capsys.readouterr().err
    assert "invalid choice: 'best'" in err and all(score in err for score in SCORES)  # the command line offers every score
    study = Study("recipe.yaml", (), (Dimension("advantage.lam", "float", 0.8, 1.0),), f"sqlite:///{tmp_path / 'a.db'}", "s", 3, score="area")
    study.load()
    assert study.load().user_attrs["score"] == "area"
    with pytest.raises(PgkitError, match="scores its trials by area, not eval: continue it with --score area"):
        replace(study, score="eval").load()
    older = replace(study, storage=f"sqlite:///{tmp_path / 'b.db'}", score="peak")  # a study pgkit wrote before --score
    optuna.create_study(study_name="s", storage=older.storage).enqueue_trial({"advantage.lam": 0.9})
    with pytest.raises(PgkitError, match="by eval, not peak"):
        older.load()


def test_trials_scored_on_the_training_curve_over_seeds(recipe_file, tmp_path):
    out = tmp_path / "area"
    result = subprocess.run(tune_command(recipe_file, out, "--trials", "2", "--score", "area", "--seeds", "0,1"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    trials = study_trials(out)
    assert states(trials) == {"COMPLETE": 2}
    for trial in trials:
        scores = trial.user_attrs["scores"]
        assert len(scores) == 2 and trial.value == pytest.approx(sum(scores) / 2) and 8 <= min(scores) <= max(scores) <= 500
        assert {10, 20} <= set(trial.intermediate_values)  # the end of each seed's run (seed i's k-th tenth: step 10 i + k)
    assert "mean rolling training return over the budget's tenths" in (out / "best.yaml").read_text()
    assert "--seeds 2,3,4,5,6,7" in result.stdout  # checked on seeds the study did not choose it on


def test_two_tune_processes_share_one_study_and_lose_no_trial(recipe_file, tmp_path):
    """Started at once on a new database: one of them creates its tables and the study, the other waits."""
    out = tmp_path / "shared"
    processes = [subprocess.Popen(tune_command(recipe_file, out, "--trials", "8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    trials = study_trials(out)
    assert set(states(trials)) <= {"COMPLETE", "PRUNED"}  # none failed, none left running
    ran = [int(stdout.split(" trials run now")[0].split()[-1]) for stdout, _ in outputs]
    # each process starts trials while fewer than 8 are finished or running: both may start the 8th
    assert min(ran) >= 1 and sum(ran) in (8, 9) and len(trials) == sum(ran)
    assert len({trial.user_attrs["process"] for trial in trials}) == 2  # both processes ran trials of the one study


def running(out: Path) -> bool:
    """Whether the study in ``out`` exists and has a trial running."""
    if not (out / "study.db").exists():
        return False
    try:
        return any(t.state.name == "RUNNING" for t in study_trials(out))
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # the database exists, its tables or the study not yet
        return False


def training(out: Path) -> int:
    """How many of the study's running trials have reported a tenth of their budget (so are in training)."""
    try:
        return sum(1 for t in study_trials(out) if t.state.name == "RUNNING" and t.intermediate_values)
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):
        return 0


def test_killing_a_tune_process_and_running_it_again_continues_the_study(recipe_file, tmp_path):
    out = tmp_path / "killed"
    slow = ["trainer.total_steps=200000"]  # the first trial is still running when it is killed
    process = subprocess.Popen(tune_command(recipe_file, out, *slow, "--trials", "2", "--heartbeat", "1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not running(out):
        time.sleep(0.5)
    time.sleep(2.0)  # a heartbeat or two
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed = study_trials(out)
    assert states(killed) == {"RUNNING": 1}
    time.sleep(3.0)  # past the grace period of two heartbeats
    again = subprocess.run(tune_command(recipe_file, out, "--trials", "2", "--heartbeat", "1"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    trials = study_trials(out)
    counted = states(trials)
    assert counted.pop("FAIL") == 1 and sum(counted.values()) == 2 and set(counted) <= {"COMPLETE", "PRUNED"}
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]  # set by Optuna's retry callback
    assert len(retried) == 1 and retried[0].params == killed[0].params  # its values ran again


def test_sigterm_stops_the_running_trials_and_queues_their_values_again(recipe_file, tmp_path):
    """SIGTERM to `tune --jobs 2`: both trial processes stop (exit 143), no trial is pruned or scored for it,
    and their values are queued, so running the study again trains them first."""
    out = tmp_path / "stopped"
    slow = ["trainer.total_steps=200000"]
    process = subprocess.Popen(tune_command(recipe_file, out, *slow, "--trials", "3", "--jobs", "2"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (running(out) and training(out) == 2):
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)  # both in their training loops (a tenth of the budget reported), which stop at a checkpoint
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "2 running job(s) stopped" in err and "Traceback" not in err
    stopped = study_trials(out)
    assert states(stopped) == {"FAIL": 2, "WAITING": 2}
    queued = sorted(str(t.system_attrs["fixed_params"]) for t in stopped if t.state.name == "WAITING")
    assert queued == sorted(str(t.params) for t in stopped if t.state.name == "FAIL")
    again = subprocess.run(tune_command(recipe_file, out, "--trials", "3"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    ran = [t for t in study_trials(out) if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(ran) == 3 and sorted(str(t.params) for t in ran[:2]) == queued  # the stopped values ran first


def test_trials_run_as_ray_tasks_on_the_cluster(recipe_file, tmp_path, ray_cluster):
    out = tmp_path / "ray"
    result = subprocess.run(tune_command(recipe_file, out, "--trials", "4", "--jobs", "2", "--address", ray_cluster),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    trials = study_trials(out)
    assert sum(states(trials).get(state, 0) for state in ("COMPLETE", "PRUNED")) >= 4
    assert len({trial.user_attrs["process"] for trial in trials}) == 2  # two Ray worker processes


def test_seeds_train_as_ray_tasks_on_the_cluster(recipe_file, tmp_path, ray_cluster):
    result = subprocess.run([sys.executable, "-m", "pgkit.cli", "train", str(recipe_file), "--seeds", "0,1", "--address", ray_cluster,
                             "--run-dir", str(tmp_path / "seeds")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "as Ray tasks" in result.stderr and "across 2 seeds" in result.stdout
    assert (tmp_path / "seeds" / "seed-0" / "checkpoint.pt").is_file() and (tmp_path / "seeds" / "seed-1" / "checkpoint.pt").is_file()


def test_a_multi_agent_recipe_tunes_like_any_other(tmp_path):
    """A MAPPO recipe on MPE's simple_spread (agents as columns, a centralized critic) runs its trials, each
    scored by its agents' mean eval return, and the best recipe keeps the env's agents section."""
    recipe = {"seed": 0, "env": {"id": "mpe2:simple_spread_v3", "kwargs": {"N": 3, "max_cycles": 5}, "num_envs": 2,
                                 "agents": {"agent_id": True, "critic_input": "state"}},
              "policy_head": "categorical", "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam",
              "trainer": {"type": "on_policy", "total_steps": 100, "steps_per_env": 10}}
    path, out = tmp_path / "mappo.yaml", tmp_path / "study"
    path.write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "pgkit.cli", "tune", str(path), "optimizer.lr=log:1e-4:1e-2", "advantage.lam=float:0.8:1.0",
               "--out", str(out), "--eval-episodes", "2", "--trials", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    trials = study_trials(out, "mappo")
    assert states(trials) == {"COMPLETE": 2} and all(math.isfinite(t.value) and t.value < 0 for t in trials)  # spread's rewards are negative
    assert yaml.safe_load((out / "best.yaml").read_text())["env"]["agents"] == recipe["env"]["agents"]
