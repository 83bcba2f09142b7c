"""Collection on Ray workers (``trainer.workers``), on a real local Ray cluster started once per session:
the workers' batches join into the recipe's batch, one worker reproduces the in-process run exactly,
statistics merge across workers, a dead worker is replaced, a run with workers resumes."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

import pgkit
from pgkit.data import Batch, RunningMeanStd
from pgkit.envs import as_numpy
from pgkit.errors import PgkitError
from pgkit.recipe import resolve
from pgkit.plugins.registry import default_registry
from pgkit.runtime import RayCollector, RayWorkersSpec
from pgkit.runtime.training import build_agent
from small_recipes import SMALL_PPO, with_changes

PPO = {**SMALL_PPO, "seed": 3, "trainer": {**SMALL_PPO["trainer"], "total_steps": 1024}}


def recipe(**changes) -> dict:
    return with_changes(PPO, **changes)


def test_moments_since_an_earlier_state_merge_back_to_the_whole_stream():
    rng = np.random.default_rng(0)
    first, second, third = (rng.normal(size=(n, 3)) * 2 + 1 for n in (50, 70, 30))
    worker = RunningMeanStd((3,))
    worker.update(first)
    earlier = worker.state_dict()
    worker.update(second)
    learner = RunningMeanStd((3,))
    learner.update(first)
    learner.update(third)
    learner.merge(*worker.since(earlier))  # what the worker saw after `earlier`, merged into another stream
    everything = np.concatenate([first, third, second])
    assert learner.count == pytest.approx(len(everything) + 1e-4)
    np.testing.assert_allclose(learner.mean, everything.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(learner.var, everything.var(axis=0), rtol=1e-4)


def test_batches_join_along_envs_or_back_to_back_in_time():
    def batch(steps: int, envs: int, offset: float) -> Batch:
        values = torch.arange(steps * envs, dtype=torch.float32).view(steps, envs) + offset
        flags = torch.zeros(steps, envs, dtype=torch.bool)
        return Batch(values[..., None], values.long(), values, values, flags, flags, values[..., None],
                     prior_rewards=torch.full((envs,), offset), prior_steps=torch.zeros(envs, dtype=torch.long))

    windows = Batch.join([batch(4, 2, 0.0), batch(4, 3, 100.0)])
    assert windows.rewards.shape == (4, 5) and windows.obs.shape == (4, 5, 1)
    assert windows.rewards[:, 2].tolist() == [100.0, 103.0, 106.0, 109.0]
    assert windows.prior_rewards.tolist() == [0, 0, 100, 100, 100]
    episodes = Batch.join([batch(3, 1, 0.0), batch(5, 1, 100.0)], along_time=True)
    assert episodes.rewards.shape == (8, 1) and episodes.rewards[3, 0] == 100.0
    assert episodes.prior_rewards.tolist() == [0.0]


def test_one_worker_trains_exactly_as_the_in_process_collector(ray_cluster):
    """Worker 0's envs and sampling generator are seeded as the in-process run's, so the runs are one."""
    local = pgkit.train(recipe())
    remote = pgkit.train(recipe(trainer__workers={"num_workers": 1, "address": ray_cluster}))
    for a, b in zip(local.parameters(), remote.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_one_async_worker_trains_exactly_as_in_process_async_collection(ray_cluster, tmp_path):
    """Asynchronous on a worker: it collects the next batch with the weights from before this update, as the
    in-process background thread does, from the same seeds; the runs are one, and lag one update."""
    lagged = {"advantage": {"type": "vtrace", "gamma": 0.99, "lam": 0.95}, "trainer__collection": "async"}
    local = pgkit.train(recipe(**lagged))
    remote = pgkit.train(recipe(**lagged, trainer__workers={"num_workers": 1, "address": ray_cluster}), run_dir=tmp_path / "run")
    for a, b in zip(local.parameters(), remote.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [float(row["policy_lag"]) for row in rows] == [0.0] + [1.0] * (len(rows) - 1)
    assert all(float(row["wait_time"]) <= float(row["collect_time"]) for row in rows)


def test_two_workers_fill_the_recipes_batch_and_log_their_episodes(ray_cluster, tmp_path):
    pgkit.train(recipe(trainer__workers={"num_workers": 2, "address": ray_cluster}), run_dir=tmp_path / "run")
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header, last = rows[0].split(","), dict(zip(rows[0].split(","), rows[-1].split(",")))
    assert {"collect_time", "broadcast_time", "worker_time", "transfer_time"} <= set(header)
    assert int(last["step"]) == 1024 and len(rows) - 1 == 1024 // (32 * 4)  # [32, 2 + 2] per batch
    assert float(last["episodes"]) > 10 and 10 < float(last["return_mean"]) < 200  # CartPole episodes from both workers


def test_workers_observation_statistics_merge_into_the_learners(ray_cluster):
    document = recipe(env={"id": "CartPole-v1", "num_envs": 4, "normalize": {"obs": True, "reward": True}},
                      trainer__workers={"num_workers": 2, "address": ray_cluster})
    agent = pgkit.train(document)
    stats = agent.obs_normalizer.stats
    assert stats.count == pytest.approx(1024 + 4 + 1e-4)  # every step's observation and the 4 first resets
    assert np.all(np.abs(stats.mean) < 1.0) and np.all(stats.var > 1e-4)


class Context:
    """What RayCollector reads of the loop's TrainingContext."""

    def __init__(self, document: dict):
        resolved = resolve(document, default_registry())
        self.agent, self.env, self.seed = build_agent(resolved), resolved.settings.env, resolved.settings.seed
        self.recipe, self.steps, self.episodes, self.notes = resolved.to_dict(), 0, [], []

    def record_steps(self, steps, episodes):
        self.steps += steps
        self.episodes += episodes

    def note(self, text):
        self.notes.append(text)

    def acting_weights(self):
        return self.agent.state_dict()

    def remote_opponents(self):
        return None  # no env.self_play in these recipes


