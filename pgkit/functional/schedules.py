"""Schedules for values that change over training (learning rate, clip range), as in SB3's ``lin_``."""

from __future__ import annotations

from typing import Literal

Schedule = Literal["constant", "linear"]


def scheduled(value: float, schedule: Schedule, progress: float) -> float:
    """``value`` at ``progress`` in [0, 1]: constant, or linear decay from ``value`` to 0."""
    if schedule == "linear":
        return value * max(0.0, 1.0 - progress)
    return value
