"""A trainer's gradient steps on one set of parameters: zero -> backward -> clip -> step, guarded."""

from __future__ import annotations

from typing import Iterable

from torch import Tensor, nn

from pgkit.kinds.optimizer import Optimizer
from pgkit.nn.flat_parameters import FlatParameters
from pgkit.runtime.guards import check_finite


class GradientStep:
    """The recipe's optimizer over ``parameters`` (the trainable ones, each once).

    ``minimize(loss)`` takes one guarded step: a NaN or infinite loss or gradient norm raises before
    the parameters change. With an elementwise optimizer the parameters are packed into one flat
    buffer first (``pgkit.nn.flat_parameters``), so zeroing, clipping and stepping are one op each;
    the parameters stay ordinary to everyone else (torch's optimizer and parameter APIs keep working).
    """

    def __init__(self, component: Optimizer, parameters: Iterable[nn.Parameter]):
        parameters = [p for p in dict.fromkeys(parameters) if p.requires_grad]  # trainable ones, each once, in order
        self.component = component
        self.flat = FlatParameters(parameters) if component.elementwise and FlatParameters.can_pack(parameters) else None
        self.parameters = [self.flat.param] if self.flat else parameters
        self.optimizer = component.build(self.parameters)

    def minimize(self, loss: Tensor, quantity: str = "loss", metrics: dict[str, float] | None = None) -> float:
        """One step down ``loss``; returns the gradient norm before clipping. ``quantity`` and ``metrics``
        name what went wrong if the loss or the gradient norm is not finite."""
        check_finite(quantity, loss.item(), metrics)
        self.zero_grad()
        loss.backward()
        norm = self.clip()
        check_finite(f"gradient norm of the {quantity}", norm, metrics)
        self.step()
        return norm

    def zero_grad(self) -> None:
        if self.flat is not None:
            self.flat.zero_grad()
        else:
            for parameter in self.parameters:  # optimizer.zero_grad(set_to_none=True), without its hooks
                parameter.grad = None

    def clip(self) -> float:
        """Clip the gradients to the recipe's max_grad_norm; returns their global norm before clipping."""
        if self.flat is not None:
            self.flat.reseat()
        return self.component.clip(self.parameters)

    def step(self) -> None:
        self.optimizer.step()

    def set_learning_rate(self, progress: float) -> float:
        return self.component.set_learning_rate(self.optimizer, progress)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
