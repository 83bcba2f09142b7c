"""Turn-based PettingZoo games as columns (pgkit.envs.turn_columns) and their batches of turns (pgkit.runtime.turns)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgkit.envs import EnvSettings, make_vector_env
from pgkit.envs.turn_columns import TurnColumns
from pgkit.errors import TrainingError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent
from pgkit.runtime.turns import packed_turns, turns_waiting
from pgkit.testing import check_resume

pytest.importorskip("pettingzoo.classic")

REGISTRY = build_registry(entry_points=False)
TICTACTOE = {"id": "pettingzoo.classic:tictactoe_v3", "agents": {"api": "aec", "agent_id": True}}


def recipe(**env) -> dict:
    return {"env": {**TICTACTOE, "num_envs": 2, **env}, "network": {"type": "mlp", "hidden_sizes": [32]}, "policy_head": "categorical",
            "critic": "value", "advantage": {"type": "gae", "gamma": 0.99, "lam": 0.95}, "objective": "ppo_clip", "optimizer": "adam",
            "logger": [], "trainer": {"type": "on_policy", "total_steps": 400, "steps_per_env": 20, "epochs": 2, "minibatch_size": 32}}


def random_legal(obs: dict, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(mask)) for mask in obs["action_mask"]])


def test_the_columns_play_the_game_as_pettingzoos_own_loop_does():
    """Random legal moves through TurnColumns, replayed through PettingZoo's agent_iter loop: the same agent moves
    at each step, sees the same observation, and ends each game with the return that loop's last() gives it."""
    from pettingzoo.classic import tictactoe_v3

    env = make_vector_env(EnvSettings(**{**TICTACTOE, "agents": {"api": "aec"}}, num_envs=1))
    assert isinstance(env, TurnColumns) and env.agents == ("player_1", "player_2")
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(0)
    moves, returns, totals, finals = [], [], np.zeros(2), 0
    for _ in range(60):
        assert info["alive"].sum() == 1
        mover = int(np.flatnonzero(info["alive"])[0])
        assert obs["action_mask"][1 - mover].all()  # the waiting agent's mask lets its ignored action be sampled
        actions = random_legal(obs, rng)
        moves.append((mover, int(actions[mover]), obs["observation"][mover].copy()))
        obs, reward, terminated, truncated, info = env.step(actions)
        totals += reward
        assert not truncated.any()
        if terminated.any():
            assert terminated.all() and info["_final_obs"].all()
            returns.append(totals.copy())
            totals[:] = 0
            finals += 1
    assert finals >= 5

    game = tictactoe_v3.env()
    game.reset(seed=3)
    reference, step = [], 0
    while step < len(moves) and len(reference) < len(returns):
        episode = np.zeros(2)
        for agent in game.agent_iter():
            observation, reward, ended, cut, _ = game.last()
            episode[game.possible_agents.index(agent)] += reward
            if ended or cut:
                game.step(None)
                continue
            mover, action, seen = moves[step]
            assert game.possible_agents.index(agent) == mover
            np.testing.assert_array_equal(observation["observation"], seen)
            game.step(action)
            step += 1
        reference.append(episode)
        game.reset()
    np.testing.assert_array_equal(np.array(returns), np.array(reference))


