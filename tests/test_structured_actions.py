"""Dict, Tuple and hybrid action spaces (issue 28): the composite head's distribution is the product of its
entries' heads (log-probabilities, entropies and KLs add up, checked against the parts), it is chosen per entry
in the recipe with each nested entry validated at its own path, masks reach each entry's head, and a composite
policy trains, acts (predict, eval), resumes and exports with one output per leaf; off-policy recipes are refused."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import onnxruntime
import pytest
import torch
from torch.distributions import kl_divergence

import pgkit
from pgkit.builtins.policy_heads.composite import Composite
from pgkit.builtins.policy_heads.categorical import Categorical
from pgkit.builtins.policy_heads.gaussian import Gaussian
from pgkit.cli.main import main
from pgkit.envs import action_leaves, action_width, mask_dimensions, mask_size
from pgkit.errors import CompatibilityError, RecipeError
from pgkit.plugins.registry import default_registry
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.export import example_observations
from pgkit.testing import check_policy_head
from pgkit.testing.contracts.common import DICT_ACTIONS, HYBRID_ACTIONS

SHORT = {"type": "on_policy", "total_steps": 512, "steps_per_env": 32, "epochs": 2, "minibatch_size": 32}


def recipe(env_id: str = "pgkit/PickPlace-v0", policy_head=None, trainer=None, **env) -> dict:
    return {
        "env": {"id": env_id, "num_envs": 2, **env}, "policy_head": policy_head or "composite", "critic": "value",
        "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam", "trainer": trainer or SHORT, "logger": [],
    }


class MaskedChoiceEnv(gym.Env):
    """A Dict action {choice: Discrete(4), amount: Box(1)} whose observation carries a mask of the choices; an
    invalid choice raises. Reward: the amount when the choice is the valid one the observation points at."""

    metadata: dict = {"render_modes": []}

    def __init__(self):
        self.action_space = gym.spaces.Dict({"choice": gym.spaces.Discrete(4), "amount": gym.spaces.Box(-1.0, 1.0, (1,), np.float32)})
        self.observation_space = gym.spaces.Dict({"observation": gym.spaces.Box(0.0, 1.0, (4,), np.float32), "action_mask": gym.spaces.MultiBinary(4)})

    def _show(self):
        self.mask = (self.np_random.random(4) < 0.5).astype(np.int8)
        self.mask[self.np_random.integers(0, 4)] = 1
        self.target = int(self.np_random.choice(np.flatnonzero(self.mask)))
        return {"observation": np.eye(4, dtype=np.float32)[self.target], "action_mask": self.mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._show(), {}

    def step(self, action):
        choice = int(action["choice"])
        if not self.mask[choice]:
            raise ValueError(f"invalid choice {choice} under mask {self.mask}")
        reward = float(np.asarray(action["amount"]).reshape(-1)[0]) if choice == self.target else 0.0
        return self._show(), reward, False, False, {}


MASKED_ID = "pgkit-test/MaskedChoice-v0"
if MASKED_ID not in gym.registry:
    gym.register(MASKED_ID, entry_point=MaskedChoiceEnv, max_episode_steps=16)


# --- the distribution ---------------------------------------------------------------------------------------------

def test_the_composite_meets_the_head_contract_on_dict_and_hybrid_spaces():
    check_policy_head(Composite)  # Dict of Box/Discrete/MultiDiscrete/MultiBinary, and the nested hybrid Tuple, masked too
    check_policy_head(Composite(heads={"move": {"type": "squashed_gaussian"}}), DICT_ACTIONS)


@pytest.mark.parametrize("space", [DICT_ACTIONS, HYBRID_ACTIONS], ids=["dict", "hybrid"])
def test_log_prob_entropy_and_kl_are_the_sums_of_the_entries(space):
    """Against the entries' own heads, built with the same weights and read on their columns of the flat row."""
    torch.manual_seed(0)
    head = Composite().build(6, space)
    other = Composite().build(6, space)
    features = torch.randn(9, 6)
    p, q = head(features), other(features)
    action = p.sample()
    assert action.shape == (9, action_width(space))
    leaves = action_leaves(space)
    parts = _leaf_modules(head)
    assert len(parts) == len(leaves)
    log_prob = entropy = kl = 0.0
    for (module, other_module), leaf in zip(zip(parts, _leaf_modules(other)), leaves):
        columns = action[:, leaf.start] if isinstance(leaf.space, gym.spaces.Discrete) else action[:, leaf.start : leaf.stop]
        part_p, part_q = module(features), other_module(features)
        log_prob = log_prob + part_p.log_prob(columns)
        entropy = entropy + part_p.entropy()
        kl = kl + kl_divergence(part_p, part_q)
    assert torch.allclose(p.log_prob(action), log_prob)
    assert torch.allclose(p.entropy(), entropy)
    assert torch.allclose(kl_divergence(p, q), kl)


