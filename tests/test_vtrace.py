"""V-trace (advantage ``vtrace``): the recursion against the paper's sum written as a plain loop, GAE where the
behaviour policy is the learner's, and its gradient against the exact off-policy gradient of a tabular MDP on
episodes of a lagged behaviour policy (the tolerance of tests/test_unbiased.py: |z| < 4 over 100 chunks of
200 episodes, 6 components), both from the tabular sampler and through pgkit's own gradient_estimates, whose
asynchronous collector acts with the lagged policy (|z| < 4 over 400 batches, 8 components)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pgkit.builtins.advantages.bootstrapped import GAE
from pgkit.builtins.advantages.vtrace import VTrace
from pgkit.builtins.baselines.none import NoBaseline
from pgkit.errors import PgkitError, RecipeWarning
from pgkit.functional import generalized_advantage, vtrace
from pgkit.plugins.registry import default_registry
from pgkit.recipe import resolve
from pgkit.runtime import gradient_estimates
from pgkit.runtime.training import build_agent
from pgkit.runtime.variance import gradient_statistics
from pgkit.testing import TabularMDP, exact_gradient, sample_gradient, synthetic_batch


def vtrace_by_sums(batch, log_ratios, gamma, lam, rho_bar, c_bar):
    """v_s = V(s) + sum_{t>=s} gamma^{t-s} (prod_{s<=i<t} c_i) delta_t, summed to the end of s's episode in the batch."""
    ratios = log_ratios.exp()
    rho = ratios if rho_bar is None else ratios.clamp(max=rho_bar)
    c = lam * (ratios if c_bar is None else ratios.clamp(max=c_bar))
    steps, envs = batch.rewards.shape
    targets = torch.zeros(steps, envs)
    advantages = torch.zeros(steps, envs)
    for n in range(envs):
        for s in range(steps):
            total, weight = batch.values[s, n].item(), 1.0
            for t in range(s, steps):
                going_on = 0.0 if batch.terminated[t, n] else 1.0
                delta = rho[t, n] * (batch.rewards[t, n] + gamma * going_on * batch.next_values[t, n] - batch.values[t, n])
                total += weight * delta.item()
                if batch.terminated[t, n] or batch.truncated[t, n]:
                    break
                weight *= gamma * c[t, n].item()
            targets[s, n] = total
    for n in range(envs):
        for s in range(steps):
            ended = batch.terminated[s, n] or batch.truncated[s, n] or s == steps - 1
            following = batch.next_values[s, n] if ended else targets[s + 1, n]
            going_on = 0.0 if batch.terminated[s, n] else 1.0
            advantages[s, n] = batch.rewards[s, n] + gamma * going_on * following - batch.values[s, n]
    return targets, advantages, rho


@pytest.mark.parametrize("lam, rho_bar, c_bar", [(1.0, 1.0, 1.0), (0.9, 2.0, 0.5), (1.0, None, None)])
def test_vtrace_matches_the_sums_of_the_paper(lam, rho_bar, c_bar):
    batch = synthetic_batch(num_steps=9, num_envs=3, seed=4)
    log_ratios = batch.learner_log_probs - batch.log_probs
    got = vtrace(batch.rewards, batch.terminated, batch.truncated, batch.values, batch.next_values, log_ratios, 0.95, lam, rho_bar, c_bar)
    for value, expected in zip(got, vtrace_by_sums(batch, log_ratios, 0.95, lam, rho_bar, c_bar)):
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 0.8, 1.0])
def test_on_the_learners_own_batches_vtrace_is_gae(lam):
    """pi = mu: rho = c / lambda = 1, v_t is the TD(lambda) return and the advantage GAE(lambda)'s at lambda = 1
    (below 1, r + gamma v_{t+1} - V(s_t) is GAE's delta_t plus gamma (v_{t+1} - V(s_{t+1})): the same return)."""
    batch = synthetic_batch(num_steps=10, num_envs=3, seed=5)
    batch.learner_log_probs = batch.log_probs.clone()
    VTrace(gamma=0.9, lam=lam)(batch, torch.zeros_like(batch.rewards))
    gae = generalized_advantage(batch.rewards, batch.terminated, batch.truncated, batch.values, batch.next_values, 0.9, lam)
    torch.testing.assert_close(batch.returns, gae + batch.values)
    if lam == 1.0:
        torch.testing.assert_close(batch.advantages, gae)


MDP = TabularMDP.random(num_states=3, num_actions=2, seed=3)
LOGITS = torch.tensor([[0.5, -0.5], [0.0, 1.0], [-1.0, 0.3]], dtype=torch.float64)
PI = torch.softmax(LOGITS, -1)
LAGGED = LOGITS - 3.0 * exact_gradient(MDP, LOGITS)  # the policy before an ascent step of 3: pi / mu from 0.58 to 1.77
OFF_POLICY = exact_gradient(MDP, LOGITS, behaviour_logits=LAGGED)
TRUE_V = MDP.values(PI)
IMPERFECT = TRUE_V + torch.tensor([8.0, -8.0, 2.0], dtype=torch.float64)  # a critic wrong by state


