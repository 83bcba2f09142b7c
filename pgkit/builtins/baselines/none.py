"""Baseline ``none``: b(s) = 0."""

from __future__ import annotations

import torch
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.kinds import Baseline


class NoBaseline(Baseline):
    """No baseline: b(s) = 0, so the advantages are the plain returns."""

    name = "none"
    requires = frozenset()  # b = 0 fits every advantage estimator

    def __call__(self, batch: Batch) -> Tensor:
        return torch.zeros_like(batch.rewards)


@hookimpl
def register_baselines(register):
    register(NoBaseline)
