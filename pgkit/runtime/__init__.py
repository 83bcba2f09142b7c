"""The runtime (public for trainer authors: the pieces a trainer builds from; the loop runs them), and
policy-gradient estimates of a recipe with their statistics (``gradient_estimates``, ``gradient_statistics``).

``pgkit.kinds.Trainer`` documents what the loop hands a trainer (``TrainingContext``)."""

from pgkit.runtime.async_collection import AsyncCollector
from pgkit.runtime.checkpoint import save_agent
from pgkit.runtime.evaluation import Evaluation, evaluate
from pgkit.runtime.gradient_step import GradientStep
from pgkit.runtime.periodic_evaluation import PeriodicEvaluation
from pgkit.runtime.gradients import GradientEstimates, gradient_estimates
from pgkit.runtime.exploration import Explorer
from pgkit.runtime.ray_collection import RayCollector, RayExplorer, RayWorkerGroup, RayWorkersSpec
from pgkit.runtime.replayed_sequences import ReplayedSequences, replay_sequences
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.variance import GradientStatistics, Interval, gradient_statistics

__all__ = ["AsyncCollector", "Evaluation", "PeriodicEvaluation", "evaluate", "save_agent", "GradientEstimates", "GradientStatistics", "GradientStep", "Explorer", "Interval", "RayCollector", "RayExplorer", "RayWorkerGroup", "RayWorkersSpec", "ReplayedSequences", "RolloutCollector", "gradient_estimates", "gradient_statistics", "replay_sequences"]
