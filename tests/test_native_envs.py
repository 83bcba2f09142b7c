"""env.vectorization native (gymnasium's vector entry points) and envpool: NEXT_STEP batches whose reset steps
stay out of every batch, the same training as sync, exact resume where the env pickles, refusals with reasons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgkit.envs import EnvSettings, make_env, make_vector_env, probe_spaces
from pgkit.envs.native import NextStepColumns
from pgkit.errors import RecipeError, TrainingError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent
from pgkit.testing import check_resume

REGISTRY = build_registry()
BATCHES = ["native", "envpool"]
PPO = {"network": {"type": "mlp", "hidden_sizes": [16]}, "policy_head": "categorical", "critic": "value",
       "advantage": {"type": "gae", "normalize": True}, "objective": "ppo_clip", "optimizer": "adam", "logger": []}


def _cartpole(vectorization: str, num_envs: int = 4, **env) -> dict:
    return {"env": {"id": "CartPole-v1", "num_envs": num_envs, "vectorization": vectorization, **env}, **PPO,
            "trainer": {"type": "on_policy", "total_steps": 400, "steps_per_env": 50, "epochs": 2, "minibatch_size": 100}}


@pytest.mark.parametrize("vectorization", BATCHES)
def test_a_native_batch_keeps_every_real_step_and_drops_each_reset_step(vectorization):
    resolved = resolve(_cartpole(vectorization, kwargs={"max_episode_steps": 30}), REGISTRY, source="test")
    envs = make_vector_env(resolved.settings.env)
    assert isinstance(envs, NextStepColumns)
    batch = RolloutCollector(envs, build_agent(resolved, REGISTRY), num_steps=200, seed=0).collect()
    ended = batch.terminated | batch.truncated
    following = torch.zeros_like(ended)
    following[1:] = ended[:-1]  # the step after an end: the reset step, whose action the env ignored
    assert ended.sum() > 10 and torch.equal(batch.alive, ~following)
    assert torch.all(batch.rewards[following] == 0) and torch.all(batch.rewards[~following] == 1)  # CartPole: 1 per real step
    flat = batch.flatten()
    assert len(flat.rewards) == int((~following).sum()) and torch.all(flat.rewards == 1)
    final = batch.next_obs[batch.terminated]  # the true final observation: the cart or the pole past its limit
    assert torch.all((final[:, 0].abs() > 2.4) | (final[:, 2].abs() > 0.2094))
    assert torch.all(batch.next_obs[batch.truncated].abs().amax(-1) < 4.8)
    assert batch.truncated.any()  # the time limit of 30 is a truncation, kept apart from termination


@pytest.mark.parametrize("vectorization", BATCHES)
def test_a_native_batch_counts_its_real_steps_and_its_episodes(vectorization):
    from pgkit.data.episodes import EpisodeStatistics
    from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter

    counter, statistics = StepCounter(), EpisodeStatistics()
    envs = MonitoredVectorEnv(make_vector_env(EnvSettings(id="CartPole-v1", num_envs=3, vectorization=vectorization,
                                                          kwargs={"max_episode_steps": 20})), counter, statistics)
    envs.reset(seed=0)
    real = 0
    for _ in range(100):
        real += int(envs.env.alive.sum())
        envs.step(np.zeros(3, dtype=np.int64))
    envs.flush()
    assert counter.steps == real < 300
    assert statistics.total >= 3 * 100 // 21 and all(1 <= e.length <= 20 and e.ret == e.length for e in statistics.finished)


def test_native_cartpole_trains_as_sync_does():
    from pgkit.runtime.training import train

    returns = {}
    for vectorization in ("sync", "native"):
        recipe = {**_cartpole(vectorization, num_envs=8), "network": {"type": "mlp", "hidden_sizes": [64, 64], "activation": "tanh"}}
        recipe["trainer"] = {"type": "on_policy", "total_steps": 30_000, "steps_per_env": 32, "epochs": 10, "minibatch_size": 256}
        _, run = train(resolve(recipe, REGISTRY, source="test"), None)
        returns[vectorization] = run.last_metrics["return_mean"]
    assert returns["native"] > 150 and returns["sync"] > 150, returns  # a random policy: about 22


def test_a_native_batch_resumes_bit_exactly(tmp_path):
    check_resume({**_cartpole("native"), "trainer": {"type": "on_policy", "total_steps": 600, "steps_per_env": 25, "epochs": 2,
                                                      "minibatch_size": 50, "log_every": 100}},
                 registry=REGISTRY, workdir=tmp_path)


def test_an_envpool_run_resumes_from_fresh_resets_saying_so(tmp_path):
    import yaml

    from test_faults import pgkit as cli

    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({**_cartpole("envpool"), "checkpoint_every": 200}))
    trained = cli("train", tmp_path / "recipe.yaml", "--run-dir", tmp_path / "run")
    assert trained.returncode == 0, trained.stderr
    resumed = cli("train", "--resume", tmp_path / "run", "trainer.total_steps=800")
    assert resumed.returncode == 0 and "restart from fresh resets" in resumed.stderr, resumed.stderr


def test_evaluation_steps_one_env_of_the_same_kind():
    env = make_env(EnvSettings(id="CartPole-v1", vectorization="envpool"))
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs) and type(env).__name__ == "EnvPoolEnv"
    spaces = probe_spaces(EnvSettings(id="Pendulum-v1", vectorization="envpool", rescale_actions=True))
    assert spaces[1].low.tolist() == [-1.0] and spaces[1].high.tolist() == [1.0]


@pytest.mark.parametrize("env, path, says", [
    ({"id": "Acrobot-v1", "vectorization": "native"}, "env.vectorization", "no native vector env"),
    ({"id": "NoSuchEnv-v0", "vectorization": "envpool"}, "env.vectorization", "EnvPool has no env"),
])
def test_an_env_without_a_native_batch_is_a_problem_naming_the_setting(env, path, says):
    problem = probe_spaces(EnvSettings(**env))
    assert problem.path == path and says in problem.message and "sync" in problem.fix + problem.message or "envpool" in problem.fix


@pytest.mark.parametrize("change, says", [
    ({"wrappers": ["clip_action"]}, "env.wrappers are not available with env.vectorization: native"),
    ({"entry_point": "gymnasium.envs.classic_control:CartPoleEnv"}, "env.entry_point is not available"),
])
def test_settings_a_native_batch_cannot_take_are_refused_with_the_reason(change, says):
    with pytest.raises(RecipeError, match=says):
        resolve({**_cartpole("native"), "env": {**_cartpole("native")["env"], **change}}, REGISTRY, source="test")


def test_off_policy_trainers_refuse_a_native_batch_with_the_reason(tmp_path):
    from pgkit.runtime.training import train

    recipe = {"env": {"id": "CartPole-v1", "vectorization": "native"}, "policy_head": "categorical", "critic": "twin_discrete_q",
              "objective": "discrete_sac", "optimizer": "adam", "logger": [],
              "trainer": {"type": "off_policy", "total_steps": 100, "learning_starts": 50}}
    with pytest.raises(TrainingError, match="set env.vectorization: sync"):
        train(resolve(recipe, REGISTRY, source="test"), tmp_path / "run")
