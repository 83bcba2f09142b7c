"""Checks of what components return, at the boundary where they are cheap (a shape comparison), so a
wrong component fails with a message naming it instead of a traceback deep inside a trainer."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor

from pgkit.errors import ComponentError
from pgkit.kinds.component import Component


def check_shape(component: Component, output: str, value: Tensor, expected: Sequence[int], meaning: str) -> None:
    """Raise ComponentError unless ``value`` has shape ``expected``; ``meaning`` says what each axis is."""
    if tuple(value.shape) != tuple(expected):
        raise ComponentError(
            f"{component.describe()} returned {output} of shape {tuple(value.shape)}; expected {tuple(expected)} ({meaning})"
        )
