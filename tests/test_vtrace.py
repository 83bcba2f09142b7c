"""V-trace (advantage ``vtrace``): the recursion against the paper's sum written as a plain loop, GAE where the
behaviour policy is the learner's, and its gradient against the exact off-policy gradient of a tabular MDP on
episodes of a lagged behaviour policy (the tolerance of tests/test_unbiased.py: |z| < 4 over 100 chunks of
200 episodes, 6 components)."""

from __future__ import annotations

import pytest
import torch

from pgkit.builtins.advantages.bootstrapped import GAE
from pgkit.builtins.advantages.vtrace import VTrace
from pgkit.builtins.baselines.none import NoBaseline
from pgkit.functional import generalized_advantage, vtrace
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
