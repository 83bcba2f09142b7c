"""The linear feature baseline: pgkit's baseline contract, the least-squares fit, unbiasedness, a recipe."""

from __future__ import annotations

from pathlib import Path

import torch

from pgkit.recipe import load_recipe
from pgkit.testing import TabularMDP, check_baseline, exact_gradient, sample_gradient
from pgkit.runtime.training import train
from pgkit_linear_baseline import LinearFeatureBaseline

RECIPE = Path(__file__).parent.parent / "recipes" / "cartpole-linear-baseline.yaml"


def test_meets_the_baseline_contract():
    check_baseline(LinearFeatureBaseline)


def test_fit_recovers_a_function_of_its_features(pgkit_batch):
    batch = pgkit_batch(num_steps=40, num_envs=6, seed=3)
    baseline = LinearFeatureBaseline(reg_coeff=1e-9)
    features = baseline.features(batch)
    true_weights = torch.randn(features.shape[-1], dtype=torch.float64)
    batch.returns = (features @ true_weights).float()
    baseline.update(batch)
    torch.testing.assert_close(baseline(batch), batch.returns, atol=1e-3, rtol=1e-3)


def test_time_features_continue_across_batches(pgkit_batch):
    batch = pgkit_batch(num_steps=3, num_envs=1)
    batch.terminated[:], batch.truncated[:] = False, False
    batch.prior_steps = torch.tensor([250])
    t = LinearFeatureBaseline().features(batch)[:, 0, -4]
    torch.testing.assert_close(t, torch.tensor([2.5, 2.51, 2.52], dtype=torch.float64))


def test_unbiased_for_the_exact_gradient():
    """On a tabular MDP with one-hot-like Box observations the plugin's baseline adds no bias (4 standard errors)."""
    from pgkit.builtins.advantages.reward_to_go import RewardToGo

    mdp = TabularMDP.random(num_states=3, num_actions=2, seed=3)
    logits = torch.tensor([[0.5, -0.5], [0.0, 1.0], [-1.0, 0.3]], dtype=torch.float64)

    class OnStateIds(LinearFeatureBaseline):
        def features(self, batch):  # the tabular states as one-hot observations
            one_hot = torch.nn.functional.one_hot(batch.obs, 3).double()
            batch = type(batch)(**{**vars(batch), "obs": one_hot})
            return super().features(batch)

    mean, error = sample_gradient(mdp, logits, RewardToGo(), OnStateIds(), seed=1)
    assert ((mean - exact_gradient(mdp, logits)) / error).abs().max() < 4


def test_recipe_trains(tmp_path):
    recipe = load_recipe(RECIPE, ["trainer.total_steps=4096", "logger=[]"])
    assert recipe.slots["baseline"].registration.plugin.name == "linear_baseline"
    agent, run = train(recipe, tmp_path)
    assert run.last_metrics["steps"] >= 4096 and torch.isfinite  # whole-episode batches end past the budget(torch.tensor(run.last_metrics["policy_loss"]))
