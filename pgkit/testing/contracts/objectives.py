"""The objective contract: a gradient step on the loss improves the policy, on the kind of policy the
objective requires (a stochastic one for log_prob, a deterministic one for deterministic_actions); the
metrics are finite floats; end_batch works and the state survives a checkpoint."""

from __future__ import annotations

import copy
import math

import torch

from pgkit import Batch
from pgkit.kinds import LossContext, Objective, metric_floats
from pgkit.kinds.capabilities import ACTION_VALUE, ALL_ACTION_VALUES, DETERMINISTIC_ACTIONS, LOG_PROB, OWN_POLICY_STEP
from pgkit.nn import Categorical, SquashedDiagonalGaussian
from pgkit.testing.batches import synthetic_batch
from pgkit.testing.contracts.common import BOX, DISCRETE, OBSERVATIONS, check_spec, check_state, instance


class _LogitsPolicy(torch.nn.Module):
    """A one-state policy over ``num_actions`` actions."""

    def __init__(self, num_actions: int = 2):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(num_actions))

    def forward(self, obs):
        return Categorical(self.logits.expand(obs.shape[0], len(self.logits)))


def check_objective(objective: Objective | type[Objective]) -> None:
    """A gradient step on the loss moves the policy toward the better action: on a known Q(s, a) for
    objectives that read action values (a deterministic policy for deterministic_actions, a squashed
    Gaussian otherwise; a categorical one over Q(s, .) for all_action_values, whose exact next value, if
    the objective gives one, is [B] and finite), on a one-step bandit
    for those that read log_prob."""
    objective = instance(objective)
    check_spec(objective)
    torch.manual_seed(0)
    if ALL_ACTION_VALUES in objective.requires:
        _check_all_action_values_objective(objective)
    elif ACTION_VALUE in objective.requires:
        _check_critic_objective(objective)
    else:
        assert LOG_PROB in objective.requires, f"{objective.name}: the contract covers objectives that require log_prob or action_value"
        _check_stochastic_objective(objective)
    check_state(objective)


def _check_stochastic_objective(objective: Objective) -> None:
    policy = _LogitsPolicy()
    obs = torch.zeros(512, 1)
    actions = policy(obs).sample()
    rewards = actions.float()  # action 1 pays 1, action 0 pays 0
    batch = Batch(
        obs=obs, actions=actions, log_probs=policy(obs).log_prob(actions).detach(),
        rewards=rewards, terminated=torch.ones(512, dtype=torch.bool), truncated=torch.zeros(512, dtype=torch.bool),
        next_obs=obs, advantages=rewards - rewards.mean(), returns=rewards, values=torch.zeros(512), next_values=torch.zeros(512),
    )
    context = LossContext(policy, progress=0.0, old_policy=copy.deepcopy(policy).requires_grad_(False))
    before = torch.softmax(policy.logits, 0)[1].item()
    loss, metrics = objective.loss(batch, context)
    assert loss.dim() == 0 and torch.isfinite(loss), f"{objective.name}: the loss must be a finite scalar"
    _check_metrics(objective, metrics)
    loss.backward()
    with torch.no_grad():
        policy.logits -= 0.5 * policy.logits.grad
    after = torch.softmax(policy.logits, 0)[1].item()
    assert after > before, f"{objective.name}: a step did not raise the probability of the better action ({before:.3f} -> {after:.3f})"
    ended = objective.end_batch(batch, context)
    assert all(isinstance(v, float) and math.isfinite(v) for v in ended.values()), f"{objective.name}: end_batch must return finite floats"
    if OWN_POLICY_STEP in objective.provides:
        _check_own_step(objective, batch)


