"""A joint distribution of independent parts over the flat action row of a Dict or Tuple space.

pi(a|s) = prod_i pi_i(a_i|s), so log pi(a|s) = sum_i log pi_i(a_i|s), H = sum_i H_i and
KL(p || q) = sum_i KL(p_i || q_i) (independence makes each a sum; TorchRL's CompositeDistribution and
RLlib's MultiDistribution do the same). An action is the parts' actions side by side in float32 columns
(``pgkit.envs.actions``): a part whose action is one index per row (a categorical) one column, others one
column per action dimension."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence, register_kl


@dataclass(frozen=True)
class PartLayout:
    """Where one part's action sits in the flat row, and whether its actions are one index per row."""

    start: int
    stop: int
    scalar: bool


class CompositeDistribution(Distribution):
    """Independent ``parts``, laid out in the flat action row as ``layout`` says (one PartLayout per part)."""

    arg_constraints: dict = {}

    def __init__(self, parts: list[Distribution], layout: list[PartLayout]):
        self.parts, self.layout = parts, layout
        super().__init__(batch_shape=parts[0].batch_shape, event_shape=torch.Size([layout[-1].stop]), validate_args=False)

    @property
    def mode(self) -> Tensor:
        return self._row([part.mode for part in self.parts])

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self._row([part.sample(sample_shape) for part in self.parts])

    def log_prob(self, value: Tensor) -> Tensor:
        return sum(part.log_prob(action) for part, action in zip(self.parts, self.split(value)))

    def entropy(self) -> Tensor:
        return sum(part.entropy() for part in self.parts)

    def split(self, value: Tensor) -> list[Tensor]:
        """The parts' actions in a flat row ``[..., W]``: ``[...]`` for a scalar part, ``[..., width]`` otherwise."""
        return [value[..., part.start] if part.scalar else value[..., part.start : part.stop] for part in self.layout]

    def _row(self, actions: list[Tensor]) -> Tensor:
        columns = [action.unsqueeze(-1) if part.scalar else action for action, part in zip(actions, self.layout)]
        return torch.cat([column.to(torch.float32) for column in columns], dim=-1)


@register_kl(CompositeDistribution, CompositeDistribution)
def _kl_composite(p: CompositeDistribution, q: CompositeDistribution) -> Tensor:
    """KL(p || q) = sum_i KL(p_i || q_i): the parts are independent."""
    return sum(kl_divergence(p_i, q_i) for p_i, q_i in zip(p.parts, q.parts))