def test_a_dead_worker_is_replaced_and_the_batch_stays_whole(ray_cluster):
    import ray

    spec = RayWorkersSpec(num_workers=2, address=ray_cluster)
    ctx = Context(recipe())
    collector = RayCollector(spec, ctx, 16, whole_episodes=False)
    try:
        first = collector.collect()
        ray.kill(collector.workers._workers[0])
        second = collector.collect()
    finally:
        collector.close()
    assert first.rewards.shape == second.rewards.shape == (16, 4)
    assert ctx.steps == 2 * 16 * 4 and collector.workers.started == 3
    assert len(ctx.notes) == 1 and "worker 0 died" in ctx.notes[0] and "replaced" in ctx.notes[0]


def test_whole_episode_batches_of_workers_join_back_to_back(ray_cluster):
    spec = RayWorkersSpec(num_workers=2, address=ray_cluster)
    ctx = Context(recipe(trainer__complete_episodes=True))
    collector = RayCollector(spec, ctx, 16, whole_episodes=True)
    try:
        batch = collector.collect()
    finally:
        collector.close()
    ended = batch.terminated | batch.truncated
    assert batch.num_envs == 1 and bool(ended[-1, 0]) and int(ended.sum()) >= 4  # each env's kept steps end an episode
    assert ctx.steps == batch.num_steps + collector.dropped_steps


def test_workers_batches_carry_each_actions_mask(ray_cluster):
    """Taxi-v4's masks (the action_mask wrapper) travel in the observations workers collect: the joined batch
    holds, beside every action, the mask it was chosen under, and the masked policy chose only valid ones."""
    spec = RayWorkersSpec(num_workers=2, address=ray_cluster)
    document = recipe(env={"id": "Taxi-v4", "num_envs": 2, "wrappers": [{"type": "action_mask"}]})
    ctx = Context(document)
    collector = RayCollector(spec, ctx, 64, whole_episodes=False)
    try:
        batch = collector.collect()
    finally:
        collector.close()
    start, stop = ctx.agent.policy.mask_columns
    masks = batch.obs[..., start:stop]
    assert batch.num_envs == 2 and batch.num_steps == 64 and masks.sum(-1).min() >= 1  # env.num_envs split between the workers
    chosen = masks.gather(-1, batch.actions.long().unsqueeze(-1)).squeeze(-1)
    assert torch.all(chosen == 1), "an action its mask forbids"
    assert (masks == 0).any(-1).float().mean() > 0.5  # Taxi forbids some moves in most states: the masks are real


