"""Tools for testing components (public): contracts every component of a kind must meet, the resume
check, synthetic batches, an isolated registry, and the exact policy gradient of small tabular MDPs.

    from pgkit.testing import check_component, check_resume
    check_component(MyAdvantage)          # runs the advantage contract
    check_resume(recipe_document)         # interrupted + resumed == uninterrupted, bit for bit

Installed as a pytest plugin too (fixtures ``pgkit_batch`` and ``pgkit_registry``).
"""

from pgkit.testing.batches import synthetic_batch
from pgkit.testing.contracts import (
    check_advantage,
    check_baseline,
    check_callback,
    check_component,
    check_critic,
    check_env_wrapper,
    check_logger,
    check_network,
    check_objective,
    check_optimizer,
    check_replay,
    check_policy_head,
    check_spec,
    check_state,
    check_trainer,
)
from pgkit.testing.exact import TabularMDP, exact_gradient, sample_gradient
from pgkit.testing.registry import isolated_registry
from pgkit.testing.resume import check_resume

__all__ = [
    "TabularMDP",
    "check_advantage",
    "check_baseline",
    "check_callback",
    "check_component",
    "check_critic",
    "check_env_wrapper",
    "check_logger",
    "check_network",
    "check_objective",
    "check_optimizer",
    "check_replay",
    "check_policy_head",
    "check_resume",
    "check_spec",
    "check_state",
    "check_trainer",
    "exact_gradient",
    "isolated_registry",
    "sample_gradient",
    "synthetic_batch",
]
