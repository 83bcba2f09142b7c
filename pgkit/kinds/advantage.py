"""Kind ``advantage``: turns a batch into Phi_t (``advantages``) and critic targets (``returns``)."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from pydantic import Field
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.kinds.capabilities import SUBTRACTS_BASELINE, Capability
from pgkit.kinds.component import Component, Spec
from pgkit.kinds.outputs import check_shape


class AdvantageSpec(Spec):
    normalize: bool = Field(
        False, description="Shift and scale advantages to mean 0, std 1 over each batch (a batch of one is only centred)."
    )


class Advantage(Component):
    """The policy gradient is E[sum_t grad log pi(a_t|s_t) * Phi_t]; an Advantage chooses Phi_t.
    It subtracts the baseline slot's b(s) (provides ``subtracts_baseline``) unless it declares otherwise,
    as estimators bootstrapped from V(s) do (they require ``state_value`` instead)."""

    kind = "advantage"
    Spec: ClassVar[type[AdvantageSpec]] = AdvantageSpec
    provides: ClassVar[frozenset[Capability]] = frozenset({SUBTRACTS_BASELINE})

    @abstractmethod
    def compute(self, batch: Batch, baseline: Tensor) -> tuple[Tensor, Tensor]:
        """``(advantages, returns)``, each ``[T, N]``; ``baseline`` is b(s_t) from the baseline slot."""

    def __call__(self, batch: Batch, baseline: Tensor) -> None:
        """Fill ``batch.advantages`` and ``batch.returns`` (normalized if the spec asks)."""
        advantages, returns = self.compute(batch, baseline)
        check_shape(self, "advantages", advantages, batch.rewards.shape, "[T, N], like batch.rewards")
        check_shape(self, "returns", returns, batch.rewards.shape, "[T, N], like batch.rewards")
        if self.spec.normalize:
            advantages = advantages - advantages.mean()
            if advantages.numel() > 1:
                advantages = advantages / (advantages.std() + 1e-8)
        batch.advantages, batch.returns = advantages, returns