def test_workers_collect_a_turn_based_games_turns(ray_cluster):
    """Tic-Tac-Toe played turn by turn on two workers: the joined batch holds one turn per game and step, each
    agent's turns back to back (the next observation of one turn is the observation of the agent's next)."""
    spec = RayWorkersSpec(num_workers=2, address=ray_cluster)
    ctx = Context(recipe(env={"id": "pettingzoo.classic:tictactoe_v3", "num_envs": 4, "agents": {"api": "aec", "agent_id": True}}))
    collector = RayCollector(spec, ctx, 16, whole_episodes=False)
    try:
        batch = collector.collect()
    finally:
        collector.close()
    assert batch.num_envs == 8 and int(batch.alive.sum()) == 16 * 4  # 2 seats of 4 games; one move per game and step
    follows = batch.alive[:-1] & batch.alive[1:] & ~(batch.terminated | batch.truncated)[:-1]
    assert int(follows.sum()) > 20
    torch.testing.assert_close(batch.next_obs[:-1][follows], batch.obs[1:][follows], rtol=0, atol=0)


def test_workers_collect_dict_actions_as_flat_rows(ray_cluster):
    """A composite head's actions (PickPlace's {move, grip}) are flat rows in the joined batch, each a valid
    action of the space once the head turns it into the env's tree."""
    spec = RayWorkersSpec(num_workers=2, address=ray_cluster)
    ctx = Context(recipe(env={"id": "pgkit/PickPlace-v0", "num_envs": 2}, policy_head="composite"))
    collector = RayCollector(spec, ctx, 32, whole_episodes=False)
    try:
        batch = collector.collect()
    finally:
        collector.close()
    assert batch.actions.shape == (32, 2, 3)  # grip (an index), then move (2 values): the space's order
    trees = as_numpy(ctx.agent.policy.head.env_action(batch.actions.reshape(-1, 3)))
    assert set(np.unique(trees["grip"])) <= {0, 1} and trees["move"].shape == (64, 2)


def test_a_run_with_workers_resumes(ray_cluster, tmp_path, capsys):
    from pgkit.cli import main

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(trainer__workers={"num_workers": 2, "address": ray_cluster}, trainer__total_steps=512)))
    assert main(["train", str(path), "--run-dir", str(tmp_path / "run")]) == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "trainer.total_steps=1024"]) == 0
    err = capsys.readouterr().err
    assert "resuming" in err and "fresh resets" in err
    steps = [int(row.split(",")[0]) for row in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps[-1] == 1024 and steps == sorted(steps)


def test_workers_that_do_not_start_stop_the_run_with_the_reason(ray_cluster):
    """The cluster's 2 CPUs held by another job's actor: the workers cannot be placed, and the run says so
    after start_timeout instead of waiting forever."""
    import ray

    @ray.remote(num_cpus=2)
    class Holder:
        def ready(self) -> bool:
            return True

    holder = Holder.remote()
    try:
        ray.get(holder.ready.remote(), timeout=120)
        with pytest.raises(PgkitError, match=r"1 of 1 Ray workers did not start within 3 s; the cluster has 0 of its 2 CPUs free"):
            pgkit.train(recipe(trainer__workers={"num_workers": 1, "address": ray_cluster, "start_timeout": 3}))
    finally:
        ray.kill(holder)


def test_workers_the_cluster_cannot_hold_are_refused_not_awaited(ray_cluster):
    with pytest.raises(PgkitError, match="trainer.workers: needs 3 CPUs, and the Ray cluster has 2"):
        pgkit.train(recipe(env={"id": "CartPole-v1", "num_envs": 3}, trainer__workers={"num_workers": 3, "address": ray_cluster}))


def test_envs_that_do_not_split_over_the_workers_are_refused(ray_cluster):
    with pytest.raises(PgkitError, match="does not split evenly over 3 workers"):
        pgkit.train(recipe(trainer__workers={"num_workers": 3, "address": ray_cluster}))


def run_cli(tmp_path, workers: dict) -> subprocess.CompletedProcess:
    """``pgkit train`` in a process of its own (not joined to the session's cluster), with a home of its own
    (a Ray started inside a run writes ~/.ray/auth_token)."""
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(trainer__workers=workers, trainer__total_steps=256)))
    command = [sys.executable, "-m", "pgkit.cli", "train", str(path), "--run-dir", str(tmp_path / "run")]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)})


