"""Asynchronous collection in one process (``trainer.collection: async``): the batches lag the learner by one
update and say so, training stays deterministic given the seed, the first batch is the synchronous run's,
an env's error stops the run as in synchronous collection, a resumed run restarts its envs and says so, and
a recipe that does not correct for the lag is warned."""

from __future__ import annotations

import csv
import warnings

import gymnasium as gym
import pytest
import torch
import yaml

import pgkit
from pgkit.errors import PgkitError, RecipeWarning
from small_recipes import SMALL_PPO, with_changes

VTRACE = {"type": "vtrace", "gamma": 0.99, "lam": 0.95}
ASYNC = {**SMALL_PPO, "advantage": VTRACE, "trainer": {**SMALL_PPO["trainer"], "collection": "async"}}
RAISING_ID = "pgkit-test/RaisesAtStep-v0"


class RaisesAtStep(gym.Env):
    """CartPole's spaces; raises at its ``at``-th step."""

    def __init__(self, at: int = 40):
        self.at, self.steps = at, 0
        self.observation_space = gym.make("CartPole-v1").observation_space
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.low.clip(-1, 1) * 0, {}

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            raise ValueError("the simulator lost its connection")
        return self.observation_space.low.clip(-1, 1) * 0, 1.0, False, False, {}


if RAISING_ID not in gym.registry:
    gym.register(RAISING_ID, entry_point=RaisesAtStep, max_episode_steps=500)


def parameters(agent) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in agent.parameters()])


def metrics(run_dir) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "metrics.csv").open()))


def test_async_training_is_deterministic_given_the_seed():
    first, second = pgkit.train(ASYNC), pgkit.train(ASYNC)
    torch.testing.assert_close(parameters(first), parameters(second), rtol=0, atol=0)
    other_seed = pgkit.train(with_changes(ASYNC, seed=1))
    assert not torch.equal(parameters(first), parameters(other_seed))


def test_batches_lag_by_one_update_after_the_first_and_count_whole_batches(tmp_path):
    pgkit.train(ASYNC, run_dir=tmp_path / "run")
    rows = metrics(tmp_path / "run")
    assert [float(row["policy_lag"]) for row in rows] == [0.0] + [1.0] * (len(rows) - 1)
    assert [int(row["step"]) for row in rows] == [128 * (i + 1) for i in range(len(rows))]  # [32, 4] per batch, none half-counted
    assert float(rows[0]["behaviour_kl"]) == pytest.approx(0.0, abs=1e-6)  # the first batch: behaviour = learner
    assert all(float(row["behaviour_kl"]) > 0 for row in rows[1:])  # then KL(mu || pi) of one update, estimated on mu's samples
    assert 10 < float(rows[-1]["return_mean"]) < 200 and float(rows[-1]["episodes"]) > 10


def test_the_first_batch_is_the_synchronous_runs():
    """One batch: collected by the initial policy with the same seeds, so async trains as sync (values are
    recomputed by the learner in one pass, which rounds differently from the per-step pass)."""
    one_batch = {"advantage": SMALL_PPO["advantage"], "trainer__total_steps": 128}
    sync = pgkit.train(with_changes(SMALL_PPO, **one_batch))
    asynchronous = pgkit.train(with_changes(ASYNC, **one_batch))
    torch.testing.assert_close(parameters(sync), parameters(asynchronous), rtol=1e-5, atol=1e-6)
    two_batches = pgkit.train(with_changes(ASYNC, advantage=SMALL_PPO["advantage"], trainer__total_steps=256))
    sync_two = pgkit.train(with_changes(SMALL_PPO, trainer__total_steps=256))
    assert (parameters(two_batches) - parameters(sync_two)).abs().max() > 1e-4  # the second batch came from the older policy


def test_an_env_that_raises_in_the_background_stops_the_run_with_its_error():
    with pytest.raises(PgkitError, match=f"environment '{RAISING_ID}' failed in step: ValueError: the simulator lost its connection"):
        pgkit.train(with_changes(ASYNC, env={"id": RAISING_ID, "num_envs": 2}, trainer__total_steps=512))


def test_a_resumed_async_run_restarts_its_envs_and_says_so(tmp_path, capsys):
    from pgkit.cli import main

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(with_changes(ASYNC, trainer__total_steps=256)))
    assert main(["train", str(path), "--run-dir", str(tmp_path / "run")]) == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "trainer.total_steps=512"]) == 0
    assert "fresh resets" in capsys.readouterr().err
    rows = metrics(tmp_path / "run")
    assert [int(row["step"]) for row in rows] == [128, 256, 384, 512]
    assert [float(row["policy_lag"]) for row in rows] == [0.0, 1.0, 0.0, 1.0]  # the resumed run's first batch is its own policy's


def test_async_collection_without_lag_correction_is_warned():
    with pytest.warns(RecipeWarning, match=r"(?s)collection async.*does not correct for it.*advantage.type: vtrace"):
        pgkit.train(with_changes(ASYNC, advantage=SMALL_PPO["advantage"], trainer__total_steps=128))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecipeWarning)
        pgkit.train(with_changes(ASYNC, trainer__total_steps=128))
