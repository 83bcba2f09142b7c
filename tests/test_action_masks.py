"""Action masks as data (issue 28): a mask from the observation, from info or from action_masks() reaches the
policy through every path that carries observations, so no invalid action is ever taken (conftest.StrictEnv
raises on one), in training with every objective that reads the head, in evaluation, predict and the exports;
what cannot be masked is refused with the fix."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import onnxruntime
import pytest
import torch

import pgkit
from pgkit import hookimpl
from conftest import CUE_IDS, STRICT_ID, StrictEnv
from pgkit.builtins.policy_heads.categorical import Categorical, CategoricalModule
from pgkit.cli.main import main
from pgkit.envs.action_masks import mask_space_problem
from pgkit.errors import CompatibilityError, PgkitError
from pgkit.kinds.capabilities import ACTION_MASKS
from pgkit.nn import Categorical as CategoricalDistribution
from pgkit.plugins.registry import default_registry
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.evaluation import evaluate
from pgkit.data.structured import flatten_batch
from pgkit.testing import check_policy_head

HEADS = {"discrete": "categorical", "multi_discrete": "multi_categorical", "multi_binary": "bernoulli"}


def strict(space: str = "discrete", source: str = "observation", objective="ppo_clip", trainer=None, **env) -> dict:
    """A short run on StrictEnv, its mask given by ``source`` (info and method through the action_mask wrapper)."""
    wrappers = [] if source == "observation" else [{"type": "action_mask", "source": source}]
    return {
        "env": {"id": STRICT_ID, "num_envs": 2, "kwargs": {"space": space, "source": source}, "wrappers": wrappers, **env},
        "policy_head": HEADS[space], "critic": "value", "advantage": "gae", "objective": objective, "optimizer": "adam",
        "trainer": trainer or {"type": "on_policy", "total_steps": 256, "steps_per_env": 16, "epochs": 2, "minibatch_size": 16},
        "logger": [],
    }


@pytest.mark.parametrize("source", ["observation", "info", "method"])
@pytest.mark.parametrize("space", list(HEADS))
def test_no_invalid_action_is_taken_in_training_or_evaluation(space, source):
    agent = pgkit.train(strict(space, source))
    assert agent.policy.mask_columns is not None
    result = evaluate(agent, resolve(strict(space, source), default_registry()).settings.env, episodes=4, deterministic=False)
    assert len(result.returns) == 4


@pytest.mark.parametrize("objective, trainer", [
    ("reinforce", {"type": "on_policy", "total_steps": 256, "steps_per_env": 16, "epochs": 1}),
    ("rwr", None), ("ppo_kl", None), ("trpo", None), ("natural_gradient", None),
    ("ppo_clip", {"type": "on_policy", "total_steps": 256, "steps_per_env": 16, "complete_episodes": True, "epochs": 1}),
])
def test_every_objective_that_reads_the_head_trains_masked(objective, trainer):
    pgkit.train(strict(objective=objective, trainer=trainer))


def test_a_recurrent_policy_reads_its_masks_in_sequence():
    recipe = {**strict(), "network": {"type": "lstm", "hidden_size": 16}}
    pgkit.train(recipe)


def test_the_policy_learns_the_masked_target():
    """StrictEnv pays for hitting the target it shows; a masked policy does not sample forbidden actions, and
    it learns: after 4096 steps the deterministic policy hits the target in most steps (random: about 1/6 to 1/3
    under the masks)."""
    recipe = strict(trainer={"type": "on_policy", "total_steps": 4096, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64})
    recipe["optimizer"] = {"type": "adam", "lr": 0.003}
    agent = pgkit.train(recipe)
    per_step = evaluate(agent, resolve(recipe, default_registry()).settings.env, episodes=10).mean / 8
    assert per_step > 0.8, per_step


def test_a_state_without_a_valid_action_is_an_environment_fault_naming_the_step(capsys):
    recipe = strict()
    recipe["env"]["kwargs"]["empty_at"] = 3
    with pytest.raises(PgkitError, match=r"failed in step: ValueError: the action mask observation\['action_mask'\] after step 3 of this episode leaves no valid action"):
        pgkit.train(recipe)


def test_masks_reach_the_policy_unnormalized():
    recipe = strict(normalize={"obs": True})
    agent = pgkit.train(recipe)
    env = StrictEnv()
    obs, _ = env.reset(seed=0)
    prepared = agent.prepare({key: value[None] for key, value in obs.items()})
    start, stop = agent.policy.mask_columns
    assert np.array_equal(prepared[0, start:stop], obs["action_mask"].astype(np.float32))


def test_predict_takes_the_mask_beside_the_observation():
    agent = pgkit.train(strict(source="info"))
    env = StrictEnv(source="info")
    obs, info = env.reset(seed=1)
    for _ in range(20):
        action, _ = agent.predict(obs, action_mask=info["action_mask"], deterministic=False)
        obs, _, _, _, info = env.step(action)  # raises on an invalid action
    batch, _ = agent.predict(np.stack([obs, obs]), action_mask=np.stack([info["action_mask"]] * 2))
    assert batch.shape == (2,)
    unmasked = pgkit.train({**strict(), "env": {"id": "CartPole-v1"}, "policy_head": "categorical"})
    with pytest.raises(PgkitError, match="reads no action mask"):
        unmasked.predict(np.zeros(4), action_mask=[1, 1])


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("space", list(HEADS))
def test_masked_policies_export_with_the_mask_as_an_input_and_act_as_predict(tmp_path, space):
    """The exported graph takes the observation without its mask, and the mask as a second input (bool), and
    gives predict's actions: masked modes, with observation normalization (which leaves the mask as it is)."""
    agent = pgkit.train(strict(space, normalize={"obs": True}), run_dir=tmp_path / "run")
    env = StrictEnv(space)
    observations = [env.reset(seed=seed)[0] for seed in range(32)]
    batch = {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    expected, _ = agent.predict(batch)
    start, stop = agent.policy.mask_columns
    flat = flatten_batch(agent.observation_space, batch)
    obs, mask = np.concatenate([flat[:, :start], flat[:, stop:]], axis=1), flat[:, start:stop] > 0.5
    session = onnxruntime.InferenceSession(str(pgkit.export(tmp_path / "run", tmp_path / "policy.onnx")))
    assert [i.name for i in session.get_inputs()] == ["obs", "action_mask"]
    from_onnx = session.run(None, {"obs": obs, "action_mask": mask})[0]
    from_torchscript = torch.jit.load(str(pgkit.export(tmp_path / "run", tmp_path / "policy.pt")))(torch.as_tensor(obs), torch.as_tensor(mask)).numpy()
    for actions in (from_onnx, from_torchscript):
        assert actions.dtype == expected.dtype and np.array_equal(actions, expected)


class UnmaskedModule(CategoricalModule):
    def forward(self, features, action_mask=None):
        return CategoricalDistribution(self.logits(features))


class IgnoresMasks(Categorical):
    """Says it masks, ignores the mask (broken)."""

    name = "ignores_masks"

    def build(self, in_features, action_space):
        return UnmaskedModule(in_features, int(action_space.n), 0)


class CannotMask(Categorical):
    """A categorical head that does not declare action_masks."""

    name = "cannot_mask"
    provides = Categorical.provides - {ACTION_MASKS}


def test_the_contract_catches_a_head_that_ignores_its_mask():
    with pytest.raises(AssertionError, match="forbids"):
        check_policy_head(IgnoresMasks, gym.spaces.Discrete(6))


@hookimpl
def register_policy_heads(register):
    register(CannotMask)


def test_a_head_that_cannot_mask_is_refused_on_a_masked_env_with_the_fix(pgkit_registry):
    registry = pgkit_registry(sys.modules[__name__], name="heads")
    recipe = resolve({**strict(), "policy_head": "cannot_mask"}, registry)
    with pytest.raises(CompatibilityError, match=r"(?s)policy_head: 'cannot_mask' cannot mask actions.*policy_head 'categorical'.*env.action_mask: null"):
        check_compatibility(recipe, registry)


def test_a_mask_of_the_wrong_shape_is_refused_at_env_action_mask(registry):
    wrong = {**strict(), "env": {"id": CUE_IDS["dict"], "action_mask": "sign"}}  # a Box in [-1, 1]: not 0 or 1
    with pytest.raises(CompatibilityError, match=r"env.action_mask: .*observation\['sign'\] is Box.*a mask of Discrete\(4\) is 4 entries of 0 or 1"):
        check_compatibility(resolve(wrong, registry), registry)


def test_env_action_mask_null_acts_without_the_mask(capsys):
    recipe = strict()
    recipe["env"]["action_mask"] = None
    with pytest.raises(PgkitError, match="invalid action"):
        pgkit.train(recipe)  # unmasked, a forbidden action comes within a few steps: the env raises


def test_pgkit_check_names_the_mask_problem(tmp_path, capsys):
    path = tmp_path / "gaussian.yaml"
    path.write_text("env: {id: Taxi-v4, wrappers: [{type: action_mask}]}\npolicy_head: gaussian\nobjective: reinforce\noptimizer: adam\n"
                    "advantage: reward_to_go\ntrainer: {type: on_policy, epochs: 1}\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "policy_head: 'gaussian'" in err and "cannot mask actions" in err and "policy_head 'categorical'" in err


def test_a_board_game_plays_one_seat_against_a_random_legal_player():
    env = gym.make("pgkit/BoardGame-v0", game="tictactoe")
    rng, seats, outcomes = np.random.default_rng(0), [], []
    for episode in range(20):
        obs, info = env.reset(seed=episode)
        seats.append(info["seat"])
        assert obs["action_mask"].sum() == (9 if info["seat"] == 0 else 8)  # the opponent opened when the learner is second
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            obs, reward, terminated, truncated, _ = env.step(rng.choice(np.flatnonzero(obs["action_mask"])))
            done = terminated or truncated
        outcomes.append(reward)
    assert set(seats) == {0, 1} and set(outcomes) <= {-1.0, 0.0, 1.0} and len(set(outcomes)) > 1


def test_an_illegal_move_loses_the_game():
    env = gym.make("pgkit/BoardGame-v0", game="tictactoe", seat="second")
    obs, _ = env.reset(seed=0)
    taken = int(np.flatnonzero(obs["action_mask"] == 0)[0])  # the opponent's opening square
    _, reward, terminated, _, _ = env.step(taken)
    assert terminated and reward == -1.0


def test_a_masked_policy_trains_on_a_board_game():
    recipe = {"env": {"id": "pgkit/BoardGame-v0", "kwargs": {"game": "tictactoe"}, "num_envs": 2}, "policy_head": "categorical",
              "critic": "value", "advantage": "gae", "objective": {"type": "ppo_clip", "normalize_advantages": True}, "optimizer": "adam",
              "trainer": {"type": "on_policy", "total_steps": 256, "steps_per_env": 16, "epochs": 2, "minibatch_size": 16}, "logger": []}
    agent = pgkit.train(recipe)
    assert agent.action_mask_key == "action_mask"


@pytest.mark.parametrize("entry", [gym.spaces.Discrete(6), gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), gym.spaces.MultiBinary((2, 3)),
                                   gym.spaces.Box(0, 1, (5,)), gym.spaces.Box(-1, 1, (6,))])
def test_an_observation_entry_that_is_no_mask_is_named(entry):
    space = gym.spaces.Dict({"action_mask": entry, "x": gym.spaces.Box(0, 1, (2,))})
    assert "a mask of Discrete(6) is 6 entries of 0 or 1" in mask_space_problem(space, gym.spaces.Discrete(6), "action_mask")
    assert mask_space_problem(space, gym.spaces.Box(-1, 1, (2,)), "action_mask").startswith("no action mask applies")
