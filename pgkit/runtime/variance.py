"""How good a gradient estimator is, from its per-batch estimates (``GradientEstimates``), with bootstrap
intervals over batches:

- total variance: tr Cov[g_b], the expected squared distance of one batch's estimate from the mean;
- relative variance: tr Cov[g_b] / ||E g||^2 (one over the signal-to-noise ratio), scaled to batches
  costing 1,000 environment steps (times the mean env steps per batch / 1000, dropped steps included) so
  that recipes with different batch sizes compare; normalizing advantages does not change it, so it
  compares any two recipes;
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
    steps_per_batch: float  # environment steps per batch (what a batch costs)
    mean_norm: Interval  # ||E g||
    total_variance: Interval  # tr Cov[g_b]
    relative_variance: Interval  # tr Cov[g_b] / ||E g||^2 * mean env steps per batch / 1000
    relative_bias: Interval | None = None  # ||E g - exact|| / ||exact||, on a tabular MDP
    bias_z: float | None = None  # max_j |E g_j - exact_j| / SE_j
    relative_variance_draws: Tensor | None = None  # [R] its bootstrap draws, for comparing recipes (``variance_ratio``)


def gradient_statistics(estimates: GradientEstimates, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> GradientStatistics:
    """The statistics above, each with a ``level`` bootstrap interval from ``resamples`` resamplings of
    the batches (seeded: the same estimates give the same intervals). A resample is a vector of counts
    c_b, and every statistic is a quadratic form in c over the batches' Gram matrix g_b . g_b', so the
    bootstrap costs [R, K] x [K, K] products, not R copies of the [K, P] estimates."""
    g, steps, costs = estimates.gradients, estimates.batch_steps.double(), estimates.env_steps.double()
    count = len(g)
    if count < 2:
        raise ValueError("statistics over batches need at least 2 batches")
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(0, count, (resamples, count), generator=generator)
    counts = torch.zeros(resamples, count, dtype=torch.float64).scatter_add_(1, draws, torch.ones(resamples, count, dtype=torch.float64))
    gram = g @ g.T
    along_exact = g @ estimates.exact if estimates.exact is not None else None

    def statistics(c: Tensor) -> dict[str, Tensor]:
        """For count vectors c [R, K]: the steps-weighted mean's norm, tr Cov, relative variance, bias."""
        cost = (c * costs).sum(-1) / c.sum(-1)  # mean env steps per batch
        w = c * steps
        total = w.sum(-1)
        mean_squared = ((w @ gram) * w).sum(-1) / total**2  # ||sum_b w_b g_b / sum_b w_b||^2
        n = c.sum(-1)
        plain_squared = ((c @ gram) * c).sum(-1) / n**2
        variance = ((c * gram.diagonal()).sum(-1) - n * plain_squared) / (n - 1)  # sum_i ||g_i - g_bar||^2 / (n - 1)
        found = {
            "mean_norm": mean_squared.clamp_min(0).sqrt(),
            "total_variance": variance,
            "relative_variance": variance / mean_squared * cost / 1000,
        }
        if along_exact is not None:
            exact = estimates.exact
            distance = mean_squared - 2 * (w @ along_exact) / total + exact @ exact
            found["relative_bias"] = distance.clamp_min(0).sqrt() / exact.norm()
        return found

    point, resampled = statistics(torch.ones(1, count, dtype=torch.float64)), statistics(counts)
    tail = (1 - level) / 2

    def interval(name: str) -> Interval:
        low, high = torch.quantile(resampled[name], torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
        return Interval(float(point[name][0]), low, high)

    bias = interval("relative_bias") if along_exact is not None else None
    return GradientStatistics(
        count, float(costs.mean()), interval("mean_norm"), interval("total_variance"), interval("relative_variance"), bias, _bias_z(estimates),
        resampled["relative_variance"],
    )


def variance_ratio(a: GradientStatistics, b: GradientStatistics, level: float = 0.95) -> Interval:
    """a's relative variance over b's, with the interval of the ratio of their (independent) bootstrap
    draws: an interval above 1 says a's estimator is noisier than b's, significantly at ``level``."""
    draws = a.relative_variance_draws / b.relative_variance_draws
    tail = (1 - level) / 2
    low, high = torch.quantile(draws, torch.tensor([tail, 1 - tail], dtype=draws.dtype)).tolist()
    return Interval(a.relative_variance.value / b.relative_variance.value, low, high)


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
