"""``pgkit bench report``: a suite's final scores with honest statistics (Agarwal et al. 2021, "Deep RL at the
Edge of the Statistical Precipice"), computed by the rliable package itself (the ``stats`` extra).

- Per task: the mean final eval over seeds and its 95% bootstrap interval (resampling the seeds).
- Over the tasks that have a normalisation (``random`` -> 0, ``reference`` -> 1): the interquartile mean
  (IQM: the mean of the middle 50% of all runs' normalised scores), mean, median and optimality gap, each with
  a 95% stratified-bootstrap interval (seeds resampled within each task), and the performance profile: the
  fraction of runs whose normalised score exceeds tau, with its interval.
- Against another results file: the probability of improvement P(X > Y), the Mann-Whitney statistic per task
  averaged over the tasks both hold, with a 95% interval (each file's seeds resampled independently).

Aggregates take the seeds every normalised task holds (rliable's score matrices are runs x tasks)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from pgkit.errors import PgkitError
from pgkit.runtime.variance import Interval  # a statistic and its bootstrap percentile interval

AGGREGATES = ("iqm", "mean", "median", "optimality_gap")
PROFILE_POINTS = 11  # tau = 0, 0.1, ..., 1.0 (of the normalised score)


def rliable() -> tuple[Any, Any]:
    """rliable's ``library`` and ``metrics`` modules, or a PgkitError saying how to install them."""
    try:
        from rliable import library, metrics
    except ImportError:
        raise PgkitError("pgkit bench report computes its statistics with rliable, which is not installed: "
                         "pip install 'pgkit[stats]'") from None
    return library, metrics


def task_scores(results: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Each task's final eval by seed (a seed given twice: the later line wins, as a re-run replaces a run)."""
    scores: dict[str, dict[int, float]] = {}
    for row in results:
        scores.setdefault(row["task"], {})[row["seed"]] = float(row["eval_mean"])
    return scores


def _estimate(scores: np.ndarray | tuple[np.ndarray, np.ndarray], function: Callable[..., Any], reps: int, seed: int) -> Interval:
    """rliable's stratified bootstrap of ``function`` over ``scores`` (runs x tasks; a pair: independently)."""
    library, _ = rliable()
    np.random.seed(seed)  # rliable's bootstrap draws its indices from numpy's global generator
    points, intervals = library.get_interval_estimates({"x": scores}, lambda *s: np.array([function(*s)]), reps=reps)
    return Interval(float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0]))


def per_task(scores: dict[str, dict[int, float]], reps: int = 50_000, seed: int = 0) -> dict[str, Interval]:
    """Each task's mean final eval with its 95% bootstrap interval over seeds."""
    return {task: _estimate(np.array(list(by_seed.values()))[:, None], np.mean, reps, seed) for task, by_seed in scores.items()}


def normalised_matrix(scores: dict[str, dict[int, float]], normalise: dict[str, Callable[[float], float]]) -> tuple[np.ndarray, list[str], list[int]]:
    """(normalised scores [seeds x tasks], tasks, seeds): the tasks with a normalisation, on the seeds they all hold."""
    tasks = [task for task in scores if task in normalise]
    if not tasks:
        raise PgkitError("no task of these results has a normalisation (random and reference in the suite file); aggregates need one")
    seeds = sorted(set.intersection(*(set(scores[task]) for task in tasks)))
    if not seeds:
        raise PgkitError(f"the normalised tasks {', '.join(tasks)} share no seed; aggregates need the same seeds on every task")
    matrix = np.array([[normalise[task](scores[task][seed]) for task in tasks] for seed in seeds])
    return matrix, tasks, seeds


def aggregates(matrix: np.ndarray, reps: int = 50_000, seed: int = 0) -> dict[str, Interval]:
    """IQM, mean, median and optimality gap of normalised scores [runs x tasks], with stratified-bootstrap intervals."""
    _, metrics = rliable()
    functions = {"iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean, "median": metrics.aggregate_median,
                 "optimality_gap": metrics.aggregate_optimality_gap}
    return {name: _estimate(matrix, functions[name], reps, seed) for name in AGGREGATES}


