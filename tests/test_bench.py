"""``pgkit bench``: suite files checked with paths and fixes, a suite that continues after a kill -9 as if never
killed, results lines that survive being cut short, Ray tasks, and a report whose statistics are rliable's own
(checked against hand computations and direct rliable calls on the same scores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from pgkit.cli.bench import RESULTS_FILE, append_result, read_results, run_suite
from pgkit.cli.main import main
from pgkit.cli.scores import aggregates, normalised_matrix, per_task, probability_of_improvement, report
from pgkit.cli.suite import load_suite
from pgkit.errors import PgkitError, RecipeError

rliable_library = pytest.importorskip("rliable.library")
rliable_metrics = pytest.importorskip("rliable.metrics")

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL = ["trainer.steps_per_env=8", "trainer.complete_episodes=false", "trainer.total_steps=96", "checkpoint_every=16"]


def write_suite(folder: Path, seeds, overrides=SMALL, **task) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suite = {"seeds": seeds, "eval_episodes": 2, "tasks": {"rtg": {"recipe": str(RECIPES / "cartpole-reward-to-go.yaml"),
                                                                   "overrides": list(overrides), "random": 22.0, "reference": 500.0, **task}}}
    path = folder / "suite.yaml"
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


# --- the suite file ----------------------------------------------------------------------------------------


def test_a_wrong_suite_field_is_named_with_its_fix(tmp_path):
    path = write_suite(tmp_path, 2, reciep="x.yaml")
    with pytest.raises(RecipeError, match=r"tasks\.rtg\.reciep: unknown field[\s\S]*did you mean 'recipe'"):
        load_suite(path)


@pytest.mark.parametrize("change, message", [
    ({"reference": None}, "give random and reference together"),
    ({"recipe": "missing.yaml"}, r"tasks\.rtg\.recipe: no recipe file"),
], ids=["half-a-normalisation", "missing-recipe"])
def test_a_suite_that_cannot_be_scored_or_run_is_refused(tmp_path, change, message):
    path = write_suite(tmp_path, 2, **change)
    with pytest.raises(RecipeError, match=message):
        load_suite(path)


def test_the_cli_reports_a_bad_suite_without_a_traceback(tmp_path, capsys):
    path = write_suite(tmp_path, [0, 0])
    assert main(["bench", "run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "seeds" in capsys.readouterr().err


# --- running, resuming -----------------------------------------------------------------------------------


def test_a_results_line_cut_by_a_kill_is_dropped_and_the_file_stays_appendable(tmp_path):
    path = tmp_path / RESULTS_FILE
    append_result(path, {"task": "a", "seed": 0, "eval_mean": 1.0})
    with open(path, "a") as file:
        file.write('{"task": "a", "seed": 1, "ev')  # the kill came mid-line
    assert [row["seed"] for row in read_results(path)] == [0]
    append_result(path, {"task": "a", "seed": 1, "eval_mean": 2.0})
    assert [row["seed"] for row in read_results(path)] == [0, 1]


def test_a_damaged_results_file_is_refused_with_the_line(tmp_path):
    path = tmp_path / RESULTS_FILE
    path.write_text('{"task": "a", "seed": 0, "eval_mean": 1.0}\nnot json\n')
    with pytest.raises(PgkitError, match="line 2: not a results line"):
        read_results(path)


def test_a_suite_run_again_runs_only_what_it_lacks(tmp_path):
    out = tmp_path / "out"
    assert run_suite(load_suite(write_suite(tmp_path, [0])), out, workers=1) == 1
    first = read_results(out / RESULTS_FILE)
    assert run_suite(load_suite(write_suite(tmp_path, [0, 1])), out, workers=2) == 1  # seed 0 is not run again
    rows = read_results(out / RESULTS_FILE)
    assert [(row["task"], row["seed"]) for row in rows] == [("rtg", 0), ("rtg", 1)] and rows[0] == first[0]
    assert run_suite(load_suite(write_suite(tmp_path, [0, 1])), out, workers=2) == 0


def test_a_suite_killed_mid_run_continues_as_if_never_killed(tmp_path):
    """kill -9 while a run of the suite is between checkpoints; run again, that run resumes from its checkpoint
    (exactly: its eval equals that of a suite never killed) and the suite ends with each pair once."""
    slow = [*SMALL[:-2], "trainer.total_steps=4000", "checkpoint_every=16"]
    suite = write_suite(tmp_path / "killed", [3], overrides=slow)
    out = tmp_path / "killed" / "out"
    process = subprocess.Popen([sys.executable, "-m", "pgkit.cli", "bench", "run", str(suite), "--out", str(out), "--workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = out / "runs" / "rtg" / "seed-3" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.is_file(), "the suite wrote no checkpoint in 2 minutes"
    os.killpg(process.pid, signal.SIGKILL)  # the suite and its worker process
    process.wait()
    assert not (out / RESULTS_FILE).is_file() or not read_results(out / RESULTS_FILE)
    assert run_suite(load_suite(suite), out, workers=1) == 1
    whole = tmp_path / "whole" / "out"
    run_suite(load_suite(write_suite(tmp_path / "whole", [3], overrides=slow)), whole, workers=1)
    resumed, never_killed = read_results(out / RESULTS_FILE), read_results(whole / RESULTS_FILE)
    assert len(resumed) == 1 and resumed[0]["eval_mean"] == never_killed[0]["eval_mean"]
    metrics = (out / "runs" / "rtg" / "seed-3" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == len((whole / "runs" / "rtg" / "seed-3" / "metrics.csv").read_text().splitlines())


LONGER = [*SMALL[:-2], "trainer.total_steps=10000", "checkpoint_every=200"]


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory) -> dict[int, float]:
    """Each seed's eval in a suite of LONGER runs on seeds 0-2 that nothing stopped."""
    folder = tmp_path_factory.mktemp("never-stopped")
    run_suite(load_suite(write_suite(folder, [0, 1, 2], overrides=LONGER)), folder / "out", workers=2)
    return {row["seed"]: row["eval_mean"] for row in read_results(folder / "out" / RESULTS_FILE)}


