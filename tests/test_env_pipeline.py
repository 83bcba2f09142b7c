"""The environment pipeline of a recipe: ``env.wrappers`` (the env_wrapper kind), ``env.modules``,
gymnasium's ``module:EnvId`` form and ``env.entry_point``; each wrong entry is one problem at its path."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

import pgkit
from pgkit.builtins.env_wrappers.observations import FrameStack, Select
from pgkit.envs import EnvSettings, make_env, make_vector_env
from pgkit.errors import RecipeError
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.loading import load_agent
from pgkit.runtime.training import load_for_resume

NO_VELOCITIES = [{"type": "select", "indices": [0, 2]}, {"type": "frame_stack", "stack_size": 3}]


def recipe(env: dict, **slots) -> dict:
    return {
        "env": env, "policy_head": "categorical", "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam",
        "trainer": {"type": "on_policy", "total_steps": 256, "steps_per_env": 32}, "logger": [], **slots,
    }


def problems(document: dict, registry) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as caught:
        check_compatibility(resolve(document, registry), registry)
    return [(p.path, p.message) for p in caught.value.problems]


def test_wrappers_apply_in_order_in_training_evaluation_and_the_saved_recipe(tmp_path, registry):
    run = tmp_path / "run"
    agent = pgkit.train(recipe({"id": "CartPole-v1", "num_envs": 2, "wrappers": NO_VELOCITIES}), run_dir=run)
    assert agent.observation_space.shape == (3, 2)  # CartPole's positions, 3 frames
    loaded, env = load_agent(run, registry)
    assert env.wrappers == (Select(indices=[0, 2]), FrameStack(stack_size=3))
    single = make_env(env)
    obs, _ = single.reset(seed=0)
    assert obs.shape == (3, 2) and loaded.predict(obs)[0] in (0, 1)
    vector = make_vector_env(env, 2)
    assert vector.reset(seed=0)[0].shape == (2, 3, 2)


def test_a_resume_refuses_changed_wrappers(tmp_path, registry):
    run = tmp_path / "run"
    pgkit.train(recipe({"id": "CartPole-v1", "wrappers": NO_VELOCITIES}), run_dir=run)
    with pytest.raises(RecipeError, match="env: cannot change when resuming"):
        load_for_resume(run, ["env.wrappers=[{type: select, indices: [0, 1]}]"], registry)


def test_wrapped_async_envs_train(tmp_path):
    """Subprocess envs receive the wrappers pickled."""
    agent = pgkit.train(recipe({"id": "CartPole-v1", "num_envs": 2, "vectorization": "async", "wrappers": NO_VELOCITIES}))
    assert agent.observation_space.shape == (3, 2)


def test_each_wrong_wrapper_is_a_problem_at_its_path(registry):
    env = {"id": "CartPole-v1", "wrappers": [{"type": "selct"}, {"type": "time_limit", "max_steps": 5}, "frame_stack"]}
    found = problems(recipe(env), registry)
    assert found[0] == ("env.wrappers[0].type", found[0][1]) and "did you mean 'select'" in found[0][1]
    assert ("env.wrappers[1].max_steps", "unknown field for env_wrapper 'time_limit'") in found
    assert any(path == "env.wrappers[1].max_episode_steps" for path, _ in found)


def test_a_wrapper_that_cannot_wrap_the_env_is_named(registry):
    env = {"id": "CartPole-v1", "wrappers": ["frame_stack", {"type": "select", "indices": [0]}]}
    [(path, message)] = problems(recipe(env), registry)
    assert path == "env.wrappers[1]" and message.startswith("select cannot wrap this env") and "1-D Box" in message


def test_module_form_and_modules_import_the_package_that_registers_the_env(tmp_path, monkeypatch, registry):
    (tmp_path / "registers_on_import.py").write_text(
        "import gymnasium as gym\n"
        "if 'OnImport/CartPole-v0' not in gym.registry:\n"
        "    gym.register('OnImport/CartPole-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', max_episode_steps=50)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    gym.registry.pop("OnImport/CartPole-v0", None)
    [(path, message)] = problems(recipe({"id": "OnImport/CartPole-v0"}), registry)
    assert path == "env.id" and "unknown environment" in message
    for env in ({"id": "registers_on_import:OnImport/CartPole-v0"}, {"id": "OnImport/CartPole-v0", "modules": ["registers_on_import"]}):
        gym.registry.pop("OnImport/CartPole-v0", None)
        sys.modules.pop("registers_on_import", None)
        agent = pgkit.train(recipe(env))
        assert agent.observation_space.shape == (4,)


@pytest.mark.parametrize("env, path, message", [
    ({"id": "CartPole-v1", "modules": ["not_installed_anywhere"]}, "env.modules[0]", "cannot import 'not_installed_anywhere'"),
    ({"id": "not_installed_anywhere:X-v0"}, "env.id", "cannot import 'not_installed_anywhere'"),
    ({"id": "X/Y-v0", "entry_point": "gymnasium.envs.classic_control:NoSuchEnv"}, "env.entry_point", "has no env class or function 'NoSuchEnv'"),
    ({"id": "CartPole-v1", "modules": ["../evil"]}, "env.modules.0", "importable module name"),
    ({"id": "X/Y-v0", "entry_point": "/tmp/evil.py:Env"}, "env.entry_point", "package.module:Name"),
])
def test_modules_and_entry_points_that_cannot_be_found_are_refused(env, path, message, registry):
    found = problems(recipe(env), registry)
    assert any(p == path and message in m for p, m in found), found


def test_an_entry_point_makes_an_env_no_package_registers():
    env = EnvSettings(id="MinAtar/Breakout-v1", entry_point="minatar.gym:BaseEnv", kwargs={"game": "breakout", "use_minimal_action_set": True})
    assert "MinAtar/Breakout-v1" not in gym.registry
    single = make_env(env)
    obs, _ = single.reset(seed=0)
    assert obs.shape == (10, 10, 4) and obs.dtype == np.bool_ and single.action_space.n == 3
    agent = pgkit.train(recipe(env.model_dump(mode="json"), network={"type": "cnn", "layers": [[16, 3, 1]], "features": 128}))
    assert agent.obs_dtype.is_floating_point is False  # boolean frames stay booleans until the network


def test_the_python_api_takes_wrapper_components():
    env = EnvSettings(id="CartPole-v1", wrappers=(Select(indices=[1, 3]),))
    assert make_env(env).observation_space.shape == (2,)
    assert env.model_dump(mode="json")["wrappers"] == [{"type": "select", "indices": [1, 3]}]


def test_an_atari_pipeline_trains_and_resumes_from_fresh_resets_saying_so(tmp_path):
    """ALE's envs pickle as their constructor's arguments, not their state (gymnasium's EzPickle), so a
    checkpoint does not keep them: the resume restarts them and says so instead of going on from a new
    game as if it were the saved one."""
    import yaml

    from test_faults import pgkit as cli

    document = recipe(
        {"id": "ale_py:ALE/Pong-v5", "num_envs": 2, "kwargs": {"frameskip": 1},
         "wrappers": [{"type": "atari_preprocessing", "screen_size": 42}, {"type": "frame_stack", "stack_size": 2}]},
        network={"type": "cnn", "layers": [[8, 4, 2]], "features": 32}, trainer={"type": "on_policy", "total_steps": 128, "steps_per_env": 32},
    )
    (tmp_path / "pong.yaml").write_text(yaml.safe_dump(document))
    run = tmp_path / "run"
    trained = cli("train", tmp_path / "pong.yaml", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr
    resumed = cli("train", "--resume", run, "trainer.total_steps=256")
    assert resumed.returncode == 0, resumed.stderr
    assert "they restart from fresh resets" in resumed.stderr