def _leaf_modules(module) -> list:
    """The leaves' head modules of a (nested) composite module, in order."""
    found = []
    for sub in module.heads:
        found += _leaf_modules(sub) if hasattr(sub, "heads") else [sub]
    return found


def test_env_actions_are_the_space_tree_with_integer_choices():
    head = Composite().build(4, HYBRID_ACTIONS)
    actions = head.env_action(head(torch.randn(3, 4)).sample())
    choice, (run, hop, jump) = actions
    assert choice.dtype == torch.long and run.shape == (3, 1) and jump.shape == (3, 2)
    assert all(HYBRID_ACTIONS.contains((int(choice[i]), (run[i].numpy(), hop[i].numpy(), jump[i].numpy()))) for i in range(3))


def test_masks_are_laid_out_per_leaf_and_reach_each_entry():
    """The mask of a Dict action: its maskable leaves' masks back to back in the space's order (Box leaves none);
    each entry's head reads its own slice."""
    assert mask_size(DICT_ACTIONS) == (3 + 2 + 4) + 3 + 2 * 3  # gears (sum nvec), grip (n), lights (2 per bit), move (none)
    assert [classes for _, classes in mask_dimensions(DICT_ACTIONS)] == [3, 2, 4, 3, 2, 2, 2]
    head = Composite().build(4, gym.spaces.Dict({"a": gym.spaces.Discrete(3), "b": gym.spaces.Box(-1, 1, (2,)), "c": gym.spaces.Discrete(2)}))
    mask = torch.tensor([[False, True, False, True, False]] * 200)
    drawn = head(torch.randn(200, 4), action_mask=mask).sample()
    assert (drawn[:, 0] == 1).all() and (drawn[:, 3] == 0).all()


# --- the recipe ---------------------------------------------------------------------------------------------------

def test_entries_are_chosen_per_key_with_defaults_by_space_type(registry):
    resolved = resolve(recipe(policy_head={"type": "composite", "heads": {"grip": {"type": "categorical", "init_gain": 1.0}},
                                           "defaults": {"Box": "squashed_gaussian"}}), registry)
    head = resolved.instantiate()["policy_head"]
    assert head.spec.heads["grip"] == Categorical(init_gain=1.0)
    assert head.spec.defaults["Box"].name == "squashed_gaussian" and head.spec.defaults["Discrete"] == Categorical()
    again = resolve(resolved.to_dict(), registry)  # a stored recipe resolves to the same parts
    assert again.instantiate()["policy_head"].spec == head.spec


def test_a_wrong_nested_entry_is_named_at_its_path(registry):
    bad = {"type": "composite", "heads": {"grip": {"type": "categorical", "init_gain": -1}, "move": {"type": "gausian"}},
           "defaults": {"Boxes": "gaussian"}}
    with pytest.raises(RecipeError) as info:
        resolve(recipe(policy_head=bad), registry)
    paths = {problem.path: problem.message for problem in info.value.problems}
    assert "policy_head.heads.grip.init_gain" in paths
    assert "policy_head.heads.move.type" in paths and "gaussian" in str(info.value)
    assert "policy_head.defaults.Boxes" not in paths  # a space type is checked once the entries resolve


def test_a_defaults_key_that_is_no_space_type_is_refused(registry):
    with pytest.raises(RecipeError, match="Boxes: not a space type"):
        resolve(recipe(policy_head={"type": "composite", "defaults": {"Boxes": "gaussian"}}), registry)


@pytest.mark.parametrize("heads, message", [
    ({"gripper": "categorical"}, "names entries gripper in heads, but pgkit/PickPlace-v0's action space"),
    ({"grip": "gaussian"}, "entry 'grip': head 'gaussian' needs a Box action space, but pgkit/PickPlace-v0's entry 'grip' has Discrete\\(2\\)"),
])
def test_a_head_that_does_not_fit_its_entry_is_refused(registry, heads, message):
    with pytest.raises(CompatibilityError, match=message):
        check_compatibility(resolve(recipe(policy_head={"type": "composite", "heads": heads}), registry), registry)


def test_a_flat_head_on_a_dict_action_space_names_the_composite(registry):
    with pytest.raises(CompatibilityError) as info:
        check_compatibility(resolve(recipe(policy_head="gaussian"), registry), registry)
    assert "composite" in str(info.value)


