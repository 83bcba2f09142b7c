"""The objectives of a multi-agent recipe whose policy groups choose their own (``env.agents.groups.NAME.objective``)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import Tensor, nn

from pgkit.data.batch import Batch
from pgkit.kinds.objective import LossContext, Metrics, Objective
from pgkit.nn.groups import group_rows


class GroupObjectives(Objective):
    """Each group's rows scored by its own objective on its own policy (and critic, and old policy): the loss is
    the groups' losses weighted by their rows, so for mean losses the mean over all rows of each row's own loss,
    as one objective's is (a per-minibatch advantage standardization then runs over each group's rows). A trust
    region (``step``) steps each group's policy by its own objective; ``stop_early`` stops the batch when any
    group's says so, and the metrics are the groups' weighted by their rows. Made by ``Agent.build``, not chosen in
    a recipe; on-policy only (the recipe check refuses a group's objective beside an off-policy trainer)."""

    name = "group_objectives"

    def __init__(self, objectives: list[Objective], column: int):
        super().__init__(objectives[0].spec)
        self._objectives, self._column = objectives, column  # rebuilt with the agent, not checkpointed

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset().union(*(objective.requires for objective in self._objectives))

    @property
    def provides(self) -> frozenset:  # type: ignore[override]
        return frozenset.intersection(*(objective.provides for objective in self._objectives))

    def build(self, observation_space: gym.Space, action_space: gym.Space) -> nn.Module | None:
        modules = [objective.build(observation_space, action_space) for objective in self._objectives]
        return nn.ModuleList([m if m is not None else nn.Module() for m in modules]) if any(m is not None for m in modules) else None

    def _parts(self, batch: Batch, context: LossContext) -> list[tuple[Objective, Batch, LossContext, float]]:
        rows = group_rows(batch.obs, self._column, len(self._objectives))
        total = sum(len(index) for index in rows)
        parts = []
        for g, (objective, index) in enumerate(zip(self._objectives, rows)):
            if len(index):
                own = LossContext(context.policy.groups[g], context.progress, context.critic.groups[g] if context.critic is not None else None,
                                  context.old_policy.groups[g] if context.old_policy is not None else None)
                parts.append((objective, batch.rows(index), own, len(index) / total))
        return parts

    def loss(self, batch: Batch, context: LossContext) -> tuple[Tensor, Metrics]:
        losses, metrics = [], []
        for objective, rows, own, weight in self._parts(batch, context):
            loss, part_metrics = objective.loss(rows, own)
            losses.append(loss * weight)
            metrics.append((part_metrics, weight))
        return torch.stack(losses).sum(), _weighted(metrics)

    def step(self, batch: Batch, context: LossContext) -> dict[str, float]:
        return _weighted([(objective.step(rows, own), weight) for objective, rows, own, weight in self._parts(batch, context)])

    def stop_early(self, metrics: dict[str, float]) -> bool:
        return any(objective.stop_early(metrics) for objective in self._objectives)

    def end_batch(self, batch: Batch, context: LossContext) -> dict[str, float]:
        return _weighted([(objective.end_batch(rows, own), weight) for objective, rows, own, weight in self._parts(batch, context)])


def _weighted(parts: list[tuple[Metrics, float]]) -> Metrics:
    """Each metric as the groups' values weighted by their rows (over the groups that report it)."""
    sums: dict[str, float | Tensor] = {}
    weights: dict[str, float] = {}
    for metrics, weight in parts:
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value * weight
            weights[key] = weights.get(key, 0.0) + weight
    return {key: value / weights[key] for key, value in sums.items()}
