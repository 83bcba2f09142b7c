"""Kind ``objective``: the policy loss on a batch."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from pgkit.kinds.component import Component

if TYPE_CHECKING:
    from pgkit.data.batch import Batch
    from pgkit.kinds.combination import Combination


class Objective(Component):
    """``loss(policy, batch) -> (scalar loss, metrics)``; minimizing it ascends the policy objective."""

    kind = "objective"
    needs_log_prob: ClassVar[bool] = True
    allows_reuse: ClassVar[bool] = False  # may several epochs pass over one batch?
    off_policy: ClassVar[bool] = False  # learns from replayed transitions of older policies

    def incompatibility(self, combo: Combination) -> str | None:
        head = combo.get("policy_head")
        if self.needs_log_prob and head is not None and not head.has_log_prob:
            return f"needs log-probabilities, which policy head '{head.name}' does not give; use a stochastic head, or dpg with the off_policy trainer"
        trainer = combo.get("trainer")
        if trainer is not None and getattr(trainer, "off_policy", False) != self.off_policy:
            wanted = "an off-policy trainer (off_policy)" if self.off_policy else "an on-policy trainer (on_policy)"
            return f"needs {wanted}, but the trainer is '{trainer.name}'"
        epochs = getattr(getattr(trainer, "spec", None), "epochs", 1)
        if not self.allows_reuse and epochs > 1:
            return (
                f"its gradient is only correct on fresh on-policy data, but the trainer makes {epochs} epochs "
                "over each batch; set `trainer.epochs=1`, or use an objective built for reuse"
            )
        return None

    @abstractmethod
    def loss(
        self, policy: nn.Module, batch: Batch, progress: float = 0.0, critic: nn.Module | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Loss on a flat batch (on-policy: with ``advantages`` filled in). ``progress`` in [0, 1] is
        the fraction of training done (for schedules); ``critic`` is the critic's module, if any."""

    def stop_early(self, metrics: dict[str, float]) -> bool:
        """Should the trainer stop passing over this batch (e.g. the policy moved too far)? Default: no."""
        return False


def entropy_bonus(distribution: Distribution, coef: float) -> tuple[Tensor | float, float]:
    """(c_H * mean H[pi(.|s)], mean H) for an objective's ``- c_H * H`` term and its metric. With c_H = 0
    the entropy is computed without a graph, so backward does not differentiate a term weighted 0."""
    if coef == 0:
        with torch.no_grad():
            return 0.0, distribution.entropy().mean().item()
    entropy = distribution.entropy().mean()
    return coef * entropy, entropy.item()
