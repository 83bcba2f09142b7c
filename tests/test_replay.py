"""The replay kind: uniform and prioritized replay with n-step returns, through the off-policy trainer.

Statistics: frequencies of 200,000 prioritized draws over 6 transitions against P(i) = p_i^alpha / sum p^alpha;
each count ~ Binomial(200000, P(i)) (stratified draws vary less), allowed 5 sd."""

from __future__ import annotations

import sys

import pytest
import torch

from pgkit import hookimpl
from pgkit.builtins.critics.q import TwinQ
from pgkit.builtins.replays.replay import Prioritized, Uniform
from pgkit.data import SumTree
from pgkit.errors import CompatibilityError
from pgkit.kinds import ReplayLayout
from pgkit.kinds.capabilities import ACTION_VALUE
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.testing import check_replay, check_resume

LAYOUT = ReplayLayout(6, (1,), torch.float32, (1,), torch.device("cpu"), 1, 0.9)


@pytest.mark.parametrize("replay", [Uniform(n_step=3), Uniform(n_step=50), Prioritized(n_step=4), Prioritized(alpha=1.0, beta=1.0)], ids=str)
def test_n_step_replays_meet_the_contract(replay):
    check_replay(replay)


def filled(replay, rewards=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0), ends=()):
    replay.allocate(LAYOUT)
    for i, reward in enumerate(rewards):
        obs = torch.tensor([[float(i)]])
        replay.add(obs, obs, torch.tensor([reward]), obs + 1, torch.tensor([i in ends]), torch.tensor([False]))
    return replay


def test_n_step_returns_by_hand():
    """Rewards 1..6 of one env, s_i = i and s'_i = i + 1, the episode terminated at step 2. With n = 3 and
    gamma 0.9: from step 0, R = 1 + 0.9 * 2 + 0.81 * 3 ending in the termination (no bootstrap); from step 1,
    two steps to it; from step 3, three steps bootstrapped from s'_5 = 6 with 0.9^3; from steps 4 and 5, the
    newest row cuts the sum (0.9^2, 0.9)."""
    replay = filled(Uniform(n_step=3), ends=(2,))
    batch = replay.buffer.rows(torch.tensor([0, 1, 3, 4, 5]), 3, 0.9)
    assert batch.rewards.tolist() == pytest.approx([1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 4 + 0.9 * 5 + 0.81 * 6, 5 + 0.9 * 6, 6])
    assert batch.terminated.tolist() == [True, True, False, False, False]
    assert batch.discounts.tolist() == pytest.approx([0.9**3, 0.9**2, 0.9**3, 0.9**2, 0.9])
    assert batch.next_obs[:, 0].tolist() == [3.0, 3.0, 6.0, 6.0, 6.0]


def test_prioritized_draws_in_proportion_to_priority_and_weights_by_hand():
    replay = filled(Prioritized(alpha=0.5, beta=0.4))
    errors = torch.tensor([0.0, 1.0, 3.0, 8.0, 15.0, 24.0])
    everything = replay.buffer.rows(torch.arange(6))
    everything.extras["replay_index"] = torch.arange(6)
    replay.update_priorities(everything, errors)
    priorities = (errors.double() + 1e-6) ** 0.5
    probability = priorities / priorities.sum()
    draws = 200_000
    batch = replay.sample(draws, torch.Generator().manual_seed(0), 0.0)
    counts = torch.bincount(batch.obs[:, 0].long(), minlength=6).double()
    assert ((counts - draws * probability).abs() <= 5 * torch.sqrt(draws * probability * (1 - probability)) + 1).all(), counts
    for progress, beta in ((0.0, 0.4), (0.5, 0.7), (1.0, 1.0)):  # beta annealed linearly to 1
        batch = replay.sample(64, torch.Generator().manual_seed(1), progress)
        p = probability[batch.obs[:, 0].long()]
        expected = (6 * p) ** -beta
        assert torch.allclose(batch.weights.double(), expected / expected.max(), rtol=1e-5)
    assert replay.highest == pytest.approx(24**0.5)  # new transitions come in at the highest priority so far


def test_new_transitions_enter_at_the_highest_priority_and_overwrite_their_slot():
    replay = filled(Prioritized(alpha=1.0))
    batch = replay.buffer.rows(torch.arange(6))
    batch.extras["replay_index"] = torch.arange(6)
    replay.update_priorities(batch, torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 9.0]))
    replay.add(torch.tensor([[10.0]]), torch.zeros(1, 1), torch.zeros(1), torch.zeros(1, 1), torch.tensor([False]), torch.tensor([False]))
    assert replay.tree.priorities(torch.tensor([0])).item() == pytest.approx(9.0 + 1e-6)  # slot 0 was the oldest


def test_sum_tree_keeps_exact_sums_through_many_updates():
    tree, generator = SumTree(1000), torch.Generator().manual_seed(0)
    for _ in range(200):
        index = torch.randint(1000, (64,), generator=generator)
        tree.set(index, torch.rand(64, generator=generator, dtype=torch.float64))
    leaves = tree.priorities(torch.arange(1000))
    assert tree.total == pytest.approx(float(leaves.sum()), rel=1e-12)
    assert tree.size == 1024 and tree.find(torch.tensor([0.0])).item() == int(torch.nonzero(leaves)[0])


PENDULUM = {
    "env": {"id": "Pendulum-v1"}, "policy_head": "squashed_gaussian", "critic": "twin_q", "objective": "sac", "optimizer": "adam",
    "network": {"type": "mlp", "hidden_sizes": [32, 32]},
    "trainer": {"type": "off_policy", "total_steps": 300, "learning_starts": 64, "batch_size": 32, "buffer_size": 1000, "target_policy": False, "log_every": 100},
    "logger": [],
}


@pytest.mark.parametrize("replay", [{"type": "prioritized", "n_step": 3}, {"type": "uniform", "n_step": 5}], ids=["prioritized-3", "uniform-5"])
def test_off_policy_trains_from_any_replay_and_resumes_exactly(replay, tmp_path):
    check_resume({**PENDULUM, "replay": replay}, workdir=tmp_path)


class QWithoutErrors(TwinQ):
    """Twin Q networks that give no TD errors (a critic of a plugin's)."""

    name = "q_without_errors"
    provides = frozenset({ACTION_VALUE})


@hookimpl
def register_critics(register):
    register(QWithoutErrors)


def test_prioritized_replay_needs_a_critic_that_gives_td_errors(pgkit_registry):
    registry = pgkit_registry(sys.modules[__name__], name="no-errors")
    check_compatibility(resolve({**PENDULUM, "replay": "prioritized"}, registry), registry)  # twin_q gives TD errors
    with pytest.raises(CompatibilityError, match=r"replay: .*td_errors"):
        check_compatibility(resolve({**PENDULUM, "replay": "prioritized", "critic": "q_without_errors"}, registry), registry)


def test_a_replay_on_an_on_policy_trainer_is_refused_with_the_fix(registry):
    from pgkit.errors import RecipeError

    with pytest.raises(RecipeError, match="trainer 'on_policy' does not use a replay"):
        resolve({"env": {"id": "CartPole-v1"}, "policy_head": "categorical", "advantage": "gae", "objective": "ppo_clip",
                 "optimizer": "adam", "replay": "prioritized"}, registry)
