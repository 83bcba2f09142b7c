"""The public gradient-estimate API (pgkit.runtime.gradient_estimates) and `pgkit variance`."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

from pgkit.cli import main
from pgkit.envs import TabularMDP, TabularMDPEnv
from pgkit.errors import PgkitError
from pgkit.recipe import load_recipe, resolve
from pgkit.runtime import gradient_estimates
from pgkit.runtime.training import build_agent
from pgkit.runtime.variance import gradient_statistics

TABULAR = Path(__file__).parent.parent / "docs" / "variance"
CEM = Path(__file__).parent.parent / "plugins" / "pgkit-cem" / "recipes"


def small(registry, **changes):
    document = {
        "seed": 0,
        "env": {"id": "CartPole-v1", "num_envs": 2},
        "network": {"type": "mlp", "hidden_sizes": [8]},
        "policy_head": "categorical",
        "critic": "value",
        "advantage": "gae",
        "objective": "reinforce",
        "optimizer": "adam",
        "trainer": {"type": "on_policy", "steps_per_env": 16},
        **changes,
    }
    return resolve(document, registry)


def test_estimates_come_from_one_fixed_policy_and_repeat_with_the_seed(registry):
    recipe = small(registry)
    fresh = build_agent(recipe, registry)
    first = gradient_estimates(recipe, batches=3, critic_batches=2, registry=registry)
    again = gradient_estimates(recipe, batches=3, critic_batches=2, registry=registry)
    count = sum(p.numel() for p in fresh.policy.parameters())
    assert first.gradients.shape == (3, count) and first.batch_steps.tolist() == first.env_steps.tolist() == [32, 32, 32]
    assert torch.equal(first.gradients, again.gradients)
    assert first.exact is None  # CartPole has no closed form
    assert not torch.equal(first.gradients[0], first.gradients[1])  # each batch is its own estimate


def test_an_initial_policy_is_used_and_must_fit(registry):
    recipe = small(registry)
    other = build_agent(small(registry, seed=1), registry).state_dict()
    from_other = gradient_estimates(recipe, batches=1, initial=other, registry=registry)
    from_own = gradient_estimates(recipe, batches=1, registry=registry)
    assert not torch.equal(from_other.gradients, from_own.gradients)
    wider = build_agent(small(registry, network={"type": "mlp", "hidden_sizes": [16]}), registry).state_dict()
    with pytest.raises(PgkitError, match="initial policy does not fit"):
        gradient_estimates(recipe, batches=1, initial=wider, registry=registry)


def test_an_env_factory_replaces_the_recipe_env(registry):
    mdp = TabularMDP.random(num_states=4, num_actions=3, seed=7)
    recipe = resolve(load_recipe(TABULAR / "tabular-total-return.yaml").to_dict(), registry)
    estimates = gradient_estimates(recipe, batches=2, env=lambda: TabularMDPEnv(mdp), registry=registry)
    assert estimates.exact.shape == (4 * 3 + 3,)  # one linear layer: 3 x 4 weights and 3 biases


def test_trainers_without_a_policy_gradient_say_so(registry):
    pytest.importorskip("pgkit_cem")
    recipe = load_recipe(CEM / "cartpole-cem.yaml")
    with pytest.raises(PgkitError, match="has no policy-gradient estimate"):
        gradient_estimates(recipe, batches=1)


def test_exact_gradient_of_an_agent_matches_finite_differences(registry):
    recipe = resolve(load_recipe(TABULAR / "tabular-total-return.yaml").to_dict(), registry)
    agent = build_agent(recipe, registry)
    env = gym.make("pgkit/RandomMDP-v0", num_states=3, num_actions=2, seed=3).unwrapped
    obs = torch.arange(3, dtype=agent.obs_dtype)
    exact = env.mdp.policy_gradient(agent.policy, obs)
    parameter = next(agent.policy.parameters())
    h = 1e-3
    with torch.no_grad():
        parameter.view(-1)[0] += h
        up = float(env.mdp.objective(agent.policy(obs).probs))
        parameter.view(-1)[0] -= 2 * h
        down = float(env.mdp.objective(agent.policy(obs).probs))
    assert exact[0].item() == pytest.approx((up - down) / (2 * h), rel=1e-3, abs=1e-6)


def test_variance_command_prints_the_table_with_bias_on_a_tabular_mdp(capsys, tmp_path):
    recipes = [TABULAR / name for name in ("tabular-total-return.yaml", "tabular-reward-to-go.yaml", "tabular-gae.yaml")]
    code = main(["variance", *map(str, recipes), "--batches", "30", "--critic-batches", "5", "--plot", str(tmp_path / "variance.png")])
    out = capsys.readouterr().out
    assert code == 0
    assert "relative bias [95%]" in out and "relative variance per 1k steps [95%]" in out
    assert out.count("tabular-") >= 6  # three rows and three cosine rows
    assert (tmp_path / "variance.png").stat().st_size > 0


def test_statistics_on_known_estimates():
    from pgkit.runtime.gradients import GradientEstimates

    gradients = torch.tensor([[1.0, 0.0], [3.0, 0.0], [1.0, 2.0], [3.0, 2.0]], dtype=torch.float64)
    estimates = GradientEstimates(gradients, torch.tensor([10, 10, 10, 10]), torch.tensor([10, 10, 10, 10]), exact=torch.tensor([2.0, 1.0], dtype=torch.float64))
    s = gradient_statistics(estimates, resamples=50)
    assert s.mean_norm.value == pytest.approx(5**0.5)
    assert s.total_variance.value == pytest.approx(4 / 3 + 4 / 3)  # sample variances of the two components
    assert s.relative_variance.value == pytest.approx((8 / 3) / 5 * 10 / 1000)
    assert s.relative_bias.value == pytest.approx(0.0) and s.bias_z == pytest.approx(0.0)
    assert s.total_variance.low <= s.total_variance.value <= s.total_variance.high


def test_under_a_time_limit_the_exact_gradient_is_of_the_objective_the_recipe_targets(registry):
    """RandomMDP cut at 3 steps (issue 27, item 8): whole episodes without a critic follow the time-limited return;
    the exact gradient that gradient_estimates compares against is that objective's, and the estimate agrees."""
    from pgkit.runtime.variance import gradient_statistics

    recipe = resolve({
        "seed": 0, "env": {"id": "pgkit/RandomMDP-v0", "num_envs": 8,
                           "kwargs": {"num_states": 3, "num_actions": 2, "seed": 3, "end_probability": 0.25, "max_episode_steps": 3}},
        "network": {"type": "mlp", "hidden_sizes": []}, "policy_head": "categorical", "advantage": "reward_to_go",
        "objective": "reinforce", "optimizer": "adam", "trainer": {"type": "on_policy", "steps_per_env": 16, "complete_episodes": True},
    }, registry)
    estimates = gradient_estimates(recipe, 300)
    assert estimates.objective.startswith("J_H") and "H = 3" in estimates.objective
    assert gradient_statistics(estimates).bias_z < 4


def test_estimates_close_the_trainer_and_leave_no_collector_running(registry):
    """An asynchronous collector's thread would go on drawing from torch's generator after the call returned."""
    import threading

    gradient_estimates(small(registry, advantage="vtrace", trainer={"type": "on_policy", "steps_per_env": 16, "collection": "async"}), batches=2, registry=registry)
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("pgkit-collector")]
