"""The runtime (public for trainer authors: the pieces a trainer builds from; the loop runs them).

``pgkit.kinds.Trainer`` documents what the loop hands a trainer (``TrainingContext``)."""

from pgkit.runtime.gradient_step import GradientStep
from pgkit.runtime.rollout import RolloutCollector

__all__ = ["GradientStep", "RolloutCollector"]
