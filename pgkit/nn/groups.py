"""Rows that belong to groups, each group's through modules of its own (policy groups of a multi-agent env).

A row's group is the class index stored in column ``column`` of the observation row (``pgkit.envs.AgentColumns``'
``group`` entry). ``GroupedModule`` runs each group's rows through that group's module and puts the outputs back in
row order; ``GroupedDistribution`` is the distribution those rows' policies make together: each row's action is drawn
from, and scored by, its own group's part, so log pi(a|s), H and KL are the parts' row by row.

A column's group never changes (it is one agent's), so a group's rows of a time-major ``[T, M]`` call are a ``[T, M_g]``
grid of its own columns; a group's recurrent torsos read just those columns' states (``own_columns``), and the
memory of the other columns passes through them unchanged.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence, register_kl

from pgkit.nn.recurrent import RecurrentTorso, Sequences, recurrent_torsos


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
    ``args``; its recurrent torsos reading its own columns' memory), None for a group without rows; the rows of each
    group; the leading shape of ``obs``."""
    leading, rows = obs.shape[:-1], group_rows(obs, column, len(modules))
    flat = obs.reshape(-1, obs.shape[-1])
    flat_args = [arg.reshape(len(flat), *arg.shape[len(leading):]) for arg in args]
    outputs = []
    for group, (module, index) in enumerate(zip(modules, rows)):
        if not len(index):
            outputs.append(None)
            continue
        with own_columns(_torsos(module), flat, column, group, len(index)):
            outputs.append(module(flat[index], *(arg[index] for arg in flat_args)))
    return outputs, rows, leading


def _torsos(module: nn.Module) -> tuple[RecurrentTorso, ...]:
    """The recurrent torsos inside ``module``, found once (the module tree does not change once built)."""
    found = module.__dict__.get("_recurrent_torsos")
    if found is None:
        found = module.__dict__["_recurrent_torsos"] = recurrent_torsos(module)
    return found


@contextmanager
def own_columns(torsos: tuple[RecurrentTorso, ...], flat: Tensor, column: int, group: int, rows: int) -> Iterator[None]:
    """A block in which ``torsos`` (a group's, inside ``Agent.sequences``) read their ``Sequences`` narrowed to the
    columns of ``group`` (read from the first step of the ``[T * M, D]`` rows ``flat``); after it, each torso's final
    state is the one it had for the other columns and the new one for its own. No torsos, or none inside a block of
    sequences: a no-op."""
    torsos = tuple(torso for torso in torsos if torso.sequences is not None)
    if not torsos:
        yield
        return
    steps, columns = torsos[0].sequences.starts.shape
    own = (flat.view(steps, columns, -1)[0, :, column].long() == group).nonzero().squeeze(1)
    if steps * len(own) != rows:
        raise RuntimeError(f"group {group} holds {rows} rows of a [{steps}, {columns}] call, not {steps} of each of its {len(own)} "
                           "columns: a column's group must stay the same at every step")
    with ExitStack() as stack:
        for torso in torsos:
            stack.enter_context(_narrowed(torso, own))
        yield


@contextmanager
def _narrowed(torso: RecurrentTorso, own: Tensor) -> Iterator[None]:
    whole = torso.sequences
    torso.sequences = narrowed = Sequences(whole.state[own], whole.starts[:, own])
    try:
        yield
    finally:
        torso.sequences = whole
        if narrowed.final is not None:
            final = (whole.state if whole.final is None else whole.final).clone()
            final[own] = narrowed.final
            whole.final = final


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
