"""``pgkit variance``: recipes' policy-gradient estimates compared from one fixed policy (see
``pgkit.runtime.variance``), as a table and optionally a plot."""

from __future__ import annotations

from pathlib import Path

from pgkit.cli.plotting import pyplot
from pgkit.cli.progress import progress_bar
from pgkit.recipe import Recipe
from pgkit.runtime.gradients import GradientEstimates, gradient_estimates
from pgkit.runtime.variance import GradientStatistics, cosine, gradient_statistics, variance_ratio


def compare_recipes(
    recipes: list[Recipe], batches: int, critic_batches: int, checkpoint: Path | None = None
) -> tuple[list[GradientEstimates], list[GradientStatistics], str]:
    """Estimates and statistics of every recipe from one initial policy: the checkpoint's, or the first
    recipe's seeded fresh one; and a sentence saying which."""
    from pgkit.runtime.stored_run import read_checkpoint
    from pgkit.runtime.training import build_agent

    if checkpoint is not None:  # its weights only: the recipes are the files given
        stored = read_checkpoint(checkpoint)
        initial, origin = stored.weights, f"the policy in {stored.path}"
    else:
        initial, origin = build_agent(recipes[0]).state_dict(), f"the seeded fresh policy of {recipes[0].name} (seed {recipes[0].settings.seed})"
    estimates = []
    for index, recipe in enumerate(recipes):
        with progress_bar(f"recipe {index + 1} of {len(recipes)}", critic_batches + batches) as progress:
            estimates.append(gradient_estimates(recipe, batches, initial, critic_batches, progress=progress))
    return estimates, [gradient_statistics(e, seed=index) for index, e in enumerate(estimates)], origin  # independent resamples


def table(names: list[str], estimates: list[GradientEstimates], statistics: list[GradientStatistics]) -> str:
    """One row per recipe, the cosines between their mean gradients, and each recipe's relative variance
    over the next's."""
    tabular = all(s.relative_bias is not None for s in statistics)
    header = ["recipe", "steps/batch", "|E g|", "total variance [95%]", "relative variance per 1k steps [95%]"] + (["relative bias [95%]", "max |z|"] if tabular else [])
    rows = []
    for name, s in zip(names, statistics):
        row = [name, f"{s.steps_per_batch:.0f}", f"{s.mean_norm.value:.3g}", str(s.total_variance), str(s.relative_variance)]
        if tabular:
            row += [str(s.relative_bias), f"{s.bias_z:.1f}"]
        rows.append(row)
    lines = _aligned([header, *rows])
    lines.append("")
    lines.append("what each recipe's estimates are the gradient of" + (" (the bias is against that objective's exact gradient):" if tabular else ":"))
    lines += [f"  ({i + 1}) {e.objective}" for i, e in enumerate(estimates)]
    lines.append("")
    lines.append("cosine between mean gradients:")
    short = [f"({i + 1})" for i in range(len(names))]
    cosines = [[f"({i + 1}) {name}", *(f"{cosine(a.mean, b.mean):+.3f}" for b in estimates)] for i, (name, a) in enumerate(zip(names, estimates))]
    lines += _aligned([["", *short], *cosines])
    if len(names) > 1:
        lines.append("")
        lines.append("relative variance of each recipe over the next's [95% bootstrap interval; above 1: significantly noisier]:")
        for i in range(len(names) - 1):
            lines.append(f"  ({i + 1}) / ({i + 2}): {variance_ratio(statistics[i], statistics[i + 1])}")
    return "\n".join(lines)


def plot(names: list[str], statistics: list[GradientStatistics], out: Path) -> None:
    """Total and relative variance per recipe, with their bootstrap intervals."""
    plt = pyplot("pgkit variance --plot", out)
    from matplotlib.ticker import NullFormatter
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.6 * len(names) + 2))
    for ax, attribute, label in [(axes[0], "total_variance", "total variance tr Cov[g]"), (axes[1], "relative_variance", "tr Cov[g] / ||E g||^2, per 1k steps")]:
        values = [getattr(s, attribute) for s in statistics]
        positions = range(len(names))
        errors = [[v.value - v.low for v in values], [v.high - v.value for v in values]]
        ax.barh(positions, [v.value for v in values], xerr=errors, capsize=4, color="tab:blue", alpha=0.7)
        ax.set_yticks(list(positions), names)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x")
    axes[1].set_yticklabels([])
    figure.suptitle("policy-gradient estimates from one policy; bars: 95% bootstrap intervals over batches", fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
