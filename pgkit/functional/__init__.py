"""Pure functions with the math of pgkit's components (public: plugins may import these); each is
tested against a plain loop or a hand-computed case."""

from pgkit.functional.bootstrapped import generalized_advantage, n_step_return, td_residuals
from pgkit.functional.polyak import polyak_update
from pgkit.functional.returns import discounted_reward_to_go, episode_steps, episode_total_return, state_discount
from pgkit.functional.schedules import Schedule, scheduled
from pgkit.functional.standardize import standardized
from pgkit.functional.off_policy import vtrace
from pgkit.functional.trust_region import (
    backtracking_line_search,
    conjugate_gradient,
    flat_gradient,
    hessian_vector_product,
    trust_region_step,
)

__all__ = [
    "Schedule",
    "backtracking_line_search",
    "conjugate_gradient",
    "discounted_reward_to_go",
    "episode_steps",
    "episode_total_return",
    "flat_gradient",
    "generalized_advantage",
    "hessian_vector_product",
    "n_step_return",
    "polyak_update",
    "scheduled",
    "standardized",
    "state_discount",
    "td_residuals",
    "trust_region_step",
    "vtrace",
]