def _check_own_step(objective: Objective, batch: Batch) -> None:
    """An objective that steps the policy itself raises the probability of the better action in one step."""
    policy = _LogitsPolicy()
    context = LossContext(policy, progress=0.0, old_policy=copy.deepcopy(policy).requires_grad_(False))
    before = torch.softmax(policy.logits, 0)[1].item()
    metrics = objective.step(batch, context)
    after = torch.softmax(policy.logits, 0)[1].item()
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), f"{objective.name}: step must return finite floats"
    assert after > before, f"{objective.name}: its own step did not raise the probability of the better action ({before:.3f} -> {after:.3f})"


def _check_critic_objective(objective: Objective) -> None:
    from pgkit.builtins.policy_heads.deterministic import Dirac

    deterministic = DETERMINISTIC_ACTIONS in objective.requires

    class Constant(torch.nn.Module):  # one action (or the mean of its pre-squash Gaussian) for every state
        def __init__(self):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.zeros(1))

        def forward(self, obs):
            mean = self.mu.expand(obs.shape[0], 1)
            return Dirac(torch.tanh(mean)) if deterministic else SquashedDiagonalGaussian(mean, torch.full((1,), -2.0))

    class Quadratic(torch.nn.Module):  # Q(s, a) = -(a - 0.5)^2: the best action is 0.5
        def forward(self, obs, action, networks=None):
            return -(action[:, 0] - 0.5).square().unsqueeze(0)

    policy = Constant()
    objective.build(OBSERVATIONS, BOX)
    batch = synthetic_batch(OBSERVATIONS, BOX).flatten()
    loss, metrics = objective.loss(batch, LossContext(policy, critic=Quadratic()))
    assert loss.dim() == 0 and torch.isfinite(loss), f"{objective.name}: the loss must be a finite scalar"
    _check_metrics(objective, metrics)
    loss.backward()
    with torch.no_grad():
        policy.mu -= 0.1 * policy.mu.grad
    assert 0 < math.tanh(policy.mu.item()) <= 0.5, f"{objective.name}: a step did not move the policy's action toward argmax_a Q(s, a)"


def _check_all_action_values_objective(objective: Objective) -> None:
    class Values(torch.nn.Module):  # Q(s, .) = (0, 1, 0.5): action 1 is best, in every state
        def values(self, obs, networks=None):
            return torch.tensor([0.0, 1.0, 0.5]).expand(1, obs.shape[0], 3)

        def forward(self, obs, action, networks=None):
            return self.values(obs).gather(-1, action.reshape(1, -1, 1).long()).squeeze(-1)

    policy = _LogitsPolicy(3)
    objective.build(OBSERVATIONS, DISCRETE)
    batch = synthetic_batch(OBSERVATIONS, DISCRETE).flatten()
    loss, metrics = objective.loss(batch, LossContext(policy, critic=Values()))
    assert loss.dim() == 0 and torch.isfinite(loss), f"{objective.name}: the loss must be a finite scalar"
    _check_metrics(objective, metrics)
    before = torch.softmax(policy.logits, 0)[1].item()
    loss.backward()
    with torch.no_grad():
        policy.logits -= 0.5 * policy.logits.grad
    after = torch.softmax(policy.logits, 0)[1].item()
    assert after > before, f"{objective.name}: a step did not raise the probability of argmax_a Q(s, a) ({before:.3f} -> {after:.3f})"
    with torch.no_grad():
        value = objective.next_value(policy(batch.obs), Values(), batch.obs)
    if value is not None:
        assert value.shape == batch.rewards.shape and torch.isfinite(value).all(), f"{objective.name}: next_value must be [B] and finite"


def _check_metrics(objective: Objective, metrics: dict) -> None:
    tensors = [v for v in metrics.values() if isinstance(v, torch.Tensor)]
    assert all(v.dim() == 0 and not v.requires_grad for v in tensors), f"{objective.name}: a tensor metric must be a 0-d tensor without gradient"
    assert all(isinstance(v, (float, torch.Tensor)) for v in metrics.values()), f"{objective.name}: metrics must be floats or 0-d tensors"
    assert all(math.isfinite(v) for v in metric_floats(metrics).values()), f"{objective.name}: metrics must be finite"
