"""Baseline ``mean_return``: a constant, the average return of earlier batches."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, Spec, hookimpl
from pgkit.functional import episode_total_return
from pgkit.kinds import Baseline


class MeanReturnSpec(Spec):
    momentum: float = Field(
        0.0, ge=0, lt=1, description="b <- momentum * b + (1 - momentum) * mean R(tau) of the episodes that ended in the last batch; 0 keeps only the last batch."
    )


class MeanReturn(Baseline):
    """Constant baseline b = the mean return R(tau) of the episodes that ended in earlier batches (0 before
    the first; Williams 1992), in the batch's reward units; an episode that began in an earlier batch
    counts its earlier rewards too. Fitted only on past batches, so it is independent of the current one
    and the gradient stays unbiased."""

    name = "mean_return"
    Spec = MeanReturnSpec

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        super().__init__(spec, **params)
        self.value: float | None = None

    def __call__(self, batch: Batch) -> Tensor:
        return torch.full_like(batch.rewards, self.value or 0.0)

    def update(self, batch: Batch) -> None:
        ended = batch.terminated | batch.truncated
        if not ended.any():
            return  # no episode ended: nothing new to average
        prior = batch.prior_rewards if batch.prior_rewards is not None else torch.zeros_like(batch.rewards[0])
        totals = episode_total_return(batch.rewards, batch.terminated, batch.truncated, torch.zeros_like(batch.rewards), prior)
        mean = float(totals[ended].mean())
        m = self.spec.momentum
        self.value = mean if self.value is None else m * self.value + (1 - m) * mean


@hookimpl
def register_baselines(register):
    register(MeanReturn)
