"""The optimizers of a multi-agent recipe whose policy groups choose their own (``env.agents.groups.NAME.optimizer``)."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from pgkit.errors import PgkitError
from pgkit.kinds.optimizer import Optimizer


class GroupOptimizers(Optimizer):
    """The recipe's optimizer for every parameter but those of the groups with optimizers of their own, which
    step their policy's and critic's weights: ``parts`` splits a gradient step's parameters so (each part is
    built, clipped to its own max_grad_norm, scheduled and stepped as that optimizer alone would be, as
    RLlib steps each policy with its own optimizer). Made by ``Agent.build``, not chosen in a recipe."""

    name = "group_optimizers"

    def __init__(self, default: Optimizer, own: list[tuple[Optimizer, list[nn.Module]]]):
        super().__init__(default.spec)
        self._default, self._own = default, own  # rebuilt with the agent, not checkpointed

    def parts(self, params: list[torch.nn.Parameter]) -> list[tuple[Optimizer, list[torch.nn.Parameter]]]:
        shares, taken = [], set()
        for optimizer, modules in self._own:
            ids = {id(p) for module in modules for p in module.parameters()}
            shares.append((optimizer, [p for p in params if id(p) in ids]))
            taken |= ids
        rest = [p for p in params if id(p) not in taken]
        return [(optimizer, share) for optimizer, share in [(self._default, rest), *shares] if share]

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        raise PgkitError("the policy groups' optimizers step their own parameters: build each of parts(params) "
                         "(pgkit.runtime.GradientStep does), not one optimizer over all of them")
