"""Kind ``advantage``: turns a batch into Phi_t (``advantages``) and critic targets (``returns``)."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field
from torch import Tensor

from pgkit.kinds.component import Component, Spec

if TYPE_CHECKING:
    from pgkit.data.batch import Batch
    from pgkit.kinds.combination import Combination


class AdvantageSpec(Spec):
    normalize: bool = Field(
        False, description="Shift and scale advantages to mean 0, std 1 over each batch (a batch of one is only centred)."
    )


class Advantage(Component):
    """The policy gradient is E[sum_t grad log pi(a_t|s_t) * Phi_t]; an Advantage chooses Phi_t."""

    kind = "advantage"
    Spec: ClassVar[type[AdvantageSpec]] = AdvantageSpec
    requires_state_values: ClassVar[bool] = False  # bootstraps from V(s) everywhere (td, gae)
    uses_baseline: ClassVar[bool] = True  # subtracts the baseline slot's b(s_t)

    def incompatibility(self, combo: Combination) -> str | None:
        critic = combo.get("critic")
        if self.requires_state_values and getattr(critic, "estimates", None) != "state_value":
            return "needs state values V(s) from a critic; add `critic: {type: value}` to the recipe"
        baseline = combo.get("baseline")
        if not self.uses_baseline and baseline is not None and baseline.name != "none":
            return f"uses the critic directly, so baseline '{baseline.name}' would have no effect; set `baseline: {{type: none}}`"
        return None

    @abstractmethod
    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        """``(advantages, returns)``, each ``[T, N]``; ``baseline`` is b(s_t) from the baseline slot."""

    def __call__(self, batch: Batch, baseline: Tensor) -> None:
        """Fill ``batch.advantages`` and ``batch.returns``."""
        advantages, returns = self.compute(batch, baseline)
        if self.spec.normalize:
            advantages = advantages - advantages.mean()
            if advantages.numel() > 1:
                advantages = advantages / (advantages.std() + 1e-8)
        batch.advantages, batch.returns = advantages, returns
