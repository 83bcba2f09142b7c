"""Self-play (env.self_play): a pool of the policy's past selves as the board game's opponent, refreshed on a
schedule, drawn per game from the env's generator, checkpointed; evaluation against given agents."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from pgkit.envs.settings import EnvSettings, SelfPlaySettings
from pgkit.errors import PgkitError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.self_play import PolicySnapshot, SelfPlay
from pgkit.runtime.training import build_agent
from pgkit.testing import check_resume

REGISTRY = build_registry(entry_points=False)
TICTACTOE = {"id": "pgkit/BoardGame-v0", "kwargs": {"game": "tictactoe"}, "num_envs": 2}
RECIPE = {"env": {**TICTACTOE, "self_play": {"every": 64, "pool_size": 2}}, "policy_head": "categorical", "critic": "value",
          "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam", "logger": [],
          "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 16, "log_every": 32}}


class Fixed:
    """An opponent that always plays the lowest legal square."""

    def __call__(self, obs, rng):
        return int(np.flatnonzero(obs["action_mask"])[0])


def test_the_board_game_plays_the_pool_it_was_given():
    env = gym.make("pgkit/BoardGame-v0", game="tictactoe", seat="second")
    env.unwrapped.set_opponents([Fixed()], latest=1.0)
    env.reset(seed=0)
    assert env.unwrapped._moves == [0]  # the opponent opened in the lowest square, as Fixed plays
    env.step(4)
    assert env.unwrapped._moves == [0, 4, 1]


def test_a_snapshot_moves_as_its_policy_samples_and_only_legally():
    agent = build_agent(resolve(RECIPE, REGISTRY, source="test"), REGISTRY)
    snapshot = PolicySnapshot(agent)
    mask = np.array([0, 1, 0, 1, 0, 0, 0, 0, 1], dtype=np.int8)
    obs = {"observation": np.zeros((3, 3, 2), dtype=np.int8), "action_mask": mask}
    moves = [snapshot(obs, np.random.default_rng(seed)) for seed in range(200)]
    assert set(moves) == {1, 3, 8}
    assert moves == [snapshot(obs, np.random.default_rng(seed)) for seed in range(200)]  # the generator decides
    for parameter in agent.policy.parameters():  # frozen: training the agent on leaves the snapshot as it was
        parameter.data.add_(1.0)
    assert moves == [snapshot(obs, np.random.default_rng(seed)) for seed in range(200)]


def test_the_pool_takes_a_snapshot_when_due_and_keeps_the_newest():
    agent = build_agent(resolve(RECIPE, REGISTRY, source="test"), REGISTRY)
    play = SelfPlay(SelfPlaySettings(every=100, pool_size=2), agent)
    for step in (0, 50, 100, 120, 250):
        play.refresh(step, [])
    assert len(play.pool) == 2 and play.next_refresh == 300  # snapshots at 0, 100 and 250; the first left


def test_a_self_play_run_resumes_bit_exactly(tmp_path):
    check_resume(RECIPE, registry=REGISTRY, workdir=tmp_path)


def test_evaluation_plays_against_the_given_agents():
    agent = build_agent(resolve(RECIPE, REGISTRY, source="test"), REGISTRY)
    settings = EnvSettings(id="pgkit/BoardGame-v0", kwargs={"game": "tictactoe", "seat": "first"})
    against_itself = evaluate(agent, settings, episodes=20, opponents=[agent])
    against_random = evaluate(agent, settings, episodes=20)
    assert against_itself.returns != against_random.returns
    assert set(against_itself.returns) <= {-1.0, 0.0, 1.0}


def test_an_env_that_takes_no_opponents_is_refused_with_the_reason():
    recipe = {**RECIPE, "env": {"id": "CartPole-v1", "self_play": {}}}
    agent = build_agent(resolve(recipe, REGISTRY, source="test"), REGISTRY)
    with pytest.raises(PgkitError, match="takes no opponents"):
        evaluate(agent, EnvSettings(id="CartPole-v1"), episodes=1, opponents=[agent])


def test_pgkit_eval_against_a_trained_agent_counts_the_outcomes(tmp_path, capsys):
    import pgkit
    from pgkit.cli import main

    recipe = {**RECIPE, "env": {**TICTACTOE, "kwargs": {"game": "tictactoe", "seat": "alternate"}}, "trainer": {**RECIPE["trainer"], "total_steps": 64}}
    pgkit.train(recipe, run_dir=tmp_path / "first")
    pgkit.train({**recipe, "seed": 1}, run_dir=tmp_path / "second")
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "first"), "--episodes", "12", "--against", str(tmp_path / "second")]) == 0
    out = capsys.readouterr().out
    import re

    wins, draws, losses = map(int, re.search(r"(\d+) wins, (\d+) draws, (\d+) losses", out).groups())
    assert wins + draws + losses == 12


def test_a_share_of_the_games_is_played_against_the_env_s_own_opponent():
    env = gym.make("pgkit/BoardGame-v0", game="tictactoe", seat="second")
    env.unwrapped.set_opponents([Fixed()], latest=1.0, own_opponent=0.5)
    openings = []
    for seed in range(200):
        env.reset(seed=seed)
        openings.append(env.unwrapped._opponent is None)
    assert 0.4 < np.mean(openings) < 0.6  # binomial(200, 0.5): 80-120 is 2.8 standard deviations either side (the seeds fix the draws)


GO = {"id": "pgkit/BoardGame-v0", "kwargs": {"game": "go_v5", "game_kwargs": {"board_size": 5, "komi": 0.5}}, "num_envs": 2}


def test_any_turn_based_game_of_pettingzoo_classic_plays_one_seat_and_copies_exactly():
    """Go on 5x5 (not one of the two named games): the learner's seat alternates, the masks are the learner's legal
    moves, a copy (what a checkpoint pickles) replays the game to the same position."""
    import pickle

    env = gym.make("pgkit/BoardGame-v0", **GO["kwargs"])
    rng = np.random.default_rng(0)
    for episode in range(2):
        obs, info = env.reset(seed=episode)
        assert info["seat"] == episode % 2 and env.observation_space.contains(obs)
        for _ in range(6):
            obs, reward, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
            if terminated or truncated:
                break
        copy = pickle.loads(pickle.dumps(env.unwrapped))
        np.testing.assert_array_equal(copy.game.observe(copy.learner)["observation"], obs["observation"])
    for game, says in (("os:system", "a game module of pettingzoo.classic"), ("nothing_v1", "pettingzoo.classic has no game 'nothing_v1'")):
        with pytest.raises(ValueError, match=says):
            gym.make("pgkit/BoardGame-v0", game=game)


def test_self_play_on_go_resumes_bit_exactly(tmp_path):
    check_resume({**RECIPE, "env": {**GO, "self_play": {"every": 32, "pool_size": 2}},
                  "trainer": {**RECIPE["trainer"], "total_steps": 128, "steps_per_env": 16}}, registry=REGISTRY, workdir=tmp_path)


def test_pgkit_eval_against_the_run_s_own_pool_of_past_selves(tmp_path, capsys):
    """The pool the checkpoint kept (snapshots at steps 0, 64, ... with pool_size 2: the newest two) are the opponents;
    a run without self-play says it has none."""
    import re

    import pgkit
    from pgkit.cli import main
    from pgkit.runtime.loading import load_agent, load_self_play_pool

    pgkit.train(RECIPE, run_dir=tmp_path / "run")
    agent, _ = load_agent(tmp_path / "run")
    pool = load_self_play_pool(tmp_path / "run", agent)
    assert len(pool) == 2 and any((a != b).any() for a, b in zip(pool[0].policy.parameters(), pool[1].policy.parameters()))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--episodes", "10", "--against-pool"]) == 0
    out = capsys.readouterr().out
    wins, draws, losses = map(int, re.search(r"against the run's pool of 2 past selves: (\d+) wins, (\d+) draws, (\d+) losses", out).groups())
    assert wins + draws + losses == 10
    plain = {**RECIPE, "env": TICTACTOE, "trainer": {**RECIPE["trainer"], "total_steps": 32}}
    pgkit.train(plain, run_dir=tmp_path / "plain")
    assert main(["eval", str(tmp_path / "plain"), "--against-pool"]) == 2
    assert "keeps no self-play pool" in capsys.readouterr().err
