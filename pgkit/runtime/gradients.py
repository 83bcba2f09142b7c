"""Policy-gradient estimates of a recipe, as an API: K batches collected and prepared by the recipe's own
trainer (``Trainer.policy_gradient``), each giving one estimate of grad J at one fixed policy.

    estimates = gradient_estimates(recipe, batches=100)
    estimates.gradients          # [K, P]: one estimate per batch
    estimates.mean               # [P]: their (steps-weighted) mean
    estimates.exact              # [P] on a tabular env (pgkit/RandomMDP-v0), else None: what an unbiased mean is
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pgkit.envs.making import make_env
from pgkit.envs.tabular import TabularMDPEnv
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.plugins.registry import Registry, default_registry
from pgkit.recipe import Recipe
from pgkit.runtime.loop import Context, flushed_denormals
from pgkit.runtime.run import Run
from pgkit.runtime.training import build_agent, on_env_factory

@dataclass(frozen=True)
class GradientEstimates:
    """Per-batch estimates of one recipe's policy gradient at one fixed policy."""

    gradients: Tensor  # [K, P] float64: each batch's gradient of the policy objective (ascent direction)
    batch_steps: Tensor  # [K]: transitions in each batch (what its gradient averages over)
    env_steps: Tensor  # [K]: environment steps each batch cost (more than batch_steps where steps were dropped)
    exact: Tensor | None  # [P]: grad J / E[episode length] in closed form, where the env is a tabular MDP
    objective: str = ""  # which objective ``exact`` is the gradient of (a time limit changes it; see ``target_objective``)

    @property
    def mean(self) -> Tensor:
        """The steps-weighted mean sum_b L_b g_b / sum_b L_b (the plain mean when batches are equal). An
        objective's loss is a mean over a batch's steps, so an unbiased estimator's long-run mean is
        grad J / E[episode length] (renewal-reward): what ``exact`` holds."""
        weights = self.batch_steps.double()
        return (self.gradients * weights[:, None]).sum(0) / weights.sum()


def gradient_estimates(
    recipe: Recipe,
    batches: int,
    initial: dict[str, Any] | None = None,
    critic_batches: int = 0,
    critic_epochs: int = 10,
    env: Callable[[], gym.Env] | None = None,
    registry: Registry | None = None,
    progress: Callable[[int], None] | None = None,
    behaviour: dict[str, Any] | None = None,
) -> GradientEstimates:
    """``batches`` estimates of ``recipe``'s policy gradient, through exactly its trainer's data path.

    The policy stays fixed: a seeded fresh one, or ``initial`` (an agent's weights, e.g. a checkpoint's
    ``agent``: its policy, and its critic and observation normalizer where they fit the recipe). With
    ``critic_batches`` the critic is first fitted to that policy by ``critic_epochs`` passes of its own
    regression over each of that many batches. ``env`` is an optional factory that replaces the recipe's env.
    ``progress`` is called with the number of batches done (critic batches first) after each one.

    ``behaviour``: weights (as ``initial``) of a policy that acts in the learner's place, as a lagging one does
    under asynchronous collection (``trainer.collection: async``, whose collectors act with a copy of the
    agent): the estimates are then of the learner's gradient from the behaviour's batches (unbiased where the
    advantage corrects for the lag: vtrace), and ``exact`` is the off-policy gradient the importance weights
    target (``TabularMDP.off_policy_direction``)."""
    if batches < 1 or critic_batches < 0 or critic_epochs < 1:
        raise PgkitError(f"need batches >= 1, critic_batches >= 0 and critic_epochs >= 1; got {batches}, {critic_batches}, {critic_epochs}")
    registry = registry or default_registry()
    if env is not None:
        recipe = on_env_factory(recipe, env, registry)
    agent = build_agent(recipe, registry)
    if initial is not None:
        _load_initial(agent, initial, recipe)
    trainer = agent.components["trainer"]
    ctx = Context(agent, Run(recipe, None), trainer.spec.total_steps, trainer.spec.log_window)
    acting = None
    if behaviour is not None:
        acting = agent.acting_copy()
        _load_initial(acting, behaviour, recipe)
        ctx.behaviour = acting.state_dict()
    try:
        with flushed_denormals():
            trainer.setup(ctx)
            for done in range(critic_batches):
                trainer.policy_gradient(ctx, critic_epochs)  # fits the critic; this batch's gradient is not kept
                if progress is not None:
                    progress(done + 1)
            gradients, transitions, costs = [], [], []
            for done in range(batches):
                before = ctx.step
                gradient, size = trainer.policy_gradient(ctx)
                if acting is not None and not ctx.behaviour_acted:
                    raise PgkitError(f"{recipe.source}: a behaviour policy acts only where collection acts with a copy of the agent "
                                     f"(this recipe's collects with the learner itself)\n    fix: set `trainer.collection: async`")
                gradients.append(gradient.double())
                transitions.append(size)
                costs.append(ctx.step - before)
                if progress is not None:
                    progress(critic_batches + done + 1)
    except NotImplementedError as exc:
        raise PgkitError(f"{recipe.source}: {exc}") from None
    finally:
        trainer.close()  # a collector's background thread or workers stop here, as at the end of training
        ctx.close()
    return GradientEstimates(torch.stack(gradients), torch.tensor(transitions), torch.tensor(costs), *_exact(agent, recipe, acting))


