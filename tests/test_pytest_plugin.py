"""The pytest plugin's fixtures, as a plugin author's test would use them."""

from __future__ import annotations

import types

import gymnasium as gym

from pgkit import hookimpl
from pgkit.builtins.advantages.reward_to_go import RewardToGo
from pgkit.cli import main
from pgkit.plugins.registry import default_registry


class Halved(RewardToGo):
    """Half the reward-to-go (a test component)."""

    name = "halved"

    def compute(self, batch, baseline):
        advantages, returns = super().compute(batch, baseline)
        return advantages / 2, returns


def plugin() -> types.ModuleType:
    module = types.ModuleType("halved_plugin")
    module.register_advantages = hookimpl(lambda register: register(Halved))
    return module


def test_synthetic_batches(pgkit_batch):
    batch = pgkit_batch(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)), num_steps=5, num_envs=4)
    assert batch.obs.shape == (5, 4, 3) and batch.actions.shape == (5, 4, 2)
    assert batch.terminated.any() or batch.truncated.any()


def test_registry_fixture_installs_a_plugin_for_one_test(pgkit_registry, tmp_path, capsys):
    registry = pgkit_registry(plugin(), name="halved-plugin", version="1.0")
    assert default_registry() is registry
    assert registry.lookup("advantage", "halved").plugin.version == "1.0"
    assert main(["components", "advantage"]) == 0
    assert "halved  (halved-plugin 1.0)" in capsys.readouterr().out


def test_the_plugin_is_gone_in_the_next_test():
    assert "halved" not in {r.name for r in default_registry().of_kind("advantage")}
