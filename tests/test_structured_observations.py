"""Dict and Tuple observations (nested too) are flattened as gymnasium.spaces.flatten does and learned by
mlp and multi_input; every other space a network cannot read is refused by the check with the fix.

Learning: conftest.CueEnv pays 1 per step for the action its cue and sign together name; a random
policy earns 1/4 per step. With PPO (seed 0, 12,288 steps) the eval return per step must get at least
halfway from random to perfect (0.625): seed 0 reached 0.69 after 8,192 steps with a Dict, 1.0 with the
nested layout, so the margin is 1.5x the steps; a policy that read only one part would stay at 1/2."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgkit
from conftest import CUE_IDS, CueEnv
from pgkit.data import EncodedLinear, ObservationEncoder, flatten_batch, index_columns
from pgkit.envs import EnvSettings, register_env_factory
from pgkit.kinds.agent import Agent
from pgkit.errors import RecipeError
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.evaluation import evaluate


def recipe(env_id: str, network: str = "mlp", steps: int = 12_288, **slots) -> dict:
    return {
        "env": {"id": env_id, "num_envs": 4}, "network": network, "policy_head": "categorical", "critic": "value",
        "advantage": {"type": "gae", "normalize": True}, "objective": "ppo_clip", "optimizer": {"type": "adam", "lr": 0.003},
        "trainer": {"type": "on_policy", "total_steps": steps, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64}, "logger": [], **slots,
    }


@pytest.mark.parametrize("layout", ["dict", "tuple", "nested"])
def test_stored_rows_hold_class_indices_and_encode_as_gymnasium_flattens(layout):
    envs = gym.vector.SyncVectorEnv([lambda: CueEnv(layout)] * 3)
    obs, _ = envs.reset(seed=1)
    space = envs.single_observation_space
    singles = list(gym.vector.utils.iterate(envs.observation_space, obs))
    expected = np.stack([gym.spaces.flatten(space, single) for single in singles]).astype(np.float32)
    rows = flatten_batch(space, obs)
    assert rows.shape == (3, 4 if layout == "nested" else 2)  # the cue as one class-index column, not 4 one-hot ones
    assert np.array_equal(ObservationEncoder(space)(torch.as_tensor(rows)).numpy(), expected)
    as_objects = np.empty(3, dtype=object)
    as_objects[:] = singles
    assert np.array_equal(flatten_batch(space, as_objects), rows)  # final observations arrive one by one


MIXED = gym.spaces.Dict({
    "cue": gym.spaces.Discrete(4, start=2), "position": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
    "more": gym.spaces.Tuple((gym.spaces.MultiDiscrete([3, 2], start=[0, -1]), gym.spaces.MultiBinary(2), gym.spaces.Discrete(5))),
})


def test_class_indices_start_at_zero_and_encode_one_hot():
    rows = flatten_batch(MIXED, [{"cue": 5, "position": np.array([0.5, -0.5, 1.0], np.float32), "more": (np.array([2, -1]), np.array([1, 0], np.int8), 4)}])
    assert rows.tolist() == [[3.0, 2.0, 0.0, 1.0, 0.0, 4.0, 0.5, -0.5, 1.0]]  # keys sorted, as gymnasium's Dict sorts them
    assert index_columns(MIXED) == [0, 1, 2, 5]
    MIXED.seed(3)
    samples = [MIXED.sample() for _ in range(16)]
    expected = np.stack([gym.spaces.flatten(MIXED, single) for single in samples]).astype(np.float32)
    assert np.array_equal(ObservationEncoder(MIXED)(torch.as_tensor(flatten_batch(MIXED, samples))).numpy(), expected)


@pytest.mark.parametrize("space", [MIXED, gym.spaces.Discrete(7, start=-3), gym.spaces.Dict({"state": gym.spaces.Discrete(500), "mask": gym.spaces.MultiBinary(6)})])
def test_the_first_layer_looks_up_what_a_linear_layer_over_one_hot_vectors_computes(space):
    torch.manual_seed(0)
    encoder = ObservationEncoder(space)
    layer = EncodedLinear(encoder, 8)
    space.seed(0)
    samples = [space.sample() for _ in range(32)]
    obs = torch.as_tensor(flatten_batch(space, samples) if isinstance(space, gym.spaces.Dict) else np.array(samples))
    looked_up = layer(obs)
    dense = torch.nn.functional.linear(encoder(obs), layer.weight, layer.bias)
    assert torch.allclose(looked_up, dense, atol=1e-6)
    grads = [torch.autograd.grad(out.square().sum(), (layer.weight, layer.bias)) for out in (looked_up, dense)]
    for lookup_grad, dense_grad in zip(*grads):
        assert torch.allclose(lookup_grad, dense_grad, atol=1e-5)
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.in_features == encoder.out_features


def test_normalization_reads_class_indices_and_the_mask_as_they_are(registry):
    space = gym.spaces.Dict({"state": gym.spaces.Discrete(500), "level": gym.spaces.Box(0.0, 100.0, (1,), np.float32), "action_mask": gym.spaces.MultiBinary(6)})
    agent = Agent.build(resolve(recipe("CartPole-v1"), registry).instantiate(), space, gym.spaces.Discrete(6), env=EnvSettings(id="x", normalize={"obs": True}))
    space.seed(1)
    raw = [space.sample() for _ in range(64)]
    rows = flatten_batch(space, raw)
    prepared = agent.prepare(raw, update_statistics=True)
    kept = [0, 1, 2, 3, 4, 5, 7]  # keys sorted: the mask's 6 columns, the level, the state's class index
    assert np.array_equal(prepared[:, kept], rows[:, kept])
    assert abs(prepared[:, 6].mean()) < 0.2 and not np.array_equal(prepared[:, 6], rows[:, 6])


def test_a_checkpoint_with_one_hot_rows_is_refused_with_the_reason(registry, tmp_path):
    from pgkit.errors import PgkitError
    from pgkit.runtime.loading import load_agent
    from pgkit.runtime.training import load_for_resume, train

    train(resolve(recipe(CUE_IDS["dict"], steps=256), registry), tmp_path, registry=registry)
    for name in ("checkpoint.pt", "best.pt"):
        path = tmp_path / name
        if path.exists():
            torch.save({**torch.load(path, weights_only=True), "format": 2}, path)  # written before class-index rows
    resumed, checkpoint = load_for_resume(tmp_path, ["trainer.total_steps=512"], registry=registry)
    with pytest.raises(PgkitError, match="cannot resume: .*stored the Discrete parts of .* one-hot .*format 2"):
        train(resumed, tmp_path, registry=registry, resume=checkpoint)
    with pytest.raises(PgkitError, match="checkpoint.pt: it was written by a pgkit that stored the Discrete parts"):
        load_agent(tmp_path, registry)


@pytest.mark.parametrize("layout, network", [("dict", "mlp"), ("tuple", "mlp"), ("nested", "multi_input")])
def test_structured_observations_are_learned(layout, network):
    agent = pgkit.train(recipe(CUE_IDS[layout], network))
    per_step = evaluate(agent, EnvSettings(id=CUE_IDS[layout]), episodes=10).mean / 16
    assert per_step >= 0.625, per_step
    single = agent.observation_space.sample()
    assert agent.action_space.contains(agent.predict(single)[0])


def test_multi_input_reads_images_with_a_cnn_and_the_rest_as_vectors(registry):
    space = gym.spaces.Dict({"frames": gym.spaces.Box(0, 255, (4, 36, 36), np.uint8), "cue": gym.spaces.Discrete(3)})
    torso = registry.lookup("network", "multi_input").cls().build(space)
    assert list(torso.images) == ["frames"] and torso.out_features == 64
    sample = [space.sample() for _ in range(5)]
    assert torso(torch.as_tensor(flatten_batch(space, sample))).shape == (5, 64)


class SpacesEnv(gym.Env):
    """An env of the given spaces that ends at once (only its spaces are checked)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


