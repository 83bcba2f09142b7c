"""Hindsight experience replay: the replay contract for goal relabelling, its episode bookkeeping by hand,
what a recipe may combine it with, SAC with it resumed exactly (pgkit/PointReach-v0) and trained on
gymnasium-robotics' FetchReach (real MuJoCo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import pgkit
from pgkit.builtins.replays.hindsight import Hindsight
from pgkit.cli.main import main
from pgkit.data import ReplayEpisodes
from pgkit.errors import CompatibilityError, RecipeError
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.testing import check_replay, check_resume

pytest.importorskip("gymnasium_robotics")


@pytest.mark.parametrize("replay", [Hindsight(), Hindsight(goal_selection="final"), Hindsight(goal_selection="episode", n_sampled_goal=1),
                                    Hindsight(n_sampled_goal=0)], ids=str)
def test_hindsight_replays_meet_the_contract(replay):
    check_replay(replay)


class FromAnyStep(Hindsight):
    """Says ``future`` but takes goals from any step of the episode."""

    def _relabel(self, batch, slots, relabelled, generator):
        self.spec = self.spec.model_copy(update={"goal_selection": "episode"})
        try:
            super()._relabel(batch, slots, relabelled, generator)
        finally:
            self.spec = self.spec.model_copy(update={"goal_selection": "future"})


class StaleRewards(Hindsight):
    """Relabels the goals but keeps the stored rewards."""

    def _relabel(self, batch, slots, relabelled, generator):
        rewards = batch.rewards.clone()
        super()._relabel(batch, slots, relabelled, generator)
        batch.rewards.copy_(rewards)


@pytest.mark.parametrize("broken, message", [(FromAnyStep, "goal_selection future"), (StaleRewards, "relabelled reward")], ids=["past-goals", "stale-rewards"])
def test_the_contract_catches_a_wrong_relabelling(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_replay(broken())


def test_episode_bookkeeping_by_hand():
    """Two envs, 4 rows per env kept (capacity 8). Env 0: an episode of 2 steps, then one of 3 (ends at row 4),
    then one still running; env 1: one episode of 5 steps, started before row 0's slots were overwritten."""
    episodes = ReplayEpisodes(8, 2)
    ends = [(False, False), (True, False), (False, False), (False, False), (True, True), (False, False)]
    for row, ended in enumerate(ends):
        episodes.add(torch.tensor([(2 * row) % 8, (2 * row + 1) % 8]), torch.tensor(ended))
    # rows 4 and 5 overwrote rows 0 and 1: env 0's first episode (rows 0-1) is no longer whole; env 1's 5-step
    # episode (rows 0-4) is longer than the 4 rows an env keeps, so it never was
    slot = {(row, env): (2 * row + env) % 8 for row in range(6) for env in range(2)}
    assert [int(episodes.length[slot[(row, 0)]]) for row in (2, 3, 4)] == [3, 3, 3]
    assert [int(episodes.step[slot[(row, 0)]]) for row in (2, 3, 4)] == [0, 1, 2]
    assert int(episodes.length[slot[(5, 0)]]) == 0  # still running
    assert all(int(episodes.length[slot[(row, 1)]]) == 0 for row in (2, 3, 4, 5))
    assert episodes.slot_at(torch.tensor([slot[(2, 0)]]), torch.tensor([2])).tolist() == [slot[(4, 0)]]
    assert episodes.running.tolist() == [1, 1]
    assert episodes.whole_slots == 3 and episodes.whole_slot_list(8).tolist() == sorted(slot[(row, 0)] for row in (2, 3, 4))


