"""Trust-region pieces: conjugate gradient on a known SPD system, the Fisher-vector product against the
explicit Fisher matrix of a small policy, the line search's KL bound, and TRPO runs whose every logged
step stays inside max_kl."""

from __future__ import annotations

import csv

import pytest
import torch
from torch.distributions import kl_divergence

from pgkit.functional import backtracking_line_search, conjugate_gradient, flat_gradient, hessian_vector_product, trust_region_step
from pgkit.nn import Categorical
from pgkit.recipe import resolve
from pgkit.runtime.training import train


def test_conjugate_gradient_solves_a_known_spd_system():
    torch.manual_seed(0)
    m = torch.randn(8, 8, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(8, dtype=torch.float64)  # symmetric positive definite
    x = torch.randn(8, dtype=torch.float64)
    solved = conjugate_gradient(lambda v: a @ v, a @ x, iterations=8)  # n iterations are exact in exact arithmetic
    torch.testing.assert_close(solved, x)


class TabularSoftmax(torch.nn.Module):
    """pi(a|s) = softmax(theta[s]) over 3 actions in 4 states."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))

    def forward(self, states):
        return Categorical(self.theta[states])


def test_fisher_vector_product_equals_the_explicit_fisher_matrix():
    """F = mean_s sum_a pi(a|s) grad log pi(a|s) grad log pi(a|s)^T, built from score functions, against
    the product of the KL's Hessian at pi = pi_old with vectors (damping 0, and 0.1 added)."""
    torch.manual_seed(1)
    policy = TabularSoftmax()
    states = torch.tensor([0, 1, 2, 3, 1, 2])
    parameters = list(policy.parameters())
    old = Categorical(policy.theta.detach()[states])
    kl_gradient = flat_gradient(kl_divergence(old, policy(states)).mean(), parameters, create_graph=True)
    fisher = torch.zeros(12, 12, dtype=torch.float64)
    probabilities = torch.softmax(policy.theta.detach(), -1)
    for s in states.tolist():
        for a in range(3):
            score = flat_gradient(policy(torch.tensor([s])).log_prob(torch.tensor([a]))[0], parameters)
            fisher += probabilities[s, a] * torch.outer(score, score) / len(states)
    for damping in (0.0, 0.1):
        for _ in range(3):
            v = torch.randn(12, dtype=torch.float64)
            torch.testing.assert_close(hessian_vector_product(kl_gradient, parameters, v, damping), fisher @ v + damping * v)


def test_trust_region_step_reaches_max_kl_on_the_quadratic():
    fisher = torch.diag(torch.tensor([2.0, 0.5]))
    direction = torch.tensor([1.0, -1.0])
    step = trust_region_step(direction, fisher @ direction, max_kl=0.02)
    assert 0.5 * step @ fisher @ step == pytest.approx(0.02)


def test_the_line_search_never_accepts_a_step_over_max_kl():
    """KL grows like the fraction squared and the surrogate improves until the step overshoots: the
    accepted fraction is the first inside the bound that improves, and an all-violating search keeps
    no step."""
    tried = []

    def evaluate(fraction):
        tried.append(fraction)
        return fraction * (1.2 - fraction), 0.05 * fraction**2

    fraction, tries = backtracking_line_search(evaluate, max_kl=0.02, shrink=0.8, iterations=10)
    assert 0.05 * fraction**2 <= 0.02 and all(0.05 * f**2 > 0.02 for f in tried[:-1]) and tries == len(tried) - 1
    assert backtracking_line_search(lambda f: (1.0, 1.0), max_kl=0.02, iterations=5) is None


@pytest.mark.parametrize("objective", ["trpo", "natural_gradient"])
def test_every_logged_step_stays_inside_the_trust_region(registry, tmp_path, objective):
    """TRPO accepts only steps with KL <= max_kl; the natural gradient's normalized step lands near it."""
    recipe = resolve(
        {
            "env": {"id": "CartPole-v1", "num_envs": 2},
            "policy_head": "categorical",
            "critic": "value",
            "advantage": {"type": "gae", "lam": 0.98, "normalize": True},
            "objective": {"type": objective, "max_kl": 0.01},
            "optimizer": {"type": "adam", "lr": 0.001, "max_grad_norm": None},
            "trainer": {"type": "on_policy", "total_steps": 4096, "steps_per_env": 128, "epochs": 5, "minibatch_size": 128},
            "logger": ["csv"],
        },
        registry,
    )
    train(recipe, tmp_path, registry=registry)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    kls = [float(row["kl"]) for row in rows]
    assert len(kls) == 16 and all(kl >= 0 for kl in kls)
    if objective == "trpo":
        assert all(kl <= 0.01 for kl in kls), kls
        assert sum(float(row["line_search_accepted"]) for row in rows) >= 12
    else:
        assert all(kl <= 0.03 for kl in kls), kls  # no line search: the quadratic estimate is close, not a bound
