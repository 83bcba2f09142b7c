"""``pgkit bench run SUITE --out DIR``: every task of a suite file (``pgkit.cli.suite``) trained on every seed, in
parallel processes or as Ray tasks, each run then evaluated; one line per finished (task, seed) in
``DIR/results.jsonl``.

A suite killed halfway continues where it stopped when run again with the same ``--out``: finished pairs
are in the results file and are not run again; a run with a checkpoint resumes from it (exact, as
``pgkit train --resume``, the recipe read again from the suite's file); a finished run whose result was not
yet written is only evaluated. A results line is written whole or not at all (a line cut by a kill is
dropped, its run evaluated again)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from pgkit.errors import PgkitError, TrainingInterrupted
from pgkit.cli.suite import Suite

RESULTS_FILE = "results.jsonl"
EVAL_SEED_OFFSET = 10_000  # seed s is evaluated on episodes seeded 10,000 + s onwards, apart from its training resets


@dataclass(frozen=True)
class Job:
    """One task trained on one seed into ``run_dir``."""

    task: str
    seed: int
    recipe: str
    overrides: tuple[str, ...]
    run_dir: str
    eval_episodes: int


def read_results(path: Path) -> list[dict[str, Any]]:
    """The results lines of ``path`` (none if it does not exist); a last line cut short by a kill is dropped
    from the file, so the next line appended starts clean."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        with open(path, "r+", encoding="utf-8") as file:
            file.truncate(len(text.encode("utf-8")))
    results = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise PgkitError(f"{path}, line {number}: not a results line pgkit wrote (invalid JSON); move the file away to start over") from None
        if not isinstance(row, dict) or not isinstance(row.get("task"), str) or not isinstance(row.get("seed"), int) \
                or not isinstance(row.get("eval_mean"), (int, float)):
            raise PgkitError(f"{path}, line {number}: a results line needs task (text), seed (integer) and eval_mean (number)")
        results.append(row)
    return results


def append_result(path: Path, row: dict[str, Any]) -> None:
    """One results line, flushed to disk before returning."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(row) + "\n")
        file.flush()
        os.fsync(file.fileno())


def pending_jobs(suite: Suite, out: Path) -> list[Job]:
    """The (task, seed) pairs of ``suite`` that ``out``'s results file does not hold yet, in suite order."""
    done = {(row["task"], row["seed"]) for row in read_results(out / RESULTS_FILE)}
    checkpoints = (f"checkpoint_every={suite.checkpoint_every}",) if suite.checkpoint_every is not None else ()
    return [
        Job(name, seed, str(task.recipe), (*checkpoints, *task.overrides), str(out / "runs" / name / f"seed-{seed}"), suite.eval_episodes)
        for name, task in suite.tasks.items() for seed in suite.seed_list if (name, seed) not in done
    ]


