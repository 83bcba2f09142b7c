"""Pure tensor functions with the math of pgkit's components; each is tested against a plain loop."""

from pgkit.functional.polyak import polyak_update
from pgkit.functional.bootstrapped import generalized_advantage, n_step_return, td_residuals
from pgkit.functional.returns import discounted_reward_to_go, episode_steps, episode_total_return

__all__ = [
    "discounted_reward_to_go",
    "episode_steps",
    "episode_total_return",
    "generalized_advantage",
    "n_step_return",
    "polyak_update",
    "td_residuals",
]
