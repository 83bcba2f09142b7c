"""Stopping training before a non-finite number reaches the parameters."""

from __future__ import annotations

import math

from pgkit.errors import TrainingError

LIKELY_CAUSES = (
    "Likely causes: a learning rate too high, rewards or observations of large scale "
    "(try env.normalize), or a log_std_init far too small"
)


class NonFiniteError(TrainingError):
    """A loss, gradient norm or parameter became NaN or infinite; the loop adds the step and the last
    good checkpoint to the message."""

    def __init__(self, quantity: str, value: float, metrics: dict[str, float] | None = None):
        shown = f" ({', '.join(f'{k}={v:.4g}' for k, v in metrics.items())})" if metrics else ""
        super().__init__(f"the {quantity} became {value}{shown}")


def check_finite(quantity: str, value: float, metrics: dict[str, float] | None = None) -> None:
    """Raise NonFiniteError naming ``quantity`` (and the metrics so far) if ``value`` is NaN or infinite."""
    if not math.isfinite(value):
        raise NonFiniteError(quantity, value, metrics)
