"""How good a gradient estimator is, from its per-batch estimates (``GradientEstimates``), with bootstrap
intervals over batches:

- total variance: tr Cov[g_b], the expected squared distance of one batch's estimate from the mean;
- relative variance: tr Cov[g_b] / ||E g||^2 (one over the signal-to-noise ratio), scaled to batches of
  1,000 steps (times mean L_b / 1000) so that recipes with different batch sizes compare; normalizing
  advantages does not change it, so it compares any two recipes;
- cosine between two estimators' means (do they point the same way?);
- on a tabular MDP, bias against the exact gradient: ||E g - grad J|| / ||grad J|| and the largest
  z-score of a component (delta-method standard errors of the steps-weighted mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pgkit.runtime.gradients import GradientEstimates


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{_number(self.value)} [{_number(self.low)}, {_number(self.high)}]"


@dataclass(frozen=True)
class GradientStatistics:
    batches: int
    steps_per_batch: float
    mean_norm: Interval  # ||E g||
    total_variance: Interval  # tr Cov[g_b]
    relative_variance: Interval  # tr Cov[g_b] / ||E g||^2 * mean L_b / 1000
    relative_bias: Interval | None = None  # ||E g - exact|| / ||exact||, on a tabular MDP
    bias_z: float | None = None  # max_j |E g_j - exact_j| / SE_j


def gradient_statistics(estimates: GradientEstimates, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> GradientStatistics:
    """The statistics above, each with a ``level`` bootstrap interval from ``resamples`` resamplings of
    the batches (seeded: the same estimates give the same intervals)."""
    g, steps = estimates.gradients, estimates.batch_steps.double()
    count = len(g)
    if count < 2:
        raise ValueError("statistics over batches need at least 2 batches")
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(0, count, (resamples, count), generator=generator)

    def statistics(index: Tensor | None) -> dict[str, Tensor]:
        sample, weights = (g, steps) if index is None else (g[index], steps[index])
        mean = (sample * weights[..., None]).sum(-2) / weights.sum(-1, keepdim=True)
        variance = sample.var(-2).sum(-1)
        relative = variance / mean.pow(2).sum(-1) * weights.mean(-1) / 1000
        found = {"mean_norm": mean.norm(dim=-1), "total_variance": variance, "relative_variance": relative}
        if estimates.exact is not None:
            found["relative_bias"] = (mean - estimates.exact).norm(dim=-1) / estimates.exact.norm()
        return found

    point, resampled = statistics(None), statistics(draws)
    tail = (1 - level) / 2

    def interval(name: str) -> Interval:
        low, high = torch.quantile(resampled[name], torch.tensor([tail, 1 - tail], dtype=resampled[name].dtype)).tolist()
        return Interval(float(point[name]), low, high)

    bias = interval("relative_bias") if estimates.exact is not None else None
    return GradientStatistics(
        count, float(steps.mean()), interval("mean_norm"), interval("total_variance"), interval("relative_variance"), bias, _bias_z(estimates)
    )


def _bias_z(estimates: GradientEstimates) -> float | None:
    """max_j |mean_j - exact_j| / SE_j, SE from the delta method for the ratio sum_b x_b / sum_b L_b."""
    if estimates.exact is None:
        return None
    g, steps = estimates.gradients, estimates.batch_steps.double()
    count, mean = len(g), estimates.mean
    residuals = g * steps[:, None] - mean * steps[:, None]  # x_b - r L_b
    error = residuals.pow(2).sum(0).div(count * (count - 1)).sqrt() / steps.mean()
    z = (mean - estimates.exact).abs() / error.clamp_min(1e-300)
    return float(z.max())


def cosine(a: Tensor, b: Tensor) -> float:
    """cos of the angle between two mean gradients (nan if either is zero)."""
    norms = float(a.norm() * b.norm())
    return float(a @ b) / norms if norms > 0 else math.nan


def _number(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "nan"
