"""Torsos with memory: features that depend on the episode's observations so far (LSTM, GRU)."""

from __future__ import annotations

from abc import abstractmethod
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn


class Sequences:
    """What a recurrent torso reads beside its observations: ``state [M, S]`` where each of M sequences
    (env columns) starts, ``starts [T, M]`` where episodes begin inside its T steps (the state is zeroed
    there), and, once the torso ran, ``final [M, S]``: the state after the last step."""

    __slots__ = ("state", "starts", "final")

    def __init__(self, state: Tensor, starts: Tensor):
        self.state, self.starts = state, starts
        self.final: Tensor | None = None


class RecurrentTorso(nn.Module):
    """A torso with memory. ``forward(obs [T * M, ...]) -> [T * M, out_features]`` reads the rows as T
    time-major steps of M sequences, from the ``Sequences`` the agent set on ``self.sequences``
    (``Agent.sequences``), and records the state after them there. Stepping one observation at a time
    (T = 1, the state carried) and running the whole sequence give the same features."""

    state_size: int  # S: the width of one sequence's packed state
    out_features: int

    def __init__(self) -> None:
        super().__init__()
        self.sequences: Sequences | None = None

    def forward(self, obs: Tensor) -> Tensor:
        sequences = self.sequences
        if sequences is None:
            raise RuntimeError(f"{type(self).__name__} is recurrent: call it inside Agent.sequences(...), which gives it "
                               "each sequence's state and episode starts")
        steps, columns = sequences.starts.shape
        features, sequences.final = self.run(obs.reshape(steps, columns, *obs.shape[1:]), sequences.state, sequences.starts)
        return features.reshape(steps * columns, -1)

    @abstractmethod
    def run(self, obs: Tensor, state: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
        """``obs [T, M, ...]``, ``state [M, S]``, ``starts [T, M]`` (bool: zero the state before that step) ->
        ``(features [T, M, out_features], state after the last step [M, S])``."""


def recurrent_torsos(*modules: nn.Module) -> tuple[RecurrentTorso, ...]:
    """The torsos with memory inside ``modules``, each once (a shared torso is one), in module order: the
    order in which their states sit side by side in a memory ``[M, S]``."""
    found = [m for module in modules for m in module.modules() if isinstance(m, RecurrentTorso)]
    return tuple({id(m): m for m in found}.values())


@contextmanager
def run_as_sequences(torsos: tuple[RecurrentTorso, ...], memory: Tensor | None, starts: Tensor) -> Iterator[Sequences]:
    """A block in which ``torsos`` read their calls' rows as ``starts.shape`` = [T, M] time-major steps of M
    sequences, from ``memory [M, S]`` (their states side by side, in order), zeroed where ``starts``; the
    yielded ``Sequences`` holds the memory after the last step in ``final`` once the block ends (a torso not
    called keeps its state; no torsos: a no-op, ``memory`` may be None)."""
    whole = Sequences(memory, starts)
    parts = []
    for torso, state in zip(torsos, memory.split([t.state_size for t in torsos], dim=-1) if torsos else ()):
        torso.sequences = Sequences(state, starts)
        parts.append(torso.sequences)
    try:
        yield whole
    finally:
        for torso in torsos:
            torso.sequences = None
        if parts:
            whole.final = torch.cat([part.state if part.final is None else part.final for part in parts], dim=-1)