def test_a_hand_made_batch_of_turns_packs_each_columns_turns_back_to_back():
    """Two seats a, b; a wins at step 2 and the game starts again with a; a's last turn of the 4 steps waits for one step
    more (b's move at step 4, which gives a 0.25 and is not learned from)."""
    alive = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0, 1], [1, 0]], dtype=bool)  # [S + 1, 2]
    rewards = np.array([[0, 0], [0, 0], [1, -1], [0, 0], [0.25, 0]])
    terminated = np.zeros((5, 2), dtype=bool)
    terminated[2] = True
    truncated = np.zeros((5, 2), dtype=bool)
    assert turns_waiting(alive[:5], terminated[:4]).tolist() == [True, False]
    assert turns_waiting(alive, terminated).tolist() == [False, True]  # b's move of step 4 waits in turn (the collector drops it)
    packed = packed_turns(alive, rewards, terminated, truncated, num_steps=4)
    np.testing.assert_array_equal(packed.kept, [[1, 1], [1, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(packed.source[:3, 0], [0, 2, 3])
    assert packed.source[0, 1] == 1
    np.testing.assert_allclose(packed.rewards, [[0, -1], [1, 0], [0.25, 0], [0, 0]])
    np.testing.assert_array_equal(packed.terminated, [[0, 1], [1, 1], [0, 1], [1, 1]])  # idle rows: ended, nothing flows past them
    np.testing.assert_array_equal(packed.truncated, [[0, 0], [0, 0], [1, 0], [0, 0]])  # a's last turn of the batch is cut there
    obs = np.arange(6 * 2).reshape(6, 2) * 10  # the observation at each step
    next_obs = -np.arange(5 * 2).reshape(5, 2)  # each step's, the final one where a game ended
    following = packed.next_observations(obs, next_obs)
    assert following[0, 0] == obs[2, 0] and following[1, 0] == next_obs[2, 0] and following[2, 0] == obs[5, 0]
    assert following[0, 1] == next_obs[2, 1]
    assert packed.gather(obs)[2, 0] == obs[3, 0]


def test_a_batch_of_a_real_game_follows_each_agent_from_turn_to_turn():
    resolved = resolve(recipe(num_envs=3), REGISTRY, source="test")
    agent = build_agent(resolved, REGISTRY)
    batch = RolloutCollector(make_vector_env(resolved.settings.env), agent, 40, seed=1).collect()
    kept, ended = batch.alive, batch.terminated | batch.truncated
    assert int(kept.sum()) == 40 * 3  # one turn per game and step
    assert not (batch.rewards[kept & ~batch.terminated] != 0).any()  # tictactoe rewards only its end
    assert set(batch.rewards[kept & batch.terminated].tolist()) <= {-1.0, 0.0, 1.0}
    follows = kept[:-1] & kept[1:] & ~ended[:-1]  # a turn and the agent's next turn
    assert int(follows.sum()) > 60
    torch.testing.assert_close(batch.next_obs[:-1][follows], batch.obs[1:][follows], rtol=0, atol=0)
    last = kept & ~torch.cat([kept[1:], torch.zeros_like(kept[:1])])
    assert bool((batch.terminated | batch.truncated)[last].all())  # each column's last turn ends or is cut: no bootstrap into idle rows
    flat = batch.flatten()
    assert flat.rewards.shape[0] == 120


def test_a_turn_based_game_trains_with_two_policy_groups_and_resumes_exactly(tmp_path):
    document = recipe(agents={"api": "aec", "groups": {"first": ["player_1"], "second": ["player_2"]}})
    check_resume(document, registry=REGISTRY, workdir=tmp_path)


def test_evaluation_seats_the_policy_against_random_legal_players_in_turn():
    resolved = resolve(recipe(agents={"api": "aec", "groups": {"first": ["player_1"], "second": ["player_2"]}}), REGISTRY, source="test")
    agent = build_agent(resolved, REGISTRY)
    result = evaluate(agent, resolved.settings.env, episodes=12, seed=5)
    assert set(result.returns) <= {-1.0, 0.0, 1.0} and len(result.groups["first"]) == len(result.groups["second"]) == 6
    assert result.groups["first"] == tuple(result.returns[0::2]) and result.groups["second"] == tuple(result.returns[1::2])


def test_a_collector_of_whole_episodes_refuses_a_turn_based_game():
    """The collector's own guard, for trainers that ask it for whole episodes (pgkit check refuses the recipes, below)."""
    resolved = resolve(recipe(), REGISTRY, source="test")
    agent = build_agent(resolved, REGISTRY)
    with pytest.raises(TrainingError, match="complete_episodes"):
        RolloutCollector(make_vector_env(resolved.settings.env), agent, 8, seed=0, whole_episodes=True)


DISCRETE_SAC = {"network": {"type": "mlp", "hidden_sizes": [32]}, "policy_head": "categorical", "critic": "twin_discrete_q",
                "objective": "discrete_sac", "optimizer": "adam", "replay": "uniform", "logger": [],
                "trainer": {"type": "off_policy", "total_steps": 100, "learning_starts": 10, "batch_size": 8}}


@pytest.mark.parametrize("document, path, fix", [
    ({**recipe(), "network": {"type": "lstm", "hidden_size": 16}}, "network", "feed-forward"),
    ({**recipe(), "trainer": {"type": "on_policy", "total_steps": 100, "complete_episodes": True}}, "trainer.complete_episodes",
     "complete_episodes: false"),
    ({**DISCRETE_SAC, "env": recipe()["env"]}, "trainer", "on-policy trainer"),
])
def test_pgkit_check_refuses_what_turn_based_batches_cannot_yet_feed_with_the_path_and_fix(document, path, fix):
    from pgkit.errors import CompatibilityError
    from pgkit.recipe.compatibility import check_compatibility

    with pytest.raises(CompatibilityError) as raised:
        check_compatibility(resolve(document, REGISTRY, source="test"), REGISTRY)
    [problem] = raised.value.problems
    assert problem.path == path and "takes turns" in problem.message and fix in problem.fix
    check_compatibility(resolve(recipe(), REGISTRY, source="test"), REGISTRY)  # the feed-forward on-policy recipe fits
