"""Kind ``optimizer``: parameters -> a torch optimizer, plus gradient clipping."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Iterable

import torch
from pydantic import Field

from pgkit.kinds.component import Component, Spec
from pgkit.functional.schedules import Schedule, scheduled


class OptimizerSpec(Spec):
    lr: float = Field(3e-4, gt=0, description="Learning rate.")
    max_grad_norm: float | None = Field(
        0.5, gt=0, description="Clip the global gradient norm to this before each step; null disables clipping."
    )
    lr_schedule: Schedule = Field("constant", description="constant, or linear decay of lr to 0 over training.")


class Optimizer(Component):
    """Makes the torch optimizer for the trainable parameters and clips gradients before its step.
    Declare ``elementwise = True`` if each number's update depends only on its own gradient history:
    trainers then hand ``build`` one flat tensor holding all parameters (one kernel per step)."""

    kind = "optimizer"
    Spec: ClassVar[type[OptimizerSpec]] = OptimizerSpec
    # True if the update of each number depends only on its own gradient history (Adam, RMSprop, SGD),
    # so stepping all parameters packed in one flat tensor is the same update (see flat_parameters.py)
    elementwise: ClassVar[bool] = False

    @abstractmethod
    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A new optimizer over ``params``."""

    def parts(self, params: list[torch.nn.Parameter]) -> list[tuple[Optimizer, list[torch.nn.Parameter]]]:
        """Which optimizer steps which of ``params``: this one all of them (policy groups with optimizers of their
        own split them, ``pgkit.kinds.group_optimizers``). A gradient step builds, clips and steps each part apart."""
        return [(self, params)]

    def set_learning_rate(self, optimizer: torch.optim.Optimizer, progress: float) -> float:
        """Apply the schedule at ``progress`` in [0, 1]; returns the learning rate now in use."""
        lr = scheduled(self.spec.lr, self.spec.lr_schedule, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def clip(self, params: Iterable[torch.nn.Parameter]) -> float:
        """Clip gradients to ``max_grad_norm`` (if set); returns the norm before clipping (computed alone
        when there is nothing to clip: the NaN guard and the logs read it)."""
        params = [p for p in params if p.grad is not None]
        if len(params) == 1:  # flat parameters (pgkit.nn.flat_parameters): one norm, without get_total_norm's foreach bookkeeping
            norm = torch.linalg.vector_norm(params[0].grad)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self.spec.max_grad_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(params, self.spec.max_grad_norm, norm)
        return float(norm)
