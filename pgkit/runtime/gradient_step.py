"""A trainer's gradient steps on one set of parameters: zero -> (the trainer's backward) -> clip -> step."""

from __future__ import annotations

from typing import Iterable

from torch import nn

from pgkit.nn.flat_parameters import FlatParameters
from pgkit.kinds import Optimizer


class GradientStep:
    """The recipe's optimizer over ``parameters``. With an elementwise optimizer the parameters are packed
    into one flat buffer first (``FlatParameters``): zeroing, clipping and stepping are then one op each."""

    def __init__(self, component: Optimizer, parameters: Iterable[nn.Parameter]):
        parameters = [p for p in dict.fromkeys(parameters) if p.requires_grad]  # trainable ones, each once, in order
        self.component = component
        self.flat = FlatParameters(parameters) if component.elementwise and FlatParameters.can_pack(parameters) else None
        self.parameters = [self.flat.param] if self.flat else parameters
        self.optimizer = component.build(self.parameters)

    def zero_grad(self) -> None:
        if self.flat is not None:
            self.flat.zero_grad()
        else:
            for parameter in self.parameters:  # optimizer.zero_grad(set_to_none=True), without its hooks
                parameter.grad = None

    def clip(self) -> float:
        """Clip the gradients to the recipe's max_grad_norm; returns their global norm before clipping."""
        if self.flat is not None:
            self.flat.check_views()
        return self.component.clip(self.parameters)

    def step(self) -> None:
        self.optimizer.step()

    def set_learning_rate(self, progress: float) -> float:
        return self.component.set_learning_rate(self.optimizer, progress)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
