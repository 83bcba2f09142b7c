"""Compatibility is checked before anything is built; each failure names slot, component, plugin,
what is missing, and the registered components that would fit."""

from __future__ import annotations

import pytest

from pgkit.recipe.compatibility import check_compatibility
from pgkit.errors import CompatibilityError
from pgkit.recipe import resolve

BASE = {
    "env": {"id": "CartPole-v1"},
    "policy_head": "categorical",
    "advantage": "reward_to_go",
    "objective": "reinforce",
    "optimizer": "adam",
    "logger": [],
}


def failures(registry, **slots) -> dict[str, str]:
    recipe = resolve({**BASE, **slots}, registry, source="test")
    with pytest.raises(CompatibilityError) as info:
        check_compatibility(recipe, registry)
    return {p.path: f"{p.message} | {p.fix}" for p in info.value.problems}


def test_categorical_on_box(registry):
    found = failures(registry, env={"id": "Pendulum-v1"})
    assert found["policy_head"].startswith("'categorical' (plugin pgkit")
    assert "needs a Discrete action space, but Pendulum-v1 has Box" in found["policy_head"]
    assert "registered policy_heads that fit: gaussian" in found["policy_head"]


def test_gaussian_on_discrete(registry):
    found = failures(registry, policy_head="gaussian")
    assert "needs a Box action space, but CartPole-v1 has Discrete(2)" in found["policy_head"]
    assert "fit: categorical" in found["policy_head"]


def test_critic_baseline_without_a_critic(registry):
    found = failures(registry, baseline="critic")
    assert "needs state values V(s) from a critic (state_value)" in found["baseline"]
    assert "fit: none, mean_return; state_value is provided by critic 'value'" in found["baseline"]


def test_reinforce_with_several_epochs(registry):
    found = failures(registry, trainer={"type": "on_policy", "epochs": 4})
    assert "only correct on on-policy data (trainer.epochs=1)" in found["objective"] and "fit: ppo_clip" in found["objective"]


def test_several_failures_reported_together(registry):
    found = failures(registry, env={"id": "Pendulum-v1"}, baseline="critic")
    assert set(found) == {"policy_head", "baseline"}


def test_unknown_environment_suggests_ids(registry):
    found = failures(registry, env={"id": "CartPole-v2"})
    assert "unknown environment 'CartPole-v2'" in found["env.id"] and "CartPole-v1" in found["env.id"]


def test_compatible_recipe_passes(registry):
    recipe = resolve({**BASE, "critic": "value", "baseline": "critic"}, registry, source="test")
    combo = check_compatibility(recipe, registry)
    assert combo.action_space.n == 2


def test_a_plugin_whose_check_raises_does_not_break_other_recipes():
    """An advantage whose incompatibility() raises: recipes that use it get a problem naming it; recipes
    that do not are checked as before, the plugin skipped from the suggestions with a warning."""
    from pgkit.builtins.advantages.reward_to_go import RewardToGo
    from pgkit.errors import PluginWarning
    from test_registry import plugin_module, registry_with

    class Fragile(RewardToGo):
        name = "fragile"

        def incompatibility(self, combo):
            raise KeyError("observation_space")

    registry = registry_with(("fragile", plugin_module("fragile", register_advantages=lambda register: register(Fragile))))
    with pytest.warns(PluginWarning, match="advantage 'fragile' raised KeyError when asked about compatibility and is skipped"):
        found = failures(registry, advantage="gae")  # no critic: the suggestions ask every advantage
    assert "fit: total_return, reward_to_go, discounted_reward_to_go;" in found["advantage"]
    found = failures(registry, advantage="fragile")
    assert found == {"advantage": "'fragile' (plugin fragile 1.2.3) failed its compatibility check: KeyError: 'observation_space' | report this to the plugin's authors, or choose another component"}


def test_reward_scaling_with_a_trainer_that_does_not_scale_rewards(registry):
    found = failures(
        registry, env={"id": "Pendulum-v1", "normalize": {"reward": True}}, trainer="off_policy", policy_head="deterministic",
        critic={"type": "q"}, objective="dpg", advantage=None,
    )
    assert found == {"env.normalize.reward": "trainer 'off_policy' does not scale rewards, so this setting would be ignored | "
                     "set env.normalize.reward: false; reward_scaling is provided by trainer 'on_policy'"}


def test_a_device_this_machine_lacks(registry, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    found = failures(registry, device="cuda:0")
    assert found == {"device": "'cuda:0': CUDA is not available here (torch " + __import__("torch").__version__ + ", no usable GPU) | use device: cpu, or auto (cuda where there is one)"}