UNTRUNCATED = "J = E[sum_t gamma^t r_t] (episodes end only by termination)"
TIME_LIMITED = "J_H = E[sum_{{t<H}} gamma^t r_t], H = {horizon} (the time-limited return: no critic completes a cut episode)"
OFF_POLICY = ("the off-policy gradient sum_s d_mu(s) sum_a grad pi(a|s) Q^pi(s, a) (Degris et al. 2012) on episodes of the behaviour "
              "policy mu (episodes end only by termination)")
BOOTSTRAPPED = ("partial-episode bootstrapping at H = {horizon} (Pardo et al. 2018): the critic's V(s) completes each cut episode, "
                "so the gradient is sum_s d_H(s) sum_a grad pi(a|s) Q(s, a), of neither J_H nor J")


def target_objective(recipe: Recipe, horizon: int | None) -> str:
    """What ``recipe``'s gradient estimates target on an env whose episodes a time limit of ``horizon`` steps
    cuts (None: no limit): the untruncated objective; without a critic, the time-limited return; with a
    critic, which completes cut episodes with V(s), partial-episode bootstrapping."""
    if horizon is None:
        return UNTRUNCATED
    return (BOOTSTRAPPED if recipe.slots.get("critic") is not None else TIME_LIMITED).format(horizon=horizon)


def time_limit(env: gym.Env) -> int | None:
    """The smallest time limit among ``env``'s TimeLimit wrappers, or None."""
    limits = []
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            limits.append(env._max_episode_steps)
        env = env.env
    return min(limits, default=None)


def _exact(agent: Agent, recipe: Recipe, behaviour: Agent | None = None) -> tuple[Tensor | None, str]:
    """The closed-form gradient of the objective the recipe's estimates target (``target_objective``, or the
    off-policy gradient on ``behaviour``'s episodes), per step, where the recipe's env is a TabularMDPEnv (under
    any wrappers; with a behaviour policy, without a time limit); and that objective, in words."""
    probe = make_env(recipe.settings.env)
    try:
        unwrapped, horizon = probe.unwrapped, time_limit(probe)
    finally:
        probe.close()
    objective = target_objective(recipe, horizon) if behaviour is None else OFF_POLICY
    if not isinstance(unwrapped, TabularMDPEnv) or (behaviour is not None and horizon is not None):
        return None, objective
    mdp = unwrapped.mdp
    obs = torch.as_tensor(agent.prepare(np.arange(mdp.num_states)), dtype=agent.obs_dtype, device=agent.device)
    if behaviour is not None:
        with torch.no_grad():
            mu = behaviour.policy(obs).probs
        return mdp.policy_gradient(agent.policy, obs, behaviour=mu).double().cpu() / mdp.expected_length(mu), objective
    with torch.no_grad():
        length = mdp.expected_length(agent.policy(obs).probs, horizon)
    gradient = mdp.policy_gradient(agent.policy, obs, horizon, bootstrapped=objective.startswith("partial"))
    return gradient.double().cpu() / length, objective


def _load_initial(agent: Agent, initial: dict[str, Any], recipe: Recipe) -> None:
    """The policy from ``initial`` (it must fit); its critic and normalizer where they fit too."""
    failures = (KeyError, RuntimeError, TypeError, ValueError, AttributeError)
    try:
        agent.policy.load_state_dict(initial["policy"])
    except failures as exc:
        reason = " ".join(str(exc).split())[:600]
        raise PgkitError(f"{recipe.source}: the initial policy does not fit this recipe's network and head ({type(exc).__name__}: {reason})") from None
    if agent.critic is not None and "critic" in initial:
        try:
            agent.critic.load_state_dict(initial["critic"])
        except failures:
            pass  # a critic of another shape: this recipe keeps its own (fit it with critic_batches)
    if agent.obs_normalizer is not None and "obs_normalizer" in initial:
        try:
            agent.obs_normalizer.load_state_dict(initial["obs_normalizer"])
        except failures as exc:
            raise PgkitError(f"{recipe.source}: the initial agent's observation statistics do not load ({type(exc).__name__}: {exc})") from None
