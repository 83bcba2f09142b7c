"""Stopping training before a non-finite number reaches the parameters."""

from __future__ import annotations

import math

from pgkit.errors import TrainingError

LIKELY_CAUSES = (
    "Likely causes: a learning rate too high, rewards or observations of large scale "
    "(try env.normalize), or a log_std_init far too small"
)


def check_finite(quantity: str, value: float, step: int, metrics: dict[str, float] | None = None) -> None:
    """Raise a TrainingError naming ``quantity``, the step and likely causes if ``value`` is NaN or infinite."""
    if math.isfinite(value):
        return
    shown = f" ({', '.join(f'{k}={v:.4g}' for k, v in metrics.items())})" if metrics else ""
    raise TrainingError(f"the {quantity} became {value} at step {step:,}{shown}. {LIKELY_CAUSES}")
