"""Discrete SAC (Christodoulou 2019): its policy loss, temperature loss and soft value against plain loops
over the actions, masked actions, and whole runs through the off-policy trainer (exact resume)."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch

from pgkit.builtins.critics.q import TwinDiscreteQ
from pgkit.builtins.networks.mlp import MLP
from pgkit.builtins.objectives.sac import DiscreteSAC
from pgkit.kinds import LossContext
from pgkit.nn import Categorical
from pgkit.testing import check_resume
from pgkit.testing.batches import synthetic_batch


class FixedValues(torch.nn.Module):
    def __init__(self, values):
        super().__init__()
        self.table = values  # [K, B, A]

    def values(self, obs, networks=None):
        return self.table

    def forward(self, obs, action, networks=None):
        return self.table.gather(-1, action.reshape(1, -1, 1).long().expand(len(self.table), -1, 1)).squeeze(-1)


class FixedPolicy(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, obs):
        return Categorical(self.logits)


def test_losses_and_soft_value_against_plain_loops():
    generator = torch.Generator().manual_seed(0)
    logits, q = torch.randn(5, 3, generator=generator), torch.randn(2, 5, 3, generator=generator)
    objective = DiscreteSAC(initial_temperature=0.3, target_entropy_scale=0.5)
    objective.build(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(3))
    batch = synthetic_batch(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(3), num_steps=5, num_envs=1).flatten()
    loss, metrics = objective.loss(batch, LossContext(FixedPolicy(logits), critic=FixedValues(q)))
    policy_loss = temperature_loss = 0.0
    for b in range(5):
        probs = torch.softmax(logits[b], 0).tolist()
        entropy = -sum(p * math.log(p) for p in probs)
        for a in range(3):
            best = min(float(q[0, b, a]), float(q[1, b, a]))
            policy_loss += probs[a] * (0.3 * math.log(probs[a]) - best) / 5
        temperature_loss += math.log(0.3) * (entropy - 0.5 * math.log(3)) / 5
    assert metrics["policy_loss"] == pytest.approx(policy_loss, rel=1e-5)
    assert metrics["temperature_loss"] == pytest.approx(temperature_loss, rel=1e-5)
    assert loss.item() == pytest.approx(policy_loss + temperature_loss, rel=1e-5)
    value = objective.next_value(Categorical(logits), FixedValues(q), batch.obs)
    for b in range(5):
        probs = torch.softmax(logits[b], 0).tolist()
        expected = sum(p * (min(float(q[0, b, a]), float(q[1, b, a])) - 0.3 * math.log(p)) for a, p in enumerate(probs))
        assert float(value[b]) == pytest.approx(expected, rel=1e-5)


def test_masked_actions_add_nothing_and_stay_finite():
    logits = torch.tensor([[0.0, -torch.inf, 1.0]])
    q = torch.tensor([[[1.0, 100.0, 2.0]]])
    objective = DiscreteSAC(temperature=0.5)
    objective.build(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(3))
    value = objective.next_value(Categorical(logits), FixedValues(q), torch.zeros(1, 1))
    p = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    expected = float((p * (torch.tensor([1.0, 2.0]) - 0.5 * p.log())).sum())
    assert torch.isfinite(value).all() and float(value) == pytest.approx(expected, rel=1e-6)  # the masked action's Q of 100 is not read


def test_the_discrete_critic_reads_every_action_value_at_once():
    critic = TwinDiscreteQ()
    module = critic.build(MLP(hidden_sizes=[16]), gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), None)
    obs = torch.randn(7, 4)
    values = module.values(obs)
    assert values.shape == (2, 7, 3)
    actions = torch.tensor([0, 1, 2, 2, 1, 0, 1], dtype=torch.float32).unsqueeze(1)  # as the replay stores choices
    assert torch.equal(module(obs, actions), values.gather(-1, actions.long().reshape(1, 7, 1).expand(2, 7, 1)).squeeze(-1))


CARTPOLE = {
    "env": {"id": "CartPole-v1", "num_envs": 2}, "network": {"type": "mlp", "hidden_sizes": [32, 32]}, "policy_head": "categorical",
    "critic": "twin_discrete_q", "objective": "discrete_sac", "optimizer": "adam",
    "trainer": {"type": "off_policy", "total_steps": 400, "learning_starts": 64, "batch_size": 32, "buffer_size": 1000, "target_policy": False, "log_every": 100},
    "logger": [],
}


@pytest.mark.parametrize("replay", ["uniform", {"type": "prioritized", "n_step": 3}], ids=["uniform", "prioritized-3"])
def test_discrete_sac_trains_and_resumes_exactly(replay, tmp_path):
    check_resume({**CARTPOLE, "replay": replay}, workdir=tmp_path)


def test_discrete_sac_learns_a_contextual_bandit():
    """conftest.CueEnv pays 1 per step for the action its cue and sign name (random: 1/4). Seed 0 reached
    1.0 per step after 2,000 steps (and after 4,000 and 8,000); the bar is 0.9 at 4,000, twice the steps."""
    from conftest import CUE_IDS

    import pgkit
    from pgkit.envs import EnvSettings
    from pgkit.runtime.evaluation import evaluate

    recipe = {"env": {"id": CUE_IDS["tuple"], "num_envs": 4}, "network": {"type": "mlp", "hidden_sizes": [64, 64], "activation": "relu"},
              "policy_head": "categorical", "critic": "twin_discrete_q", "objective": {"type": "discrete_sac", "target_entropy_scale": 0.3},
              "optimizer": {"type": "adam", "lr": 0.001}, "logger": [],
              "trainer": {"type": "off_policy", "total_steps": 4000, "learning_starts": 500, "batch_size": 64, "buffer_size": 10000, "gamma": 0.5,
                          "target_policy": False}}
    agent = pgkit.train(recipe)
    assert evaluate(agent, EnvSettings(id=CUE_IDS["tuple"]), episodes=20).mean / 16 >= 0.9


def test_target_smoothing_of_discrete_choices_is_refused_with_the_fix(registry):
    from pgkit.errors import CompatibilityError
    from pgkit.recipe import resolve
    from pgkit.recipe.compatibility import check_compatibility

    recipe = resolve({**CARTPOLE, "trainer": {**CARTPOLE["trainer"], "target_policy_noise": 0.2}}, registry)
    with pytest.raises(CompatibilityError, match=r"trainer: .*smooths squashed Box actions .*set trainer.target_policy_noise: 0"):
        check_compatibility(recipe, registry)
