"""Kind ``baseline``: b(s_t), subtracted from Monte-Carlo returns to lower the gradient's variance."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor

from pgkit.kinds.component import Component

if TYPE_CHECKING:
    from pgkit.data.batch import Batch
    from pgkit.kinds.combination import Combination


class Baseline(Component):
    """``baseline(batch) -> [T, N]``; refit by ``update`` after the advantages are computed, so a
    batch never sees a baseline fitted on itself (which would bias the gradient)."""

    kind = "baseline"
    requires_state_values: ClassVar[bool] = False  # reads batch.values, so needs a state-value critic

    def incompatibility(self, combo: Combination) -> str | None:
        critic = combo.get("critic")
        if self.requires_state_values and getattr(critic, "estimates", None) != "state_value":
            return "needs state values V(s) from a critic; add `critic: {type: value}` to the recipe"
        return None

    @abstractmethod
    def __call__(self, batch: Batch) -> Tensor:
        """b(s_t) for every step, ``[T, N]``."""

    def update(self, batch: Batch) -> None:
        """Refit on a batch whose ``returns`` are filled in. Default: nothing to fit."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""