def run_job(job: Job) -> dict[str, Any]:
    """Train (or resume, or only evaluate) ``job``'s run, evaluate its final policy's mode; its results line."""
    from pgkit.cli.seeds import SeedProgress, without_console
    from pgkit.recipe import load_recipe
    from pgkit.runtime.evaluation import evaluate
    from pgkit.runtime.loading import load_agent
    from pgkit.runtime.run import CHECKPOINT_FILE
    from pgkit.runtime.stored_run import read_checkpoint
    from pgkit.runtime.training import load_for_resume, train

    started = time.perf_counter()
    run_dir, overrides = Path(job.run_dir), [*job.overrides, f"seed={job.seed}"]
    recipe = load_recipe(job.recipe, overrides)
    progress = [SeedProgress(job.seed, f"{job.task} seed {job.seed}")]
    checkpoint = run_dir / CHECKPOINT_FILE
    if checkpoint.is_file() and read_checkpoint(checkpoint).step >= recipe.slots["trainer"].spec.total_steps:
        agent, _ = load_agent(run_dir)  # finished before its result was written: the recipe pgkit stored with it
    elif checkpoint.is_file():
        recipe, state = load_for_resume(run_dir, overrides, recipe_file=Path(job.recipe))
        agent, _ = train(without_console(recipe), run_dir, resume=state, loggers=progress)
    else:
        agent, _ = train(without_console(recipe), run_dir, loggers=progress, replace=True)  # a start that left no checkpoint
    result = evaluate(agent, recipe.settings.env, job.eval_episodes, seed=EVAL_SEED_OFFSET + job.seed)
    success = {"success_rate": result.success_rate} if result.success_rate is not None else {}
    return {
        **asdict(job), "overrides": list(job.overrides), "steps": recipe.slots["trainer"].spec.total_steps,
        "eval_mean": result.mean, "eval_std": result.std, **success, "wall_s": round(time.perf_counter() - started, 1),
        "cpu": cpu_model(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform module knows: each result says where it ran."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_suite(suite: Suite, out: Path, workers: int, address: str | None = None) -> int:
    """Run every pending job of ``suite`` into ``out`` on ``workers`` processes (or as Ray tasks on the
    cluster at ``address``), appending each result as it comes; returns the number run. A job that fails is
    reported and left for the next run of the suite; the others go on, and a PgkitError lists the failures."""
    from pgkit.plugins.registry import default_registry
    from pgkit.recipe import load_recipe
    from pgkit.recipe.compatibility import check_compatibility

    out.mkdir(parents=True, exist_ok=True)
    jobs = pending_jobs(suite, out)
    total = len(suite.tasks) * len(suite.seed_list)
    print(f"{total - len(jobs)} of {total} runs already in {out / RESULTS_FILE}; running {len(jobs)}", file=sys.stderr)
    for recipe, overrides in dict.fromkeys((job.recipe, job.overrides) for job in jobs):  # each task's recipe checked once, against its env
        check_compatibility(load_recipe(recipe, list(overrides)), default_registry())  # too, before any process starts
    failures = []
    for job, row in _outcomes(jobs, workers, address):
        if isinstance(row, BaseException):
            failures.append(f"{job.task} seed {job.seed} ({job.run_dir}): {type(row).__name__}: {row}")
            print(f"{job.task} seed {job.seed}: failed: {row}", file=sys.stderr, flush=True)
            continue
        append_result(out / RESULTS_FILE, row)
        print(f"{job.task} seed {job.seed}: eval {row['eval_mean']:.2f} +/- {row['eval_std']:.2f}", file=sys.stderr, flush=True)
    if failures:
        raise PgkitError(f"{len(failures)} of {len(jobs)} runs failed (run the suite again to retry them; finished ones are kept):\n  "
                         + "\n  ".join(failures))
    return len(jobs)


def _outcomes(jobs: list[Job], workers: int, address: str | None) -> Iterator[tuple[Job, dict[str, Any] | BaseException]]:
    """Each job with its results line or the exception it raised, as they finish."""
    if not jobs:
        return
    if address is not None:
        from pgkit.runtime.ray_cluster import connect_ray

        ray = connect_ray(address, 1, "--address")
        remote = ray.remote(num_cpus=1)(run_job)
        waiting = {remote.remote(job): job for job in jobs}
        while waiting:
            finished, _ = ray.wait(list(waiting), num_returns=1)
            job = waiting.pop(finished[0])
            try:
                yield job, ray.get(finished[0])
            except Exception as exc:  # RayTaskError wraps the job's own exception: report its cause
                yield job, getattr(exc, "cause", None) or exc
        return
    from pgkit.runtime.job_processes import run_in_processes

    try:
        yield from run_in_processes(run_job, jobs, workers)
    except TrainingInterrupted as exc:
        raise TrainingInterrupted(f"{exc}; those stopped in training saved a checkpoint: run the suite again with the same "
                                  "--out to continue", exc.exit_code) from None
