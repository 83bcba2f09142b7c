"""The critics of a multi-agent recipe whose policy groups choose their own (``env.agents.groups.NAME.critic``)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.errors import PgkitError
from pgkit.kinds.critic import Critic
from pgkit.kinds.network import Network
from pgkit.nn.groups import group_rows, scattered


class GroupCritics(Critic):
    """Each group's rows regressed by its own critic component on its own value module (the parts of a
    ``pgkit.nn.GroupedModule``): the loss is the groups' losses weighted by their rows, so for mean losses the
    mean over all rows of each row's own group's loss, as one critic's is. Made by ``Agent.build``, not chosen
    in a recipe; it provides what all the groups' critics provide."""

    name = "group_critics"

    def __init__(self, critics: list[Critic], column: int):
        super().__init__(critics[0].spec)
        self._critics, self._column = critics, column  # rebuilt with the agent, not checkpointed

    @property
    def provides(self) -> frozenset:  # type: ignore[override]
        return frozenset.intersection(*(critic.provides for critic in self._critics))

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset().union(*(critic.requires for critic in self._critics))

    def build(self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module) -> nn.Module:
        raise PgkitError("each policy group's critic is built by its own component (the agent builds them), not by group_critics")

    def _parts(self, module: nn.Module, batch: Batch) -> list[tuple[Critic, nn.Module, Tensor]]:
        rows = group_rows(batch.obs, self._column, len(self._critics))
        return [(critic, part, index) for critic, part, index in zip(self._critics, module.groups, rows) if len(index)]

    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        parts = self._parts(module, batch)
        total = sum(len(index) for _, _, index in parts)
        return torch.stack([critic.loss(part, batch.rows(index)) * (len(index) / total) for critic, part, index in parts]).sum()

    def td_errors(self, module: nn.Module, batch: Batch) -> Tensor:
        parts = self._parts(module, batch)
        errors = [critic.td_errors(part, batch.rows(index)) for critic, part, index in parts]
        return scattered(errors, [index for _, _, index in parts], torch.Size([len(batch.obs)]))
