"""A module that reads some columns of the stored observation row: the entries of a Dict observation meant for it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class ColumnView(nn.Module):
    """``module(obs[..., columns])``: a torso or critic built for a part of a structured observation (a
    centralized critic's global state, a policy's own observation beside it) reads only those columns."""

    def __init__(self, columns: list[int], module: nn.Module):
        super().__init__()
        self.module = module
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long), persistent=False)
        if hasattr(module, "out_features"):
            self.out_features = module.out_features

    def forward(self, obs: Tensor, *args: Any) -> Any:
        return self.module(obs.index_select(-1, self.columns), *args)