def test_the_count_of_whole_slots_follows_overwriting_and_loading():
    """Random episode ends on 3 envs over many wraps of a small buffer: the running count of slots in whole
    episodes always equals the slots whose length is set, and a loaded state counts them again."""
    rng = np.random.default_rng(0)
    episodes, counts = ReplayEpisodes(12, 3), []
    for row in range(60):
        episodes.add(torch.arange(3) + (3 * row) % 12, torch.as_tensor(rng.random(3) < 0.3))
        assert episodes.whole_slots == int((episodes.length > 0).sum())
        loaded = ReplayEpisodes(12, 3)
        loaded.load_state_dict(episodes.state_dict())
        assert loaded.whole_slots == episodes.whole_slots
        counts.append(episodes.whole_slots)
    assert min(counts) == 0 and max(counts) >= 6  # episodes came and went


FETCH = {
    "seed": 0,
    "env": {"id": "FetchReach-v4", "modules": ["gymnasium_robotics"]},
    "network": {"type": "mlp", "hidden_sizes": [32, 32], "activation": "relu"},
    "policy_head": "squashed_gaussian",
    "critic": "twin_q",
    "objective": {"type": "sac", "temperature": "auto"},
    "optimizer": {"type": "adam", "lr": 0.001},
    "replay": {"type": "hindsight", "n_sampled_goal": 4},
    "trainer": {"type": "off_policy", "total_steps": 300, "learning_starts": 100, "batch_size": 32, "buffer_size": 1000,
                "gamma": 0.95, "target_policy": False, "log_every": 100},
    "logger": [],
}


POINT = {**FETCH, "env": {"id": "pgkit/PointReach-v0", "num_envs": 2}}


def test_sac_with_hindsight_resumes_exactly(tmp_path):
    """On PointReach, whose state pickles (MuJoCo's does not, so a FetchReach run resumes from fresh resets)."""
    check_resume(POINT, workdir=tmp_path, stop_at=200)


def test_hindsight_needs_goal_observations_as_the_env_gives_them(registry):
    normalized = {**FETCH, "env": {**FETCH["env"], "normalize": {"obs": True}}}
    with pytest.raises(CompatibilityError, match=r"replay: 'hindsight'.*env.normalize.obs normalizes them; set env.normalize.obs: false"):
        check_compatibility(resolve(normalized, registry), registry)
    pendulum = {**FETCH, "env": {"id": "Pendulum-v1"}}
    with pytest.raises(CompatibilityError, match=r"replay: 'hindsight'.*needs goal observations"):
        check_compatibility(resolve(pendulum, registry), registry)


def test_hindsight_refuses_n_step_returns(registry):
    with pytest.raises(RecipeError, match=r"replay.*n_step 3: hindsight relabels one-step transitions"):
        resolve({**FETCH, "replay": {"type": "hindsight", "n_step": 3}}, registry)


def test_periodic_evaluation_logs_the_success_rate(tmp_path):
    import csv

    import pgkit

    recipe = {key: value for key, value in FETCH.items() if key != "logger"}  # the default csv logger
    recipe["trainer"] = {**FETCH["trainer"], "total_steps": 200, "eval": {"every": 200, "episodes": 2, "success_rate": True}}
    pgkit.train(recipe, run_dir=tmp_path / "run")
    last = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))[-1]
    assert float(last["eval_success_rate"]) in (0.0, 0.5, 1.0), last  # two episodes, each a success or not
    assert np.isfinite(float(last["eval_return"]))


def test_the_highway_parking_recipe_trains_with_hindsight_on_its_compute_reward(tmp_path):
    """highway-env's parking-v0 as it comes (a goal env whose compute_reward takes batches), the shipped recipe
    on a tiny budget: relabelled minibatches are scored by the env's own compute_reward."""
    pytest.importorskip("highway_env")
    recipe = Path(__file__).parent.parent / "recipes" / "parking-sac-her.yaml"
    overrides = ["trainer.total_steps=300", "trainer.learning_starts=200", "trainer.batch_size=32", "trainer.eval=null",
                 "network.hidden_sizes=[32, 32]", "logger=[]"]
    pgkit.train(recipe, overrides=overrides, run_dir=tmp_path / "run")
    assert main(["eval", str(tmp_path / "run"), "--episodes", "1"]) == 0