def performance_profile(matrix: np.ndarray, reps: int = 2_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(taus, fraction of runs above each tau, its 95% interval [2, taus]) of normalised scores [runs x tasks]."""
    library, _ = rliable()
    taus = np.linspace(0.0, 1.0, PROFILE_POINTS)
    np.random.seed(seed)
    profiles, intervals = library.create_performance_profile({"x": matrix}, taus, reps=reps)
    return taus, profiles["x"], intervals["x"]


def probability_of_improvement(x: dict[str, dict[int, float]], y: dict[str, dict[int, float]], reps: int = 2_000,
                               seed: int = 0) -> tuple[Interval, list[str]]:
    """P(X > Y) averaged over the tasks both hold (each on the seeds it holds in both), with its interval."""
    _, metrics = rliable()
    tasks = [task for task in x if task in y]
    if not tasks:
        raise PgkitError("the two results files share no task, so there is nothing to compare")
    runs_x, runs_y = min(len(x[t]) for t in tasks), min(len(y[t]) for t in tasks)
    first = lambda by_seed, n: [by_seed[s] for s in sorted(by_seed)[:n]]  # noqa: E731 - the first n seeds of a task
    matrix_x = np.array([first(x[t], runs_x) for t in tasks]).T
    matrix_y = np.array([first(y[t], runs_y) for t in tasks]).T
    return _estimate((matrix_x, matrix_y), metrics.probability_of_improvement, reps, seed), tasks


def report(results: list[dict[str, Any]], normalise: dict[str, Callable[[float], float]], against: list[dict[str, Any]] | None = None,
           reps: int = 50_000, seed: int = 0) -> dict[str, Any]:
    """Everything ``pgkit bench report`` prints, as plain data (its ``--json``)."""
    scores = task_scores(results)
    out: dict[str, Any] = {
        "tasks": {task: {"seeds": sorted(by_seed), "mean": interval.value, "low": interval.low, "high": interval.high}
                  for (task, by_seed), interval in zip(scores.items(), per_task(scores, reps, seed).values())},
    }
    if any(task in normalise for task in scores):
        matrix, tasks, seeds = normalised_matrix(scores, normalise)
        taus, profile, band = performance_profile(matrix, min(reps, 2_000), seed)
        out["aggregate"] = {
            "tasks": tasks, "seeds": seeds,
            **{name: vars(interval) for name, interval in aggregates(matrix, reps, seed).items()},
            "profile": {"tau": taus.tolist(), "fraction": profile.tolist(), "low": band[0].tolist(), "high": band[1].tolist()},
        }
    if against is not None:
        interval, tasks = probability_of_improvement(scores, task_scores(against), min(reps, 2_000), seed)
        out["probability_of_improvement"] = {"tasks": tasks, **vars(interval)}
    return out


def format_report(data: dict[str, Any], published: dict[str, tuple[float, str]] | None = None) -> str:
    """The report as text: a per-task table (beside the published score where the suite gives one), then aggregates."""
    published = published or {}
    lines = [f"{'task':<32} {'seeds':>5} {'mean':>10} {'95% interval':>22} {'published':>10}"]
    for task, row in data["tasks"].items():
        score, source = published.get(task, (math.nan, ""))
        shown = f"{score:>10.2f}" if not math.isnan(score) else f"{'':>10}"
        interval = f"[{row['low']:.2f}, {row['high']:.2f}]"
        lines.append(f"{task:<32} {len(row['seeds']):>5} {row['mean']:>10.2f} {interval:>22} {shown}" + (f"  ({source})" if source else ""))
    aggregate = data.get("aggregate")
    if aggregate:
        lines.append(f"\nnormalised over {len(aggregate['tasks'])} tasks x {len(aggregate['seeds'])} seeds (95% stratified bootstrap):")
        for name in AGGREGATES:
            value = aggregate[name]
            lines.append(f"  {name:<15} {value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]")
        profile = aggregate["profile"]
        cells = "  ".join(f"{tau:.1f}: {fraction:.2f}" for tau, fraction in zip(profile["tau"], profile["fraction"]))
        lines.append(f"  fraction of runs above tau: {cells}")
    improvement = data.get("probability_of_improvement")
    if improvement:
        lines.append(f"\nP(these > the other) over {len(improvement['tasks'])} tasks: "
                     f"{improvement['value']:.3f} [{improvement['low']:.3f}, {improvement['high']:.3f}]")
    return "\n".join(lines)
