"""Whole-episode batches (trainer.complete_episodes): their layout, and the batch-end bias of Monte-Carlo
estimators that they remove, measured against the exact gradient of a tabular MDP through the real
trainer's data path (pgkit.runtime.gradient_estimates)."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import pytest

from conftest import COUNTER_ID
from pgkit.envs import EnvSettings, make_vector_env
from pgkit.errors import RecipeWarning
from pgkit.kinds.agent import Agent
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.gradients import gradient_estimates
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.variance import gradient_statistics


def tabular_recipe(registry, advantage: str, complete: bool, steps_per_env: int = 8, num_envs: int = 8, **slots):
    return resolve(
        {
            "seed": 0,
            "env": {"id": "pgkit/RandomMDP-v0", "num_envs": num_envs, "kwargs": {"num_states": 3, "num_actions": 2, "seed": 3}},
            "network": {"type": "mlp", "hidden_sizes": []},
            "policy_head": "categorical",
            "advantage": advantage,
            "baseline": "none",
            "objective": "reinforce",
            "optimizer": "adam",
            "trainer": {"type": "on_policy", "steps_per_env": steps_per_env, "complete_episodes": complete},
            **slots,
        },
        registry,
    )


def test_whole_episode_batches_hold_each_env_up_to_its_first_episode_end_after_t_steps(registry):
    """Counter episodes last 3 steps; with T = 4 each env keeps steps 0-5 (two whole episodes), one column."""
    recipe = resolve({"env": {"id": COUNTER_ID}, "policy_head": "categorical", "advantage": "reward_to_go", "objective": "reinforce", "optimizer": "adam"}, registry)
    env = gym.make(COUNTER_ID)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    collector = RolloutCollector(make_vector_env(EnvSettings(id=COUNTER_ID, num_envs=2)), agent, num_steps=4, seed=0, whole_episodes=True)
    for _ in range(2):
        batch = collector.collect()
        assert batch.rewards.shape == (12, 1)
        assert batch.truncated[:, 0].nonzero().flatten().tolist() == [2, 5, 8, 11]
        assert batch.obs[:, 0, 0].tolist() == [0, 1, 2] * 4  # every kept episode from its first step
        assert batch.prior_rewards.tolist() == [0.0] and batch.prior_steps.tolist() == [0]
        assert collector.dropped_steps == 0  # both envs ended together at step 5


def test_an_env_that_finishes_first_drops_its_later_steps(registry):
    recipe = tabular_recipe(registry, "total_return", True, steps_per_env=1, num_envs=4)
    env = gym.make("pgkit/RandomMDP-v0", num_states=3, num_actions=2, seed=3)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    collector = RolloutCollector(make_vector_env(recipe.settings.env), agent, num_steps=1, seed=0, whole_episodes=True)
    dropped = []
    for _ in range(20):
        batch = collector.collect()
        done = (batch.terminated | batch.truncated)[:, 0]
        assert done[-1] and int(done.sum()) == 4  # exactly one whole episode per env (T = 1)
        dropped.append(collector.dropped_steps)
    assert sum(dropped) > 0


def relative_bias_and_z(registry, advantage: str, complete: bool, batches: int, num_envs: int):
    estimates = gradient_estimates(tabular_recipe(registry, advantage, complete, num_envs=num_envs), batches, registry=registry)
    statistics = gradient_statistics(estimates, resamples=200)
    return statistics.relative_bias.value, statistics.bias_z


@pytest.mark.parametrize("advantage", ["total_return", "reward_to_go"])
def test_batch_end_bias_and_its_removal(registry, advantage):
    """8 steps per env (episodes end with probability 0.3 per step, 3.3 steps on average): cut at the
    batch's end, R(tau) and reward-to-go are biased (measured: 2.8-2.9% of the gradient); with
    whole-episode batches they are not (0.6-0.8%, the noise of the estimate).

    Tolerance: z is the largest of 8 components' |mean - exact| / SE, SE by the delta method of the
    steps-weighted mean over the batches: 3,000 batches of 32 envs cut (768k steps), 2,000 of 16 envs
    whole (~360k kept steps). Unbiased, max |z| > 4 has probability below 5e-4 (4 independent
    components: the softmax's rows sum to zero); the cut estimators' bias measured 7-10 SE at these
    sizes, so > 5 leaves a margin. The seeds are fixed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecipeWarning)
        cut_bias, cut_z = relative_bias_and_z(registry, advantage, False, 3000, num_envs=32)
    whole_bias, whole_z = relative_bias_and_z(registry, advantage, True, 2000, num_envs=16)
    assert cut_z > 5, f"batch-end bias not detected: relative bias {cut_bias:.3f}, max |z| {cut_z:.1f}"
    assert whole_z < 4, f"whole-episode batches biased: relative bias {whole_bias:.3f}, max |z| {whole_z:.1f}"
    assert whole_bias < 0.5 * cut_bias


