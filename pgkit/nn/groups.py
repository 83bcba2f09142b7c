"""Rows that belong to groups, each group's through modules of its own (policy groups of a multi-agent env).

A row's group is the class index stored in column ``column`` of the observation row (``pgkit.envs.AgentColumns``'
``group`` entry). ``GroupedModule`` runs each group's rows through that group's module and puts the outputs back in
row order; ``GroupedDistribution`` is the distribution those rows' policies make together: each row's action is drawn
from, and scored by, its own group's part, so log pi(a|s), H and KL are the parts' row by row.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence, register_kl


def group_rows(obs: Tensor, column: int, groups: int) -> list[Tensor]:
    """The indices of the flattened rows of ``obs`` ([..., D]) in each of ``groups`` groups."""
    ids = obs.reshape(-1, obs.shape[-1])[:, column].long()
    return [(ids == g).nonzero().squeeze(1) for g in range(groups)]


def scattered(values: list[Tensor], rows: list[Tensor], leading: torch.Size) -> Tensor:
    """Per-group values ([k_g, ...] each) put back in row order: ``[*leading, ...]``."""
    present = [(value, index) for value, index in zip(values, rows) if len(index)]
    total = sum(len(index) for _, index in present)
    out = present[0][0].new_zeros((total, *present[0][0].shape[1:]))
    for value, index in present:
        out = out.index_put((index,), value)
    return out.reshape(*leading, *out.shape[1:])


def routed(modules: nn.ModuleList, column: int, obs: Tensor, *args: Tensor) -> tuple[list[Any], list[Tensor], torch.Size]:
    """``(outputs, rows, leading)``: ``modules[g]`` applied to the flattened rows of group g (and the same rows of
    ``args``), None for a group without rows; the rows of each group; the leading shape of ``obs``."""
    leading, rows = obs.shape[:-1], group_rows(obs, column, len(modules))
    flat = obs.reshape(-1, obs.shape[-1])
    flat_args = [arg.reshape(len(flat), *arg.shape[len(leading):]) for arg in args]
    outputs = [module(flat[index], *(arg[index] for arg in flat_args)) if len(index) else None for module, index in zip(modules, rows)]
    return outputs, rows, leading


class GroupedModule(nn.Module):
    """``modules[g]`` applied to the rows of group g (and the same rows of any further arguments), the outputs (a
    tensor, or a tuple of them) back in row order."""

    def __init__(self, modules: list[nn.Module], column: int):
        super().__init__()
        self.groups = nn.ModuleList(modules)
        self.column = column

    def forward(self, obs: Tensor, *args: Tensor) -> Any:
        outputs, rows, leading = routed(self.groups, self.column, obs, *args)
        first = next(output for output in outputs if output is not None)
        if isinstance(first, tuple):
            return tuple(scattered([o[i] if o is not None else None for o in outputs], rows, leading) for i in range(len(first)))
        return scattered(outputs, rows, leading)


class GroupedDistribution(Distribution):
    """The distribution of rows in groups: ``parts[g]`` over the rows ``rows[g]`` (None where a group has no row)."""

    arg_constraints: dict = {}

    def __init__(self, parts: list[Distribution | None], rows: list[Tensor], leading: torch.Size):
        self.parts, self.rows, self.leading = parts, rows, leading
        first = next(part for part in parts if part is not None)
        super().__init__(batch_shape=leading, event_shape=first.event_shape, validate_args=False)

    def _each(self, fn: Callable[[Distribution], Tensor]) -> Tensor:
        return scattered([fn(part) if part is not None else None for part in self.parts], self.rows, self.leading)

    @property
    def mode(self) -> Tensor:
        return self._each(lambda part: part.mode)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("a GroupedDistribution draws one action per row")
        return self._each(lambda part: part.sample())

    def log_prob(self, value: Tensor) -> Tensor:
        flat = value.reshape(-1, *value.shape[len(self.leading):])
        return scattered([part.log_prob(flat[index]) if part is not None else None for part, index in zip(self.parts, self.rows)],
                         self.rows, self.leading)

    def entropy(self) -> Tensor:
        return self._each(lambda part: part.entropy())


@register_kl(GroupedDistribution, GroupedDistribution)
def _kl_grouped(p: GroupedDistribution, q: GroupedDistribution) -> Tensor:
    """Row by row, the KL of the rows' own group's parts (p and q of the same rows)."""
    return scattered([kl_divergence(p_g, q_g) if p_g is not None else None for p_g, q_g in zip(p.parts, q.parts)], p.rows, p.leading)
