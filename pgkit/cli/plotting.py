"""Learning curves of runs: return against environment steps, grouped by recipe name and env id (and, for a
multi-agent run with policy groups, by group: each group's agents' mean return).

Each group is drawn as its runs (thin lines, each to its own end) and, where two or more runs have
data, their mean with a 95% bootstrap confidence band over runs (resampling whole runs). The legend
says how many runs a group has and, when the shortest run is more than 5% shorter than the longest,
where the mean stops: no curve is cut without saying so.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from pgkit.errors import PgkitError
from pgkit.runtime.run import METRICS_FILE, RECIPE_FILE
from pgkit.runtime.stored_run import read_metrics, read_recipe_file, recipe_label

RESAMPLES = 1000


def read_curves(run_dir: Path) -> list[tuple[tuple[str, str], np.ndarray, np.ndarray]]:
    """((recipe name, env id), steps, return_mean) of one run folder, read through ``pgkit.runtime.stored_run``; for a
    multi-agent run with policy groups, one curve per group (``return_mean/<group>``, the name labelled with the group)."""
    metrics, recipe = run_dir / METRICS_FILE, run_dir / RECIPE_FILE
    if not metrics.is_file() or not recipe.is_file():
        raise PgkitError(f"{run_dir} is not a run folder with {METRICS_FILE} and {RECIPE_FILE} (was the csv logger on?)")
    document = read_recipe_file(run_dir)
    name, env_id = recipe_label(document, run_dir)
    groups = _policy_groups(document)
    series = {f"{name} ({group})": f"return_mean/{group}" for group in groups} if groups else {name: "return_mean"}
    columns = read_metrics(metrics, ("step", *series.values()))
    curves = []
    for label, column in series.items():
        steps, returns = columns["step"], columns[column]
        kept = np.isfinite(steps) & np.isfinite(returns)
        if not kept.any():
            raise PgkitError(f"{run_dir} has no finished episodes to plot yet")
        steps, returns = steps[kept], returns[kept]
        if np.any(np.diff(steps) <= 0):
            raise PgkitError(f"{metrics}: its steps do not increase from row to row; not a metrics.csv pgkit wrote")
        curves.append(((label, env_id), steps, returns))
    return curves


def _policy_groups(document: dict) -> list[str]:
    """The names of a stored recipe's policy groups (env.agents.groups), or none."""
    env = document.get("env")
    agents = env.get("agents") if isinstance(env, dict) else None
    groups = agents.get("groups") if isinstance(agents, dict) else None
    return [str(group) for group in groups] if isinstance(groups, dict) else []


def mean_with_band(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grid, mean, low, high) over the steps every run covers: the mean of the runs' curves (linearly
    interpolated) and its 95% bootstrap interval from resampling the runs."""
    grid = np.linspace(max(steps[0] for steps, _ in curves), min(steps[-1] for steps, _ in curves), points)
    values = np.stack([np.interp(grid, steps, returns) for steps, returns in curves])  # [runs, points]
    draws = np.random.default_rng(seed).integers(0, len(curves), size=(RESAMPLES, len(curves)))
    means = values[draws].mean(axis=1)  # [resamples, points]
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return grid, values.mean(axis=0), low, high


def pyplot(command: str, out: Path):
    """matplotlib.pyplot drawing to files (the Agg backend), or a PgkitError naming the extra ``command`` needs
    or the image formats matplotlib writes when ``out``'s extension is not one of them."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PgkitError(f"{command} needs matplotlib: pip install 'pgkit[plot]'") from None
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in formats:
        raise PgkitError(f"{command}: {out} has no image extension matplotlib writes; end it in one of: {', '.join('.' + f for f in sorted(formats))}")
    return plt


def plot_runs(run_dirs: list[Path], out: Path) -> dict[str, int]:
    """Plot the runs grouped by (recipe name, env id); returns runs per group, labelled ``name on env``."""
    plt = pyplot("pgkit plot", out)
    groups: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for run_dir in run_dirs:
        for key, steps, returns in read_curves(run_dir):
            groups[key].append((steps, returns))
    figure, axes = plt.subplots(figsize=(8, 5))
    for (name, env_id), curves in sorted(groups.items()):
        color = axes._get_lines.get_next_color()
        label = f"{name} on {env_id}"
        for steps, returns in curves:
            axes.plot(steps, returns, color=color, alpha=0.35 if len(curves) > 1 else 1.0, linewidth=0.8 if len(curves) > 1 else 1.5,
                      label=label if len(curves) == 1 else None)
        if len(curves) > 1:
            grid, mean, low, high = mean_with_band(curves)
            shortest = min(steps[-1] for steps, _ in curves)
            longest = max(steps[-1] for steps, _ in curves)
            until = "" if shortest >= 0.95 * longest else f", mean to {shortest:,.0f} steps, where all runs have data"
            axes.plot(grid, mean, color=color, linewidth=2, label=f"{label}: mean of {len(curves)} runs, 95% bootstrap band{until}")
            axes.fill_between(grid, low, high, color=color, alpha=0.25)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("mean return of the last episodes")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return {f"{name} on {env_id}": len(curves) for (name, env_id), curves in groups.items()}