def test_an_address_where_no_cluster_answers_is_refused_at_once(tmp_path):
    result = run_cli(tmp_path, {"address": "127.0.0.1:1"})
    assert result.returncode == 2, result.stderr
    assert "trainer.workers: cannot join the Ray cluster at '127.0.0.1:1': nothing answers there" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_an_address_the_run_starts_ray_itself(tmp_path):
    result = run_cli(tmp_path, {"num_workers": 1, "address": None})
    assert result.returncode == 0, result.stderr
    assert "done: 256 steps" in result.stdout


TD3 = {
    "seed": 1,
    "env": {"id": "Pendulum-v1", "num_envs": 2},
    "network": {"type": "mlp", "hidden_sizes": [16]},
    "policy_head": "deterministic",
    "critic": "twin_q",
    "objective": "dpg",
    "optimizer": "adam",
    "trainer": {"type": "off_policy", "total_steps": 192, "learning_starts": 32, "batch_size": 16, "buffer_size": 256, "policy_delay": 2},
}


def test_one_worker_acts_for_the_off_policy_trainer_exactly_as_in_process(ray_cluster):
    """TD3 without target smoothing draws its exploration from the explorer's generator only, which worker 0
    seeds as the in-process explorer: the runs are one."""
    local = pgkit.train(TD3)
    remote = pgkit.train({**TD3, "trainer": {**TD3["trainer"], "workers": {"num_workers": 1, "address": ray_cluster}}})
    for a, b in zip(local.parameters(), remote.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_two_workers_fill_the_replay_buffer_a_training_round_at_a_time(ray_cluster, tmp_path):
    trainer = {**TD3["trainer"], "train_freq": 4, "gradient_steps": 4, "log_every": 32, "workers": {"num_workers": 2, "address": ray_cluster}}
    pgkit.train({**TD3, "trainer": trainer}, run_dir=tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert int(rows[-1]["step"]) == 192 and int(float(rows[-1]["buffer_size"])) == 192  # 4 steps of 2 workers' 1 env per round
    assert float(rows[-1]["episodes"]) == 0 and all(float(row["collect_time"]) > 0 for row in rows)  # Pendulum's episodes last 200 steps
    assert math.isfinite(float(rows[-1]["value_loss"]))


def test_workers_feed_a_prioritized_n_step_replay_for_discrete_sac(ray_cluster, tmp_path):
    """Choices of a categorical head, stepped on two workers, go into the learner's prioritized replay as
    one column each; its priorities move from the new transitions' highest one."""
    document = {
        "env": {"id": "CartPole-v1"}, "network": {"type": "mlp", "hidden_sizes": [32]}, "policy_head": "categorical",
        "critic": "twin_discrete_q", "objective": "discrete_sac", "optimizer": "adam", "replay": {"type": "prioritized", "n_step": 3},
        "trainer": {"type": "off_policy", "total_steps": 192, "learning_starts": 32, "batch_size": 16, "buffer_size": 256, "target_policy": False,
                    "train_freq": 4, "log_every": 32, "workers": {"num_workers": 2, "envs_per_worker": 1, "address": ray_cluster}},
    }
    agent = pgkit.train(document, run_dir=tmp_path / "run")
    replay = agent.components["replay"]
    assert len(replay) == 192 and set(replay.buffer.actions[:192, 0].tolist()) == {0.0, 1.0}
    priorities = replay.tree.priorities(torch.arange(192))
    assert len(set(priorities.tolist())) > 10 and float(priorities.max()) <= replay.highest
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert math.isfinite(float(rows[-1]["value_loss"])) and math.isfinite(float(rows[-1]["policy_loss"]))


def test_a_gpu_learner_takes_cpu_workers_batches_or_is_refused_without_a_gpu(ray_cluster):
    document = recipe(device="cuda", trainer__workers={"num_workers": 1, "address": ray_cluster})
    if not torch.cuda.is_available():
        with pytest.raises(PgkitError, match="CUDA is not available here"):
            pgkit.train(document)
        return
    agent = pgkit.train(document)  # the workers step CPU copies; the learner's batches arrive on its GPU
    assert all(p.is_cuda for p in agent.parameters())


def test_a_worker_that_cannot_start_says_why(ray_cluster):
    """An env factory is registered in the learner's process only: workers cannot make its envs."""
    import gymnasium as gym

    with pytest.raises(PgkitError, match="(?s)a Ray worker could not start.*unknown environment 'pgkit-factory/"):
        pgkit.train(recipe(trainer__workers={"num_workers": 1, "address": ray_cluster}), env=lambda: gym.make("CartPole-v1"))


def test_one_worker_trains_a_multi_agent_env_with_policy_groups_exactly_as_in_process(ray_cluster):
    """Agents as columns travel to workers unchanged: the idle-column mask, the groups' weights and the games' step count."""
    from test_agent_columns import GROUPED

    local = pgkit.train(GROUPED)
    remote = pgkit.train({**GROUPED, "trainer": {**GROUPED["trainer"], "workers": {"num_workers": 1, "address": ray_cluster}}})
    for a, b in zip(local.parameters(), remote.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_one_worker_trains_by_self_play_exactly_as_in_process(ray_cluster):
    """The learner's pool of past selves reaches the worker's envs before their first reset and again after each
    snapshot, so the worker's games are the in-process run's, opponent for opponent."""
    from test_self_play import RECIPE

    local = pgkit.train(RECIPE)
    remote = pgkit.train({**RECIPE, "trainer": {**RECIPE["trainer"], "workers": {"num_workers": 1, "address": ray_cluster}}})
    for a, b in zip(local.parameters(), remote.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_two_workers_play_the_learner_s_pool(ray_cluster, tmp_path):
    """With two workers (the second seeded apart) the run trains, and each worker's envs hold the learner's newest pool."""
    from pgkit.envs.settings import SelfPlaySettings
    from pgkit.runtime.ray_workers import CollectionWorker, as_arrays
    from pgkit.runtime.self_play import SelfPlay
    from test_self_play import RECIPE

    pgkit.train({**RECIPE, "logger": ["csv"], "trainer": {**RECIPE["trainer"], "workers": {"num_workers": 2, "address": ray_cluster}}},
                run_dir=tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert int(rows[-1]["step"]) == 512 and float(rows[-1]["episodes"]) > 0
    agent = build_agent(resolve(RECIPE, default_registry(), source="test"))
    play = SelfPlay(SelfPlaySettings(every=64, pool_size=2), agent)
    play.refresh(0, [])
    worker = CollectionWorker(RECIPE, 10_000, 2, 16, False, opponents=play.state_dict())
    pools = worker.envs.unwrapped.get_attr("_pool")
    assert [len(pool) for pool in pools] == [1, 1]
    for mine, learner in zip(pools[0][0].policy.parameters(), agent.policy.parameters()):
        torch.testing.assert_close(mine, learner, rtol=0, atol=0)
    play.refresh(64, [])
    worker.collect({"agent": as_arrays(agent.state_dict()), "reward_stats": None, "opponents": as_arrays(play.state_dict())})
    assert [len(pool) for pool in worker.envs.unwrapped.get_attr("_pool")] == [2, 2]
