"""Kind ``baseline``: b(s_t), subtracted from Monte-Carlo returns to lower the gradient's variance."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.kinds.capabilities import SUBTRACTS_BASELINE, Capability
from pgkit.kinds.component import Component


class Baseline(Component):
    """``baseline(batch) -> [T, N]``; refit by ``update`` after the advantages are computed, so a
    batch never sees a baseline fitted on itself (which would bias the gradient). Requires an
    advantage estimator that subtracts it."""

    kind = "baseline"
    requires: ClassVar[frozenset[Capability]] = frozenset({SUBTRACTS_BASELINE})

    @abstractmethod
    def __call__(self, batch: Batch) -> Tensor:
        """b(s_t) for every step, ``[T, N]``."""

    def update(self, batch: Batch) -> None:
        """Refit on a batch whose ``returns`` are filled in. Default: nothing to fit."""
