"""Baseline ``critic``: b(s) = V(s) from the recipe's state-value critic."""

from __future__ import annotations

from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.kinds import Baseline
from pgkit.kinds.capabilities import STATE_VALUE, SUBTRACTS_BASELINE


class CriticBaseline(Baseline):
    """Learned state-value baseline b(s_t) = V(s_t); the critic is refit on every batch's returns."""

    name = "critic"
    requires = frozenset({STATE_VALUE, SUBTRACTS_BASELINE})

    def __call__(self, batch: Batch) -> Tensor:
        return batch.values


@hookimpl
def register_baselines(register):
    register(CriticBaseline)
