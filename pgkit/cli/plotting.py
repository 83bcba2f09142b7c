"""Learning curves of runs: return against environment steps, mean and spread over runs of one recipe."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from pgkit.errors import PgkitError
from pgkit.runtime.run import METRICS_FILE, RECIPE_FILE


def read_curve(run_dir: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """(recipe name, steps, return_mean) of one run folder."""
    metrics, recipe = run_dir / METRICS_FILE, run_dir / RECIPE_FILE
    if not metrics.is_file() or not recipe.is_file():
        raise PgkitError(f"{run_dir} is not a run folder with {METRICS_FILE} and {RECIPE_FILE} (was the csv logger on?)")
    name = yaml.safe_load(recipe.read_text()).get("name") or run_dir.name
    rows = [r for r in csv.DictReader(open(metrics, newline="")) if r.get("return_mean") and not math.isnan(float(r["return_mean"]))]
    if not rows:
        raise PgkitError(f"{run_dir} has no finished episodes to plot yet")
    return name, np.array([float(r["step"]) for r in rows]), np.array([float(r["return_mean"]) for r in rows])


def plot_runs(run_dirs: list[Path], out: Path) -> dict[str, int]:
    """Plot every run's curve, grouped by recipe name: the mean over a group's runs (interpolated on a
    common step grid) and the band between their minimum and maximum. Returns runs per group."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PgkitError("pgkit plot needs matplotlib: pip install 'pgkit[plot]'") from None
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for run_dir in run_dirs:
        name, steps, returns = read_curve(run_dir)
        groups[name].append((steps, returns))
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, curves in sorted(groups.items()):
        grid = np.linspace(max(c[0][0] for c in curves), min(c[0][-1] for c in curves), 200)
        values = np.stack([np.interp(grid, steps, returns) for steps, returns in curves])
        line = axes.plot(grid, values.mean(axis=0), label=f"{name} ({len(curves)} run{'s' if len(curves) > 1 else ''})")[0]
        if len(curves) > 1:
            axes.fill_between(grid, values.min(axis=0), values.max(axis=0), alpha=0.25, color=line.get_color())
    axes.set_xlabel("environment steps")
    axes.set_ylabel("mean return of the last episodes")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return {name: len(curves) for name, curves in groups.items()}