def test_off_policy_learning_on_a_dict_action_space_is_refused_with_the_reason(registry):
    document = {"env": {"id": "pgkit/PickPlace-v0"}, "policy_head": "composite", "critic": "q", "objective": "sac",
                "optimizer": "adam", "trainer": {"type": "off_policy", "total_steps": 1000}}
    with pytest.raises(CompatibilityError) as info:
        check_compatibility(resolve(document, registry), registry)
    text = str(info.value)
    assert "critic" in text and "needs a Box action space" in text and "Dict(" in text


# --- training and acting ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", ["pgkit/PickPlace-v0", "pgkit/Platform-v0"])
def test_a_composite_policy_trains_evaluates_and_predicts_the_space_tree(env_id):
    agent = pgkit.train(recipe(env_id))
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(_typed(env.action_space, action))
    batch, _ = agent.predict(np.stack([obs, obs, obs]))
    assert len(action_leaves(env.action_space)) == len(_flat(batch)) and all(len(leaf) == 3 for leaf in _flat(batch))
    result = evaluate(agent, resolve(recipe(env_id), default_registry()).settings.env, episodes=3)
    assert len(result.returns) == 3


def _typed(space: gym.Space, action):
    if isinstance(space, gym.spaces.Dict):
        return {key: _typed(sub, action[key]) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_typed(sub, part) for sub, part in zip(space.spaces, action))
    return np.asarray(action, dtype=space.dtype)


def _flat(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _flat(value)]
    if isinstance(tree, tuple):
        return [leaf for value in tree for leaf in _flat(value)]
    return [tree]


def test_masked_entries_never_choose_an_invalid_action_and_learn():
    """MaskedChoiceEnv raises on an invalid choice: none is taken in training or evaluation; the amount (a Box
    entry beside the masked choice) is learned: after 6144 steps the greedy policy earns most of the 1 per step
    that the valid target with the largest amount pays (random: about 0)."""
    trainer = {"type": "on_policy", "total_steps": 6144, "steps_per_env": 64, "epochs": 4, "minibatch_size": 64}
    document = {**recipe(MASKED_ID, trainer=trainer), "optimizer": {"type": "adam", "lr": 0.003}}
    agent = pgkit.train(document)
    assert agent.policy.mask_columns is not None
    per_step = evaluate(agent, resolve(document, default_registry()).settings.env, episodes=5).mean / 16
    assert per_step > 0.6, per_step


def test_a_composite_run_resumes_exactly(tmp_path):
    from pgkit.testing import check_resume

    check_resume(recipe(trainer={**SHORT, "total_steps": 384}), workdir=tmp_path)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("env_id", ["pgkit/PickPlace-v0", "pgkit/Platform-v0", MASKED_ID])
def test_composite_policies_export_one_output_per_leaf_and_act_as_predict(tmp_path, env_id):
    agent = pgkit.train(recipe(env_id, normalize={"obs": env_id != MASKED_ID}), run_dir=tmp_path / "run")
    names = [leaf.name for leaf in action_leaves(agent.action_space)]
    obs = example_observations(agent, count=16).numpy()
    inputs = {"obs": obs}
    if agent.policy.mask_columns is not None:
        start, stop = agent.policy.mask_columns
        mask = obs[:, start:stop] > 0.5
        mask[:, 0] = True
        inputs = {"obs": np.concatenate([obs[:, :start], obs[:, stop:]], axis=1), "action_mask": mask}
        raw = {"observation": obs[:, stop:], "action_mask": mask.astype(np.int8)}
    else:
        raw = obs
    expected = _flat(agent.predict(raw)[0])
    session = onnxruntime.InferenceSession(str(pgkit.export(tmp_path / "run", tmp_path / "policy.onnx")))
    assert [output.name for output in session.get_outputs()] == names
    from_onnx = session.run(None, inputs)
    from_torchscript = [t.numpy() for t in torch.jit.load(str(pgkit.export(tmp_path / "run", tmp_path / "policy.pt")))(*map(torch.as_tensor, inputs.values()))]
    for actions in (from_onnx, from_torchscript):
        assert len(actions) == len(expected)
        for got, want in zip(actions, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pgkit_components_and_check_describe_the_composite(capsys, tmp_path):
    assert main(["components", "policy_head"]) == 0
    assert "composite" in capsys.readouterr().out
    path = tmp_path / "r.yaml"
    path.write_text("env: {id: pgkit/Platform-v0}\npolicy_head: {type: composite, heads: {'0': categorical}}\ncritic: value\n"
                    "advantage: gae\nobjective: ppo_clip\noptimizer: adam\n")
    assert main(["check", str(path)]) == 0