@pytest.mark.parametrize("signum, to_group", [(signal.SIGTERM, False), (signal.SIGINT, True)], ids=["sigterm", "ctrl-c"])
def test_a_stopped_suite_starts_nothing_more_and_continues_exactly(tmp_path, signum, to_group, never_stopped):
    """SIGTERM to the suite (what a scheduler sends), or Ctrl-C at its terminal (SIGINT to the process group):
    the running runs stop at a checkpoint, the third seed never starts, the exit code is the signal's, and
    the suite run again ends as one never stopped."""
    suite = write_suite(tmp_path / "stopped", [0, 1, 2], overrides=LONGER)
    out = tmp_path / "stopped" / "out"
    process = subprocess.Popen([sys.executable, "-m", "pgkit.cli", "bench", "run", str(suite), "--out", str(out), "--workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    checkpoints = [out / "runs" / "rtg" / f"seed-{seed}" / "checkpoint.pt" for seed in (0, 1)]
    deadline = time.monotonic() + 120
    while not all(path.is_file() for path in checkpoints) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(path.is_file() for path in checkpoints), "the suite wrote no checkpoints in 2 minutes"
    os.killpg(process.pid, signum) if to_group else process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "2 running job(s) stopped, 1 not started; those stopped in training saved a checkpoint" in err and "the same --out" in err
    assert "Traceback" not in err and not (out / "runs" / "rtg" / "seed-2").exists()
    assert not (out / RESULTS_FILE).is_file() or not read_results(out / RESULTS_FILE)  # both stopped before their end
    assert run_suite(load_suite(suite), out, workers=2) == 3
    assert {row["seed"]: row["eval_mean"] for row in read_results(out / RESULTS_FILE)} == never_stopped


def test_a_suite_runs_as_ray_tasks(tmp_path, ray_cluster):
    out = tmp_path / "out"
    assert run_suite(load_suite(write_suite(tmp_path, [0, 1])), out, workers=1, address=ray_cluster) == 2
    local = tmp_path / "local"
    run_suite(load_suite(write_suite(tmp_path, [0, 1])), local, workers=2)
    by_seed = lambda folder: {row["seed"]: row["eval_mean"] for row in read_results(folder / RESULTS_FILE)}  # noqa: E731
    assert by_seed(out) == by_seed(local)  # the same runs, wherever they ran


# --- the report: rliable's statistics ------------------------------------------------------------------------


def synthetic(seeds: int, shift: float = 0.0) -> list[dict]:
    generator = np.random.default_rng(7)
    return [{"task": task, "seed": seed, "eval_mean": float(base + shift + 40 * generator.standard_normal())}
            for task, base in [("a", 300.0), ("b", 150.0), ("c", 420.0)] for seed in range(seeds)]


NORMALISE = {task: (lambda score: (score - 20.0) / 480.0) for task in "abc"}


def test_the_aggregates_are_rliables_on_the_normalised_scores():
    scores = {task: {row["seed"]: row["eval_mean"] for row in synthetic(5) if row["task"] == task} for task in "abc"}
    matrix, tasks, seeds = normalised_matrix(scores, NORMALISE)
    by_hand = np.array([[(scores[t][s] - 20.0) / 480.0 for t in "abc"] for s in range(5)])
    assert tasks == list("abc") and seeds == list(range(5)) and np.array_equal(matrix, by_hand)
    ours = aggregates(matrix, reps=2000, seed=3)
    assert ours["iqm"].value == pytest.approx(scipy.stats.trim_mean(by_hand.ravel(), 0.25))  # the middle 50% of the 15 runs
    assert ours["mean"].value == pytest.approx(by_hand.mean())
    np.random.seed(3)
    points, intervals = rliable_library.get_interval_estimates(
        {"x": matrix}, lambda s: np.array([rliable_metrics.aggregate_iqm(s)]), reps=2000)
    assert (ours["iqm"].low, ours["iqm"].high) == (intervals["x"][0, 0], intervals["x"][1, 0])
    assert ours["iqm"].low < ours["iqm"].value < ours["iqm"].high


def test_a_task_interval_resamples_its_seeds():
    interval = per_task({"a": {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}}, reps=4000)["a"]
    assert interval.value == 2.5 and 1.0 <= interval.low < 2.5 < interval.high <= 4.0


def test_probability_of_improvement_by_hand():
    """X = (1, 2, 3), Y = (0, 2, 2): of the 9 pairs X wins 5 and ties 2, so P(X > Y) = (5 + 2/2) / 9."""
    interval, tasks = probability_of_improvement({"t": {0: 1.0, 1: 2.0, 2: 3.0}}, {"t": {0: 0.0, 1: 2.0, 2: 2.0}}, reps=500)
    assert tasks == ["t"] and interval.value == pytest.approx(6 / 9)
    better, _ = probability_of_improvement(*(report_scores(synthetic(5, shift)) for shift in (200.0, 0.0)), reps=500)
    assert better.value == 1.0


def report_scores(rows: list[dict]) -> dict[str, dict[int, float]]:
    return {task: {row["seed"]: row["eval_mean"] for row in rows if row["task"] == task} for task in "abc"}


def test_the_report_command_prints_the_table_and_writes_json(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps({"seeds": 5, "tasks": {task: {"recipe": str(RECIPES / "cartpole-ppo.yaml"), "random": 20.0, "reference": 500.0,
                                                             **({"published": {"score": 290.0, "source": "a table"}} if task == "a" else {})}
                                                      for task in "abc"}}))
    for name, shift in [("mine", 50.0), ("theirs", 0.0)]:
        for row in synthetic(5, shift):
            append_result(tmp_path / f"{name}.jsonl", row)
    code = main(["bench", "report", str(suite), str(tmp_path / "mine.jsonl"), "--against", str(tmp_path / "theirs.jsonl"),
                 "--reps", "500", "--json", str(tmp_path / "report.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "iqm" in printed and "290.00  (a table)" in printed and "P(these > the other) over 3 tasks" in printed
    data = json.loads((tmp_path / "report.json").read_text())
    assert data == json.loads(json.dumps(report(synthetic(5, 50.0), NORMALISE, synthetic(5), reps=500)))


def test_a_run_that_fails_is_reported_and_the_others_go_on(tmp_path):
    suite = load_suite(write_suite(tmp_path, [0, 1]))
    blocked = tmp_path / "out" / "runs" / "rtg" / "seed-0"
    blocked.mkdir(parents=True)
    (blocked / "notes.txt").write_text("not a run")  # a folder pgkit will not replace
    with pytest.raises(PgkitError, match=r"1 of 2 runs failed[\s\S]*rtg seed 0"):
        run_suite(suite, tmp_path / "out", workers=2)
    assert [row["seed"] for row in read_results(tmp_path / "out" / RESULTS_FILE)] == [1]
    assert (blocked / "notes.txt").read_text() == "not a run"


def test_a_suite_whose_recipe_does_not_fit_its_env_is_refused_before_any_run(tmp_path):
    path = write_suite(tmp_path, [0], overrides=[*SMALL, "policy_head=gaussian"])
    with pytest.raises(RecipeError, match="gaussian"):
        run_suite(load_suite(path), tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "runs").exists()
