"""Recipe loading: every problem reported at once with its path and a fix; extends; overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pgkit.errors import RecipeError
from pgkit.recipe import apply_overrides, load_recipe, read_document, resolve

RECIPES = Path(__file__).parent.parent / "recipes"

MINIMAL = {
    "env": {"id": "CartPole-v1"},
    "policy_head": "categorical",
    "advantage": {"type": "reward_to_go"},
    "objective": "reinforce",
    "optimizer": {"type": "adam", "lr": 0.01},
}


def problems_of(document, registry) -> dict[str, str]:
    with pytest.raises(RecipeError) as info:
        resolve(document, registry, source="test.yaml")
    return {p.path: f"{p.message} | {p.fix}" for p in info.value.problems}


def test_minimal_recipe_fills_defaults(registry):
    recipe = resolve(MINIMAL, registry, source="recipes/minimal.yaml")
    data = recipe.to_dict()
    assert data["name"] == "minimal"
    assert data["network"]["type"] == "mlp" and data["network"]["hidden_sizes"] == [64, 64]
    assert data["baseline"]["type"] == "none" and data["trainer"]["type"] == "on_policy"
    assert [logger["type"] for logger in data["logger"]] == ["console", "csv"]
    assert data["critic"] is None
    assert data["optimizer"] == {
        "type": "adam", "plugin": "pgkit", "version": data["optimizer"]["version"], "lr": 0.01,
        "max_grad_norm": 0.5, "lr_schedule": "constant", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
    }


def test_resolved_recipe_round_trips_through_yaml(registry):
    recipe = resolve(MINIMAL, registry, source="minimal.yaml")
    again = resolve(yaml.safe_load(yaml.safe_dump(recipe.to_dict())), registry, source="again.yaml")
    assert again.to_dict() == recipe.to_dict()


def test_all_problems_reported_at_once_with_paths(registry):
    document = {
        "env": {"id": "CartPole-v1", "num_envs": 0},
        "policy_head": "categorcal",
        "advantage": {"type": "discounted_reward_to_go", "gamma": 1.5, "lamda": 0.9},
        "objective": {"type": "reinforce", "entropy_coef": "lots"},
        "optimzer": {"type": "adam"},
    }
    found = problems_of(document, registry)
    assert set(found) == {
        "env.num_envs", "policy_head.type", "advantage.gamma", "advantage.lamda",
        "objective.entropy_coef", "optimzer", "optimizer",
    }
    assert "greater than or equal to 1" in found["env.num_envs"]
    assert "did you mean 'categorical'" in found["policy_head.type"]
    assert "less than or equal to 1" in found["advantage.gamma"] and "Discount factor" in found["advantage.gamma"]
    assert "unknown field" in found["advantage.lamda"] and "its fields are: normalize, gamma" in found["advantage.lamda"]
    assert "did you mean 'optimizer'" in found["optimzer"]
    assert "missing slot" in found["optimizer"] and "adam" in found["optimizer"]


def test_missing_env_and_non_mapping_slot(registry):
    found = problems_of({"policy_head": 3, "advantage": "reward_to_go", "objective": "reinforce", "optimizer": "adam"}, registry)
    assert "required field is missing" in found["env"]
    assert "must be a component name or a mapping" in found["policy_head"]


def test_slot_without_type(registry):
    found = problems_of({**MINIMAL, "advantage": {"gamma": 0.9}}, registry)
    assert "which component" in found["advantage.type"] and "total_return" in found["advantage.type"]


def test_error_message_lists_every_problem(registry):
    with pytest.raises(RecipeError) as info:
        resolve({**MINIMAL, "seed": -1, "policy_head": "nope"}, registry, source="r.yaml")
    text = str(info.value)
    assert text.startswith("r.yaml: 2 problems")
    assert "seed: Input should be greater than or equal to 0 (got -1)" in text
    assert "policy_head.type: unknown policy_head 'nope'" in text


def test_plugin_provenance_is_checked(registry):
    document = {**MINIMAL, "advantage": {"type": "linear_gae", "plugin": "pgkit-fancy", "version": "2.0"}}
    found = problems_of(document, registry)
    assert "needs plugin 'pgkit-fancy' version 2.0, which is not installed" in found["advantage.type"]


def test_extends_merges_and_type_change_replaces(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**MINIMAL, "advantage": {"type": "discounted_reward_to_go", "gamma": 0.9}}))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\noptimizer: {lr: 0.5}\nadvantage: {type: reward_to_go}\n")
    document = read_document(tmp_path / "child.yaml")
    assert document["optimizer"] == {"type": "adam", "lr": 0.5}
    assert document["advantage"] == {"type": "reward_to_go"}  # gamma belonged to the parent's component


def test_extends_loop_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RecipeError, match="loop"):
        read_document(tmp_path / "a.yaml")


def test_overrides_parse_yaml_values():
    document = apply_overrides(MINIMAL, ["advantage.normalize=true", "optimizer.lr=1e-3", "network.hidden_sizes=[32, 32]", "policy_head.log_std_init=-1"])
    assert document["advantage"]["normalize"] is True
    assert document["optimizer"]["lr"] == 1e-3
    assert document["network"]["hidden_sizes"] == [32, 32]
    assert document["policy_head"] == {"type": "categorical", "log_std_init": -1}
    assert MINIMAL["optimizer"] == {"type": "adam", "lr": 0.01}  # the input is not modified


def test_override_changing_type_drops_old_parameters():
    document = apply_overrides(MINIMAL, ["optimizer.type=sgd"])
    assert document["optimizer"] == {"type": "sgd"}


def test_malformed_override():
    with pytest.raises(RecipeError, match="key.sub=value"):
        apply_overrides(MINIMAL, ["optimizer.lr"])


def test_unknown_override_key_is_reported_with_its_path(registry, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, ["optimizer.learning_rate=0.1"], registry)
    (problem,) = info.value.problems
    assert problem.path == "optimizer.learning_rate" and "unknown field" in problem.message


@pytest.mark.parametrize("text, message", [("env: [unclosed", "invalid YAML: line 1"), ("- a\n- b\n", "a recipe is a mapping"), ("!!python/object:os.system {}", "invalid YAML")])
def test_bad_yaml(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message):
        read_document(path)


def test_missing_file():
    with pytest.raises(RecipeError, match="no recipe file at"):
        read_document("does/not/exist.yaml")


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_are_valid(path, registry):
    assert load_recipe(path, registry=registry).settings.env.id


def test_nan_and_infinity_are_rejected_everywhere(registry):
    found = problems_of({**MINIMAL, "policy_head": {"type": "gaussian", "log_std_init": float("nan")},
                         "objective": {"type": "reinforce", "entropy_coef": float("inf")}}, registry)
    assert "finite number" in found["policy_head.log_std_init"] and "finite number" in found["objective.entropy_coef"]