@pytest.mark.parametrize(
    "advantage, values, unbiased",
    [
        (VTrace(gamma=1.0, lam=1.0, rho_bar=None, c_bar=None), IMPERFECT, True),
        (VTrace(gamma=1.0, lam=0.5, rho_bar=None, c_bar=1.0), TRUE_V, True),
        (VTrace(gamma=1.0, lam=1.0, rho_bar=1.0, c_bar=1.0), TRUE_V, False),
        (GAE(gamma=1.0, lam=1.0), IMPERFECT, False),
    ],
    ids=["untruncated-imperfect_V", "untruncated_rho-true_V", "truncated_rho-true_V", "uncorrected_gae"],
)
def test_vtrace_against_the_exact_gradient_on_a_lagged_behaviour_policys_episodes(advantage, values, unbiased):
    """Episodes of mu, one ascent step behind pi: the importance-weighted gradient is unbiased for the off-policy
    gradient sum_s d_mu(s) sum_a grad pi(a|s) Q^pi(s, a) (0.7-1.5% from grad J here) with untruncated rho, whatever V
    is once the traces are untruncated too (lambda = 1, c_bar null), and with truncated traces given the true V.
    Truncating rho at 1 biases it towards the value of min(mu, pi) (measured |z| 16), as GAE that ignores the lag
    is biased (measured |z| 48)."""
    mean, error = sample_gradient(MDP, LOGITS, advantage, NoBaseline(), chunks=100, seed=7, values=values, behaviour_logits=LAGGED)
    z = ((mean - OFF_POLICY) / error).abs()
    assert (z.max() < 4) if unbiased else (z.max() > 8), f"z-scores {z}"


def test_the_off_policy_gradient_is_the_exact_gradient_where_mu_is_pi():
    torch.testing.assert_close(exact_gradient(MDP, LOGITS, behaviour_logits=LOGITS), exact_gradient(MDP, LOGITS))


def lagged_recipe(advantage: dict, collection: str = "async"):
    return resolve({
        "seed": 0, "env": {"id": "pgkit/RandomMDP-v0", "num_envs": 8, "kwargs": {"num_states": 3, "num_actions": 2, "seed": 3}},
        "network": {"type": "mlp", "hidden_sizes": []}, "policy_head": "categorical", "critic": "value", "baseline": "none",
        "advantage": advantage, "objective": "reinforce", "optimizer": "adam",
        "trainer": {"type": "on_policy", "steps_per_env": 16, "collection": collection},
    }, default_registry())


UNTRUNCATED = {"type": "vtrace", "gamma": 1.0, "lam": 1.0, "rho_bar": None, "c_bar": None}


def lagged_behaviour() -> dict:
    """The recipe's policy before an ascent step of 2 along its exact gradient per step: pi / mu from 0.75 to 1.50."""
    recipe = lagged_recipe(UNTRUNCATED)
    direction = gradient_estimates(recipe, 1).exact
    behaviour = build_agent(recipe)
    vector_to_parameters((parameters_to_vector(behaviour.policy.parameters()).double() - 2.0 * direction).float(), behaviour.policy.parameters())
    return behaviour.state_dict()


@pytest.mark.parametrize(
    "advantage, unbiased",
    [(UNTRUNCATED, True), ({"type": "vtrace", "gamma": 1.0, "lam": 1.0}, False), ({"type": "gae", "gamma": 1.0, "lam": 1.0}, False)],
    ids=["untruncated_vtrace", "truncated_rho", "uncorrected_gae"],
)
def test_gradient_estimates_of_a_lagged_behaviours_batches_against_the_off_policy_gradient(advantage, unbiased):
    """The recipe's own trainer, collecting asynchronously with a behaviour policy one ascent step behind: the
    untruncated V-trace gradient (an untrained critic: any V) is unbiased for the off-policy gradient (measured
    |z| 1.9); truncating rho at 1 (|z| 32) and GAE that ignores the lag (|z| 34) are not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecipeWarning)  # GAE under async collection is warned of: here that is the point
        estimates = gradient_estimates(lagged_recipe(advantage), 400, behaviour=lagged_behaviour())
    assert estimates.objective.startswith("the off-policy gradient")
    z = gradient_statistics(estimates, resamples=10).bias_z
    assert (z < 4) if unbiased else (z > 8), f"max |z| {z:.1f}"


def test_a_behaviour_policy_needs_collection_that_acts_with_a_copy():
    with pytest.raises(PgkitError, match=r"(?s)a behaviour policy acts only where collection acts with a copy.*trainer.collection: async"):
        gradient_estimates(lagged_recipe(UNTRUNCATED, collection="sync"), 1, behaviour=lagged_behaviour())
