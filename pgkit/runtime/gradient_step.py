"""A trainer's gradient steps on one set of parameters: zero -> backward -> clip -> step, guarded."""

from __future__ import annotations

import math
from typing import Iterable

from torch import Tensor, nn

from pgkit.kinds.optimizer import Optimizer
from pgkit.nn.flat_parameters import FlatParameters
from pgkit.runtime.guards import check_finite


class _Part:
    """One optimizer over its share of the parameters: with an elementwise optimizer they are packed into one
    flat buffer first (``pgkit.nn.flat_parameters``), so zeroing, clipping and stepping are one op each; the
    parameters stay ordinary to everyone else (torch's optimizer and parameter APIs keep working)."""

    def __init__(self, component: Optimizer, parameters: list[nn.Parameter]):
        self.component, self.stepped = component, parameters  # the parameters it steps, as the modules hold them
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
        if self.flat is not None:
            self.flat.reseat()
        return self.component.clip(self.parameters)


class GradientStep:
    """The recipe's optimizer over ``parameters`` (the trainable ones, each once).

    ``minimize(loss)`` takes one guarded step: a NaN or infinite loss or gradient norm raises before
    the parameters change. Where the optimizer splits the parameters (``Optimizer.parts``: policy groups
    with optimizers of their own), each part is clipped, scheduled and stepped by its own optimizer.
    """

    def __init__(self, component: Optimizer, parameters: Iterable[nn.Parameter]):
        parameters = [p for p in dict.fromkeys(parameters) if p.requires_grad]  # trainable ones, each once, in order
        self.component = component
        self.parts = [_Part(optimizer, share) for optimizer, share in component.parts(parameters)]

    @property
    def flat(self) -> FlatParameters | None:
        """The flat buffer of a single optimizer's parameters (None where they are not packed, or split)."""
        return self.parts[0].flat if len(self.parts) == 1 else None

    def minimize(self, loss: Tensor, quantity: str = "loss", metrics: dict[str, float] | None = None) -> float:
        """One step down ``loss``; returns the gradient norm before clipping (over all parts). ``quantity`` and
        ``metrics`` name what went wrong if the loss or the gradient norm is not finite."""
        check_finite(quantity, loss.item(), metrics)
        self.zero_grad()
        loss.backward()
        norm = self.clip()
        check_finite(f"gradient norm of the {quantity}", norm, metrics)
        self.step()
        return norm

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad()

    def clip(self) -> float:
        """Clip each part's gradients to its optimizer's max_grad_norm; returns their global norm before clipping."""
        norms = [part.clip() for part in self.parts]
        return norms[0] if len(norms) == 1 else math.sqrt(sum(norm * norm for norm in norms))

    def step(self) -> None:
        for part in self.parts:
            part.optimizer.step()

    def set_learning_rate(self, progress: float) -> float:
        """Each part's schedule at ``progress``; returns the first part's learning rate (the recipe's optimizer's,
        where it steps any parameter)."""
        return [part.component.set_learning_rate(part.optimizer, progress) for part in self.parts][0]

    def state_dict(self) -> dict:
        if len(self.parts) == 1:
            return self.parts[0].optimizer.state_dict()
        return {"parts": [part.optimizer.state_dict() for part in self.parts]}

    def load_state_dict(self, state: dict) -> None:
        states = state["parts"] if "parts" in state else [state]
        if len(states) != len(self.parts):
            raise ValueError(f"the checkpoint holds the state of {len(states)} optimizer(s), this run steps {len(self.parts)}: "
                             "the recipe's policy groups or their optimizers changed")
        for part, part_state in zip(self.parts, states):
            part.optimizer.load_state_dict(part_state)
