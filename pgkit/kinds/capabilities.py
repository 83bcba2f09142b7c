"""Capabilities: what a component (or the environment) provides and what another requires.

A component declares ``provides`` and ``requires`` (sets of Capability); the checker in
``pgkit.kinds.combination`` accepts a recipe when every requirement is provided by the environment or
by another chosen component, and ``pgkit check`` lists the registered components that would provide
what is missing. Plugins may define capabilities of their own: a Capability is only a name and the
phrase that error messages use for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from pgkit.data.goals import is_goal_space


@dataclass(frozen=True)
class Capability:
    """A name (compared) and the phrase messages use for it, e.g. ``needs <description> (<name>)``."""

    name: str
    description: str = field(compare=False)

    def __str__(self) -> str:
        return self.name


# --- provided by the environment, read from its spaces ----------------------------------------------
DISCRETE_ACTIONS = Capability("discrete_actions", "a Discrete action space")
BOX_ACTIONS = Capability("box_actions", "a Box action space")
BOUNDED_ACTIONS = Capability("bounded_actions", "a Box action space with finite bounds to squash into")
MULTI_DISCRETE_ACTIONS = Capability("multi_discrete_actions", "a MultiDiscrete action space")
MULTI_BINARY_ACTIONS = Capability("multi_binary_actions", "a MultiBinary action space")
STRUCTURED_ACTIONS = Capability("structured_actions", "a Dict or Tuple action space")
BOX_OBSERVATIONS = Capability("box_observations", "Box observations")
DISCRETE_OBSERVATIONS = Capability("discrete_observations", "Discrete observations")
GOAL_OBSERVATIONS = Capability(
    "goal_observations", "goal observations: a Dict with Box entries achieved_goal and desired_goal of one shape (gymnasium-robotics' goal envs)"
)
RAW_OBSERVATIONS = Capability("raw_observations", "observations stored as the env gives them (env.normalize.obs: false)")

# --- provided by policy heads -------------------------------------------------------------------------
LOG_PROB = Capability("log_prob", "log-probabilities log pi(a|s) from a stochastic policy head")
ENTROPY = Capability("entropy", "the policy's entropy H[pi(.|s)]")
KL = Capability("kl", "the exact KL divergence between two of the policy's distributions (torch.distributions.kl_divergence)")
RSAMPLE = Capability("rsample", "actions whose gradient reaches the policy (reparameterized sampling)")
DETERMINISTIC_ACTIONS = Capability("deterministic_actions", "a deterministic policy a = mu(s), explored with added noise")
ACTION_MASKS = Capability(
    "action_masks", "a head that honours the env's action mask: invalid actions get probability 0 (categorical, multi_categorical, bernoulli)"
)
SQUASHED_ACTIONS = Capability("squashed_actions", "actions in [-1, 1] that the head maps onto a bounded Box (deterministic, squashed_gaussian)")
OFF_POLICY_ACTIONS = Capability(
    "off_policy_actions", "actions an off-policy trainer can warm up with, explore and replay: squashed Box actions (deterministic, squashed_gaussian) or categorical choices"
)

# --- provided by critics ----------------------------------------------------------------------------------
STATE_VALUE = Capability("state_value", "state values V(s) from a critic")
ACTION_VALUE = Capability("action_value", "action values Q(s, a) from a critic")
ALL_ACTION_VALUES = Capability("all_action_values", "Q(s, .) of every action of a Discrete space at once from a critic (discrete_q, twin_discrete_q)")
TD_ERRORS = Capability("td_errors", "each replayed transition's TD error |y - Q(s, a)| from the critic (a prioritized replay's priorities)")

# --- provided by advantage estimators -------------------------------------------------------------------
SUBTRACTS_BASELINE = Capability(
    "subtracts_baseline", "an advantage estimator that subtracts the baseline b(s) (td, n_step and gae use the critic directly)"
)
LAG_CORRECTION = Capability(
    "lag_correction", "an advantage estimator that corrects for a behaviour policy lagging the learner's (vtrace)"
)

# --- provided by trainers ---------------------------------------------------------------------------------
ON_POLICY_BATCHES = Capability("on_policy_batches", "batches collected by the current policy (an on-policy trainer)")
SINGLE_PASS = Capability(
    "single_pass", "one gradient pass over each fresh batch, since its gradient is only correct on on-policy data (trainer.epochs=1)"
)
LEARNER_LOG_PROBS = Capability(
    "learner_log_probs", "log pi(a_t|s_t) of each batch step under the learner's policy when the batch reaches it (Batch.learner_log_probs; on_policy)"
)
OLD_POLICY = Capability("old_policy", "the policy as it was when the batch was collected (LossContext.old_policy)")
REPLAYED_TRANSITIONS = Capability("replayed_transitions", "replayed transitions with TD targets (an off-policy trainer)")
WHOLE_EPISODES = Capability("whole_episodes", "batches of whole episodes, none cut at the batch's end (on_policy with complete_episodes: true)")
SEQUENCES = Capability(
    "sequences", "batches of whole env columns, or replayed windows of an env's steps, with a recurrent network's memory, its recurrence "
    "re-run from it in order (on_policy; off_policy from the uniform replay)"
)
REWARD_SCALING = Capability(
    "reward_scaling", "rewards scaled by the running std of the discounted return, as env.normalize.reward asks (on_policy)"
)

# --- provided by objectives -------------------------------------------------------------------------------
OWN_POLICY_STEP = Capability(
    "own_policy_step", "an objective that takes the policy step itself (a trust region: trpo, natural_gradient); the critic is then fitted alone"
)

ACTION_SPACE_CAPABILITIES = frozenset({DISCRETE_ACTIONS, BOX_ACTIONS, BOUNDED_ACTIONS, MULTI_DISCRETE_ACTIONS, MULTI_BINARY_ACTIONS, STRUCTURED_ACTIONS})
OBSERVATION_SPACE_CAPABILITIES = frozenset({BOX_OBSERVATIONS, DISCRETE_OBSERVATIONS, GOAL_OBSERVATIONS})


def environment_capabilities(observation_space: gym.Space, action_space: gym.Space) -> frozenset[Capability]:
    """What an environment with these spaces provides."""
    provided = set()
    if isinstance(action_space, gym.spaces.Discrete):
        provided.add(DISCRETE_ACTIONS)
    if isinstance(action_space, gym.spaces.Box):
        provided.add(BOX_ACTIONS)
        if np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all():
            provided.add(BOUNDED_ACTIONS)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        provided.add(MULTI_DISCRETE_ACTIONS)
    if isinstance(action_space, gym.spaces.MultiBinary):
        provided.add(MULTI_BINARY_ACTIONS)
    if isinstance(action_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        provided.add(STRUCTURED_ACTIONS)
    if isinstance(observation_space, gym.spaces.Box):
        provided.add(BOX_OBSERVATIONS)
    if isinstance(observation_space, gym.spaces.Discrete):
        provided.add(DISCRETE_OBSERVATIONS)
    if is_goal_space(observation_space):
        provided.add(GOAL_OBSERVATIONS)
    return frozenset(provided)


__all__ = [
    "ACTION_MASKS",
    "ACTION_SPACE_CAPABILITIES",
    "ACTION_VALUE",
    "ALL_ACTION_VALUES",
    "BOUNDED_ACTIONS",
    "BOX_ACTIONS",
    "BOX_OBSERVATIONS",
    "DETERMINISTIC_ACTIONS",
    "DISCRETE_ACTIONS",
    "DISCRETE_OBSERVATIONS",
    "ENTROPY",
    "GOAL_OBSERVATIONS",
    "KL",
    "LAG_CORRECTION",
    "LEARNER_LOG_PROBS",
    "LOG_PROB",
    "MULTI_BINARY_ACTIONS",
    "MULTI_DISCRETE_ACTIONS",
    "OBSERVATION_SPACE_CAPABILITIES",
    "OFF_POLICY_ACTIONS",
    "OLD_POLICY",
    "ON_POLICY_BATCHES",
    "OWN_POLICY_STEP",
    "RAW_OBSERVATIONS",
    "REPLAYED_TRANSITIONS",
    "REWARD_SCALING",
    "RSAMPLE",
    "SINGLE_PASS",
    "SQUASHED_ACTIONS",
    "STATE_VALUE",
    "STRUCTURED_ACTIONS",
    "SUBTRACTS_BASELINE",
    "TD_ERRORS",
    "WHOLE_EPISODES",
    "Capability",
    "environment_capabilities",
]