BOX, DISCRETE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.Discrete(2)


@pytest.mark.parametrize("observations, actions, path, fix", [
    (gym.spaces.Text(5), DISCRETE, "env", "env wrapper"),
    (gym.spaces.Dict({"name": gym.spaces.Text(5), "x": BOX}), DISCRETE, "env", "filter"),
    (gym.spaces.Sequence(BOX), DISCRETE, "env", "env wrapper"),
    (gym.spaces.Graph(BOX, None), DISCRETE, "env", "env wrapper"),
    (BOX, gym.spaces.Dict({"a": DISCRETE}), "policy_head", ""),
    (BOX, gym.spaces.Tuple((DISCRETE, DISCRETE)), "policy_head", ""),
], ids=["text", "dict-with-text", "sequence", "graph", "dict-actions", "tuple-actions"])
def test_spaces_no_component_reads_are_refused_with_the_fix(observations, actions, path, fix, registry):
    env_id = register_env_factory(lambda: SpacesEnv(observations, actions))
    with pytest.raises(RecipeError) as caught:
        check_compatibility(resolve(recipe(env_id), registry), registry)
    problem = next(p for p in caught.value.problems if p.path == path)
    assert fix in f"{problem.message} {problem.fix}" and (problem.fix or fix in problem.message)


@pytest.mark.parametrize("space", [
    gym.spaces.Box(-1.0, 1.0, (2, 3), np.float64), gym.spaces.Box(-5, 5, (3,), np.int32), gym.spaces.Box(0, 1, (4, 4), np.bool_),
    gym.spaces.Box(-1.0, 1.0, (), np.float32),
], ids=["float64-matrix", "int32", "bool-grid", "scalar"])
def test_box_observations_of_any_shape_and_dtype_train(space):
    env_id = register_env_factory(lambda: gym.wrappers.TimeLimit(SpacesEnv(space, DISCRETE), 8))
    agent = pgkit.train(recipe(env_id, steps=256))
    assert agent.predict(space.sample())[0] in (0, 1)