def test_check_warns_of_monte_carlo_returns_cut_at_batch_ends(registry):
    with pytest.warns(RecipeWarning, match=r"(?s)advantage: 'total_return' sums only the rewards inside each batch.*complete_episodes: true"):
        check_compatibility(tabular_recipe(registry, "total_return", False), registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecipeWarning)
        check_compatibility(tabular_recipe(registry, "total_return", True), registry)  # whole episodes
        check_compatibility(tabular_recipe(registry, "total_return", False, critic="value"), registry)  # V(s) completes cut episodes


def test_an_episode_that_never_ends_is_reported_not_waited_for(registry, monkeypatch):
    recipe = tabular_recipe(registry, "total_return", True, num_envs=1)
    env = gym.make("pgkit/RandomMDP-v0")
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    monkeypatch.setattr(RolloutCollector, "MAX_EPISODE_STEPS", 50)
    envs = make_vector_env(EnvSettings(id="pgkit/RandomMDP-v0", kwargs={"end_probability": 0.0}))
    with pytest.raises(Exception, match="ran 50 steps without ending"):
        RolloutCollector(envs, agent, num_steps=8, seed=0, whole_episodes=True).collect()


def test_whole_episode_runs_resume_exactly(registry, tmp_path):
    from pgkit.testing import check_resume

    check_resume(Path(__file__).parent.parent / "recipes" / "cartpole-reward-to-go.yaml", registry,
                 overrides=["trainer.total_steps=6000", "trainer.steps_per_env=64", "logger=[]"], workdir=tmp_path)


def test_the_logged_episode_statistics_are_those_of_the_kept_episodes(registry):
    """Issue 27, item 7: the episodes an env finishes while waiting for the others are dropped from the batch, and
    from the logged means too: they are length-biased (only short ones fit in the wait; logged 3.49 against the
    exact 4.00 before). Every step ends an episode with probability 1/4, so E[length] = 4 exactly, std sqrt(12);
    over ~6,000 kept episodes the mean lies within 4 SE (0.18) of 4."""
    from pgkit.data.episodes import EpisodeStatistics
    from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter

    recipe = tabular_recipe(registry, "total_return", True, steps_per_env=1, num_envs=8)
    env = gym.make("pgkit/RandomMDP-v0", num_states=3, num_actions=2, seed=3, end_probability=0.25)
    agent = Agent.build(recipe.instantiate(), env.observation_space, env.action_space)
    statistics = EpisodeStatistics(window=100_000)
    settings = EnvSettings(id="pgkit/RandomMDP-v0", num_envs=8, kwargs={"num_states": 3, "num_actions": 2, "seed": 3, "end_probability": 0.25})
    envs = MonitoredVectorEnv(make_vector_env(settings), StepCounter(), statistics)
    collector = RolloutCollector(envs, agent, num_steps=1, seed=0, whole_episodes=True)
    kept = 0
    for _ in range(750):
        batch = collector.collect()
        kept += int((batch.terminated | batch.truncated).sum())
    envs.flush()
    lengths = [episode.length for episode in statistics.finished]
    assert len(lengths) == kept  # exactly the kept episodes, none of the dropped ones
    mean = sum(lengths) / len(lengths)
    assert abs(mean - 4.0) < 4 * (12 / len(lengths)) ** 0.5, mean
